//! The static-static X25519 result, remembered per peer.
//!
//! In `IK` and `KK` both sides compute `DH(s, rs)` at every handshake, and between the same two
//! static keys it is always the same value: about a fifth of a handshake's work. A [`DhCache`]
//! remembers it per (local key, peer key), so that a repeat handshake with a known peer skips it
//! (WireGuard precomputes the same value per peer). The handshake is otherwise unchanged: same
//! messages, same keys, same checks; a cached value is exactly the one X25519 would return.
//!
//! What enters the cache: only the result for the static key of a peer whose handshake finished
//! (it authenticated and the trust policy accepted it), never one for an ephemeral key or for a
//! handshake that failed. What it costs: 96 bytes of table per peer. What it holds is secret (an
//! input of the session keys, as secret as the static private key kept next to it): every value
//! is overwritten before it is removed, evicted, or the cache is dropped. The cache is bounded;
//! when full, the least recently used half goes.
//!
//! Hosted builds only (`std`): a cache is shared between handshakes, possibly across threads.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use zeroize::{Zeroize, Zeroizing};

use crate::keys::PublicKey;

/// X25519 key and result length.
const LEN: usize = 32;

/// (this side's static public key, the peer's static public key).
type Key = ([u8; LEN], [u8; LEN]);

/// A bounded, shared memory of static-static X25519 results; see the module documentation.
///
/// Clones share one cache. Give it to [`crate::HandshakeConfig::dh_cache`] and
/// [`crate::ResponderConfig::dh_cache`]; one cache may serve any number of handshakes at once
/// and any number of local keys.
#[derive(Clone)]
pub struct DhCache {
    inner: Arc<Mutex<Generations>>,
}

/// Two generations: lookups move an entry from `old` to `new`; when `new` holds half the
/// capacity, `old` (what was not used since) is erased and `new` becomes `old`. Least recently
/// used eviction in O(1), and the tables never grow past their first allocation (growing would
/// move secrets and leave copies in freed memory).
struct Generations {
    half: usize,
    new: HashMap<Key, Zeroizing<[u8; LEN]>>,
    old: HashMap<Key, Zeroizing<[u8; LEN]>>,
}

impl Generations {
    /// Takes `key` out of `map`, overwriting the table's copy first.
    fn take(map: &mut HashMap<Key, Zeroizing<[u8; LEN]>>, key: &Key) -> Option<[u8; LEN]> {
        let slot = map.get_mut(key)?;
        let value = **slot;
        slot.zeroize();
        map.remove(key);
        Some(value)
    }

    fn insert(&mut self, key: Key, value: [u8; LEN]) {
        if let Some(mut stale) = Generations::take(&mut self.old, &key) {
            stale.zeroize();
        }
        if let Some(slot) = self.new.get_mut(&key) {
            slot.copy_from_slice(&value);
            return;
        }
        if self.new.len() >= self.half {
            // Dropping the old table drops each value in place, which erases it.
            let fresh = HashMap::with_capacity(self.half);
            self.old = core::mem::replace(&mut self.new, fresh);
        }
        self.new.insert(key, Zeroizing::new(value));
    }
}

impl DhCache {
    /// A cache for up to `capacity` peers (at least 2). Its tables are allocated now, at their
    /// final size.
    pub fn new(capacity: usize) -> DhCache {
        let half = (capacity / 2).max(1);
        DhCache {
            inner: Arc::new(Mutex::new(Generations {
                half,
                new: HashMap::with_capacity(half),
                old: HashMap::with_capacity(half),
            })),
        }
    }

