//! Trust policy: who may talk to us.
//!
//! The handshake authenticates the peer's static key and decodes its [`Identity`]; a
//! [`TrustPolicy`] then decides whether that peer is accepted. It runs on the first handshake
//! message that authenticates the peer, before any application data can flow, and a rejection
//! ends the handshake. tether ships the usual building blocks; a registry lookup in a database is a
//! small implementation of the trait.

use core::fmt;

use ed25519_dalek::VerifyingKey;

use crate::handshake::identity::Identity;
use crate::handshake::pattern::{ChannelKind, Pattern};
use crate::keys::PublicKey;
use crate::time::UnixTime;

/// Why a peer was refused. Local detail only: nothing of it is sent to the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// No entry for this peer.
    UnknownPeer,
    /// The peer's identity or key is revoked.
    Revoked,
    /// The static key does not match the one registered, pinned or fingerprinted for this peer.
    KeyMismatch,
    /// A credential is required but absent.
    MissingCredential,
    /// The credential's signature does not verify, or its issuer is unknown.
    BadCredential,
    /// The credential is not valid yet.
    NotYetValid,
    /// The credential has expired.
    Expired,
    /// This peer may not use this pattern or channel.
    NotAllowed,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rejection::UnknownPeer => "unknown peer",
            Rejection::Revoked => "revoked",
            Rejection::KeyMismatch => "static key mismatch",
            Rejection::MissingCredential => "credential missing",
            Rejection::BadCredential => "credential invalid",
            Rejection::NotYetValid => "credential not yet valid",
            Rejection::Expired => "credential expired",
            Rejection::NotAllowed => "pattern or channel not allowed for this peer",
        })
    }
}

/// What the handshake knows about the peer when the policy is asked.
#[derive(Debug, Clone, Copy)]
pub struct PeerInfo<'a> {
    /// The identity the peer sent (authenticated by the handshake).
    pub identity: &'a Identity,
    /// The peer's static public key, proven by the handshake.
    pub static_key: &'a PublicKey,
    /// The handshake pattern in use.
    pub pattern: Pattern,
    /// The channel the session runs on.
    pub channel: ChannelKind,
    /// The wall-clock time the caller passed in.
    pub now: UnixTime,
}

/// Decides whether an authenticated peer is accepted.
pub trait TrustPolicy {
    /// Accepts the peer, or says why not.
    fn check(&mut self, peer: &PeerInfo<'_>) -> Result<(), Rejection>;
}

impl<F> TrustPolicy for F
where
    F: FnMut(&PeerInfo<'_>) -> Result<(), Rejection>,
{
    fn check(&mut self, peer: &PeerInfo<'_>) -> Result<(), Rejection> {
        self(peer)
    }
}

/// Accepts exactly one static key: what a device uses for its cloud service (the key it was
/// provisioned with) and a phone for its paired device.
#[derive(Debug, Clone, Copy)]
pub struct PinnedKey(pub PublicKey);

impl TrustPolicy for PinnedKey {
    fn check(&mut self, peer: &PeerInfo<'_>) -> Result<(), Rejection> {
        if peer.static_key == &self.0 {
            Ok(())
        } else {
            Err(Rejection::KeyMismatch)
        }
    }
}

/// Accepts peers listed with their identifier and static key: a small registry, such as the
/// phones bonded to a device.
#[derive(Debug, Clone, Copy)]
pub struct AllowList<'a> {
    entries: &'a [(&'a [u8], PublicKey)],
}

impl<'a> AllowList<'a> {
    /// Builds the list from `(identifier, static key)` pairs.
    pub fn new(entries: &'a [(&'a [u8], PublicKey)]) -> Self {
        Self { entries }
    }
}

impl TrustPolicy for AllowList<'_> {
    fn check(&mut self, peer: &PeerInfo<'_>) -> Result<(), Rejection> {
        let (_, key) = self
            .entries
            .iter()
            .find(|(id, _)| *id == peer.identity.id())
            .ok_or(Rejection::UnknownPeer)?;
        if key == peer.static_key {
            Ok(())
        } else {
            Err(Rejection::KeyMismatch)
        }
    }
}

/// Accepts peers that present a valid credential from one of the listed manufacturer keys and
/// that the revocation check does not refuse.
pub struct ManufacturerCredential<'a, R> {
    issuers: &'a [(&'a [u8], VerifyingKey)],
    is_revoked: R,
}

impl<'a, R> ManufacturerCredential<'a, R>
where
    R: FnMut(&Identity, &PublicKey) -> bool,
{
    /// `issuers` pairs each issuer name with its Ed25519 key; `is_revoked` returns true for a
    /// revoked identity or key (a revocation list lookup).
    pub fn new(issuers: &'a [(&'a [u8], VerifyingKey)], is_revoked: R) -> Self {
        Self {
            issuers,
            is_revoked,
        }
    }
}

impl<R> TrustPolicy for ManufacturerCredential<'_, R>
where
    R: FnMut(&Identity, &PublicKey) -> bool,
{
    fn check(&mut self, peer: &PeerInfo<'_>) -> Result<(), Rejection> {
        let credential = peer
            .identity
            .credential()
            .ok_or(Rejection::MissingCredential)?;
        let (_, key) = self
            .issuers
            .iter()
            .find(|(name, _)| *name == credential.issuer())
            .ok_or(Rejection::BadCredential)?;
        credential.verify(key, peer.identity.id(), peer.static_key, peer.now)?;
        if (self.is_revoked)(peer.identity, peer.static_key) {
            return Err(Rejection::Revoked);
        }
        Ok(())
    }
}

impl<R> fmt::Debug for ManufacturerCredential<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManufacturerCredential")
            .field("issuers", &self.issuers.len())
            .finish()
    }
}
