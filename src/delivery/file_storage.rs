//! Outbox storage in a directory of files, for hosted builds (gateways, phone apps, test rigs).
//!
//! One file per slot (`entry-N`, `index-a`, `index-b`) and the counter in its own file
//! (`counter`, 8 bytes big-endian). Every write goes to a temporary file that is flushed
//! (`fsync`) and renamed over the old one, and the directory is flushed after the rename, so a
//! slot holds its old or its new bytes after a crash (stronger than the trait asks; the counter
//! needs it).
//!
//! **Rollback:** the counter file is only as rollback-proof as the filesystem. Anyone who can
//! copy the directory and put the copy back later (a backup restore, a disk image) rolls the
//! counter back with everything else, and the outbox can then reuse AES-GCM nonces. Where that
//! matters, implement [`OutboxStorage`] with the counter in a TPM NV counter or a secure
//! element, and keep the rest in files.

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use alloc::format;

use crate::delivery::storage::{IndexSlot, OutboxStorage};
use crate::error::StorageError;

/// [`OutboxStorage`] in files under one directory (see the module documentation).
#[derive(Debug)]
pub struct FileStorage {
    dir: PathBuf,
    slots: u32,
    slot_size: usize,
}

impl FileStorage {
    /// Uses (and creates if needed) `dir` for an outbox of `slots` slots of `slot_size` bytes.
    /// The directory must hold one outbox only and the same shape every time it is opened.
    pub fn new(dir: impl AsRef<Path>, slots: u32, slot_size: usize) -> std::io::Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir)?;
        Ok(FileStorage {
            dir,
            slots,
            slot_size,
        })
    }

    /// The directory the files are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry_path(&self, slot: u32) -> Result<PathBuf, StorageError> {
        if slot >= self.slots {
            return Err(StorageError::Io);
        }
        Ok(self.dir.join(format!("entry-{slot}")))
    }

    fn index_path(&self, which: IndexSlot) -> PathBuf {
        self.dir.join(match which {
            IndexSlot::A => "index-a",
            IndexSlot::B => "index-b",
        })
    }

    fn read(path: &Path, buf: &mut [u8]) -> Result<usize, StorageError> {
        let mut f = match fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
            Err(_) => return Err(StorageError::Io),
        };
        let mut all = alloc::vec::Vec::new();
        f.read_to_end(&mut all).map_err(|_| StorageError::Io)?;
        for (d, s) in buf.iter_mut().zip(all.iter()) {
            *d = *s;
        }
        Ok(all.len())
    }

    /// Writes `data` to `path` through a flushed temporary file and a rename.
    fn write(&self, path: &Path, data: &[u8]) -> Result<(), StorageError> {
        let tmp = path.with_extension("tmp");
        let res = (|| -> std::io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(data)?;
            f.sync_all()?;
            fs::rename(&tmp, path)?;
            self.sync_dir()
        })();
        res.map_err(|_| StorageError::Io)
    }

    fn sync_dir(&self) -> std::io::Result<()> {
        // Directories cannot be opened for syncing on every platform; where they can, the
        // rename is made durable too.
        match fs::File::open(&self.dir) {
            Ok(d) => d.sync_all().or(Ok(())),
            Err(_) => Ok(()),
        }
    }
}

impl OutboxStorage for FileStorage {
    fn slot_count(&self) -> u32 {
        self.slots
    }

    fn slot_size(&self) -> usize {
        self.slot_size
    }

    fn read_entry(&mut self, slot: u32, buf: &mut [u8]) -> Result<usize, StorageError> {
        Self::read(&self.entry_path(slot)?, buf)
    }

    fn write_entry(&mut self, slot: u32, data: &[u8]) -> Result<(), StorageError> {
        if data.len() > self.slot_size {
            return Err(StorageError::Io);
        }
        let path = self.entry_path(slot)?;
        self.write(&path, data)
    }

    fn read_index(&mut self, which: IndexSlot, buf: &mut [u8]) -> Result<usize, StorageError> {
        Self::read(&self.index_path(which), buf)
    }

    fn write_index(&mut self, which: IndexSlot, data: &[u8]) -> Result<(), StorageError> {
        let path = self.index_path(which);
        self.write(&path, data)
    }

    fn erase_index(&mut self, which: IndexSlot) -> Result<(), StorageError> {
        match fs::remove_file(self.index_path(which)) {
            Ok(()) => self.sync_dir().map_err(|_| StorageError::Io),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(_) => Err(StorageError::Io),
        }
    }

    fn read_counter(&mut self) -> Result<u64, StorageError> {
        let mut b = [0u8; 8];
        match Self::read(&self.dir.join("counter"), &mut b)? {
            0 => Ok(0),
            8 => Ok(u64::from_be_bytes(b)),
            _ => Err(StorageError::Io),
        }
    }

    fn write_counter(&mut self, value: u64) -> Result<(), StorageError> {
        let path = self.dir.join("counter");
        self.write(&path, &value.to_be_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::outbox::{Outbox, OutboxConfig, StorageKey, MAX_ENTRY};

    #[test]
    fn survives_reopening_from_disk() {
        let dir = std::env::temp_dir().join(format!("tether-outbox-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let key = StorageKey::new([3; 32]);
        let mut rng = rand_core::OsRng;
        let st = FileStorage::new(&dir, 4, MAX_ENTRY).unwrap();
        let mut ob = Outbox::open(st, &key, OutboxConfig::default(), &mut rng).unwrap();
        ob.push(b"kept on disk").unwrap();
        ob.push(b"second").unwrap();
        ob.release(1).unwrap();
        let stream = ob.stream();
        drop(ob);
        let st = FileStorage::new(&dir, 4, MAX_ENTRY).unwrap();
        let mut ob = Outbox::open(st, &key, OutboxConfig::default(), &mut rng).unwrap();
        assert_eq!(ob.stream(), stream);
        assert_eq!((ob.head(), ob.next_seq()), (2, 3));
        let mut out = [0u8; 16];
        let n = ob.read(2, &mut out).unwrap();
        assert_eq!(&out[..n], b"second");
        assert!(!fs::read(dir.join("entry-2"))
            .unwrap()
            .windows(6)
            .any(|w| w == b"second"));
        // Rolling the counter file back is noticed (only because this test can see it).
        fs::write(dir.join("counter"), 0u64.to_be_bytes()).unwrap();
        let st = FileStorage::new(&dir, 4, MAX_ENTRY).unwrap();
        let refused = Outbox::open(st, &key, OutboxConfig::default(), &mut rng).unwrap_err();
        assert_eq!(refused.error(), StorageError::RolledBack.into());
        fs::remove_dir_all(&dir).unwrap();
    }
}