    /// A poisoned lock (a thread panicked while holding it) still holds consistent tables: every
    /// change is a single insert or remove.
    fn lock(&self) -> MutexGuard<'_, Generations> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Peers remembered now.
    pub fn len(&self) -> usize {
        let g = self.lock();
        g.new.len() + g.old.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Erases every value computed with `peer`'s key (for example when the device is revoked or
    /// re-keyed), whatever the local key.
    pub fn forget(&self, peer: &PublicKey) {
        let mut guard = self.lock();
        let g = &mut *guard;
        for map in [&mut g.new, &mut g.old] {
            let keys: Vec<Key> = map
                .keys()
                .filter(|(_, remote)| remote == peer.as_bytes())
                .copied()
                .collect();
            for key in keys {
                if let Some(mut v) = Generations::take(map, &key) {
                    v.zeroize();
                }
            }
        }
    }

    /// Erases everything.
    pub fn clear(&self) {
        let mut guard = self.lock();
        let g = &mut *guard;
        for map in [&mut g.new, &mut g.old] {
            for v in map.values_mut() {
                v.zeroize();
            }
            map.clear();
        }
    }

    /// The remembered `DH(local, remote)`, if any (and it becomes the most recently used).
    pub(crate) fn get(
        &self,
        local: &[u8; LEN],
        remote: &[u8; LEN],
    ) -> Option<Zeroizing<[u8; LEN]>> {
        let key = (*local, *remote);
        let mut g = self.lock();
        if let Some(v) = g.new.get(&key) {
            return Some(v.clone());
        }
        let mut v = Generations::take(&mut g.old, &key)?;
        let out = Zeroizing::new(v);
        g.insert(key, v);
        v.zeroize();
        Some(out)
    }

    /// Remembers `DH(local, remote) = value`.
    pub(crate) fn insert(&self, local: &[u8; LEN], remote: &[u8; LEN], value: &[u8; LEN]) {
        self.lock().insert((*local, *remote), *value);
    }
}

impl fmt::Debug for DhCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = self.lock();
        f.debug_struct("DhCache")
            .field("peers", &(g.new.len() + g.old.len()))
            .field("capacity", &(2 * g.half))
            .finish_non_exhaustive()
    }
}

/// One handshake's link to a cache: what the static key's X25519 object looks up, and the
/// results it computed, of which [`Memo::commit`] keeps the one for the authenticated peer.
pub(crate) struct Memo {
    cache: DhCache,
    /// This side's static public key.
    local: [u8; LEN],
    /// (peer public key, result) computed with the static key during this handshake: at most
    /// two per attempt (one with the peer's ephemeral key, one with its static key); a forged
    /// message that makes the handshake start over replaces the oldest.
    computed: Mutex<Vec<Computed>>,
}

/// A peer public key and the result computed with it.
type Computed = ([u8; LEN], Zeroizing<[u8; LEN]>);

/// Results kept per handshake before it finishes.
const COMPUTED: usize = 4;

impl Memo {
    pub(crate) fn new(cache: &DhCache, local: &[u8; LEN]) -> Arc<Memo> {
        Arc::new(Memo {
            cache: cache.clone(),
            local: *local,
            computed: Mutex::new(Vec::with_capacity(COMPUTED)),
        })
    }

    /// The cached `DH(static, remote)`, if any.
    pub(crate) fn lookup(&self, remote: &[u8; LEN]) -> Option<Zeroizing<[u8; LEN]>> {
        self.cache.get(&self.local, remote)
    }

    /// Notes a result computed with the static key (not cached yet: the peer is unproven).
    pub(crate) fn computed(&self, remote: &[u8; LEN], value: &[u8; LEN]) {
        let mut c = self.computed.lock().unwrap_or_else(PoisonError::into_inner);
        if c.len() >= COMPUTED {
            // Dropping the entry erases its value.
            c.remove(0);
        }
        c.push((*remote, Zeroizing::new(*value)));
    }

    /// The handshake finished with `peer`: caches the result computed with its static key, if
    /// one was (not on a cache hit, nor in patterns without a static-static DH).
    pub(crate) fn commit(&self, peer: &PublicKey) {
        let mut c = self.computed.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, value)) = c.iter().find(|(remote, _)| remote == peer.as_bytes()) {
            self.cache.insert(&self.local, peer.as_bytes(), value);
        }
        c.clear();
    }
}

