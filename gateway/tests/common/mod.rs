//! A gateway in this process on a temporary data directory, and a device that speaks to it over
//! real loopback TCP with tether's own API (what a Rust device would write).

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tether::delivery::{
    Endpoint, Incoming, MemStorage, Outbox, OutboxConfig, ReceiverState, Sender, SenderConfig,
    StorageKey, MAX_FRAME,
};
use tether::message::decimal::{Decimal, Value};
use tether::message::vitals::{Channel, Reading, VitalCode, VitalsBatch};
use tether::policy::PinnedKey;
use tether::*;
use tether_gateway::config::Config;
use tether_gateway::keyfile;
use tether_gateway::server::{self, Running};
use tether_gateway::store::{Registration, SqliteStorage, Storage};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

pub type Res<T> = Result<T, String>;

pub struct TestGateway {
    pub running: Running,
    pub dir: tempfile::TempDir,
    pub key: PublicKey,
}

pub fn test_config() -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        metrics: None,
        poll_ms: 50,
        ..Config::default()
    }
}

pub async fn gateway(config: Config) -> TestGateway {
    let dir = tempfile::tempdir().unwrap();
    gateway_in(config, dir).await
}

pub async fn gateway_in(config: Config, dir: tempfile::TempDir) -> TestGateway {
    // The gateway's log in the test's output (shown when a test fails); RUST_LOG picks the level.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_test_writer()
        .try_init();
    let running = server::start(config, dir.path(), Arc::new(tether_gateway::StoreAll))
        .await
        .unwrap();
    let key = PublicKey(running.public_key);
    TestGateway { running, dir, key }
}

