//! The record layer: an established session seals and opens records.
//!
//! Each direction has its own key per epoch and its own 64-bit counter, which runs from 0 across
//! all epochs and is the AEAD nonce. Keys move forward by Noise REKEY (one-way), announced by a
//! `KeyUpdate` record sealed under the new key. A stream receiver requires strict order; a
//! datagram receiver accepts reordering within its replay window and keeps the previous epoch's
//! key for a while.
//!
//! Every error leaves the session exactly as it was: checks and decryption run first, and state
//! changes only once a record has authenticated (or, when sealing, once every record is written).

use core::fmt;

use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Local, Malformed, PeerError};
use crate::record::aead::{RecordCipher, KEY_LEN};
use crate::record::config::{self, SessionConfig};
use crate::record::framing::Framing;
use crate::record::header::{self, RecordType, WireCounter, TAG_LEN};
use crate::record::replay::ReplayWindow;
use crate::suite::Suite;
use crate::time::Instant;

/// What [`Session::seal`] or [`Session::seal_in_place`] wrote, from `start` on in its buffer:
/// an optional key update record (`key_update` bytes, when a key-update limit was reached), then
/// the data record (`record` bytes). [`Session::seal`] always starts at 0.
///
/// On a stream, write [`Sealed::bytes`] as they are. On datagrams, send each of
/// [`Sealed::units`] as its own datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sealed {
    /// Where the first unit starts in the buffer.
    pub start: usize,
    /// Bytes of the key update record at `start`, 0 if none was due.
    pub key_update: usize,
    /// Bytes of the data record that follows.
    pub record: usize,
}

impl Sealed {
    /// Bytes written in all.
    pub fn total(&self) -> usize {
        self.key_update + self.record
    }

    /// Everything written, in sending order (the buffer passed to `seal` or `seal_in_place`).
    pub fn bytes<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.start..self.start + self.total())
            .unwrap_or_default()
    }

    /// The one or two units written into `buf` (the buffer passed to `seal` or
    /// `seal_in_place`), in sending order.
    pub fn units<'a>(&self, buf: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
        let (key_update, record) = self.bytes(buf).split_at(self.key_update.min(self.total()));
        Some(key_update)
            .filter(|u| !u.is_empty())
            .into_iter()
            .chain(Some(record).filter(|r| !r.is_empty()))
    }
}

/// What an opened record carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// Application data, decrypted into the caller's buffer.
    Data(&'a [u8]),
    /// The peer moved to a new sending key. `epoch` is the epoch the record belongs to (on
    /// datagrams a reordered key update can name an epoch the receiver has already reached).
    /// Informational: the session has already followed.
    KeyUpdate {
        /// The peer's sending epoch this record opened.
        epoch: u32,
    },
    /// The peer will send nothing more. Records it sent before the close may still arrive on
    /// datagrams; anything with a later counter is refused.
    Close,
}

/// What the next sealed record will be, decided before anything is written.
struct SealPlan {
    /// A key update record goes first.
    update: bool,
    /// The data record's counter.
    counter: u64,
    /// The epoch both records are sealed in.
    epoch: u32,
    /// Bytes of the key update record (0 if none).
    key_update: usize,
    /// Bytes of the data record.
    record: usize,
}

/// The sending direction.
struct SendState {
    cipher: RecordCipher,
    epoch: u32,
    /// Counter of the next record.
    counter: u64,
    /// Records sealed under `cipher`, key update and close records included (for the hard limit).
    epoch_records: u64,
    /// Data records sealed under `cipher` (for the policy).
    epoch_data_records: u64,
    /// Plaintext bytes sealed under `cipher`.
    epoch_bytes: u64,
    /// When `cipher` came into use.
    epoch_start: Instant,
}

impl SendState {
    /// Counts a data record of `len` plaintext bytes sealed under the current key.
    fn count_data(&mut self, len: usize) {
        self.epoch_records += 1;
        self.epoch_data_records += 1;
        self.epoch_bytes = self
            .epoch_bytes
            .saturating_add(u64::try_from(len).unwrap_or(u64::MAX));
    }
}

/// The previous epoch's receive key, kept on datagrams for records reordered across a key update.
///
/// Not an `Option`: the payload bytes of a `None` are never written, so whatever the stack held
/// there (key material from building the ciphers) would travel with every move of the session
/// into its final memory and stay after it is dropped. The slot always holds a cipher instead, one
/// keyed with zeros while it is empty.
struct PreviousKey {
    cipher: RecordCipher,
    /// When the receiver moved past this key's epoch.
    since: Instant,
    /// Whether `cipher` is a real key.
    held: bool,
}

impl PreviousKey {
    fn empty(suite: Suite) -> Result<PreviousKey, Error> {
        Ok(PreviousKey {
            cipher: RecordCipher::new(suite, &[0; KEY_LEN])?,
            since: Instant(0),
            held: false,
        })
    }

    fn get(&self) -> Option<&PreviousKey> {
        self.held.then_some(self)
    }

    fn set(&mut self, cipher: RecordCipher, since: Instant) {
        // The replaced cipher is dropped, which erases it.
        self.cipher = cipher;
        self.since = since;
        self.held = true;
    }

    /// Erases the key: the zero-keyed cipher takes its place.
    fn clear(&mut self, suite: Suite) {
        if let Ok(blank) = RecordCipher::new(suite, &[0; KEY_LEN]) {
            self.cipher = blank;
        }
        self.held = false;
    }
}

/// The receiving direction.
struct RecvState {
    cipher: RecordCipher,
    epoch: u32,
    previous: PreviousKey,
    /// Stream: the counter of the next record. Datagram: unused.
    next_counter: u64,
    /// Datagram only.
    window: Option<ReplayWindow>,
    /// Datagram: the lowest counter accepted in the current epoch (`None` before any).
    lowest_in_epoch: Option<u64>,
    /// The counter of the peer's close record, once received.
    close_counter: Option<u64>,
}

impl RecvState {
    /// Notes an accepted record of the current epoch (for when the previous key can go).
    fn note_current(&mut self, counter: u64) {
        self.lowest_in_epoch = Some(self.lowest_in_epoch.map_or(counter, |l| l.min(counter)));
    }

    /// Marks `counter` accepted: in the replay window, or as the stream's last.
    fn mark(&mut self, counter: u64) {
        match &mut self.window {
            Some(w) => w.mark(counter),
            None => self.next_counter = counter.saturating_add(1),
        }
    }
}

/// Which key opens a record, decided from its type and epoch bits before decryption. One byte:
/// the common case (the current key) moves nothing large through `open`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    Current,
    Previous,
    /// One or two epochs ahead: the keys are derived into [`Ahead`] for this record and kept only
    /// if it authenticates.
    Ahead(u32),
}

/// Keys derived for a record from a later epoch. Built only when the epoch changes, on the stack
/// of one `open` call (boxing them would allocate at every key update).
struct Ahead {
    /// The epoch in between, when the record is two epochs ahead.
    mid: Option<RecordCipher>,
    new: RecordCipher,
}

/// An established session: seals outgoing records and opens incoming ones, sans I/O.
///
/// Built by a completed handshake. Keys are held only inside the AEAD objects, which zeroize them
/// on drop, and replaced keys are dropped (zeroized) as soon as they are no longer needed.
pub struct Session {
    suite: Suite,
    framing: Framing,
    config: SessionConfig,
    send: SendState,
    recv: RecvState,
    /// We sent a close record.
    closed: bool,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("suite", &self.suite)
            .field("framing", &self.framing)
            .field("send_epoch", &self.send.epoch)
            .field("send_counter", &self.send.counter)
            .field("recv_epoch", &self.recv.epoch)
            .field("closed", &self.closed)
            .field("peer_closed", &self.peer_closed())
            .field("keys", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Seals one record in place: `rec` is exactly the record (header, plaintext, tag), with the
/// plaintext already at `rec[header_len..len - TAG_LEN]`. Writes the header and the tag and
/// encrypts the plaintext where it lies. On error the plaintext is wiped.
fn seal_record(
    framing: Framing,
    cipher: &RecordCipher,
    ty: RecordType,
    epoch: u32,
    counter: u64,
    rec: &mut [u8],
) -> Result<(), Error> {
    let needed = rec.len();
    let too_small = Error::Local(Local::BufferTooSmall { needed });
    let head = header::header_len(framing);
    let (hdr, body) = rec.split_at_mut_checked(head).ok_or(too_small)?;
    let (ct, tag_out) = body.split_last_chunk_mut::<TAG_LEN>().ok_or(too_small)?;
    let flags = header::record_flags(ty, epoch);
    header::write_header(framing, flags, counter, ct.len(), hdr)?;
    let ad = header::associated_data(flags, counter);
    match cipher.seal(counter, &ad, ct) {
        Ok(tag) => {
            *tag_out = tag;
            Ok(())
        }
        Err(e) => {
            ct.zeroize();
            Err(e)
        }
    }
}

// A stream's header and key update record fit the same headroom.
const _: () = assert!(
    header::overhead(Framing::Stream) + header::header_len(Framing::Stream)
        <= Session::SEAL_HEADROOM
);

/// The event of an opened record of type `ty`, from `epoch`, whose plaintext is `buf`.
fn event(ty: RecordType, epoch: u32, buf: &[u8]) -> Event<'_> {
    match ty {
        RecordType::Data => Event::Data(buf),
        RecordType::KeyUpdate => Event::KeyUpdate { epoch },
        RecordType::Close => Event::Close,
    }
}

/// What `open` needs of a record's header once its bytes are borrowed again for decryption.
#[derive(Clone, Copy)]
struct Head {
    flags: u8,
    ty: RecordType,
    epoch_bits: u8,
    counter: WireCounter,
}

impl Head {
    fn of(rec: &header::RecordView<'_>) -> Head {
        Head {
            flags: rec.flags,
            ty: rec.ty,
            epoch_bits: rec.epoch_bits,
            counter: rec.counter,
        }
    }
}

fn low_bits(epoch: u32) -> u8 {
    // Truncation intended: the epoch's two low bits.
    (epoch & 0b11) as u8
}

impl Session {
    /// Where [`Session::seal_in_place`] expects the plaintext: room for the largest header and
    /// key update record of either framing (datagram: 25 + 9), so that one offset serves both.
    pub const SEAL_HEADROOM: usize =
        header::overhead(Framing::Datagram) + header::header_len(Framing::Datagram);

