//! The sealed outbox: every unacknowledged message kept at rest under AES-256-GCM until the peer
//! acknowledges it (spec/MESSAGES.md 6.5).
//!
//! A message is sealed and written before [`Outbox::push`] returns, so it is never only in RAM.
//! Entries sit in a ring of equal-size slots (sequence number `seq` in slot `seq mod slots`);
//! an index written alternately to two slots says which entries are live. Nonces come from a
//! counter whose high-water mark is kept in a rollback-resistant cell and reserved a block ahead
//! (as OSCORE does), so no nonce is ever used twice, whatever a power cut interrupts. The index
//! records the reservation it was written under, which lets [`Outbox::open`] notice a flash
//! image restored from before the previous reservation.
//!
//! Anything the outbox did not write (altered bytes, entries moved between slots, a cut entry
//! the index names, an old index) is refused: the outbox returns the error, changes nothing and
//! stays refused until the application logs a security event and calls [`Refused::reset`].

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::AeadInPlace;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::delivery::storage::{IndexSlot, OutboxStorage};
use crate::delivery::{StreamId, MAX_MESSAGE, MAX_SEQ, STREAM_ID_LEN};
use crate::entropy::{draw, Entropy};
use crate::error::{Error, Local, StorageError};
use crate::hygiene::AesGcm;

/// Bytes before an entry's ciphertext: nonce counter (8), seq (8), slot (4), length (2).
const ENTRY_HEADER: usize = 8 + 8 + 4 + 2;
/// AES-GCM tag length.
const TAG: usize = 16;
/// An entry's size beyond its message: header and tag.
pub const ENTRY_OVERHEAD: usize = ENTRY_HEADER + TAG;
/// The largest entry: a [`MAX_MESSAGE`]-byte message. Slots larger than this are not used
/// beyond it.
pub const MAX_ENTRY: usize = ENTRY_OVERHEAD + MAX_MESSAGE;
/// The index's plaintext: generation, head, next, reserved (8 each), block (4), stream id (8).
const INDEX_PLAIN: usize = 8 + 8 + 8 + 8 + 4 + STREAM_ID_LEN;
/// An index's stored size: nonce counter, sealed plaintext, tag.
pub const INDEX_LEN: usize = 8 + INDEX_PLAIN + TAG;
/// Associated data prefix of every entry.
const ENTRY_AD: &[u8; 16] = b"tether outbox v1";
/// Associated data prefix of every index (followed by the index slot's number).
const INDEX_AD: &[u8; 22] = b"tether outbox index v1";

/// The default nonce reservation block.
pub const DEFAULT_BLOCK: u32 = 32;
/// The smallest block: a push needs two nonces (entry, index) and the block's last nonce is
/// kept for the index write that repairs a cut reservation, so a block needs at least four.
pub const MIN_BLOCK: u32 = 4;
/// The largest block: larger ones only weaken rollback detection.
pub const MAX_BLOCK: u32 = 1 << 20;

/// The 32-byte key the outbox seals with. Zeroized on drop, never printed. Keep it in the
/// platform's key store (it need not be secret from the device, only from whoever reads its
/// flash); it is independent of any session key.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct StorageKey([u8; 32]);

impl StorageKey {
    /// Wraps key bytes (the caller should wipe its own copy).
    pub fn new(bytes: [u8; 32]) -> Self {
        StorageKey(bytes)
    }

    /// A fresh random key from the caller's entropy.
    pub fn generate(rng: &mut (impl Entropy + ?Sized)) -> Result<Self, Error> {
        Ok(StorageKey(*draw::<32>(rng)?))
    }
}

impl fmt::Debug for StorageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StorageKey(<redacted>)")
    }
}

/// How the outbox reserves nonces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxConfig {
    /// Nonces reserved per write of the counter cell ([`MIN_BLOCK`]..=[`MAX_BLOCK`]). Larger
    /// blocks write the cell less often (secure-element counters wear out); smaller ones detect
    /// a finer rollback (spec/MESSAGES.md 6.5.5).
    pub block: u32,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            block: DEFAULT_BLOCK,
        }
    }
}

/// One decoded index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Index {
    generation: u64,
    head: u64,
    next: u64,
    reserved: u64,
    block: u32,
    stream: StreamId,
}

/// What an index slot holds.
enum IndexRead {
    Empty,
    Invalid(StorageError),
    Valid(Index),
}

/// A caller-owned scratch buffer for one entry, wiped whenever it is released.
struct Scratch(Vec<u8>);

impl Scratch {
    fn wipe(&mut self) {
        self.0.as_mut_slice().zeroize();
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.wipe();
    }
}

fn nonce_bytes(counter: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    let (_, c) = n.split_at_mut(4);
    c.copy_from_slice(&counter.to_be_bytes());
    n
}

fn entry_ad(stream: &StreamId, seq: u64, slot: u32) -> [u8; 36] {
    let mut ad = [0u8; 36];
    let (p, rest) = ad.split_at_mut(ENTRY_AD.len());
    p.copy_from_slice(ENTRY_AD);
    let (s, rest) = rest.split_at_mut(STREAM_ID_LEN);
    s.copy_from_slice(&stream.0);
    let (q, t) = rest.split_at_mut(8);
    q.copy_from_slice(&seq.to_be_bytes());
    t.copy_from_slice(&slot.to_be_bytes());
    ad
}