impl fmt::Debug for Memo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Memo").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(b: u8) -> [u8; 32] {
        [b; 32]
    }

    #[test]
    fn remembers_and_evicts_least_recently_used() {
        let c = DhCache::new(4);
        for i in 0..4 {
            c.insert(&k(0), &k(i), &k(100 + i));
        }
        assert_eq!(c.len(), 4);
        // Use peer 0: it moves to the new generation and survives the next turn-over.
        assert_eq!(*c.get(&k(0), &k(0)).unwrap(), k(100));
        c.insert(&k(0), &k(9), &k(109));
        c.insert(&k(0), &k(10), &k(110));
        assert!(c.len() <= 4, "{}", c.len());
        assert_eq!(*c.get(&k(0), &k(0)).unwrap(), k(100));
        assert_eq!(*c.get(&k(0), &k(10)).unwrap(), k(110));
        assert!(c.get(&k(0), &k(1)).is_none());
        // Another local key is another entry.
        assert!(c.get(&k(1), &k(0)).is_none());
    }

    #[test]
    fn never_above_capacity() {
        let c = DhCache::new(10);
        for i in 0..=255u8 {
            c.insert(&k(0), &k(i), &k(i));
            assert!(c.len() <= 10);
            if i % 3 == 0 {
                let _ = c.get(&k(0), &k(i / 2));
            }
        }
    }

    #[test]
    fn forget_and_clear() {
        let c = DhCache::new(8);
        c.insert(&k(0), &k(5), &k(1));
        c.insert(&k(1), &k(5), &k(2));
        c.insert(&k(0), &k(6), &k(3));
        c.forget(&PublicKey(k(5)));
        assert_eq!(c.len(), 1);
        assert!(c.get(&k(0), &k(5)).is_none());
        c.clear();
        assert!(c.is_empty());
    }

    #[test]
    fn memo_commits_only_the_peer_static_result() {
        let c = DhCache::new(8);
        let m = Memo::new(&c, &k(0));
        m.computed(&k(7), &k(70)); // an ephemeral key
        m.computed(&k(8), &k(80)); // the peer's static key
        m.commit(&PublicKey(k(8)));
        assert_eq!(c.len(), 1);
        assert_eq!(*m.lookup(&k(8)).unwrap(), k(80));
        assert!(m.lookup(&k(7)).is_none());
        // Many forged attempts keep the per-handshake list bounded.
        for i in 0..50 {
            m.computed(&k(i), &k(i));
        }
        assert!(m.computed.lock().unwrap().len() <= COMPUTED);
    }

    /// The cache is really used: a wrong value in it (which no public call can put there)
    /// makes the repeat handshake fail authentication, and the right one makes it succeed.
    #[test]
    fn handshakes_read_the_cache() {
        use crate::*;
        use rand_chacha::rand_core::SeedableRng;
        let dev_key = StaticKeypair::from_secret([1; 32]);
        let cloud_key = StaticKeypair::from_secret([2; 32]);
        let dev_id = Identity::new(b"sn-1", "m", "1", b"k").unwrap();
        let cloud_id = Identity::new(b"cloud", "c", "1", b"k").unwrap();
        let run = |cache: &DhCache| -> Result<(), crate::Error> {
            let icfg = HandshakeConfig {
                suite: Suite::ChaChaPolyBlake2s,
                channel: ChannelKind::DeviceCloud,
                framing: Framing::Datagram,
                context: b"",
                identity: &dev_id,
                static_key: &dev_key,
                session: SessionConfig::default(),
                dh_cache: Some(cache),
            };
            let rcfg = ResponderConfig {
                suites: Suite::ENABLED,
                patterns: &Pattern::ALL,
                channel: ChannelKind::DeviceCloud,
                framing: Framing::Datagram,
                context: b"",
                identity: &cloud_id,
                static_key: &cloud_key,
                session: SessionConfig::default(),
                known_initiator: None,
                pairing: None,
                allow_without_code: false,
                dh_cache: None,
            };
            let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
            let mut allow = |_: &crate::policy::PeerInfo<'_>| Ok(());
            let mut i = Initiator::provisioned(&icfg, &cloud_key.public(), &mut rng)?;
            let mut buf = [0u8; 512];
            let n = i.write_message(&mut buf)?;
            let mut r = Responder::accept(&rcfg, &buf[..n], &mut allow, UnixTime(0), &mut rng)?;
            let n = r.write_message(&mut buf)?;
            i.read_message(&buf[..n], &mut allow, UnixTime(0))?;
            i.finish(Instant(0))?;
            Ok(())
        };
        let cache = DhCache::new(4);
        run(&cache).unwrap();
        let local = *dev_key.public().as_bytes();
        let remote = *cloud_key.public().as_bytes();
        let right = *cache.get(&local, &remote).unwrap();
        let mut wrong = right;
        wrong[0] ^= 1;
        cache.insert(&local, &remote, &wrong);
        assert!(run(&cache).is_err(), "the cached value was not used");
        cache.insert(&local, &remote, &right);
        run(&cache).unwrap();
    }

    #[test]
    fn debug_shows_no_values() {
        let c = DhCache::new(8);
        c.insert(&k(0), &k(5), &[0xab; 32]);
        let s = std::format!("{c:?}");
        assert!(s.contains("peers: 1") && !s.contains("171"), "{s}");
    }
}