    /// Built by the handshake once it completes, from the epoch-0 keys of each direction (this
    /// side's send key is the peer's receive key). Checks `config` first.
    pub(crate) fn new(
        suite: Suite,
        framing: Framing,
        config: SessionConfig,
        send_key: Zeroizing<[u8; KEY_LEN]>,
        recv_key: Zeroizing<[u8; KEY_LEN]>,
        now: Instant,
    ) -> Result<Session, Error> {
        config.validate()?;
        let send_cipher = RecordCipher::new(suite, &send_key)?;
        let recv_cipher = RecordCipher::new(suite, &recv_key)?;
        // The only allocation of the record layer: the replay bitmap, once.
        let window = match framing {
            Framing::Datagram => Some(ReplayWindow::new(config.replay_window)),
            Framing::Stream => None,
        };
        Ok(Session {
            suite,
            framing,
            config,
            send: SendState {
                cipher: send_cipher,
                epoch: 0,
                counter: 0,
                epoch_records: 0,
                epoch_data_records: 0,
                epoch_bytes: 0,
                epoch_start: now,
            },
            recv: RecvState {
                cipher: recv_cipher,
                epoch: 0,
                previous: PreviousKey::empty(suite)?,
                next_counter: 0,
                window,
                lowest_in_epoch: None,
                close_counter: None,
            },
            closed: false,
        })
    }

    /// The cipher suite the handshake agreed on.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// How records are framed on the wire.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// The record-layer configuration in force.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// This side's sending epoch: how many key updates it has sent.
    pub fn send_epoch(&self) -> u32 {
        self.send.epoch
    }

    /// The peer's sending epoch as far as this side has followed it.
    pub fn recv_epoch(&self) -> u32 {
        self.recv.epoch
    }

    /// Bytes one record with `plaintext_len` bytes takes on the wire: plaintext plus 21 on a
    /// stream (length prefix, header, tag) or 25 on datagrams (header with full counter, tag).
    pub fn record_len(&self, plaintext_len: usize) -> usize {
        header::overhead(self.framing).saturating_add(plaintext_len)
    }

    /// An output buffer size that always suffices for [`Session::seal`] of `plaintext_len`
    /// bytes: room for the data record and for an automatic key update record before it.
    pub fn seal_capacity(&self, plaintext_len: usize) -> usize {
        self.record_len(0)
            .saturating_add(self.record_len(plaintext_len))
    }

    /// Whether a policy or hard limit asks for a key update before sealing `len` more bytes.
    /// Policy limits only count once the current key has protected data, so a plaintext larger
    /// than `bytes`, or an idle key, does not trigger one update after another.
    fn key_update_due(&self, now: Instant, len: usize) -> bool {
        let s = &self.send;
        if s.epoch_records >= config::max_records_per_epoch(self.suite) {
            return true;
        }
        if s.epoch_data_records == 0 {
            return false;
        }
        let p = &self.config.key_update;
        let len = u64::try_from(len).unwrap_or(u64::MAX);
        (p.records != 0 && s.epoch_data_records >= p.records)
            || (p.bytes != 0 && s.epoch_bytes.saturating_add(len) > p.bytes)
            || (p.interval_ms != 0 && now.since(s.epoch_start) >= p.interval_ms)
    }

    /// Seals `plaintext` as one data record at the start of `out`, preceded by a key update record
    /// when a limit of [`SessionConfig::key_update`] (or the suite's hard limit) is reached.
    /// A copy of the plaintext into `out`, then [`Session::seal_in_place`]'s work.
    ///
    /// Errors, with nothing written and nothing changed: [`Local::WrongState`] after
    /// [`Session::close`], [`Local::PlaintextTooLarge`] above `max_plaintext`,
    /// [`Local::LimitReached`] when the counter or epoch is exhausted (start a new handshake),
    /// [`Local::BufferTooSmall`] with the exact size this call needs
    /// ([`Session::seal_capacity`] always suffices).
    pub fn seal(
        &mut self,
        now: Instant,
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<Sealed, Error> {
        let plan = self.plan_seal(now, plaintext.len())?;
        let needed = plan.key_update + plan.record;
        let region = out
            .get_mut(..needed)
            .ok_or(Local::BufferTooSmall { needed })?;
        let at = plan.key_update + header::header_len(self.framing);
        let pt = region
            .get_mut(at..at + plaintext.len())
            .ok_or(Local::BufferTooSmall { needed })?;
        pt.copy_from_slice(plaintext);
        let sealed = self.seal_planned(now, &plan, region, 0);
        if sealed.is_err() {
            // Nothing readable stays in `out`.
            region.zeroize();
        }
        sealed
    }

    /// Where [`Session::seal_in_place`] expects the plaintext in its buffer: 34 bytes in, in
    /// both framings ([`Session::SEAL_HEADROOM`]). The bytes before it are room for the record
    /// header and for a key update record that may go first.
    pub fn seal_headroom(&self) -> usize {
        Session::SEAL_HEADROOM
    }

    /// The buffer [`Session::seal_in_place`] needs for `plaintext_len` bytes: headroom,
    /// plaintext, tag.
    pub fn seal_in_place_len(&self, plaintext_len: usize) -> usize {
        self.seal_headroom()
            .saturating_add(plaintext_len)
            .saturating_add(TAG_LEN)
    }

    /// Seals the `plaintext_len` bytes at `buf[seal_headroom()..]` where they lie, with no copy:
    /// the header is written just before them and the tag just after, and a key update record,
    /// when one is due, before the header. The units are [`Sealed::units`] of `buf` (they start
    /// at [`Sealed::start`], not at 0).
    ///
    /// Errors as for [`Session::seal`], with nothing changed; [`Local::BufferTooSmall`] when `buf`
    /// is shorter than [`Session::seal_in_place_len`].
    pub fn seal_in_place(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        plaintext_len: usize,
    ) -> Result<Sealed, Error> {
        if let Some(sealed) = self.seal_next_in_place(now, buf, plaintext_len) {
            return sealed;
        }
        let plan = self.plan_seal(now, plaintext_len)?;
        let needed = self.seal_in_place_len(plaintext_len);
        if buf.len() < needed {
            return Err(Local::BufferTooSmall { needed }.into());
        }
        let start = Session::SEAL_HEADROOM - header::header_len(self.framing) - plan.key_update;
        let region = buf
            .get_mut(start..needed)
            .ok_or(Local::BufferTooSmall { needed })?;
        let mut sealed = self.seal_planned(now, &plan, region, 0)?;
        sealed.start = start;
        Ok(sealed)
    }

    /// The common case of [`Session::seal_in_place`]: [`Session::plan_seal`] passed, no key
    /// update goes first, and the buffer is large enough. Seals the data record with the current
    /// key and commits, without the general path's split for a key update record; `None` sends
    /// every other case there (a refusal is then reported by the same checks).
    fn seal_next_in_place(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        len: usize,
    ) -> Option<Result<Sealed, Error>> {
        let plan = self.plan_seal(now, len).ok().filter(|p| !p.update)?;
        let start = Session::SEAL_HEADROOM - header::header_len(self.framing);
        let rec = buf.get_mut(start..start.checked_add(plan.record)?)?;
        let sealed = seal_record(
            self.framing,
            &self.send.cipher,
            RecordType::Data,
            plan.epoch,
            plan.counter,
            rec,
        );
        Some(sealed.map(|()| {
            self.send.count_data(len);
            self.send.counter = plan.counter + 1;
            Sealed {
                start,
                key_update: 0,
                record: plan.record,
            }
        }))
    }

    /// Every check of a seal, before anything is written: what the next record will be.
    fn plan_seal(&self, now: Instant, len: usize) -> Result<SealPlan, Error> {
        if self.closed {
            return Err(Local::WrongState.into());
        }
        if len > self.config.max_plaintext {
            return Err(Local::PlaintextTooLarge.into());
        }
        let update = self.key_update_due(now, len);
        let counter = if update {
            self.send.counter.checked_add(1)
        } else {
            Some(self.send.counter)
        };
        let counter = counter
            .filter(|&c| c <= config::MAX_COUNTER)
            .ok_or(Local::LimitReached)?;
        let epoch = if update {
            self.send.epoch.checked_add(1).ok_or(Local::LimitReached)?
        } else {
            self.send.epoch
        };
        Ok(SealPlan {
            update,
            counter,
            epoch,
            key_update: if update { self.record_len(0) } else { 0 },
            record: self.record_len(len),
        })
    }

    /// Seals as planned into `region` (exactly the key update record, if any, then the data
    /// record, whose plaintext is already in place) and commits.
    fn seal_planned(
        &mut self,
        now: Instant,
        plan: &SealPlan,
        region: &mut [u8],
        start: usize,
    ) -> Result<Sealed, Error> {
        let needed = plan.key_update + plan.record;
        let (ku_out, data_out) = region
            .split_at_mut_checked(plan.key_update)
            .ok_or(Local::BufferTooSmall { needed })?;
        let pt_len = plan.record.saturating_sub(header::overhead(self.framing));
        let len = u64::try_from(pt_len).unwrap_or(u64::MAX);
        if plan.update {
            let next = self.send.cipher.next(self.suite)?;
            let ku_counter = self.send.counter;
            seal_record(
                self.framing,
                &next,
                RecordType::KeyUpdate,
                plan.epoch,
                ku_counter,
                ku_out,
            )?;
            seal_record(
                self.framing,
                &next,
                RecordType::Data,
                plan.epoch,
                plan.counter,
                data_out,
            )?;
            // Commit; the old key is zeroized as it drops.
            self.send.cipher = next;
            self.send.epoch = plan.epoch;
            self.send.epoch_records = 2;
            self.send.epoch_data_records = 1;
            self.send.epoch_bytes = len;
            self.send.epoch_start = now;
        } else {
            seal_record(
                self.framing,
                &self.send.cipher,
                RecordType::Data,
                plan.epoch,
                plan.counter,
                data_out,
            )?;
            self.send.count_data(pt_len);
        }
        self.send.counter = plan.counter + 1;
        Ok(Sealed {
            start,
            key_update: plan.key_update,
            record: plan.record,
        })
    }

    /// Moves to a new sending key now (for example after a security event) and writes the key
    /// update record that tells the peer, returning its length. Needs `record_len(0)` bytes.
    /// Errors as for [`Session::seal`].
    pub fn update_key(&mut self, now: Instant, out: &mut [u8]) -> Result<usize, Error> {
        if self.closed {
            return Err(Local::WrongState.into());
        }
        let counter = self.send.counter;
        if counter > config::MAX_COUNTER {
            return Err(Local::LimitReached.into());
        }
        let epoch = self.send.epoch.checked_add(1).ok_or(Local::LimitReached)?;
        let needed = self.record_len(0);
        let rec = out
            .get_mut(..needed)
            .ok_or(Local::BufferTooSmall { needed })?;
        let next = self.send.cipher.next(self.suite)?;
        seal_record(
            self.framing,
            &next,
            RecordType::KeyUpdate,
            epoch,
            counter,
            rec,
        )?;
        self.send.cipher = next;
        self.send.epoch = epoch;
        self.send.counter = counter + 1;
        self.send.epoch_records = 1;
        self.send.epoch_data_records = 0;
        self.send.epoch_bytes = 0;
        self.send.epoch_start = now;
        Ok(needed)
    }

    /// Writes a close record and stops sending: later [`Session::seal`], [`Session::update_key`]
    /// and `close` calls are [`Local::WrongState`]. Receiving goes on until the peer closes too.
    /// Needs `record_len(0)` bytes; returns the length written.
    pub fn close(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        if self.closed {
            return Err(Local::WrongState.into());
        }
        let counter = self.send.counter;
        if counter > config::MAX_COUNTER {
            return Err(Local::LimitReached.into());
        }
        let needed = self.record_len(0);
        let rec = out
            .get_mut(..needed)
            .ok_or(Local::BufferTooSmall { needed })?;
        seal_record(
            self.framing,
            &self.send.cipher,
            RecordType::Close,
            self.send.epoch,
            counter,
            rec,
        )?;
        self.send.counter = counter + 1;
        self.send.epoch_records += 1;
        self.closed = true;
        Ok(needed)
    }

    /// Whether this side has sent its close record.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether the peer's close record has been received.
    pub fn peer_closed(&self) -> bool {
        self.recv.close_counter.is_some()
    }

    /// Whether the previous epoch's receive key is still kept and, by the caller's clock, not yet
    /// past `previous_key_ms` (spec 5.6). An expired key opens nothing even before
    /// [`Session::poll`] or the next accepted record erases it.
    fn previous_usable(&self, now: Instant) -> bool {
        self.recv
            .previous
            .get()
            .is_some_and(|p| now.since(p.since) < self.config.previous_key_ms)
    }

    /// Erases what time alone has made useless: today the previous epoch's receive key once
    /// `previous_key_ms` have passed since the receiver moved past it. Records do this as they
    /// arrive; an idle session calls `poll` from a timer so that the key does not outlive its
    /// time in memory. Returns whether a key was erased.
    pub fn poll(&mut self, now: Instant) -> bool {
        if self.recv.previous.held && !self.previous_usable(now) {
            self.recv.previous.clear(self.suite);
            return true;
        }
        false
    }

    /// Whether the previous epoch's receive key is still held (it opens reordered records from
    /// before the peer's last key update, on datagrams).
    pub fn holds_previous_key(&self) -> bool {
        self.recv.previous.held
    }

    /// Picks the key for a record from its type and epoch bits.
    fn plan_key(&self, now: Instant, ty: RecordType, bits: u8) -> Result<Plan, Error> {
        let e = self.recv.epoch;
        let ahead = |steps: u32| e.checked_add(steps).map(low_bits) == Some(bits);
        match self.framing {
            Framing::Stream => {
                // In order and lossless: a key update moves exactly one epoch, and nothing else
                // may change epoch.
                if ty == RecordType::KeyUpdate {
                    if ahead(1) {
                        return Ok(Plan::Ahead(1));
                    }
                } else if bits == low_bits(e) {
                    return Ok(Plan::Current);
                }
                Err(PeerError::Epoch.into())
            }
            Framing::Datagram => {
                if bits == low_bits(e) {
                    Ok(Plan::Current)
                } else if e.checked_sub(1).map(low_bits) == Some(bits) {
                    if self.previous_usable(now) {
                        Ok(Plan::Previous)
                    } else {
                        Err(PeerError::TooOld.into())
                    }
                } else if ahead(1) {
                    Ok(Plan::Ahead(1))
                } else if ahead(2) {
                    Ok(Plan::Ahead(2))
                } else {
                    Err(PeerError::Epoch.into())
                }
            }
        }
    }

    /// Derives the keys of a record `steps` epochs ahead, without committing them.
    fn derive_ahead(&self, steps: u32) -> Result<Ahead, Error> {
        let first = self.recv.cipher.next(self.suite)?;
        Ok(if steps == 2 {
            let new = first.next(self.suite)?;
            Ahead {
                mid: Some(first),
                new,
            }
        } else {
            Ahead {
                mid: None,
                new: first,
            }
        })
    }

    /// Opens one complete unit: a datagram, or one stream unit with its length prefix (as
    /// [`crate::StreamDecoder`] returns it). Data is decrypted into `out`, which needs as many
    /// bytes as the plaintext (at most `max_plaintext`). A copy of the ciphertext into `out`,
    /// then [`Session::open_in_place`]'s work.
    ///
    /// Any error leaves the session unchanged, so the caller may drop the unit and go on (on a
    /// stream, only [`Error::Local`] errors are recoverable: anything else means the stream is
    /// broken). A handshake message is [`PeerError::UnexpectedMessage`]; a failed authentication
    /// is always [`PeerError::Authentication`] and leaves no plaintext in `out`.
    pub fn open<'o>(
        &mut self,
        now: Instant,
        unit: &[u8],
        out: &'o mut [u8],
    ) -> Result<Event<'o>, Error> {
        let rec = header::parse_record(self.framing, unit, self.config.max_plaintext)?;
        let head = Head::of(&rec);
        let (counter, plan) = self.check_open(now, &head)?;
        let len = rec.ciphertext.len();
        let buf = out
            .get_mut(..len)
            .ok_or(Local::BufferTooSmall { needed: len })?;
        buf.copy_from_slice(rec.ciphertext);
        let opened = self.decrypt_and_commit(now, head, rec.tag, counter, plan, buf);
        if opened.is_err() {
            buf.zeroize();
        }
        opened.map(|(ty, epoch)| event(ty, epoch, buf))
    }