fn index_ad(which: IndexSlot) -> [u8; 23] {
    let mut ad = [0u8; 23];
    let (p, s) = ad.split_at_mut(INDEX_AD.len());
    p.copy_from_slice(INDEX_AD);
    s.copy_from_slice(&[which.number()]);
    ad
}

/// Splits off the next `N` bytes as an array.
fn take<const N: usize>(b: &mut &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some((head, rest)) = b.split_at_checked(N) {
        out.copy_from_slice(head);
        *b = rest;
    }
    out
}

/// Writes `parts` one after another into `out` (which the caller sized exactly).
fn put(out: &mut [u8], parts: &[&[u8]]) {
    let mut rest = out;
    for p in parts {
        let at = p.len().min(rest.len());
        let (head, tail) = core::mem::take(&mut rest).split_at_mut(at);
        head.copy_from_slice(p.get(..head.len()).unwrap_or(&[]));
        rest = tail;
    }
}

impl Index {
    fn plaintext(&self) -> [u8; INDEX_PLAIN] {
        let mut p = [0u8; INDEX_PLAIN];
        put(
            &mut p,
            &[
                &self.generation.to_be_bytes(),
                &self.head.to_be_bytes(),
                &self.next.to_be_bytes(),
                &self.reserved.to_be_bytes(),
                &self.block.to_be_bytes(),
                &self.stream.0,
            ],
        );
        p
    }

    fn parse(p: &[u8; INDEX_PLAIN]) -> Index {
        let mut b: &[u8] = p;
        Index {
            generation: u64::from_be_bytes(take(&mut b)),
            head: u64::from_be_bytes(take(&mut b)),
            next: u64::from_be_bytes(take(&mut b)),
            reserved: u64::from_be_bytes(take(&mut b)),
            block: u32::from_be_bytes(take(&mut b)),
            stream: StreamId(take(&mut b)),
        }
    }

    /// Seals the index with nonce `counter` for slot `which`.
    fn seal(&self, cipher: &AesGcm, counter: u64, which: IndexSlot) -> [u8; INDEX_LEN] {
        let mut ct = self.plaintext();
        let nonce = nonce_bytes(counter);
        // Encryption into a fixed buffer does not fail (the length is far below GCM's limit).
        let tag = cipher
            .encrypt_in_place_detached(GenericArray::from_slice(&nonce), &index_ad(which), &mut ct)
            .map(|t| {
                let mut a = [0u8; TAG];
                a.copy_from_slice(&t);
                a
            })
            .unwrap_or([0u8; TAG]);
        let mut out = [0u8; INDEX_LEN];
        put(&mut out, &[&counter.to_be_bytes(), &ct, &tag]);
        out
    }

    /// Opens a stored index: its length, its tag, the parity of its generation and the sanity
    /// of its fields.
    fn open(cipher: &AesGcm, which: IndexSlot, stored: &[u8], slots: u32) -> IndexRead {
        if stored.is_empty() {
            return IndexRead::Empty;
        }
        if stored.len() < INDEX_LEN {
            return IndexRead::Invalid(StorageError::Truncated);
        }
        if stored.len() > INDEX_LEN {
            return IndexRead::Invalid(StorageError::Tampered);
        }
        let mut b = stored;
        let counter = u64::from_be_bytes(take::<8>(&mut b));
        let mut pt = take::<INDEX_PLAIN>(&mut b);
        let tag = take::<TAG>(&mut b);
        let ok = cipher.decrypt_in_place_detached(
            GenericArray::from_slice(&nonce_bytes(counter)),
            &index_ad(which),
            &mut pt,
            GenericArray::from_slice(&tag),
        );
        if ok.is_err() {
            return IndexRead::Invalid(StorageError::Tampered);
        }
        let idx = Index::parse(&pt);
        let sane = IndexSlot::for_generation(idx.generation) == which
            && idx.head >= 1
            && idx.head <= idx.next
            && idx.next <= MAX_SEQ + 1
            && idx.next - idx.head <= u64::from(slots)
            && (MIN_BLOCK..=MAX_BLOCK).contains(&idx.block);
        if sane {
            IndexRead::Valid(idx)
        } else {
            // Authentic but impossible: not something this code writes.
            IndexRead::Invalid(StorageError::Tampered)
        }
    }
}

/// The sealed outbox over a storage `S`.
pub struct Outbox<S: OutboxStorage> {
    storage: S,
    cipher: AesGcm,
    config: OutboxConfig,
    slots: u32,
    stream: StreamId,
    /// Generation of the newest index written (0: none yet).
    generation: u64,
    /// Oldest unacknowledged sequence number.
    head: u64,
    /// Next sequence number to assign.
    next: u64,
    /// The counter cell's value: every nonce below it may have been used, none above.
    reserved: u64,
    /// The next nonce to use. Nonces `nonce..reserved - 1` are free; `reserved - 1` is kept for
    /// the index write that repairs a cut reservation on the next open.
    nonce: u64,
    /// The reservation recorded in the newest durable index.
    durable_reserved: u64,
    /// The block size of the next reservation (the one the newest durable index records).
    next_block: u32,
    /// Set after a storage failure or a detection: every call returns it until reopened/reset.
    stopped: Option<Error>,
    scratch: Scratch,
}

impl<S: OutboxStorage> fmt::Debug for Outbox<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbox")
            .field("stream", &self.stream)
            .field("head", &self.head)
            .field("next", &self.next)
            .field("slots", &self.slots)
            .field("generation", &self.generation)
            .field("reserved", &self.reserved)
            .field("stopped", &self.stopped)
            .finish_non_exhaustive()
    }
}

