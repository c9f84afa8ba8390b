//! The BLE link layer: tether units carried in Bluetooth LE attribute values, split into
//! fragments and reassembled (spec/LINK.md).
//!
//! **What it owns.** The two- or four-byte fragment header ([`fragment`]), what a connection's
//! ATT_MTU allows ([`Mtu`]), splitting a unit into fragments ([`Fragmenter`]) and putting them
//! back together ([`Reassembler`]), with one buffer allocated at construction and at most one unit
//! in progress, so a peer can never make it allocate or buffer more.
//!
//! **What it refuses to know.** What a unit is: a handshake message or a datagram record
//! ([`crate::Framing::Datagram`]), opaque bytes here. Their integrity: this layer checks that
//! fragments fit together, not that they are genuine, and relies on the layer above to
//! authenticate every unit it yields (a record that was spliced or injected fails its AEAD).
//! GATT: services, characteristics, handles and which ATT operation carries a fragment are the
//! application's. Connections and I/O: the caller moves each fragment in one write or
//! notification and resets the reassembler when the connection drops. Retransmission: a unit lost
//! here is resent by the delivery layer.

pub mod fragment;
mod fragmenter;
mod mtu;
mod reassembler;
pub mod relay;

pub use crate::error::LinkError;
pub use fragment::Fragment;
pub use fragmenter::Fragmenter;
pub use mtu::Mtu;
pub use reassembler::{Progress, Pushed, Reassembler};
pub use relay::{RelayIndex, RelayTable, Relayed, Route, RELAY_HEADER_LEN};

use crate::delivery::MAX_FRAME;
use crate::record::framing::{Framing, MAX_HANDSHAKE_UNIT};
use crate::record::header::overhead;

/// Bytes ATT puts before an attribute value in a notification, indication or write (opcode and
/// handle): counted in the bytes on air, not in a fragment.
pub const ATT_HEADER: usize = 3;

/// The largest attribute value (Bluetooth Core, Vol 3 Part F 3.2.9), so the largest fragment
/// whatever the ATT_MTU.
pub const MAX_ATTRIBUTE_VALUE: usize = 512;

/// Header bytes of a fragment that is not a unit's first: flags and number, index.
pub const HEADER_LEN: usize = 2;

/// Header bytes of a unit's first (START) fragment: [`HEADER_LEN`] and the unit's length.
pub const START_HEADER_LEN: usize = 4;

/// Most fragments of one unit: the index is one byte.
pub const MAX_FRAGMENTS: usize = 256;

/// The largest unit at any ATT_MTU: its length travels in two bytes.
pub const MAX_UNIT: usize = u16::MAX as usize;

/// The largest unit a [`Reassembler`] accepts unless configured otherwise: a datagram record
/// carrying the largest delivery frame ([`MAX_FRAME`] plus 25 bytes of record overhead, 1063
/// bytes), which is also more than any handshake message.
pub const DEFAULT_MAX_UNIT: usize = {
    let record = MAX_FRAME + overhead(Framing::Datagram);
    if record > MAX_HANDSHAKE_UNIT {
        record
    } else {
        MAX_HANDSHAKE_UNIT
    }
};
