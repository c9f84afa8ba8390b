//! Where the outbox keeps its bytes: a trait firmware implements over its flash, and an
//! in-memory reference implementation (spec/MESSAGES.md 6.5.1).

use alloc::vec;
use alloc::vec::Vec;

use crate::error::StorageError;

/// One of the two index slots. The outbox writes them alternately, so a write cut short by a
/// power loss leaves the other one intact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IndexSlot {
    /// Holds the even generations.
    A,
    /// Holds the odd generations.
    B,
}

impl IndexSlot {
    /// The slot a generation is written to: A for even, B for odd.
    pub fn for_generation(generation: u64) -> IndexSlot {
        if generation % 2 == 0 {
            IndexSlot::A
        } else {
            IndexSlot::B
        }
    }

    /// The byte that names the slot in the index's associated data (A = 0, B = 1).
    pub fn number(self) -> u8 {
        match self {
            IndexSlot::A => 0,
            IndexSlot::B => 1,
        }
    }
}

/// The storage an [`crate::delivery::Outbox`] is kept in: a fixed number of equal-size entry
/// slots, two index slots and a monotonic counter cell. Firmware implements it over its flash
/// (one erase unit or a fixed offset per slot); the outbox never asks for anything else, and
/// everything it stores is already sealed, so the storage needs no confidentiality of its own.
///
/// Contract:
/// - Reads copy the bytes last written to the slot into `buf` (at most `buf.len()` of them) and
///   return how many bytes the slot holds (which may exceed `buf.len()`: the outbox treats that
///   as tampering). A slot never written, or erased, reads as 0 bytes ("empty"). An erased flash
///   page (all 0xff) must be reported as empty, not as bytes.
/// - A write replaces the slot's whole contents (erase first if the medium needs it). A write
///   cut by a power loss may leave the slot empty, old, or holding any prefix of the new bytes:
///   the outbox is designed for that. A write that returns `Ok` must be durable.
/// - The counter cell must be atomic (old or new value after a power cut, never a mix) and must
///   resist rollback on the platform: keep it in a secure element's monotonic counter, OTP
///   fuses, an eMMC RPMB partition or a TPM NV counter, where someone who can copy and restore
///   the flash cannot restore it. It is the only thing that stops a restored flash image from
///   making the outbox reuse an AES-GCM nonce. A fresh cell reads 0. `write_counter` is only
///   ever called with a value larger than the current one.
/// - Errors are [`StorageError::Io`]; the outbox stops writing after one and must be opened
///   again.
pub trait OutboxStorage {
    /// The number of entry slots (the most unacknowledged messages the outbox can hold), 1 or
    /// more.
    fn slot_count(&self) -> u32;
    /// The size of each entry slot in bytes: at least
    /// [`crate::delivery::ENTRY_OVERHEAD`] plus the largest message the application will push.
    fn slot_size(&self) -> usize;
    /// Reads entry slot `slot` (0..slot_count) into `buf`; returns the stored length, 0 if empty.
    fn read_entry(&mut self, slot: u32, buf: &mut [u8]) -> Result<usize, StorageError>;
    /// Replaces entry slot `slot` with `data` (at most `slot_size` bytes).
    fn write_entry(&mut self, slot: u32, data: &[u8]) -> Result<(), StorageError>;
    /// Reads an index slot into `buf`; returns the stored length, 0 if empty.
    fn read_index(&mut self, which: IndexSlot, buf: &mut [u8]) -> Result<usize, StorageError>;
    /// Replaces an index slot with `data` ([`crate::delivery::INDEX_LEN`] bytes).
    fn write_index(&mut self, which: IndexSlot, data: &[u8]) -> Result<(), StorageError>;
    /// Empties an index slot (used only when the outbox is reset).
    fn erase_index(&mut self, which: IndexSlot) -> Result<(), StorageError>;
    /// Reads the monotonic counter cell (0 when never written).
    fn read_counter(&mut self) -> Result<u64, StorageError>;
    /// Writes a larger value into the monotonic counter cell, atomically and durably.
    fn write_counter(&mut self, value: u64) -> Result<(), StorageError>;
}

/// Copies `stored` into `buf` the way the trait's reads do and returns the stored length.
fn read_into(stored: Option<&Vec<u8>>, buf: &mut [u8]) -> usize {
    match stored {
        None => 0,
        Some(bytes) => {
            for (d, s) in buf.iter_mut().zip(bytes.iter()) {
                *d = *s;
            }
            bytes.len()
        }
    }
}

/// Storage in memory: the reference implementation of [`OutboxStorage`], and the one tests use.
/// Cloning it snapshots everything (tests restore old snapshots to play an attacker who rolls
/// the flash back). Its counter is as volatile as the rest of it: not for production.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemStorage {
    slot_size: usize,
    entries: Vec<Option<Vec<u8>>>,
    index: [Option<Vec<u8>>; 2],
    counter: u64,
}

impl MemStorage {
    /// Empty storage with `slots` entry slots of `slot_size` bytes each.
    pub fn new(slots: u32, slot_size: usize) -> Self {
        MemStorage {
            slot_size,
            entries: vec![None; slots as usize],
            index: [None, None],
            counter: 0,
        }
    }

    /// The bytes in an entry slot, if any (for inspection in tests and tools).
    pub fn entry(&self, slot: u32) -> Option<&[u8]> {
        self.entries.get(slot as usize).and_then(|e| e.as_deref())
    }