/// An outbox that refused to open (or whose reset failed): the error, and the outbox to
/// [`Refused::reset`] once the application has logged a security event, or whose storage to take
/// back.
pub struct Refused<S: OutboxStorage> {
    error: Error,
    outbox: Box<Outbox<S>>,
}

impl<S: OutboxStorage> fmt::Debug for Refused<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refused")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<S: OutboxStorage> Refused<S> {
    /// Why the outbox refused.
    pub fn error(&self) -> Error {
        self.error
    }

    /// Starts a new stream on the same storage, forgetting every message in it and keeping the
    /// counter: the explicit recovery after a detection, called once the application has
    /// recorded the security event. The peer sees a new stream id (an audit event there too).
    pub fn reset(mut self, rng: &mut (impl Entropy + ?Sized)) -> Result<Outbox<S>, Refused<S>> {
        match self.outbox.start_stream(rng) {
            Ok(()) => Ok(*self.outbox),
            Err(e) => {
                self.error = e;
                Err(self)
            }
        }
    }

    /// The storage back, untouched by the refusal.
    pub fn into_storage(self) -> S {
        self.outbox.storage
    }
}

impl<S: OutboxStorage> Outbox<S> {
    /// Opens the outbox kept in `storage`: reads the newest valid index, checks it against the
    /// counter cell (rollback), checks every entry it names, and repairs a reservation a power
    /// cut interrupted. Storage never used (both index slots empty, counter 0) gets a new
    /// stream with a random id. Anything else that is wrong is refused ([`Refused`]) and
    /// nothing is written.
    pub fn open(
        storage: S,
        key: &StorageKey,
        config: OutboxConfig,
        rng: &mut (impl Entropy + ?Sized),
    ) -> Result<Self, Refused<S>> {
        let mut ob = Box::new(Self::blank(storage, key, config));
        let res = match ob.check_shape() {
            Ok(()) => ob.load(rng),
            Err(e) => Err(e),
        };
        match res {
            Ok(()) => Ok(*ob),
            Err(error) => Err(Refused { error, outbox: ob }),
        }
    }

    fn blank(storage: S, key: &StorageKey, config: OutboxConfig) -> Self {
        let slots = storage.slot_count();
        let size = storage.slot_size().min(MAX_ENTRY);
        Outbox {
            storage,
            cipher: AesGcm::new(&key.0),
            config,
            slots,
            stream: StreamId([0; STREAM_ID_LEN]),
            generation: 0,
            head: 1,
            next: 1,
            reserved: 0,
            nonce: 0,
            durable_reserved: 0,
            next_block: config.block,
            stopped: None,
            scratch: Scratch(vec![0u8; size]),
        }
    }

    fn check_shape(&self) -> Result<(), Error> {
        let block_ok = (MIN_BLOCK..=MAX_BLOCK).contains(&self.config.block);
        if !block_ok || self.slots == 0 || self.scratch.0.len() < ENTRY_OVERHEAD {
            return Err(Local::Config.into());
        }
        Ok(())
    }

    fn read_index(&mut self, which: IndexSlot) -> Result<IndexRead, Error> {
        let mut buf = [0u8; INDEX_LEN];
        let n = self.storage.read_index(which, &mut buf)?;
        let stored = if n > INDEX_LEN {
            return Ok(IndexRead::Invalid(StorageError::Tampered));
        } else {
            buf.get(..n).unwrap_or(&[])
        };
        Ok(Index::open(&self.cipher, which, stored, self.slots))
    }

    fn load(&mut self, rng: &mut (impl Entropy + ?Sized)) -> Result<(), Error> {
        let cell = self.storage.read_counter()?;
        let a = self.read_index(IndexSlot::A)?;
        let b = self.read_index(IndexSlot::B)?;
        let newest = match (&a, &b) {
            (IndexRead::Valid(x), IndexRead::Valid(y)) => {
                Some(if x.generation > y.generation { *x } else { *y })
            }
            (IndexRead::Valid(x), _) | (_, IndexRead::Valid(x)) => Some(*x),
            _ => None,
        };
        let Some(idx) = newest else {
            return match (a, b) {
                (IndexRead::Empty, IndexRead::Empty) if cell == 0 => self.start_stream(rng),
                (IndexRead::Invalid(e), _) | (_, IndexRead::Invalid(e)) => Err(e.into()),
                // Both empty with a used counter: the first creation cut short, or erased indexes.
                _ => Err(StorageError::Truncated.into()),
            };
        };
        // The cell moves only after the newest index carries its value, and the index that
        // follows carries the new one: so a genuine newest index was written under the cell's
        // value or the one reserved just before it.
        let current = idx.reserved == cell;
        let previous = idx.reserved.checked_add(u64::from(idx.block)) == Some(cell);
        if !current && !previous {
            return Err(StorageError::RolledBack.into());
        }
        self.stream = idx.stream;
        self.generation = idx.generation;
        self.head = idx.head;
        self.next = idx.next;
        self.reserved = cell;
        self.nonce = cell;
        self.durable_reserved = idx.reserved;
        self.next_block = idx.block;
        for seq in idx.head..idx.next {
            let r = self.open_entry(seq);
            self.scratch.wipe();
            r?;
        }
        if previous {
            // A cut came between a reservation and the index that records it. Write that index
            // now, before the cell may move again, with the nonce the block keeps for this and
            // contents fixed by what is stored, so a repeated repair seals the same bytes.
            let repaired = Index {
                generation: idx.generation.checked_add(1).ok_or(Local::LimitReached)?,
                reserved: cell,
                ..idx
            };
            let which = IndexSlot::for_generation(repaired.generation);
            let sealed = repaired.seal(&self.cipher, cell - 1, which);
            self.storage.write_index(which, &sealed)?;
            self.generation = repaired.generation;
            self.durable_reserved = cell;
        }
        Ok(())
    }

