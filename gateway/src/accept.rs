//! An accepted TCP connection, told apart by its first unit: a device's own connection (a
//! handshake message 0, stream framing: `connection.rs`) or a phone's relay connection (a relayed
//! unit, spec/PROTOCOL.md 3.4: `relay.rs`).

use std::sync::Arc;

use tether::{Framing, StreamDecoder, UnitType};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

use crate::connection::{next_unit, serve_direct, Reason};
use crate::metrics::Metrics;
use crate::relay;
use crate::shared::Shared;

/// Serves one accepted connection until it ends.
pub async fn serve(shared: Arc<Shared>, sock: TcpStream, conn_id: u64) {
    shared.metrics.connections.inc();
    let _ = sock.set_nodelay(true);
    let reason = dispatch(&shared, sock, conn_id).await;
    Metrics::count(&shared.metrics.closed, reason);
    tracing::debug!(conn = conn_id, reason, "connection ended");
    shared.metrics.connections.dec();
}

async fn dispatch(shared: &Arc<Shared>, sock: TcpStream, conn_id: u64) -> Reason {
    let deadline = Instant::now() + shared.config.limits.handshake_deadline();
    let mut dec = StreamDecoder::new(relay::MAX_UNIT);
    let mut carry = Vec::new();
    let first = match timeout_at(deadline, next_unit(&sock, &mut dec, &mut carry)).await {
        Ok(Ok(u)) => u,
        Ok(Err(r)) => return r,
        Err(_) => return "handshake_timeout",
    };
    if matches!(
        UnitType::of(Framing::Stream, &first),
        Ok(UnitType::Relayed(_))
    ) {
        return relay::serve(shared, sock, dec, first, carry).await;
    }
    serve_direct(shared, sock, conn_id, first, carry, deadline).await
}
