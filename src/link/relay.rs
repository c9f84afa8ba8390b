//! Relayed units (spec/PROTOCOL.md 3.4): a two-byte envelope naming the session a unit belongs to
//! on a hop that carries several, such as the phone's BLE link to a device (the device's own
//! session with the phone and its end-to-end session with the cloud) or one socket from a phone
//! to the gateway (the sessions of every device relaying through that phone).
//!
//! The envelope is routing, not security: its index is not authenticated, and needs not be. A
//! unit delivered to the wrong session fails that session's authentication and is dropped like any
//! forgery; a relay that rewrites, drops, duplicates, reorders or replays relayed units can delay
//! the sessions inside but never make them accept anything their peer did not send.
//!
//! [`RelayTable`] is the relay's side: it rewrites the index of each unit in place as it crosses
//! from a device's link to the uplink and back, and never looks past the two bytes.

use alloc::vec::Vec;

use crate::error::{Error, Local, Malformed, PeerError};
use crate::record::framing::Framing;
pub use crate::record::header::RelayIndex;
use crate::record::header::{parse_relayed, relay_header, unit_body};

/// Bytes the envelope adds to a unit.
pub const RELAY_HEADER_LEN: usize = 2;

/// Sessions one hop can address: the index has 12 bits.
pub const RELAY_INDEXES: usize = RelayIndex::MAX.get() as usize + 1;

/// A relayed unit, parsed: the index and the unit inside, borrowed from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relayed<'a> {
    /// The session on this hop.
    pub index: RelayIndex,
    /// The unit inside (datagram framing: a handshake message, a code message or a record).
    pub unit: &'a [u8],
}

impl<'a> Relayed<'a> {
    /// Parses a relayed unit as framed on its hop: with its stream length prefix (which must
    /// match) on a stream such as the phone's connection to the gateway, as it is on a datagram
    /// carrier.
    pub fn parse_framed(framing: Framing, unit: &'a [u8]) -> Result<Relayed<'a>, Error> {
        Relayed::parse(unit_body(framing, unit)?)
    }

    /// Parses a relayed unit (its body, without any stream length prefix). The unit inside must
    /// be non-empty and must not itself be relayed.
    pub fn parse(bytes: &'a [u8]) -> Result<Relayed<'a>, Error> {
        let (index, unit) = parse_relayed(bytes)?;
        Ok(Relayed { index, unit })
    }
}

/// Writes `unit` relayed under `index` into `out`; returns the length,
/// `unit.len() + RELAY_HEADER_LEN`. Each unit gets its own envelope: a `seal` that also wrote a
/// key update produced two units ([`crate::Sealed::units`]), which are wrapped one by one.
pub fn wrap(index: RelayIndex, unit: &[u8], out: &mut [u8]) -> Result<usize, Error> {
    if unit.is_empty() {
        return Err(Malformed::Truncated.into());
    }
    let needed = unit.len() + RELAY_HEADER_LEN;
    let out = out
        .get_mut(..needed)
        .ok_or(Local::BufferTooSmall { needed })?;
    let (head, body) = out.split_at_mut(RELAY_HEADER_LEN);
    head.copy_from_slice(&relay_header(index));
    body.copy_from_slice(unit);
    Ok(needed)
}

/// The envelope's two bytes for `index`.
pub fn header(index: RelayIndex) -> [u8; RELAY_HEADER_LEN] {
    relay_header(index)
}

/// Replaces the index of the relayed unit in `bytes` (in place) and returns the old one. The
/// unit is checked as [`Relayed::parse`] does; on error nothing is changed.
pub fn rewrite_index(bytes: &mut [u8], index: RelayIndex) -> Result<RelayIndex, Error> {
    let old = Relayed::parse(bytes)?.index;
    if let Some(head) = bytes.get_mut(..RELAY_HEADER_LEN) {
        head.copy_from_slice(&relay_header(index));
    }
    Ok(old)
}

/// One route through a relay: a device's link and the index the device uses on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route {
    /// The caller's number for the device, stable for as long as the pairing lasts (for example
    /// the bond's slot). Not a BLE connection handle, which changes at every connection: a device
    /// that comes back in range must keep its uplink index (spec/PROTOCOL.md 3.4).
    pub link: u32,
    /// The index on the device's link.
    pub index: RelayIndex,
}

/// The relay's table (the phone): each route of a device gets its own index on the uplink. Its
/// size is fixed when it is made, so a device cannot make it grow.
#[derive(Debug, Clone)]
pub struct RelayTable {
    /// Uplink index `i` is `slots[i]`.
    slots: Vec<Option<Route>>,
}

impl RelayTable {
    /// A table for up to `capacity` routes (at most [`RELAY_INDEXES`]).
    pub fn new(capacity: usize) -> Result<RelayTable, Error> {
        if capacity == 0 || capacity > RELAY_INDEXES {
            return Err(Local::Config.into());
        }
        let mut slots = Vec::new();
        slots
            .try_reserve_exact(capacity)
            .map_err(|_| Local::Config)?;
        slots.resize(capacity, None);
        Ok(RelayTable { slots })
    }

    /// A relayed unit from the device on `link`, going up: rewrites its index in place to the
    /// route's uplink index (a new route takes the lowest free one) and returns that index. A
    /// unit that is not a relayed unit, or a full table, changes nothing.
    pub fn up(&mut self, link: u32, bytes: &mut [u8]) -> Result<RelayIndex, Error> {
        let index = Relayed::parse(bytes)?.index;
        let route = Route { link, index };
        let slot = match self.slots.iter().position(|s| *s == Some(route)) {
            Some(slot) => slot,
            None => {
                let free = self
                    .slots
                    .iter()
                    .position(Option::is_none)
                    .ok_or(Local::LimitReached)?;
                if let Some(s) = self.slots.get_mut(free) {
                    *s = Some(route);
                }
                free
            }
        };
        // slot < capacity <= 4096: the cast cannot truncate.
        let up = RelayIndex::from_bits(slot as u16);
        rewrite_index(bytes, up)?;
        Ok(up)
    }

    /// A relayed unit from the uplink, going down: rewrites its index in place back to the
    /// device's and returns the route (whose `link` says where to send it). Bytes that are not a
    /// relayed unit (malformed), or an index with no route ([`PeerError::UnexpectedMessage`]:
    /// well formed, but nothing here expects it), change nothing; drop the unit.
    pub fn down(&self, bytes: &mut [u8]) -> Result<Route, Error> {
        let index = Relayed::parse(bytes)?.index;
        let route = self
            .slots
            .get(usize::from(index.get()))
            .copied()
            .flatten()
            .ok_or(PeerError::UnexpectedMessage)?;
        rewrite_index(bytes, route.index)?;
        Ok(route)
    }

    /// The route behind an uplink index, if any.
    pub fn route(&self, uplink: RelayIndex) -> Option<Route> {
        self.slots.get(usize::from(uplink.get())).copied().flatten()
    }

    /// Forgets every route of `link` (the device went out of range for good, or unpaired);
    /// returns how many. Their uplink indexes are free again.
    pub fn remove_link(&mut self, link: u32) -> usize {
        let mut removed = 0;
        for slot in self.slots.iter_mut() {
            if matches!(slot, Some(r) if r.link == link) {
                *slot = None;
                removed += 1;
            }
        }
        removed
    }
}