    /// Begins a new stream: new random id, sequence numbers from 1, both old indexes erased,
    /// the counter kept (moved past anything an authentic index shows was reserved, in case
    /// the cell itself went back).
    fn start_stream(&mut self, rng: &mut (impl Entropy + ?Sized)) -> Result<(), Error> {
        self.stopped = None;
        let res = self.start_stream_inner(rng);
        if let Err(e) = res {
            self.stopped = Some(e);
        }
        res
    }

    fn start_stream_inner(&mut self, rng: &mut (impl Entropy + ?Sized)) -> Result<(), Error> {
        self.check_shape()?;
        let cell = self.storage.read_counter()?;
        let mut base = cell;
        let mut newest = 0;
        let mut occupied = [false; 2];
        for which in [IndexSlot::A, IndexSlot::B] {
            let read = self.read_index(which)?;
            if let Some(o) = occupied.get_mut(usize::from(which.number())) {
                *o = !matches!(read, IndexRead::Empty);
            }
            if let IndexRead::Valid(idx) = read {
                newest = newest.max(idx.generation);
                if idx.reserved > cell {
                    // The cell went back: nonces up to the reservation after this index's
                    // may have been used.
                    base = base.max(idx.reserved.saturating_add(u64::from(idx.block)));
                }
            }
        }
        let stream = StreamId(*draw::<STREAM_ID_LEN>(rng)?);
        // The new stream's index takes the generation after every readable one, in the slot
        // the newest readable index is not in: until it is durable, the old index stays, and a
        // cut leaves the outbox as it was before the reset.
        self.stream = stream;
        self.generation = newest;
        self.head = 1;
        self.next = 1;
        self.reserved = base;
        self.nonce = base;
        self.durable_reserved = base;
        self.next_block = self.config.block;
        self.write_index(1, 1)?;
        // Then the old stream's index goes.
        let other = IndexSlot::for_generation(self.generation.wrapping_add(1));
        if occupied
            .get(usize::from(other.number()))
            .copied()
            .unwrap_or(true)
        {
            self.storage.erase_index(other).map_err(|e| self.stop(e))?;
        }
        Ok(())
    }

    /// Stops the outbox after a storage failure or a detection.
    fn stop(&mut self, e: impl Into<Error>) -> Error {
        let e = e.into();
        self.stopped = Some(e);
        e
    }