    /// Replaces an entry slot's bytes directly, bypassing the outbox (tests play an attacker or
    /// a faulty flash with it). Out-of-range slots are ignored.
    pub fn set_entry(&mut self, slot: u32, bytes: Option<Vec<u8>>) {
        if let Some(e) = self.entries.get_mut(slot as usize) {
            *e = bytes;
        }
    }

    /// The bytes in an index slot, if any.
    pub fn index(&self, which: IndexSlot) -> Option<&[u8]> {
        self.index
            .get(usize::from(which.number()))
            .and_then(|e| e.as_deref())
    }

    /// Replaces an index slot's bytes directly, bypassing the outbox.
    pub fn set_index(&mut self, which: IndexSlot, bytes: Option<Vec<u8>>) {
        if let Some(e) = self.index.get_mut(usize::from(which.number())) {
            *e = bytes;
        }
    }

    /// The counter cell's value.
    pub fn counter(&self) -> u64 {
        self.counter
    }

    /// Sets the counter cell directly (a real cell cannot go back; tests use this to show what
    /// the outbox does when one does).
    pub fn set_counter(&mut self, value: u64) {
        self.counter = value;
    }
}

impl OutboxStorage for MemStorage {
    fn slot_count(&self) -> u32 {
        u32::try_from(self.entries.len()).unwrap_or(u32::MAX)
    }

    fn slot_size(&self) -> usize {
        self.slot_size
    }

    fn read_entry(&mut self, slot: u32, buf: &mut [u8]) -> Result<usize, StorageError> {
        let e = self.entries.get(slot as usize).ok_or(StorageError::Io)?;
        Ok(read_into(e.as_ref(), buf))
    }

    fn write_entry(&mut self, slot: u32, data: &[u8]) -> Result<(), StorageError> {
        if data.len() > self.slot_size {
            return Err(StorageError::Io);
        }
        let e = self
            .entries
            .get_mut(slot as usize)
            .ok_or(StorageError::Io)?;
        *e = Some(data.to_vec());
        Ok(())
    }

    fn read_index(&mut self, which: IndexSlot, buf: &mut [u8]) -> Result<usize, StorageError> {
        Ok(read_into(
            self.index
                .get(usize::from(which.number()))
                .and_then(|e| e.as_ref()),
            buf,
        ))
    }

    fn write_index(&mut self, which: IndexSlot, data: &[u8]) -> Result<(), StorageError> {
        self.set_index(which, Some(data.to_vec()));
        Ok(())
    }

    fn erase_index(&mut self, which: IndexSlot) -> Result<(), StorageError> {
        self.set_index(which, None);
        Ok(())
    }

    fn read_counter(&mut self) -> Result<u64, StorageError> {
        Ok(self.counter)
    }

    fn write_counter(&mut self, value: u64) -> Result<(), StorageError> {
        self.counter = value;
        Ok(())
    }
}

/// A mutable reference to storage is storage too, so a caller can keep ownership (and inspect
/// the storage between calls).
impl<S: OutboxStorage + ?Sized> OutboxStorage for &mut S {
    fn slot_count(&self) -> u32 {
        (**self).slot_count()
    }
    fn slot_size(&self) -> usize {
        (**self).slot_size()
    }
    fn read_entry(&mut self, slot: u32, buf: &mut [u8]) -> Result<usize, StorageError> {
        (**self).read_entry(slot, buf)
    }
    fn write_entry(&mut self, slot: u32, data: &[u8]) -> Result<(), StorageError> {
        (**self).write_entry(slot, data)
    }
    fn read_index(&mut self, which: IndexSlot, buf: &mut [u8]) -> Result<usize, StorageError> {
        (**self).read_index(which, buf)
    }
    fn write_index(&mut self, which: IndexSlot, data: &[u8]) -> Result<(), StorageError> {
        (**self).write_index(which, data)
    }
    fn erase_index(&mut self, which: IndexSlot) -> Result<(), StorageError> {
        (**self).erase_index(which)
    }
    fn read_counter(&mut self) -> Result<u64, StorageError> {
        (**self).read_counter()
    }
    fn write_counter(&mut self, value: u64) -> Result<(), StorageError> {
        (**self).write_counter(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_report_stored_length_and_empty() {
        let mut s = MemStorage::new(2, 8);
        let mut buf = [0u8; 4];
        assert_eq!(s.read_entry(0, &mut buf), Ok(0));
        s.write_entry(1, &[1, 2, 3, 4, 5, 6]).unwrap();
        assert_eq!(s.read_entry(1, &mut buf), Ok(6));
        assert_eq!(buf, [1, 2, 3, 4]);
        assert_eq!(s.write_entry(1, &[0; 9]), Err(StorageError::Io));
        assert_eq!(s.read_entry(2, &mut buf), Err(StorageError::Io));
        s.write_index(IndexSlot::B, &[9]).unwrap();
        assert_eq!(s.read_index(IndexSlot::B, &mut buf), Ok(1));
        assert_eq!(s.read_index(IndexSlot::A, &mut buf), Ok(0));
        s.erase_index(IndexSlot::B).unwrap();
        assert_eq!(s.read_index(IndexSlot::B, &mut buf), Ok(0));
        s.write_counter(7).unwrap();
        assert_eq!(s.read_counter(), Ok(7));
        assert_eq!(IndexSlot::for_generation(4), IndexSlot::A);
        assert_eq!(IndexSlot::for_generation(5), IndexSlot::B);
    }
}