    /// Opens one complete unit (as for [`Session::open`]) where it lies: the plaintext is
    /// decrypted over the ciphertext, and a data event borrows it from `unit` (it starts 5 bytes
    /// in on a stream, 9 on datagrams). No copy.
    ///
    /// Errors as for [`Session::open`], with the session unchanged. A unit that fails to
    /// authenticate is left as it was; only an authentic control record that carries bytes (a
    /// peer error) has them wiped.
    pub fn open_in_place<'u>(
        &mut self,
        now: Instant,
        unit: &'u mut [u8],
    ) -> Result<Event<'u>, Error> {
        if let Some((counter, flags)) = self.next_in_order(unit) {
            return self.open_next_in_order(unit, counter, flags);
        }
        let (head, len) = {
            let rec = header::parse_record(self.framing, unit, self.config.max_plaintext)?;
            (Head::of(&rec), rec.ciphertext.len())
        };
        let (counter, plan) = self.check_open(now, &head)?;
        let at = header::header_len(self.framing);
        let (body, tag) = unit
            .get_mut(..at + len + TAG_LEN)
            .and_then(|r| r.split_last_chunk_mut::<TAG_LEN>())
            .ok_or(Malformed::Truncated)?;
        let buf = body.get_mut(at..).ok_or(Malformed::Truncated)?;
        let (ty, epoch) = self.decrypt_and_commit(now, head, tag, counter, plan, buf)?;
        Ok(event(ty, epoch, buf))
    }

    /// The common case, recognised with a few comparisons: a well-formed data record of the
    /// current epoch that is the next one on a stream or the newest yet on datagrams, while no
    /// close was received and no previous key is kept. For such a record every check of the
    /// general path passes and its commit reduces to two fields, so
    /// [`Session::open_next_in_order`] does just that; anything else (including every malformed
    /// unit) takes the general path, which gives the same result for these records too. Returns
    /// the record's counter and flags.
    fn next_in_order(&self, unit: &[u8]) -> Option<(u64, u8)> {
        let r = &self.recv;
        if r.close_counter.is_some() || r.previous.held {
            return None;
        }
        let flags = header::record_flags(RecordType::Data, r.epoch);
        let (counter, rest) = match self.framing {
            Framing::Datagram => {
                let (&f, rest) = unit.split_first()?;
                let (c, rest) = rest.split_first_chunk::<8>()?;
                let counter = u64::from_be_bytes(*c);
                let newest = r
                    .window
                    .as_ref()?
                    .max_seen()
                    .is_none_or(|max| counter > max);
                (f == flags && newest).then_some((counter, rest))?
            }
            Framing::Stream => {
                let (prefix, body) = unit.split_first_chunk::<{ header::LENGTH_PREFIX }>()?;
                let (&f, rest) = body.split_first()?;
                let (c, rest) = rest.split_first_chunk::<2>()?;
                let counter = r.next_counter;
                // Truncation intended: a stream record carries the counter's low 16 bits.
                let next = u16::from_be_bytes(*c) == counter as u16;
                let framed = usize::from(u16::from_be_bytes(*prefix)) == body.len();
                (f == flags && next && framed).then_some((counter, rest))?
            }
        };
        let len = rest.len().checked_sub(TAG_LEN)?;
        (counter <= config::MAX_COUNTER && len <= self.config.max_plaintext)
            .then_some((counter, flags))
    }

    /// Opens a record [`Session::next_in_order`] recognised: decrypts it with the current key
    /// and, once it authenticates, commits what the general path would.
    fn open_next_in_order<'u>(
        &mut self,
        unit: &'u mut [u8],
        counter: u64,
        flags: u8,
    ) -> Result<Event<'u>, Error> {
        let at = header::header_len(self.framing);
        let (body, tag) = unit
            .split_last_chunk_mut::<TAG_LEN>()
            .ok_or(Malformed::Truncated)?;
        let buf = body.get_mut(at..).ok_or(Malformed::Truncated)?;
        let ad = header::associated_data(flags, counter);
        if self.recv.cipher.open(counter, &ad, buf, tag).is_err() {
            return Err(PeerError::Authentication.into());
        }
        // What `commit` does for a data record of the current epoch, no previous key held.
        self.recv.note_current(counter);
        self.recv.mark(counter);
        Ok(Event::Data(buf))
    }

    /// Every check of an open that needs no key: the record's counter and the key to use.
    fn check_open(&self, now: Instant, head: &Head) -> Result<(u64, Plan), Error> {
        let counter = match head.counter {
            WireCounter::Full(c) => {
                if c > config::MAX_COUNTER {
                    return Err(PeerError::CounterExhausted.into());
                }
                c
            }
            WireCounter::Low16(low) => {
                let expected = self.recv.next_counter;
                if expected > config::MAX_COUNTER {
                    return Err(PeerError::CounterExhausted.into());
                }
                // Truncation intended: compare the low 16 bits.
                if low != expected as u16 {
                    return Err(PeerError::OutOfOrder.into());
                }
                expected
            }
        };
        if self.recv.close_counter.is_some_and(|c| counter > c) {
            return Err(PeerError::AfterClose.into());
        }
        if let Some(w) = &self.recv.window {
            w.check(counter)?;
        }
        let plan = self.plan_key(now, head.ty, head.epoch_bits)?;
        Ok((counter, plan))
    }

    /// Decrypts `buf` in place with the planned key and, once it authenticates, commits the
    /// record to the receive state. On error nothing is committed (`buf` may hold plaintext of an
    /// authentic but invalid control record: the callers wipe or leave it).
    fn decrypt_and_commit(
        &mut self,
        now: Instant,
        head: Head,
        tag: &[u8; TAG_LEN],
        counter: u64,
        plan: Plan,
        buf: &mut [u8],
    ) -> Result<(RecordType, u32), Error> {
        // Later-epoch keys live on this frame only, and only when the epoch changes.
        let mut ahead = match plan {
            Plan::Ahead(steps) => Some(self.derive_ahead(steps)?),
            Plan::Current | Plan::Previous => None,
        };
        let ad = header::associated_data(head.flags, counter);
        let cipher = match (plan, &ahead) {
            (Plan::Current, _) => &self.recv.cipher,
            (Plan::Previous, _) => match self.recv.previous.get() {
                Some(p) if self.previous_usable(now) => &p.cipher,
                _ => return Err(PeerError::TooOld.into()),
            },
            (Plan::Ahead(_), Some(a)) => &a.new,
            (Plan::Ahead(_), None) => return Err(PeerError::Epoch.into()),
        };
        if cipher.open(counter, &ad, buf, tag).is_err() {
            return Err(PeerError::Authentication.into());
        }
        // Authentic, so the peer's own doing: a control record that carries bytes breaks the
        // protocol (spec 5.1) and is a peer error, like a payload where none belongs in a
        // handshake.
        if head.ty != RecordType::Data && !buf.is_empty() {
            buf.zeroize();
            return Err(PeerError::UnexpectedMessage.into());
        }
        let epoch = self.commit(now, counter, plan, &mut ahead, head.ty);
        Ok((head.ty, epoch))
    }

    /// Applies an authenticated record to the receive state; returns the record's epoch.
    /// `ahead` holds the derived keys when `plan` is [`Plan::Ahead`]; it is taken by reference so
    /// that the common case moves nothing large.
    fn commit(
        &mut self,
        now: Instant,
        counter: u64,
        plan: Plan,
        ahead: &mut Option<Ahead>,
        ty: RecordType,
    ) -> u32 {
        let r = &mut self.recv;
        let epoch = match plan {
            Plan::Current => {
                r.note_current(counter);
                r.epoch
            }
            Plan::Previous => r.epoch.saturating_sub(1),
            // Taken only here, so that the derived keys are moved only when the epoch changes.
            Plan::Ahead(steps) => match ahead.take() {
                Some(Ahead { mid, new }) => {
                    let old = core::mem::replace(&mut r.cipher, new);
                    r.epoch = r.epoch.saturating_add(steps);
                    r.lowest_in_epoch = Some(counter);
                    // The key of the epoch just before the new one stays for reordered records
                    // (datagrams only); any older key is dropped, which zeroizes it.
                    match self.framing {
                        Framing::Stream => r.previous.clear(self.suite),
                        Framing::Datagram => r.previous.set(mid.unwrap_or(old), now),
                    }
                    r.epoch
                }
                // Not reached: `open` derives the keys for every `Ahead` plan.
                None => r.epoch,
            },
        };
        r.mark(counter);
        if ty == RecordType::Close {
            r.close_counter = Some(r.close_counter.map_or(counter, |c| c.min(counter)));
        }
        // Drop the previous key once it can open nothing more: too long ago, or every counter
        // of its epoch (all below the lowest accepted in this epoch) is behind the window.
        if let Some(p) = r.previous.get() {
            let expired = now.since(p.since) >= self.config.previous_key_ms;
            let behind = match (&r.window, r.lowest_in_epoch) {
                (Some(w), Some(low)) => w
                    .max_seen()
                    .is_some_and(|max| max >= low.saturating_add(w.window()).saturating_sub(1)),
                _ => false,
            };
            if expired || behind {
                r.previous.clear(self.suite);
            }
        }
        epoch
    }

    /// Fuzzing only (cargo-fuzz builds with `--cfg fuzzing`): a session from raw epoch-0 keys, so
    /// that fuzz targets need not run a handshake for every input. Not in any other build.
    #[cfg(fuzzing)]
    #[doc(hidden)]
    pub fn for_fuzzing(
        suite: Suite,
        framing: Framing,
        send_key: [u8; KEY_LEN],
        recv_key: [u8; KEY_LEN],
    ) -> Result<Session, Error> {
        Session::new(
            suite,
            framing,
            SessionConfig::default(),
            Zeroizing::new(send_key),
            Zeroizing::new(recv_key),
            Instant(0),
        )
    }

    /// Test-only: jumps the send counter (to reach the limits without sealing 2^62 records).
    #[cfg(test)]
    pub(crate) fn set_send_counter(&mut self, counter: u64) {
        self.send.counter = counter;
    }

    /// Test-only: everything observable about the session state, keys as fingerprints (their
    /// REKEY output), for checking that a failed call changed nothing.
    #[cfg(test)]
    pub(crate) fn snapshot(&self) -> Snapshot {
        let fp = |c: &RecordCipher| *c.next_key().unwrap();
        Snapshot {
            send_key: fp(&self.send.cipher),
            send_epoch: self.send.epoch,
            send_counter: self.send.counter,
            send_epoch_records: self.send.epoch_records,
            send_epoch_data_records: self.send.epoch_data_records,
            send_epoch_bytes: self.send.epoch_bytes,
            send_epoch_start: self.send.epoch_start,
            recv_key: fp(&self.recv.cipher),
            recv_epoch: self.recv.epoch,
            previous: self.recv.previous.get().map(|p| (fp(&p.cipher), p.since)),
            next_counter: self.recv.next_counter,
            window: self.recv.window.clone(),
            lowest_in_epoch: self.recv.lowest_in_epoch,
            close_counter: self.recv.close_counter,
            closed: self.closed,
        }
    }
}