    fn usable(&self) -> Result<(), Error> {
        match self.stopped {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn slot_of(&self, seq: u64) -> u32 {
        // seq % slots < slots <= u32::MAX.
        u32::try_from(seq % u64::from(self.slots)).unwrap_or(0)
    }

    /// The next free nonce, reserving a new block first when the current one is used up.
    fn take_nonce(&mut self) -> Result<u64, Error> {
        if self.nonce.saturating_add(1) >= self.reserved {
            if self.durable_reserved != self.reserved {
                // Moving the cell now would put the newest index two reservations behind it,
                // which open() would take for a rollback. The write order rules this out.
                return Err(self.stop(Local::WrongState));
            }
            let new = self
                .reserved
                .checked_add(u64::from(self.next_block))
                .ok_or(Local::LimitReached)?;
            if let Err(e) = self.storage.write_counter(new) {
                return Err(self.stop(e));
            }
            self.nonce = self.reserved;
            self.reserved = new;
        }
        let n = self.nonce;
        self.nonce += 1;
        Ok(n)
    }

    /// Seals and writes the next index generation with `head` and `next`.
    fn write_index(&mut self, head: u64, next: u64) -> Result<(), Error> {
        let nonce = self.take_nonce()?;
        let generation = self.generation.checked_add(1).ok_or(Local::LimitReached)?;
        let idx = Index {
            generation,
            head,
            next,
            reserved: self.reserved,
            block: self.config.block,
            stream: self.stream,
        };
        let which = IndexSlot::for_generation(generation);
        let sealed = idx.seal(&self.cipher, nonce, which);
        if let Err(e) = self.storage.write_index(which, &sealed) {
            return Err(self.stop(e));
        }
        self.generation = generation;
        self.head = head;
        self.next = next;
        self.durable_reserved = self.reserved;
        self.next_block = self.config.block;
        Ok(())
    }

    /// Seals `message` and stores it durably before returning its sequence number. Fails with
    /// [`StorageError::Full`] when every slot holds an unacknowledged message,
    /// [`Local::PlaintextTooLarge`] beyond [`MAX_MESSAGE`] or the slot size; on any failure the
    /// message is not in the outbox.
    pub fn push(&mut self, message: &[u8]) -> Result<u64, Error> {
        self.usable()?;
        let total = ENTRY_OVERHEAD + message.len();
        if message.len() > MAX_MESSAGE || total > self.scratch.0.len() {
            return Err(Local::PlaintextTooLarge.into());
        }
        if self.next > MAX_SEQ {
            return Err(Local::LimitReached.into());
        }
        if self.next - self.head >= u64::from(self.slots) {
            return Err(StorageError::Full.into());
        }
        let seq = self.next;
        let slot = self.slot_of(seq);
        let nonce = self.take_nonce()?;
        let sealed = self.seal_entry(nonce, seq, slot, message, total);
        let written = match sealed {
            Ok(()) => self
                .scratch
                .0
                .get(..total)
                .ok_or(Error::Local(Local::Config))
                .and_then(|e| self.storage.write_entry(slot, e).map_err(Error::from)),
            Err(e) => Err(e),
        };
        self.scratch.wipe();
        if let Err(e) = written {
            return Err(self.stop(e));
        }
        self.write_index(self.head, seq + 1)?;
        Ok(seq)
    }

    fn seal_entry(
        &mut self,
        nonce: u64,
        seq: u64,
        slot: u32,
        message: &[u8],
        total: usize,
    ) -> Result<(), Error> {
        let len = u16::try_from(message.len()).map_err(|_| Local::PlaintextTooLarge)?;
        let buf = self
            .scratch
            .0
            .get_mut(..total)
            .ok_or(Local::PlaintextTooLarge)?;
        let (header, rest) = buf.split_at_mut(ENTRY_HEADER);
        put(
            header,
            &[
                &nonce.to_be_bytes(),
                &seq.to_be_bytes(),
                &slot.to_be_bytes(),
                &len.to_be_bytes(),
            ],
        );
        let (body, tag_out) = rest.split_at_mut(message.len());
        body.copy_from_slice(message);
        let tag = self
            .cipher
            .encrypt_in_place_detached(
                GenericArray::from_slice(&nonce_bytes(nonce)),
                &entry_ad(&self.stream, seq, slot),
                body,
            )
            .map_err(|_| Local::PlaintextTooLarge)?;
        tag_out.copy_from_slice(&tag);
        Ok(())
    }

    /// Reads and authenticates the entry for `seq` into the scratch buffer; returns the
    /// message's length (the message starts at `ENTRY_HEADER`). The caller wipes the scratch.
    fn open_entry(&mut self, seq: u64) -> Result<usize, Error> {
        let slot = self.slot_of(seq);
        let n = self.storage.read_entry(slot, &mut self.scratch.0)?;
        if n > self.scratch.0.len() {
            return Err(StorageError::Tampered.into());
        }
        if n < ENTRY_HEADER {
            return Err(StorageError::Truncated.into());
        }
        let (header, rest) = self.scratch.0.split_at_mut(ENTRY_HEADER);
        let mut h: &[u8] = header;
        let nonce = u64::from_be_bytes(take(&mut h));
        let stored_seq = u64::from_be_bytes(take(&mut h));
        let stored_slot = u32::from_be_bytes(take(&mut h));
        let len = usize::from(u16::from_be_bytes(take(&mut h)));
        if len > MAX_MESSAGE {
            return Err(StorageError::Tampered.into());
        }
        let total = ENTRY_OVERHEAD + len;
        if n < total {
            return Err(StorageError::Truncated.into());
        }
        if n > total {
            return Err(StorageError::Tampered.into());
        }
        let (body, rest) = rest.split_at_mut(len);
        let tag = rest.get(..TAG).ok_or(StorageError::Truncated)?;
        let tag = *GenericArray::from_slice(tag);
        self.cipher
            .decrypt_in_place_detached(
                GenericArray::from_slice(&nonce_bytes(nonce)),
                &entry_ad(&self.stream, stored_seq, stored_slot),
                body,
                &tag,
            )
            .map_err(|_| StorageError::Tampered)?;
        if stored_seq != seq || stored_slot != slot {
            // Authentic, but written for another place in the ring.
            return Err(StorageError::Reordered.into());
        }
        Ok(len)
    }

    /// Authenticates message `seq` and lends its plaintext to `f` (wiped afterwards). A failure
    /// to authenticate stops the outbox.
    pub(crate) fn with_message<R>(
        &mut self,
        seq: u64,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, Error> {
        self.usable()?;
        if seq < self.head || seq >= self.next {
            return Err(Local::WrongState.into());
        }
        let res = self.open_entry(seq).map(|len| {
            let msg = self
                .scratch
                .0
                .get(ENTRY_HEADER..ENTRY_HEADER + len)
                .unwrap_or(&[]);
            f(msg)
        });
        self.scratch.wipe();
        res.map_err(|e| self.stop(e))
    }

    /// Copies message `seq` (which must be unacknowledged) into `out`, returning its length.
    pub fn read(&mut self, seq: u64, out: &mut [u8]) -> Result<usize, Error> {
        self.with_message(seq, |m| match out.get_mut(..m.len()) {
            Some(dst) => {
                dst.copy_from_slice(m);
                Ok(m.len())
            }
            None => Err(Local::BufferTooSmall { needed: m.len() }.into()),
        })?
    }

    /// Frees every message numbered `upto` or lower (the peer acknowledged them). Numbers
    /// already freed are ignored; a number never assigned is [`Local::WrongState`].
    pub fn release(&mut self, upto: u64) -> Result<(), Error> {
        self.usable()?;
        if upto < self.head {
            return Ok(());
        }
        if upto >= self.next {
            return Err(Local::WrongState.into());
        }
        self.write_index(upto + 1, self.next)
    }

    /// Forgets every message and starts a new stream (factory reset), keeping the counter.
    pub fn reset(&mut self, rng: &mut (impl Entropy + ?Sized)) -> Result<(), Error> {
        self.start_stream(rng)
    }

    /// The stream id the peer knows this outbox by.
    pub fn stream(&self) -> StreamId {
        self.stream
    }

    /// The oldest unacknowledged sequence number (equal to [`Outbox::next_seq`] when empty).
    pub fn head(&self) -> u64 {
        self.head
    }

    /// The sequence number the next push gets.
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// How many messages wait for acknowledgement.
    pub fn len(&self) -> u64 {
        self.next - self.head
    }

    /// Whether no message waits for acknowledgement.
    pub fn is_empty(&self) -> bool {
        self.next == self.head
    }

    /// How many messages fit (the storage's slot count).
    pub fn capacity(&self) -> u32 {
        self.slots
    }

    /// The error that stopped the outbox, if one did (it must then be opened again).
    pub fn stopped(&self) -> Option<Error> {
        self.stopped
    }

    /// The storage, for inspection.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// Gives the storage back (to reopen it, or on shutdown).
    pub fn into_storage(self) -> S {
        self.storage
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::storage::MemStorage;
    use rand_core::{CryptoRng, RngCore};
    use std::vec::Vec;

    struct Rng(u8);
    impl RngCore for Rng {
        fn next_u32(&mut self) -> u32 {
            self.next_u64() as u32
        }
        fn next_u64(&mut self) -> u64 {
            let mut b = [0u8; 8];
            self.fill_bytes(&mut b);
            u64::from_le_bytes(b)
        }
        fn fill_bytes(&mut self, d: &mut [u8]) {
            for x in d {
                self.0 = self.0.wrapping_add(1);
                *x = self.0;
            }
        }
        fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> {
            self.fill_bytes(d);
            Ok(())
        }
    }
    impl CryptoRng for Rng {}

    fn key() -> StorageKey {
        StorageKey::new([7; 32])
    }
    fn cfg(block: u32) -> OutboxConfig {
        OutboxConfig { block }
    }
    fn open(s: MemStorage, block: u32) -> Result<Outbox<MemStorage>, Refused<MemStorage>> {
        Outbox::open(s, &key(), cfg(block), &mut Rng(0))
    }
    fn err(r: Result<Outbox<MemStorage>, Refused<MemStorage>>) -> Error {
        r.unwrap_err().error()
    }
    fn msg(ob: &mut Outbox<MemStorage>, seq: u64) -> Vec<u8> {
        let mut out = [0u8; MAX_MESSAGE];
        let n = ob.read(seq, &mut out).unwrap();
        out[..n].to_vec()
    }

    #[test]
    fn push_read_release_reopen() {
        let mut ob = open(MemStorage::new(4, MAX_ENTRY), 8).unwrap();
        assert!(ob.is_empty());
        assert_eq!(ob.push(b"one").unwrap(), 1);
        assert_eq!(ob.push(b"").unwrap(), 2);
        assert_eq!(ob.push(&[9u8; MAX_MESSAGE]).unwrap(), 3);
        assert_eq!(msg(&mut ob, 1), b"one");
        assert_eq!(msg(&mut ob, 2), b"");
        assert_eq!(msg(&mut ob, 3), [9u8; MAX_MESSAGE]);
        // The plaintext is not on the storage.
        let stored = ob.storage().entry(1).unwrap();
        assert_eq!(stored.len(), ENTRY_OVERHEAD + 3);
        assert!(!stored.windows(3).any(|w| w == b"one"));
        ob.push(b"four").unwrap();
        assert_eq!(ob.push(b"five"), Err(StorageError::Full.into()));
        ob.release(2).unwrap();
        ob.release(1).unwrap(); // stale: nothing happens
        assert_eq!(ob.release(9), Err(Local::WrongState.into()));
        assert_eq!((ob.head(), ob.next_seq(), ob.len()), (3, 5, 2));
        assert_eq!(ob.push(b"five").unwrap(), 5);
        assert_eq!(ob.read(1, &mut [0u8; 8]), Err(Local::WrongState.into()));
        let stream = ob.stream();
        let mut ob = open(ob.into_storage(), 8).unwrap();
        assert_eq!(ob.stream(), stream);
        assert_eq!((ob.head(), ob.next_seq()), (3, 6));
        assert_eq!(msg(&mut ob, 5), b"five");
        let mut small = [0u8; 2];
        assert_eq!(
            ob.read(5, &mut small),
            Err(Local::BufferTooSmall { needed: 4 }.into())
        );
    }

    #[test]
    fn oversized_and_config() {
        let mut ob = open(MemStorage::new(2, ENTRY_OVERHEAD + 4), 8).unwrap();
        assert_eq!(ob.push(b"12345"), Err(Local::PlaintextTooLarge.into()));
        assert_eq!(ob.push(b"1234"), Ok(1));
        assert_eq!(
            err(open(MemStorage::new(2, MAX_ENTRY), 3)),
            Local::Config.into()
        );
        assert_eq!(
            err(open(MemStorage::new(0, MAX_ENTRY), 8)),
            Local::Config.into()
        );
        assert_eq!(err(open(MemStorage::new(2, 10), 8)), Local::Config.into());
    }

    #[test]
    fn nonces_are_reserved_before_use_and_never_repeat() {
        let block = 4;
        let mut ob = open(MemStorage::new(8, 64), block).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        let record = |s: &MemStorage, seen: &mut std::collections::BTreeSet<u64>| {
            for slot in 0..8 {
                if let Some(e) = s.entry(slot) {
                    let n = u64::from_be_bytes(e[..8].try_into().unwrap());
                    assert!(n < s.counter(), "nonce {n} not below the cell");
                    seen.insert(n);
                }
            }
        };
        for i in 0..20u8 {
            ob.push(&[i]).unwrap();
            ob.release(ob.next_seq() - 1).unwrap();
            record(ob.storage(), &mut seen);
            // Reopen every third message: each open moves to a fresh block.
            if i % 3 == 0 {
                let before = ob.storage().counter();
                ob = open(ob.into_storage(), block).unwrap();
                assert_eq!(ob.storage().counter(), before);
            }
        }
        // Nonces of entries are distinct (the set would have collapsed duplicates otherwise).
        assert!(seen.len() >= 8);
    }

    #[test]
    fn altered_moved_cut_and_missing_entries_are_refused() {
        let mut ob = open(MemStorage::new(4, MAX_ENTRY), 8).unwrap();
        for m in [&b"a"[..], b"bb", b"ccc"] {
            ob.push(m).unwrap();
        }
        let good = ob.into_storage();
        let e1 = good.entry(1).unwrap().to_vec();
        let e2 = good.entry(2).unwrap().to_vec();

        let mut s = good.clone();
        let mut bad = e2.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        s.set_entry(2, Some(bad));
        assert_eq!(err(open(s, 8)), StorageError::Tampered.into());

        let mut s = good.clone();
        s.set_entry(1, Some(e2.clone()));
        s.set_entry(2, Some(e1.clone()));
        assert_eq!(err(open(s, 8)), StorageError::Reordered.into());

        let mut s = good.clone();
        s.set_entry(2, Some(e2[..e2.len() / 2].to_vec()));
        assert_eq!(err(open(s, 8)), StorageError::Truncated.into());

        let mut s = good.clone();
        s.set_entry(3, None);
        assert_eq!(err(open(s, 8)), StorageError::Truncated.into());

        // Header edits: the seq field changed to claim another place is not authentic.
        let mut s = good.clone();
        let mut bad = e2.clone();
        bad[15] ^= 1;
        s.set_entry(2, Some(bad));
        assert_eq!(err(open(s, 8)), StorageError::Tampered.into());

        // Trailing bytes.
        let mut s = good.clone();
        let mut bad = e2.clone();
        bad.push(0);
        s.set_entry(2, Some(bad));
        assert_eq!(err(open(s, 8)), StorageError::Tampered.into());

        // A refused open changed nothing, and a reset starts over with a new stream.
        let mut s = good.clone();
        s.set_entry(1, None);
        let refused = open(s.clone(), 8).unwrap_err();
        let kept = refused.into_storage();
        assert_eq!(kept, s);
        let ob = open(good.clone(), 8).unwrap();
        let old_stream = ob.stream();
        let mut s = good.clone();
        s.set_entry(1, None);
        let mut ob = open(s, 8).unwrap_err().reset(&mut Rng(100)).unwrap();
        assert_ne!(ob.stream(), old_stream);
        assert_eq!((ob.head(), ob.next_seq()), (1, 1));
        assert!(ob.storage().counter() >= good.counter());
        assert_eq!(ob.push(b"new").unwrap(), 1);
        let mut ob = open(ob.into_storage(), 8).unwrap();
        assert_eq!(msg(&mut ob, 1), b"new");
    }

    /// Storage shared with the test, so it can be altered under a running outbox.
    struct Shared(std::rc::Rc<core::cell::RefCell<MemStorage>>);
    impl OutboxStorage for Shared {
        fn slot_count(&self) -> u32 {
            self.0.borrow().slot_count()
        }
        fn slot_size(&self) -> usize {
            self.0.borrow().slot_size()
        }
        fn read_entry(&mut self, slot: u32, buf: &mut [u8]) -> Result<usize, StorageError> {
            self.0.borrow_mut().read_entry(slot, buf)
        }
        fn write_entry(&mut self, slot: u32, data: &[u8]) -> Result<(), StorageError> {
            self.0.borrow_mut().write_entry(slot, data)
        }
        fn read_index(&mut self, w: IndexSlot, buf: &mut [u8]) -> Result<usize, StorageError> {
            self.0.borrow_mut().read_index(w, buf)
        }
        fn write_index(&mut self, w: IndexSlot, data: &[u8]) -> Result<(), StorageError> {
            self.0.borrow_mut().write_index(w, data)
        }
        fn erase_index(&mut self, w: IndexSlot) -> Result<(), StorageError> {
            self.0.borrow_mut().erase_index(w)
        }
        fn read_counter(&mut self) -> Result<u64, StorageError> {
            self.0.borrow_mut().read_counter()
        }
        fn write_counter(&mut self, v: u64) -> Result<(), StorageError> {
            self.0.borrow_mut().write_counter(v)
        }
    }

    #[test]
    fn detection_or_failure_while_running_stops_the_outbox() {
        let shared = std::rc::Rc::new(core::cell::RefCell::new(MemStorage::new(4, MAX_ENTRY)));
        let mut ob = Outbox::open(Shared(shared.clone()), &key(), cfg(8), &mut Rng(0)).unwrap();
        ob.push(b"a").unwrap();
        ob.push(b"b").unwrap();
        // The flash changes under a running device: reading refuses, and the outbox stays
        // stopped (push and release too) until it is opened again.
        let good = shared.borrow().clone();
        let mut e = good.entry(1).unwrap().to_vec();
        e[25] ^= 0x80;
        shared.borrow_mut().set_entry(1, Some(e));
        assert_eq!(
            ob.read(1, &mut [0u8; 8]),
            Err(StorageError::Tampered.into())
        );
        assert_eq!(ob.stopped(), Some(StorageError::Tampered.into()));
        assert_eq!(ob.push(b"c"), Err(StorageError::Tampered.into()));
        assert_eq!(ob.release(1), Err(StorageError::Tampered.into()));
        assert_eq!(*shared.borrow(), {
            let mut g = good.clone();
            g.set_entry(1, shared.borrow().entry(1).map(|e| e.to_vec()));
            g
        });
        // Restored flash: a new open reads both messages.
        *shared.borrow_mut() = good;
        drop(ob);
        let mut ob = Outbox::open(Shared(shared.clone()), &key(), cfg(8), &mut Rng(0)).unwrap();
        let mut out = [0u8; 8];
        assert_eq!(ob.read(2, &mut out), Ok(1));
        assert_eq!(out[0], b'b');
    }

    #[test]
    fn index_tampering_and_rollback() {
        let block = 8;
        let mut ob = open(MemStorage::new(8, 64), block).unwrap();
        ob.push(b"a").unwrap();
        let old = ob.storage().clone();
        assert_eq!(old.counter(), 8);
        // A restore to a state written under the current reservation is not detected.
        ob.push(b"b").unwrap();
        assert_eq!(ob.storage().counter(), 8);
        let restore = |cur: &MemStorage| {
            let mut s = old.clone();
            s.set_counter(cur.counter());
            s
        };
        assert!(open(restore(ob.storage()), block).is_ok());
        // Nor one under the reservation just before the current one (cell moved once since).
        while ob.storage().counter() == 8 {
            ob.push(b"c").unwrap();
            ob.release(ob.next_seq() - 1).unwrap();
        }
        assert_eq!(ob.storage().counter(), 16);
        assert!(open(restore(ob.storage()), block).is_ok());
        // Once the cell moved twice past the restored index, it is detected.
        while ob.storage().counter() == 16 {
            ob.push(b"d").unwrap();
            ob.release(ob.next_seq() - 1).unwrap();
        }
        assert_eq!(ob.storage().counter(), 24);
        assert_eq!(
            err(open(restore(ob.storage()), block)),
            StorageError::RolledBack.into()
        );
        // A counter cell that went back is refused too.
        let mut s = ob.storage().clone();
        s.set_counter(old.counter());
        assert_eq!(err(open(s, block)), StorageError::RolledBack.into());
        // One index altered: the other (older, valid) one is used: this is indistinguishable
        // from a torn write. Both altered: refused.
        let cur = ob.into_storage();
        let mut s = cur.clone();
        let mut a = s.index(IndexSlot::A).unwrap().to_vec();
        a[20] ^= 1;
        let mut b = s.index(IndexSlot::B).unwrap().to_vec();
        b[20] ^= 1;
        s.set_index(IndexSlot::A, Some(a));
        s.set_index(IndexSlot::B, Some(b.clone()));
        assert_eq!(err(open(s.clone(), block)), StorageError::Tampered.into());
        // Swapping the two index slots: neither opens (the slot is bound into each).
        let mut s = cur.clone();
        let a = cur.index(IndexSlot::A).unwrap().to_vec();
        let b = cur.index(IndexSlot::B).unwrap().to_vec();
        s.set_index(IndexSlot::A, Some(b));
        s.set_index(IndexSlot::B, Some(a));
        assert_eq!(err(open(s, block)), StorageError::Tampered.into());
        // Both indexes erased on used storage: missing.
        let mut s = cur.clone();
        s.set_index(IndexSlot::A, None);
        s.set_index(IndexSlot::B, None);
        assert_eq!(err(open(s, block)), StorageError::Truncated.into());
        // Another key: every index fails.
        assert_eq!(
            Outbox::open(cur, &StorageKey::new([8; 32]), cfg(block), &mut Rng(0))
                .unwrap_err()
                .error(),
            StorageError::Tampered.into()
        );
    }

    #[test]
    fn a_cut_reservation_is_repaired_with_identical_bytes() {
        let block = 4;
        let mut ob = open(MemStorage::new(8, 64), block).unwrap();
        ob.push(b"a").unwrap();
        let mut s = ob.into_storage();
        // Play a cut right after a reservation: the cell moved, nothing else was written.
        s.set_counter(s.counter() + u64::from(block));
        let ob1 = open(s.clone(), block).unwrap();
        let ob2 = open(s.clone(), block).unwrap();
        assert_eq!(ob1.storage(), ob2.storage(), "the repair is deterministic");
        assert_ne!(ob1.storage(), &s);
        // Cut again after the next reservation (the repaired index is current): still fine.
        let mut s = ob1.into_storage();
        s.set_counter(s.counter() + u64::from(block));
        let mut ob = open(s, block).unwrap();
        assert_eq!(msg(&mut ob, 1), b"a");
        // Two reservations without an index: that is a rollback.
        let mut s = ob.into_storage();
        s.set_counter(s.counter() + 2 * u64::from(block));
        assert_eq!(err(open(s, block)), StorageError::RolledBack.into());
    }

    #[test]
    fn key_is_not_printed() {
        let k = StorageKey::new([0x42; 32]);
        let shown = std::format!("{k:?}");
        assert!(!shown.contains("42") && shown.contains("redacted"));
    }
}
