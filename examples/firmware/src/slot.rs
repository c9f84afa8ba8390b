//! The firmware update slot, in RAM here (flash in a product): where image chunks are written
//! and from where the whole image is read back before it is declared installable.

use tether::message::update::ImageStore;
use tether::StorageError;

/// An update slot of `N` bytes.
pub struct Slot<const N: usize>(pub [u8; N]);

impl<const N: usize> ImageStore for Slot<N> {
    fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), StorageError> {
        let start = offset as usize;
        let to = self
            .0
            .get_mut(start..start + data.len())
            .ok_or(StorageError::Io)?;
        to.copy_from_slice(data);
        Ok(())
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), StorageError> {
        let start = offset as usize;
        let from = self
            .0
            .get(start..start + buf.len())
            .ok_or(StorageError::Io)?;
        buf.copy_from_slice(from);
        Ok(())
    }
}