/// A second handle on the database, as the CLI opens it.
pub fn storage(dir: &Path) -> SqliteStorage {
    let (keys, _) = keyfile::load_or_create(&dir.join(server::KEY_FILE)).unwrap();
    SqliteStorage::open(&dir.join(server::DB_FILE), keys.audit).unwrap()
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Registers a device as the CLI does, and waits until the running gateway has picked it up.
pub async fn register(gw: &TestGateway, id: &str, secret: [u8; 32]) {
    register_in(gw.dir.path(), id, secret);
    for _ in 0..400 {
        if gw.running.knows(id.as_bytes()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the gateway did not pick up {id}");
}

/// Registers a device in the database of a gateway that may not be running.
pub fn register_in(dir: &Path, id: &str, secret: [u8; 32]) {
    storage(dir)
        .register(
            &[Registration {
                id: id.as_bytes().to_vec(),
                static_key: *StaticKeypair::from_secret(secret).public().as_bytes(),
                require_credential: false,
            }],
            now_ms(),
        )
        .unwrap();
}

pub fn endpoint() -> Endpoint<MemStorage> {
    let outbox = Outbox::open(
        MemStorage::new(64, 1100),
        &StorageKey::new([9; 32]),
        OutboxConfig::default(),
        &mut OsEntropy,
    )
    .map_err(|r| r.error())
    .unwrap();
    Endpoint::new(
        Sender::new(
            outbox,
            SenderConfig {
                window: 16,
                resend_after_ms: 0,
            },
        )
        .unwrap(),
        ReceiverState::NEW,
    )
}

pub fn vitals(spo2: i64) -> Vec<u8> {
    let channels = [
        Channel::Known {
            code: VitalCode::SpO2,
            exponent: 0,
        },
        Channel::Known {
            code: VitalCode::PulseRate,
            exponent: 0,
        },
    ];
    let t = now_ms();
    let readings = [
        Reading {
            time_ms: t,
            channel: 0,
            value: Value::Number(Decimal::new(spo2, 0)),
        },
        Reading {
            time_ms: t,
            channel: 1,
            value: Value::Number(Decimal::new(72, 0)),
        },
    ];
    let mut out = vec![0u8; 256];
    let n = VitalsBatch::encode(t, 1000, &channels, &readings, &mut out).unwrap();
    out.truncate(n);
    out
}

pub struct Device {
    pub sock: TcpStream,
    pub session: Session,
    dec: StreamDecoder,
    pending: Vec<u8>,
    pub ep: Endpoint<MemStorage>,
    start: std::time::Instant,
    /// The first handshake message, as sent (for replay tests).
    pub msg0: Vec<u8>,
}

pub enum Got {
    /// A frame from the gateway, already handled by the endpoint: an ack or a message.
    Frame(Vec<u8>),
    /// The gateway closed the session or the connection.
    Closed,
}

impl Device {
    pub async fn connect(
        addr: std::net::SocketAddr,
        gw: PublicKey,
        secret: [u8; 32],
        id: &str,
        ep: Endpoint<MemStorage>,
    ) -> Res<Device> {
        let identity = Identity::new(id.as_bytes(), "TestDevice", "1.0", b"k1").unwrap();
        Device::connect_as(addr, gw, secret, identity, ep).await
    }

    /// As [`Device::connect`], with an identity of the caller's (a credential, say).
    pub async fn connect_as(
        addr: std::net::SocketAddr,
        gw: PublicKey,
        secret: [u8; 32],
        identity: Identity,
        mut ep: Endpoint<MemStorage>,
    ) -> Res<Device> {
        let key = StaticKeypair::from_secret(secret);
        let session_config = SessionConfig {
            max_plaintext: MAX_FRAME,
            ..SessionConfig::default()
        };
        let config = HandshakeConfig {
            suite: Suite::ChaChaPolyBlake2s,
            channel: ChannelKind::DeviceCloud,
            framing: Framing::Stream,
            context: b"",
            identity: &identity,
            static_key: &key,
            session: session_config,
            dh_cache: None,
        };
        let mut sock = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let mut hs = Initiator::provisioned(&config, &gw, &mut OsEntropy).unwrap();
        let mut buf = vec![0u8; 2048];
        let n = hs.write_message(&mut buf).unwrap();
        let msg0 = buf[..n].to_vec();
        sock.write_all(&msg0).await.map_err(|e| e.to_string())?;
        let mut dec = StreamDecoder::for_session_config(&session_config);
        let mut pending = Vec::new();
        let reply = read_unit(&sock, &mut dec, &mut pending, Duration::from_secs(10)).await?;
        hs.read_message(&reply, &mut PinnedKey(gw), UnixTime(now_ms() / 1000))
            .map_err(|e| format!("handshake: {e}"))?;
        let start = std::time::Instant::now();
        let session = hs.finish(Instant(0)).map_err(|e| e.to_string())?.session;
        ep.on_reconnect();
        let mut d = Device {
            sock,
            session,
            dec,
            pending,
            ep,
            start,
            msg0,
        };
        d.flush().await?;
        Ok(d)
    }

    fn now(&self) -> Instant {
        Instant(self.start.elapsed().as_millis() as u64)
    }

    pub fn seal(&mut self, plaintext: &[u8]) -> Vec<u8> {
        let mut wire = vec![0u8; self.session.seal_capacity(plaintext.len())];
        let n = self
            .session
            .seal(self.now(), plaintext, &mut wire)
            .unwrap()
            .total();
        wire.truncate(n);
        wire
    }

    /// Sends everything the endpoint has due.
    pub async fn flush(&mut self) -> Res<()> {
        let mut frame = vec![0u8; MAX_FRAME];
        let mut wire = Vec::new();
        while let Some(n) = self
            .ep
            .poll(self.start.elapsed().as_millis() as u64, &mut frame)
            .unwrap()
        {
            wire.extend(self.seal(&frame[..n]));
        }
        if !wire.is_empty() {
            self.sock
                .write_all(&wire)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    pub async fn push(&mut self, message: &[u8]) -> Res<u64> {
        let seq = self.ep.push(message).map_err(|e| e.to_string())?;
        self.flush().await?;
        Ok(seq)
    }

    /// The next data frame from the gateway (handled by the endpoint), or Closed.
    pub async fn recv(&mut self, wait: Duration) -> Res<Got> {
        loop {
            let unit = match read_unit(&self.sock, &mut self.dec, &mut self.pending, wait).await {
                Ok(u) => u,
                Err(e) if e == "eof" => return Ok(Got::Closed),
                Err(e) => return Err(e),
            };
            let mut plain = vec![0u8; MAX_FRAME + 64];
            let now = self.now();
            match self
                .session
                .open(now, &unit, &mut plain)
                .map_err(|e| e.to_string())?
            {
                Event::Data(d) => {
                    let frame = d.to_vec();
                    return Ok(Got::Frame(frame));
                }
                Event::KeyUpdate { .. } => continue,
                Event::Close => return Ok(Got::Closed),
            }
        }
    }

    /// Handles frames until everything pushed is acknowledged; returns messages received.
    pub async fn until_acked(&mut self) -> Res<Vec<(u64, Vec<u8>)>> {
        let mut got = Vec::new();
        while self.ep.sender().unacknowledged() > 0 {
            match self.recv(Duration::from_secs(10)).await? {
                Got::Frame(f) => {
                    if let Incoming::Message { seq, bytes, .. } =
                        self.ep.handle(&f).map_err(|e| e.to_string())?
                    {
                        got.push((seq, bytes.to_vec()));
                    }
                    self.flush().await?;
                }
                Got::Closed => return Err("closed".into()),
            }
        }
        Ok(got)
    }

    pub async fn close(mut self) -> Res<Endpoint<MemStorage>> {
        let mut buf = [0u8; 64];
        let n = self.session.close(&mut buf).unwrap();
        self.sock
            .write_all(&buf[..n])
            .await
            .map_err(|e| e.to_string())?;
        loop {
            match self.recv(Duration::from_secs(10)).await? {
                Got::Closed => return Ok(self.ep),
                Got::Frame(f) => {
                    let _ = self.ep.handle(&f);
                }
            }
        }
    }

    pub fn drop_connection(self) -> Endpoint<MemStorage> {
        self.ep
    }
}

pub async fn read_unit(
    sock: &TcpStream,
    dec: &mut StreamDecoder,
    pending: &mut Vec<u8>,
    wait: Duration,
) -> Res<Vec<u8>> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if !pending.is_empty() {
            let mut input = &pending[..];
            let unit = dec
                .next(&mut input)
                .map_err(|e| e.to_string())?
                .map(<[u8]>::to_vec);
            let used = pending.len() - input.len();
            pending.drain(..used);
            if let Some(u) = unit {
                return Ok(u);
            }
        }
        match tokio::time::timeout_at(deadline, sock.readable()).await {
            Err(_) => return Err("timeout".into()),
            Ok(Err(e)) => return Err(e.to_string()),
            Ok(Ok(())) => {}
        }
        let mut chunk = [0u8; 4096];
        match sock.try_read(&mut chunk) {
            Ok(0) => return Err("eof".into()),
            Ok(n) => pending.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Err("eof".into()),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Counts rows of a query on a read-only connection to the gateway's database.
pub fn count(dir: &Path, sql: &str) -> i64 {
    let c = rusqlite::Connection::open(dir.join(server::DB_FILE)).unwrap();
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}