/// Test-only copy of a session's state.
#[cfg(test)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Snapshot {
    send_key: [u8; 32],
    send_epoch: u32,
    send_counter: u64,
    send_epoch_records: u64,
    send_epoch_data_records: u64,
    send_epoch_bytes: u64,
    send_epoch_start: Instant,
    recv_key: [u8; 32],
    recv_epoch: u32,
    previous: Option<([u8; 32], Instant)>,
    next_counter: u64,
    window: Option<ReplayWindow>,
    lowest_in_epoch: Option<u64>,
    close_counter: Option<u64>,
    closed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Malformed;
    use crate::record::config::{KeyUpdatePolicy, MAX_COUNTER};
    use crate::record::framing::StreamDecoder;
    use proptest::prelude::*;
    use rand_chacha::rand_core::{RngCore, SeedableRng};
    use rand_chacha::ChaCha20Rng;
    use std::vec;
    use std::vec::Vec;

    const FRAMINGS: [Framing; 2] = [Framing::Stream, Framing::Datagram];
    const T0: Instant = Instant(1_000);

    fn no_updates() -> KeyUpdatePolicy {
        KeyUpdatePolicy {
            records: 0,
            bytes: 0,
            interval_ms: 0,
        }
    }

    fn cfg() -> SessionConfig {
        SessionConfig {
            max_plaintext: 300,
            replay_window: 1024,
            key_update: no_updates(),
            previous_key_ms: 60_000,
        }
    }

    /// Two ends of one session from the same random keys, swapped.
    fn pair(
        suite: Suite,
        framing: Framing,
        config: SessionConfig,
        seed: u64,
    ) -> (Session, Session) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut k1 = Zeroizing::new([0u8; 32]);
        let mut k2 = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(k1.as_mut_slice());
        rng.fill_bytes(k2.as_mut_slice());
        let a = Session::new(suite, framing, config, k1.clone(), k2.clone(), T0).unwrap();
        let b = Session::new(suite, framing, config, k2, k1, T0).unwrap();
        (a, b)
    }

    fn all_pairs(config: SessionConfig) -> Vec<(Session, Session)> {
        let mut v = Vec::new();
        for (i, &suite) in Suite::ENABLED.iter().enumerate() {
            for (j, &framing) in FRAMINGS.iter().enumerate() {
                v.push(pair(suite, framing, config, (i * 2 + j) as u64));
            }
        }
        v
    }

    /// An owned event, for comparing.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Ev {
        Data(Vec<u8>),
        KeyUpdate(u32),
        Close,
    }

    impl From<Event<'_>> for Ev {
        fn from(e: Event<'_>) -> Ev {
            match e {
                Event::Data(d) => Ev::Data(d.to_vec()),
                Event::KeyUpdate { epoch } => Ev::KeyUpdate(epoch),
                Event::Close => Ev::Close,
            }
        }
    }

    /// Seals and returns the one or two units written.
    fn seal(s: &mut Session, now: Instant, pt: &[u8]) -> Vec<Vec<u8>> {
        let mut out = vec![0u8; s.seal_capacity(pt.len())];
        let sealed = s.seal(now, pt, &mut out).unwrap();
        assert_eq!(sealed.record, s.record_len(pt.len()));
        assert!(sealed.key_update == 0 || sealed.key_update == s.record_len(0));
        sealed.units(&out).map(<[u8]>::to_vec).collect()
    }

    fn seal1(s: &mut Session, now: Instant, pt: &[u8]) -> Vec<u8> {
        let mut units = seal(s, now, pt);
        assert_eq!(units.len(), 1, "no key update expected");
        units.pop().unwrap()
    }

    fn update(s: &mut Session, now: Instant) -> Vec<u8> {
        let mut out = vec![0u8; s.record_len(0)];
        let n = s.update_key(now, &mut out).unwrap();
        out.truncate(n);
        out
    }

    fn close(s: &mut Session) -> Vec<u8> {
        let mut out = vec![0u8; s.record_len(0)];
        let n = s.close(&mut out).unwrap();
        out.truncate(n);
        out
    }

    fn try_open(s: &mut Session, now: Instant, unit: &[u8]) -> Result<Ev, Error> {
        let mut out = vec![0u8; crate::record::config::MAX_PLAINTEXT];
        s.open(now, unit, &mut out).map(Ev::from)
    }

    fn open(s: &mut Session, now: Instant, unit: &[u8]) -> Ev {
        try_open(s, now, unit).unwrap()
    }

    /// Opening must fail and change nothing.
    fn open_err(s: &mut Session, now: Instant, unit: &[u8]) -> Error {
        let before = s.snapshot();
        let e = try_open(s, now, unit).unwrap_err();
        assert_eq!(
            before,
            s.snapshot(),
            "a failed open changed the session ({e:?})"
        );
        e
    }

    /// A record the sender would never produce: any type, epoch and counter, under `cipher`.
    fn forge(
        s: &Session,
        cipher: &RecordCipher,
        ty: RecordType,
        epoch: u32,
        counter: u64,
        pt: &[u8],
    ) -> Vec<u8> {
        let mut out = vec![0u8; s.record_len(pt.len())];
        let at = header::header_len(s.framing);
        out[at..at + pt.len()].copy_from_slice(pt);
        seal_record(s.framing, cipher, ty, epoch, counter, &mut out).unwrap();
        out
    }

    #[test]
    fn overhead_is_21_stream_25_datagram() {
        let (s, _) = pair(Suite::ChaChaPolyBlake2s, Framing::Stream, cfg(), 1);
        let (d, _) = pair(Suite::ChaChaPolyBlake2s, Framing::Datagram, cfg(), 1);
        assert_eq!(s.record_len(0), 21);
        assert_eq!(d.record_len(0), 25);
        assert_eq!(s.record_len(100), 121);
        assert_eq!(d.record_len(100), 125);
        assert_eq!(s.seal_capacity(100), 142);
        for (mut a, _) in all_pairs(cfg()) {
            let r = seal1(&mut a, T0, &[7; 10]);
            let expect = match a.framing() {
                Framing::Stream => 21,
                Framing::Datagram => 25,
            };
            assert_eq!(r.len(), 10 + expect);
        }
    }

    #[test]
    fn round_trip_both_ways() {
        for (mut a, mut b) in all_pairs(cfg()) {
            let max = a.config().max_plaintext;
            for (i, pt) in [vec![], b"hello".to_vec(), vec![0xa5; max], vec![1, 2, 3]]
                .into_iter()
                .enumerate()
            {
                let r = seal1(&mut a, T0, &pt);
                if !pt.is_empty() {
                    assert_ne!(
                        &r[r.len() - 16 - pt.len()..r.len() - 16],
                        &pt[..],
                        "encrypted"
                    );
                }
                assert_eq!(open(&mut b, T0, &r), Ev::Data(pt.clone()));
                let r = seal1(&mut b, T0, &pt);
                assert_eq!(open(&mut a, T0, &r), Ev::Data(pt));
                assert_eq!(a.send.counter, i as u64 + 1);
            }
            assert_eq!((a.send_epoch(), a.recv_epoch()), (0, 0));
        }
    }

    #[test]
    fn debug_redacts_keys() {
        let (a, _) = pair(Suite::ChaChaPolyBlake2s, Framing::Datagram, cfg(), 3);
        let s = std::format!("{a:?}");
        assert!(s.contains("<redacted>"), "{s}");
        let fp = a.snapshot().send_key;
        assert!(!s.contains(&std::format!("{}", fp[0])) || s.len() < 400);
    }

    #[test]
    fn plaintext_too_large_and_buffer_too_small() {
        for (mut a, mut b) in all_pairs(cfg()) {
            let max = a.config().max_plaintext;
            let before = a.snapshot();
            let mut out = vec![0xcc; 2 * max + 100];
            assert_eq!(
                a.seal(T0, &vec![0; max + 1], &mut out),
                Err(Local::PlaintextTooLarge.into())
            );
            for len in [0, 1, max] {
                let needed = a.record_len(len);
                let mut out = vec![0xcc; needed - 1];
                assert_eq!(
                    a.seal(T0, &vec![1; len], &mut out),
                    Err(Local::BufferTooSmall { needed }.into())
                );
                assert!(out.iter().all(|&b| b == 0xcc), "nothing written");
            }
            let mut small = [0xccu8; 20];
            let needed = a.record_len(0);
            assert_eq!(
                a.update_key(T0, &mut small),
                Err(Local::BufferTooSmall { needed }.into())
            );
            assert_eq!(
                a.close(&mut small),
                Err(Local::BufferTooSmall { needed }.into())
            );
            assert!(small.iter().all(|&b| b == 0xcc));
            assert_eq!(before, a.snapshot());

            // With an update due, the exact need covers both records.
            a.config.key_update.records = 1;
            seal1(&mut a, T0, b"x");
            let before = a.snapshot();
            let needed = a.seal_capacity(5);
            let mut out = vec![0xcc; needed - 1];
            assert_eq!(
                a.seal(T0, b"hello", &mut out),
                Err(Local::BufferTooSmall { needed }.into())
            );
            assert!(out.iter().all(|&b| b == 0xcc));
            assert_eq!(before, a.snapshot());

            // Opening into a small buffer: refused with the exact need, nothing written.
            let r = seal1(&mut b, T0, b"hello");
            let before = a.snapshot();
            let mut out = [0xccu8; 4];
            assert_eq!(
                a.open(T0, &r, &mut out),
                Err(Local::BufferTooSmall { needed: 5 }.into())
            );
            assert_eq!(out, [0xcc; 4]);
            assert_eq!(before, a.snapshot());
            let mut out = [0u8; 5];
            assert_eq!(a.open(T0, &r, &mut out), Ok(Event::Data(b"hello")));
        }
    }

    /// The AEAD covers flags and the full counter the same way in both framings: a datagram
    /// record re-framed as a stream record opens.
    #[test]
    fn same_ciphertext_in_both_framings() {
        for &suite in Suite::ENABLED {
            let (mut a, _) = pair(suite, Framing::Datagram, cfg(), 5);
            let (_, mut b) = pair(suite, Framing::Stream, cfg(), 5);
            for pt in [&b"first"[..], b"", b"third"] {
                let d = seal1(&mut a, T0, pt);
                let counter = u64::from_be_bytes(d[1..9].try_into().unwrap());
                let mut s = ((d.len() - 6) as u16).to_be_bytes().to_vec();
                s.push(d[0]);
                s.extend((counter as u16).to_be_bytes());
                s.extend(&d[9..]);
                assert_eq!(open(&mut b, T0, &s), Ev::Data(pt.to_vec()));
            }
        }
    }

    #[test]
    fn handshake_and_reserved_units_rejected() {
        for (mut a, mut b) in all_pairs(cfg()) {
            let r = seal1(&mut a, T0, b"data");
            let first = if a.framing() == Framing::Stream { 2 } else { 0 };
            for (byte, err) in [
                (0x50, Error::Peer(PeerError::UnexpectedMessage)),
                (0x1c, Malformed::UnknownType.into()),
                (0x90, Malformed::UnknownType.into()),
                (0xd0, Malformed::UnknownType.into()),
                (0x00, Malformed::Version.into()),
                (0x20, Malformed::Version.into()),
                (0x30, Malformed::Version.into()),
            ] {
                let mut bad = r.clone();
                bad[first] = byte;
                assert_eq!(open_err(&mut b, T0, &bad), err, "{byte:#04x}");
            }
            // Size checks.
            let mut short = r[..first + header::header_len(a.framing()) - first + 15].to_vec();
            if a.framing() == Framing::Stream {
                let n = (short.len() - 2) as u16;
                short[..2].copy_from_slice(&n.to_be_bytes());
            }
            assert_eq!(open_err(&mut b, T0, &short), Malformed::Truncated.into());
            assert_eq!(open_err(&mut b, T0, &[]), Malformed::Truncated.into());
            if a.framing() == Framing::Stream {
                let mut bad = r.clone();
                bad[1] ^= 1;
                assert_eq!(open_err(&mut b, T0, &bad), Malformed::Length.into());
            }
            let mut big = forge(&a, &a.send.cipher, RecordType::Data, 0, 1, &[0; 301]);
            if a.framing() == Framing::Stream {
                // Still consistent length; the ciphertext is over max_plaintext + 16.
                big[3..5].copy_from_slice(&0u16.to_be_bytes());
            }
            assert_eq!(open_err(&mut b, T0, &big), Malformed::Oversized.into());
            assert_eq!(open(&mut b, T0, &r), Ev::Data(b"data".to_vec()));
        }
    }

    /// A key update or close that authenticates but carries bytes is malformed and changes
    /// nothing.
    #[test]
    fn control_records_must_be_empty() {
        for (a, mut b) in all_pairs(cfg()) {
            // Authentic but against the rules: a peer error (spec 6), not malformed input.
            let r = forge(&a, &a.send.cipher, RecordType::Close, 0, 0, b"x");
            assert_eq!(
                open_err(&mut b, T0, &r),
                PeerError::UnexpectedMessage.into()
            );
            let next = a.send.cipher.next(a.suite()).unwrap();
            let r = forge(&a, &next, RecordType::KeyUpdate, 1, 0, b"x");
            assert_eq!(
                open_err(&mut b, T0, &r),
                PeerError::UnexpectedMessage.into()
            );
            assert!(!b.peer_closed());
        }
    }

    #[test]
    fn authentication_failure_zeroes_output() {
        for (mut a, mut b) in all_pairs(cfg()) {
            let mut r = seal1(&mut a, T0, b"secret");
            let n = r.len();
            r[n - 1] ^= 0x80;
            let before = b.snapshot();
            let mut out = [0xeeu8; 64];
            assert_eq!(
                b.open(T0, &r, &mut out),
                Err(PeerError::Authentication.into())
            );
            assert_eq!(&out[..6], &[0; 6]);
            assert_eq!(&out[6..], &[0xee; 58]);
            assert_eq!(before, b.snapshot());
            // Keys from another session fail the same way.
            let (mut x, _) = pair(a.suite(), a.framing(), cfg(), 1234);
            let r = seal1(&mut x, T0, b"secret");
            assert_eq!(open_err(&mut b, T0, &r), PeerError::Authentication.into());
        }
    }

    /// In-place sealing writes the same units as copying sealing, key updates included, and
    /// in-place opening gives the same events; both directions interleave freely.
    #[test]
    fn in_place_matches_copying() {
        let mut c = cfg();
        c.key_update.records = 3;
        for (i, &suite) in Suite::ENABLED.iter().enumerate() {
            for &framing in &FRAMINGS {
                // Two identical senders: one seals by copy, one in place.
                let (mut a, mut b) = pair(suite, framing, c, 40 + i as u64);
                let (mut a2, _) = pair(suite, framing, c, 40 + i as u64);
                for n in 0..9usize {
                    let pt: Vec<u8> = (0..n * 31).map(|k| (k + n) as u8).collect();
                    let copied = seal(&mut a, T0, &pt);
                    let mut buf = vec![0xa5u8; a2.seal_in_place_len(pt.len())];
                    let at = a2.seal_headroom();
                    buf[at..at + pt.len()].copy_from_slice(&pt);
                    let sealed = a2.seal_in_place(T0, &mut buf, pt.len()).unwrap();
                    let units: Vec<Vec<u8>> = sealed.units(&buf).map(|u| u.to_vec()).collect();
                    assert_eq!(units, copied, "{suite:?} {framing:?} record {n}");
                    assert_eq!(sealed.bytes(&buf), copied.concat().as_slice());
                    assert_eq!(sealed.start + sealed.total(), buf.len());
                    for mut unit in units {
                        let ev = Ev::from(b.open_in_place(T0, &mut unit).unwrap());
                        if let Ev::Data(d) = ev {
                            assert_eq!(d, pt);
                        }
                    }
                }
                assert_eq!(a.snapshot(), a2.snapshot());
                assert!(a.send_epoch() >= 2);
            }
        }
    }

    /// A short buffer, or a failing open, leaves the session and the caller's bytes unchanged.
    #[test]
    fn in_place_errors_change_nothing() {
        for (mut a, mut b) in all_pairs(cfg()) {
            let need = a.seal_in_place_len(10);
            assert_eq!(need, a.seal_headroom() + 10 + 16);
            let mut short = vec![7u8; need - 1];
            let before = a.snapshot();
            assert_eq!(
                a.seal_in_place(T0, &mut short, 10),
                Err(Local::BufferTooSmall { needed: need }.into())
            );
            assert_eq!(short, vec![7u8; need - 1]);
            let mut big = vec![0u8; a.seal_in_place_len(301)];
            assert_eq!(
                a.seal_in_place(T0, &mut big, 301),
                Err(Local::PlaintextTooLarge.into())
            );
            assert_eq!(before, a.snapshot());

            let mut r = seal1(&mut a, T0, b"secret");
            let n = r.len();
            r[n - 1] ^= 0x80;
            let tampered = r.clone();
            let before = b.snapshot();
            assert_eq!(
                b.open_in_place(T0, &mut r),
                Err(PeerError::Authentication.into())
            );
            assert_eq!(r, tampered);
            assert_eq!(before, b.snapshot());
            r[n - 1] ^= 0x80;
            assert_eq!(
                Ev::from(b.open_in_place(T0, &mut r).unwrap()),
                Ev::Data(b"secret".to_vec())
            );
            // A replay, opened in place, is refused and leaves the unit as it was.
            let mut again = seal1(&mut a, T0, b"x");
            let copy = again.clone();
            b.open(T0, &copy, &mut [0u8; 8]).unwrap();
            let before = b.snapshot();
            assert!(b.open_in_place(T0, &mut again).is_err());
            assert_eq!(again, copy);
            assert_eq!(before, b.snapshot());
        }
    }

    #[test]
    fn key_update_forced() {
        for (mut a, mut b) in all_pairs(cfg()) {
            let r0 = seal1(&mut a, T0, b"zero");
            let ku = update(&mut a, T0);
            assert_eq!(a.send_epoch(), 1);
            let r1 = seal1(&mut a, T0, b"one");
            assert_eq!(open(&mut b, T0, &r0), Ev::Data(b"zero".to_vec()));
            assert_eq!(open(&mut b, T0, &ku), Ev::KeyUpdate(1));
            assert_eq!(b.recv_epoch(), 1);
            assert_eq!(open(&mut b, T0, &r1), Ev::Data(b"one".to_vec()));
            // The other direction is independent.
            assert_eq!((b.send_epoch(), a.recv_epoch()), (0, 0));
            // Counters run on across the update.
            assert_eq!(a.send.counter, 3);
            match a.framing() {
                Framing::Stream => assert!(!b.holds_previous_key(), "stream drops at switch"),
                Framing::Datagram => assert!(b.holds_previous_key()),
            }
        }
    }

    /// Counts the key updates sealed along 10 data records; checks the receiver follows.
    fn run_auto(policy: KeyUpdatePolicy, len: usize, step_ms: u64) -> Vec<(u32, usize)> {
        let config = SessionConfig {
            key_update: policy,
            ..cfg()
        };
        let mut results = Vec::new();
        for (mut a, mut b) in all_pairs(config) {
            let mut now = T0;
            let mut updates_at = Vec::new();
            for i in 0..10 {
                let units = seal(&mut a, now, &vec![i as u8; len]);
                if units.len() == 2 {
                    updates_at.push(i);
                    assert_eq!(open(&mut b, now, &units[0]), Ev::KeyUpdate(a.send_epoch()));
                }
                assert_eq!(
                    open(&mut b, now, units.last().unwrap()),
                    Ev::Data(vec![i as u8; len])
                );
                assert_eq!(b.recv_epoch(), a.send_epoch());
                now = Instant(now.0 + step_ms);
            }
            results.push((a.send_epoch(), updates_at.len()));
            let first = updates_at.first().copied();
            results.push((first.unwrap_or(99) as u32, 0));
        }
        results
    }

    #[test]
    fn key_update_automatic_by_records() {
        let policy = KeyUpdatePolicy {
            records: 3,
            ..no_updates()
        };
        // Records 0,1,2 in epoch 0; updates before records 3, 6, 9.
        for pair in run_auto(policy, 4, 0).chunks(2) {
            assert_eq!(pair, [(3, 3), (3, 0)]);
        }
    }

    #[test]
    fn key_update_automatic_by_bytes() {
        let policy = KeyUpdatePolicy {
            bytes: 100,
            ..no_updates()
        };
        // 40-byte records: two per epoch (80), the third would pass 100.
        for pair in run_auto(policy, 40, 0).chunks(2) {
            assert_eq!(pair, [(4, 4), (2, 0)]);
        }
        // Reaching the limit exactly is allowed: 40 + 40 = 80.
        let policy = KeyUpdatePolicy {
            bytes: 80,
            ..no_updates()
        };
        for pair in run_auto(policy, 40, 0).chunks(2) {
            assert_eq!(pair, [(4, 4), (2, 0)]);
        }
        // A plaintext larger than the limit still gets one record per key, not a loop.
        let policy = KeyUpdatePolicy {
            bytes: 10,
            ..no_updates()
        };
        for pair in run_auto(policy, 40, 0).chunks(2) {
            assert_eq!(pair, [(9, 9), (1, 0)]);
        }
    }

    #[test]
    fn key_update_automatic_by_time() {
        let policy = KeyUpdatePolicy {
            interval_ms: 1000,
            ..no_updates()
        };
        // One record every 400 ms: updates at 1200 ms (record 3), then 3 records later.
        for pair in run_auto(policy, 1, 400).chunks(2) {
            assert_eq!(pair, [(3, 3), (3, 0)]);
        }
        // Exactly at the interval.
        let config = SessionConfig {
            key_update: policy,
            ..cfg()
        };
        let (mut a, _) = pair(Suite::ChaChaPolyBlake2s, Framing::Stream, config, 0);
        assert_eq!(seal(&mut a, T0, b"a").len(), 1);
        assert_eq!(seal(&mut a, Instant(T0.0 + 999), b"a").len(), 1);
        assert_eq!(seal(&mut a, Instant(T0.0 + 1000), b"a").len(), 2);
        assert_eq!(seal(&mut a, Instant(T0.0 + 1999), b"a").len(), 1);
        // A clock going backwards counts as no time.
        assert_eq!(seal(&mut a, Instant(0), b"a").len(), 1);
    }

    #[test]
    fn hard_limit_forces_update() {
        for (mut a, mut b) in all_pairs(cfg()) {
            let limit = config::max_records_per_epoch(a.suite());
            a.send.epoch_records = limit - 1;
            let r = seal1(&mut a, T0, b"last of the epoch");
            open(&mut b, T0, &r);
            let units = seal(&mut a, T0, b"first of the next");
            assert_eq!(units.len(), 2);
            assert_eq!(open(&mut b, T0, &units[0]), Ev::KeyUpdate(1));
            assert_eq!(
                open(&mut b, T0, &units[1]),
                Ev::Data(b"first of the next".to_vec())
            );
        }
    }

    #[test]
    fn counter_and_epoch_limits() {
        for (mut a, mut b) in all_pairs(cfg()) {
            a.set_send_counter(MAX_COUNTER);
            if a.framing() == Framing::Stream {
                b.recv.next_counter = MAX_COUNTER;
            }
            let r = seal1(&mut a, T0, b"last");
            assert_eq!(open(&mut b, T0, &r), Ev::Data(b"last".to_vec()));
            let before = a.snapshot();
            let mut out = vec![0xcc; 200];
            assert_eq!(a.seal(T0, b"x", &mut out), Err(Local::LimitReached.into()));
            assert_eq!(a.update_key(T0, &mut out), Err(Local::LimitReached.into()));
            assert_eq!(a.close(&mut out), Err(Local::LimitReached.into()));
            assert!(out.iter().all(|&b| b == 0xcc), "nothing written");
            assert_eq!(before, a.snapshot());

            // An update due at the second-last counter needs two counters.
            a.set_send_counter(MAX_COUNTER);
            a.config.key_update.records = 1;
            a.send.epoch_data_records = 1;
            assert_eq!(a.seal(T0, b"x", &mut out), Err(Local::LimitReached.into()));
            a.set_send_counter(MAX_COUNTER - 1);
            assert_eq!(
                a.seal(T0, b"x", &mut out).unwrap().key_update,
                a.record_len(0)
            );

            // Epoch exhausted.
            let (mut c, _) = pair(a.suite(), a.framing(), cfg(), 8);
            c.send.epoch = config::MAX_EPOCH;
            assert_eq!(c.update_key(T0, &mut out), Err(Local::LimitReached.into()));

            // The receiver refuses a counter past the limit before anything else.
            let (x, mut y) = pair(a.suite(), a.framing(), cfg(), 9);
            match x.framing() {
                Framing::Datagram => {
                    let r = forge(
                        &x,
                        &x.send.cipher,
                        RecordType::Data,
                        0,
                        MAX_COUNTER + 1,
                        b"",
                    );
                    assert_eq!(open_err(&mut y, T0, &r), PeerError::CounterExhausted.into());
                }
                Framing::Stream => {
                    y.recv.next_counter = MAX_COUNTER + 1;
                    let r = forge(
                        &x,
                        &x.send.cipher,
                        RecordType::Data,
                        0,
                        MAX_COUNTER + 1,
                        b"",
                    );
                    assert_eq!(open_err(&mut y, T0, &r), PeerError::CounterExhausted.into());
                }
            }
        }
    }

    #[test]
    fn close_rules() {
        for (mut a, mut b) in all_pairs(cfg()) {
            let early = seal1(&mut a, T0, b"early");
            let c = close(&mut a);
            assert!(a.is_closed());
            let mut out = vec![0xcc; 200];
            assert_eq!(a.seal(T0, b"x", &mut out), Err(Local::WrongState.into()));
            assert_eq!(a.update_key(T0, &mut out), Err(Local::WrongState.into()));
            assert_eq!(a.close(&mut out), Err(Local::WrongState.into()));
            assert!(out.iter().all(|&b| b == 0xcc));

            if a.framing() == Framing::Datagram {
                // The close arrives before a record sent earlier: that record still opens.
                assert_eq!(open(&mut b, T0, &c), Ev::Close);
                assert_eq!(open(&mut b, T0, &early), Ev::Data(b"early".to_vec()));
                assert_eq!(open_err(&mut b, T0, &c), PeerError::Replayed.into());
            } else {
                assert_eq!(open(&mut b, T0, &early), Ev::Data(b"early".to_vec()));
                assert_eq!(open(&mut b, T0, &c), Ev::Close);
            }
            assert!(b.peer_closed());
            // A record after the close (which the sender would refuse to seal) is refused.
            let late = forge(&a, &a.send.cipher, RecordType::Data, 0, 2, b"late");
            assert_eq!(open_err(&mut b, T0, &late), PeerError::AfterClose.into());
            // The other direction still works (half close).
            let r = seal1(&mut b, T0, b"reply");
            assert_eq!(open(&mut a, T0, &r), Ev::Data(b"reply".to_vec()));
        }
    }

    #[test]
    fn stream_drop_is_out_of_order() {
        for &suite in Suite::ENABLED {
            let (mut a, mut b) = pair(suite, Framing::Stream, cfg(), 11);
            let r0 = seal1(&mut a, T0, b"0");
            let r1 = seal1(&mut a, T0, b"1");
            assert_eq!(open_err(&mut b, T0, &r1), PeerError::OutOfOrder.into());
            assert_eq!(open(&mut b, T0, &r0), Ev::Data(b"0".to_vec()));
            assert_eq!(open_err(&mut b, T0, &r0), PeerError::OutOfOrder.into());
            assert_eq!(open(&mut b, T0, &r1), Ev::Data(b"1".to_vec()));
            // A lost key update: the next record is out of order.
            let _lost = update(&mut a, T0);
            let r3 = seal1(&mut a, T0, b"3");
            assert_eq!(open_err(&mut b, T0, &r3), PeerError::OutOfOrder.into());
            // Counter low 16 bits wrap: the receiver tracks the full counter.
            let (mut a, mut b) = pair(suite, Framing::Stream, cfg(), 12);
            a.set_send_counter(0xffff);
            b.recv.next_counter = 0xffff;
            for i in 0..3u8 {
                let r = seal1(&mut a, T0, &[i]);
                assert_eq!(open(&mut b, T0, &r), Ev::Data(vec![i]));
            }
            assert_eq!(b.recv.next_counter, 0x1_0002);
        }
    }

    #[test]
    fn stream_epoch_rules() {
        for &suite in Suite::ENABLED {
            let (a, mut b) = pair(suite, Framing::Stream, cfg(), 13);
            let next = a.send.cipher.next(suite).unwrap();
            let next2 = next.next(suite).unwrap();
            // Data in the next epoch without a key update.
            let r = forge(&a, &next, RecordType::Data, 1, 0, b"d");
            assert_eq!(open_err(&mut b, T0, &r), PeerError::Epoch.into());
            // A key update to the current epoch, or two ahead.
            let r = forge(&a, &a.send.cipher, RecordType::KeyUpdate, 0, 0, b"");
            assert_eq!(open_err(&mut b, T0, &r), PeerError::Epoch.into());
            let r = forge(&a, &next2, RecordType::KeyUpdate, 2, 0, b"");
            assert_eq!(open_err(&mut b, T0, &r), PeerError::Epoch.into());
            // A close in the next epoch.
            let r = forge(&a, &next, RecordType::Close, 1, 0, b"");
            assert_eq!(open_err(&mut b, T0, &r), PeerError::Epoch.into());
            let r = forge(&a, &next, RecordType::KeyUpdate, 1, 0, b"");
            assert_eq!(open(&mut b, T0, &r), Ev::KeyUpdate(1));
        }
    }

    #[test]
    fn datagram_reorder_across_key_update() {
        for &suite in Suite::ENABLED {
            let (mut a, mut b) = pair(suite, Framing::Datagram, cfg(), 14);
            let d0 = seal1(&mut a, T0, b"d0");
            let d1 = seal1(&mut a, T0, b"d1");
            let ku = update(&mut a, T0);
            let d3 = seal1(&mut a, T0, b"d3");
            // The new epoch first (its key update lost for now), then the old records.
            assert_eq!(open(&mut b, T0, &d3), Ev::Data(b"d3".to_vec()));
            assert_eq!(b.recv_epoch(), 1);
            assert_eq!(open(&mut b, T0, &d1), Ev::Data(b"d1".to_vec()));
            assert_eq!(open(&mut b, T0, &ku), Ev::KeyUpdate(1));
            assert_eq!(open(&mut b, T0, &d0), Ev::Data(b"d0".to_vec()));
            assert!(b.holds_previous_key());
            for r in [&d0, &d1, &ku, &d3] {
                assert_eq!(open_err(&mut b, T0, r), PeerError::Replayed.into());
            }
        }
    }

    #[test]
    fn previous_key_dropped_after_time() {
        for &suite in Suite::ENABLED {
            let (mut a, mut b) = pair(suite, Framing::Datagram, cfg(), 15);
            let old = seal1(&mut a, T0, b"old");
            let _ku = update(&mut a, T0);
            let n1 = seal1(&mut a, T0, b"n1");
            let n2 = seal1(&mut a, T0, b"n2");
            open(&mut b, T0, &n1);
            assert!(b.holds_previous_key());
            // Expiry happens when a later record commits.
            let later = Instant(T0.0 + b.config().previous_key_ms);
            open(&mut b, later, &n2);
            assert!(!b.holds_previous_key());
            assert_eq!(open_err(&mut b, later, &old), PeerError::TooOld.into());
        }
    }

    /// The previous key opens nothing once `previous_key_ms` have passed, even when no record has
    /// arrived since to erase it (spec 5.6): expiry is checked when the key is chosen.
    #[test]
    fn previous_key_expired_opens_nothing() {
        for &suite in Suite::ENABLED {
            let (mut a, mut b) = pair(suite, Framing::Datagram, cfg(), 16);
            let old = seal1(&mut a, T0, b"old");
            let old2 = seal1(&mut a, T0, b"old2");
            let _ku = update(&mut a, T0);
            let n1 = seal1(&mut a, T0, b"n1");
            open(&mut b, T0, &n1);
            assert!(b.holds_previous_key());
            // Within the time: a reordered record of the old epoch still opens.
            let just_before = Instant(T0.0 + b.config().previous_key_ms - 1);
            assert_eq!(open(&mut b, just_before, &old), Ev::Data(b"old".to_vec()));
            // Ten hours later, with no record in between, the old key must not open anything.
            let late = Instant(T0.0 + 10 * 3_600_000);
            assert!(b.holds_previous_key(), "nothing has erased it yet");
            assert_eq!(open_err(&mut b, late, &old2), PeerError::TooOld.into());
            // poll erases it; a second poll has nothing left to do.
            assert!(b.poll(late));
            assert!(!b.holds_previous_key());
            assert!(!b.poll(late));
            assert_eq!(open_err(&mut b, late, &old2), PeerError::TooOld.into());
        }
    }

    /// `poll` keeps a key that is still within its time, and does nothing on streams (which never
    /// keep one).
    #[test]
    fn poll_keeps_a_live_previous_key() {
        for &suite in Suite::ENABLED {
            let (mut a, mut b) = pair(suite, Framing::Datagram, cfg(), 17);
            let old = seal1(&mut a, T0, b"old");
            let _ku = update(&mut a, T0);
            let n1 = seal1(&mut a, T0, b"n1");
            open(&mut b, T0, &n1);
            let before = b.snapshot();
            assert!(!b.poll(Instant(T0.0 + 1)));
            assert_eq!(before, b.snapshot());
            assert_eq!(
                open(&mut b, Instant(T0.0 + 2), &old),
                Ev::Data(b"old".to_vec())
            );

            let (mut a, mut b) = pair(suite, Framing::Stream, cfg(), 18);
            let ku = update(&mut a, T0);
            open(&mut b, T0, &ku);
            assert!(!b.holds_previous_key());
            assert!(!b.poll(Instant(u64::MAX)));
        }
    }

    #[test]
    fn previous_key_dropped_after_window() {
        for &suite in Suite::ENABLED {
            let (mut a, mut b) = pair(suite, Framing::Datagram, cfg(), 16);
            let old = seal1(&mut a, T0, b"old");
            let ku = update(&mut a, T0);
            assert_eq!(open(&mut b, T0, &ku), Ev::KeyUpdate(1));
            let low = 1; // the key update's counter
            let w = b.recv.window.as_ref().unwrap().window();
            // Just short of the bound: kept.
            a.set_send_counter(low + w - 2);
            open(&mut b, T0, &seal1(&mut a, T0, b"x"));
            assert!(b.holds_previous_key());
            // The old record is still inside the window and opens with the previous key.
            assert_eq!(open(&mut b, T0, &old), Ev::Data(b"old".to_vec()));
            open(&mut b, T0, &seal1(&mut a, T0, b"y"));
            assert!(
                !b.holds_previous_key(),
                "every old counter is now behind the window"
            );
        }
    }

    #[test]
    fn datagram_epoch_jumps() {
        for &suite in Suite::ENABLED {
            let (mut a, mut b) = pair(suite, Framing::Datagram, cfg(), 17);
            let ku1 = update(&mut a, T0);
            let _ku2 = update(&mut a, T0);
            let r = seal1(&mut a, T0, b"two ahead");
            assert_eq!(open(&mut b, T0, &r), Ev::Data(b"two ahead".to_vec()));
            assert_eq!(b.recv_epoch(), 2);
            // Epoch 1's key was kept as the previous one.
            assert_eq!(open(&mut b, T0, &ku1), Ev::KeyUpdate(1));

            // Three ahead from epoch 0 is refused.
            let (mut a, mut b) = pair(suite, Framing::Datagram, cfg(), 18);
            for _ in 0..3 {
                update(&mut a, T0);
            }
            let r = seal1(&mut a, T0, b"three ahead");
            assert_eq!(open_err(&mut b, T0, &r), PeerError::Epoch.into());
            // From epoch 1, three ahead looks like the previous epoch and fails.
            let (mut a, mut b) = pair(suite, Framing::Datagram, cfg(), 19);
            open(&mut b, T0, &update(&mut a, T0));
            for _ in 0..3 {
                update(&mut a, T0);
            }
            let r = seal1(&mut a, T0, b"three ahead");
            assert_eq!(open_err(&mut b, T0, &r), PeerError::Authentication.into());
            b.recv.previous.clear(suite);
            assert_eq!(open_err(&mut b, T0, &r), PeerError::TooOld.into());
        }
    }

    #[test]
    fn replay_basics() {
        for &suite in Suite::ENABLED {
            let (mut a, mut b) = pair(suite, Framing::Datagram, cfg(), 20);
            let r = seal1(&mut a, T0, b"once");
            open(&mut b, T0, &r);
            assert_eq!(open_err(&mut b, T0, &r), PeerError::Replayed.into());
            let old = seal1(&mut a, T0, b"old");
            a.set_send_counter(5000);
            open(&mut b, T0, &seal1(&mut a, T0, b"new"));
            assert_eq!(open_err(&mut b, T0, &old), PeerError::TooOld.into());
        }
    }

    fn flip_case(
        suite: Suite,
        framing: Framing,
        seed: u64,
        pt: &[u8],
        pos: usize,
        bit: u8,
    ) -> Result<(), TestCaseError> {
        let (mut a, mut b) = pair(suite, framing, cfg(), seed);
        // Some history first, including a key update.
        open(&mut b, T0, &seal1(&mut a, T0, b"warm"));
        open(&mut b, T0, &update(&mut a, T0));
        let r = seal1(&mut a, T0, pt);
        let mut bad = r.clone();
        let pos = pos % bad.len();
        bad[pos] ^= 1 << bit;
        let before = b.snapshot();
        let mut out = vec![0x77u8; 400];
        let res = b.open(T0, &bad, &mut out).map(Ev::from);
        prop_assert!(
            res.is_err(),
            "flipped byte {} bit {} opened: {:?}",
            pos,
            bit,
            res
        );
        if res == Err(PeerError::Authentication.into()) {
            let n = pt.len();
            prop_assert!(out[..n].iter().all(|&x| x == 0));
        }
        prop_assert_eq!(&before, &b.snapshot());
        prop_assert_eq!(open(&mut b, T0, &r), Ev::Data(pt.to_vec()));
        Ok(())
    }

    /// Every single-bit flip of short records (empty and 3-byte plaintext, so the flags, counter
    /// and length bytes are a large share): refused, nothing changes.
    #[test]
    fn every_bit_flip_of_short_records() {
        for &suite in Suite::ENABLED {
            for framing in FRAMINGS {
                for pt in [&b""[..], b"abc"] {
                    let len = pair(suite, framing, cfg(), 0).0.record_len(pt.len());
                    for pos in 0..len {
                        for bit in 0..8 {
                            flip_case(suite, framing, 21, pt, pos, bit).unwrap();
                        }
                    }
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any single bit flipped anywhere in a record: refused, nothing changes, the original
        /// still opens.
        #[test]
        fn any_bit_flip_is_refused(
            seed in any::<u64>(),
            pt in proptest::collection::vec(any::<u8>(), 0..64),
            pos in any::<usize>(),
            bit in 0u8..8,
        ) {
            for &suite in Suite::ENABLED {
                for framing in FRAMINGS {
                    flip_case(suite, framing, seed, &pt, pos, bit)?;
                }
            }
        }

        /// Datagrams delivered in any order within the window, across one key update: each
        /// opens exactly once, every replay is refused, and a record behind the window is too
        /// old.
        #[test]
        fn datagram_permutation_and_replay(
            seed in any::<u64>(),
            n in 1usize..60,
            update_at in proptest::option::of(0usize..60),
            order in Just(()).prop_perturb(|_, rng| rng),
        ) {
            let mut rng = order;
            for &suite in Suite::ENABLED {
                let (mut a, mut b) = pair(suite, Framing::Datagram, cfg(), seed);
                let mut sent = Vec::new();
                for i in 0..n {
                    if update_at == Some(i) {
                        sent.push((update(&mut a, T0), Ev::KeyUpdate(1)));
                    }
                    let pt = (i as u32).to_be_bytes().to_vec();
                    sent.push((seal1(&mut a, T0, &pt), Ev::Data(pt)));
                }
                // Fisher-Yates with the case's rng.
                let mut perm: Vec<usize> = (0..sent.len()).collect();
                for i in (1..perm.len()).rev() {
                    let j = (rng.next_u64() % (i as u64 + 1)) as usize;
                    perm.swap(i, j);
                }
                for &i in &perm {
                    prop_assert_eq!(open(&mut b, T0, &sent[i].0), sent[i].1.clone());
                }
                for (r, _) in &sent {
                    prop_assert_eq!(open_err(&mut b, T0, r), PeerError::Replayed.into());
                }
                // Move the window past the first record.
                let first = sent[0].0.clone();
                let w = b.recv.window.as_ref().unwrap().window();
                a.set_send_counter(w + 1);
                open(&mut b, T0, &seal1(&mut a, T0, b"far"));
                prop_assert_eq!(open_err(&mut b, T0, &first), PeerError::TooOld.into());
            }
        }

        /// `open_in_place` (with its shortcut for the next record in order) and `open` (the
        /// general path) agree on every unit, in both framings: the same result, the same
        /// plaintext, the same state afterwards, for records delivered in any order, replayed,
        /// tampered, truncated or from another epoch, across key updates and a close.
        #[test]
        fn in_place_agrees_with_copying_open(
            seed in any::<u64>(),
            n in 1usize..40,
            update_at in proptest::collection::vec(0usize..40, 0..3),
            close in any::<bool>(),
            ops in proptest::collection::vec((any::<u16>(), 0u8..8, any::<u16>()), 1..80),
        ) {
            for &suite in Suite::ENABLED {
                for &framing in &FRAMINGS {
                    let (mut a, b) = pair(suite, framing, cfg(), seed);
                    let (_, mut copying) = pair(suite, framing, cfg(), seed);
                    let mut in_place = b;
                    let mut sent: Vec<Vec<u8>> = Vec::new();
                    for i in 0..n {
                        if update_at.contains(&i) {
                            sent.push(update(&mut a, T0));
                        }
                        let pt = vec![i as u8; i * 7 % 300];
                        sent.extend(seal(&mut a, T0, &pt));
                    }
                    if close {
                        sent.push(super::tests::close(&mut a));
                    }
                    for (pick, how, pos) in &ops {
                        let mut unit = sent[*pick as usize % sent.len()].clone();
                        match how {
                            // Deliver as is (most often), or damaged.
                            0..=4 => {}
                            5 => {
                                let p = *pos as usize % unit.len();
                                unit[p] ^= 1 << (pos % 8);
                            }
                            6 => unit.truncate(*pos as usize % unit.len()),
                            _ => unit.push(0),
                        }
                        let mut out = vec![0u8; 400];
                        let want = copying.open(T0, &unit, &mut out).map(Ev::from);
                        let mut place = unit.clone();
                        let got = in_place.open_in_place(T0, &mut place).map(Ev::from);
                        prop_assert_eq!(&got, &want);
                        prop_assert_eq!(in_place.snapshot(), copying.snapshot());
                        if got.is_err() {
                            prop_assert_eq!(&place, &unit, "a refused unit was changed");
                        }
                    }
                }
            }
        }

        /// A stream of records (data, key updates and a close) split into chunks anywhere and
        /// fed to a StreamDecoder gives the same events in the same order.
        #[test]
        fn stream_any_split(
            seed in any::<u64>(),
            ops in proptest::collection::vec(proptest::option::of(0usize..300), 1..12),
            auto_records in 0u64..4,
            cuts in proptest::collection::vec(any::<usize>(), 0..20),
        ) {
            for &suite in Suite::ENABLED {
                let config = SessionConfig {
                    key_update: KeyUpdatePolicy { records: auto_records, ..no_updates() },
                    ..cfg()
                };
                let (mut a, mut b) = pair(suite, Framing::Stream, config, seed);
                let mut stream = Vec::new();
                let mut expect = Vec::new();
                for (i, op) in ops.iter().enumerate() {
                    match op {
                        Some(len) => {
                            let pt = vec![i as u8; *len];
                            let units = seal(&mut a, T0, &pt);
                            if units.len() == 2 {
                                expect.push(Ev::KeyUpdate(a.send_epoch()));
                            }
                            expect.push(Ev::Data(pt));
                            stream.extend(units.concat());
                        }
                        None => {
                            stream.extend(update(&mut a, T0));
                            expect.push(Ev::KeyUpdate(a.send_epoch()));
                        }
                    }
                }
                stream.extend(close(&mut a));
                expect.push(Ev::Close);

                let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
                cuts.push(0);
                cuts.push(stream.len());
                cuts.sort_unstable();
                let mut dec = StreamDecoder::for_session_config(b.config());
                let mut got = Vec::new();
                let mut out = vec![0u8; b.config().max_plaintext];
                for w in cuts.windows(2) {
                    let mut input = &stream[w[0]..w[1]];
                    while let Some(unit) = dec.next(&mut input).unwrap() {
                        got.push(Ev::from(b.open(T0, unit, &mut out).unwrap()));
                    }
                }
                prop_assert_eq!(dec.buffered(), 0);
                prop_assert_eq!(got, expect);
                prop_assert!(b.peer_closed());
                prop_assert_eq!(b.recv_epoch(), a.send_epoch());
            }
        }
    }
}
