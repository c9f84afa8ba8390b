//! The gateway's secrets, in one file next to its database: its Noise static key (devices pin its
//! public half) and the audit trail's MAC key. Created on the first run with mode 0600; never
//! printed.

use std::io::Write;
use std::path::Path;

use tether::{PublicKey, StaticKeypair};
use zeroize::Zeroizing;

use crate::audit::AuditKey;

/// The file's length: the static secret, then the audit key.
const LEN: usize = 64;

/// The loaded secrets.
pub struct Keys {
    /// The gateway's static key pair.
    pub static_key: StaticKeypair,
    /// The audit chain's key.
    pub audit: AuditKey,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field(
                "public",
                &crate::audit::hex(self.static_key.public().as_bytes()),
            )
            .finish_non_exhaustive()
    }
}

impl Keys {
    /// The public key devices pin.
    pub fn public(&self) -> PublicKey {
        self.static_key.public()
    }
}

/// Loads the key file, creating it (and its directory) when absent. Returns the keys and
/// whether they were created now.
pub fn load_or_create(path: &Path) -> std::io::Result<(Keys, bool)> {
    let created = match std::fs::read(path) {
        Ok(bytes) => {
            let bytes = Zeroizing::new(bytes);
            return Ok((parse(&bytes, path)?, false));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => return Err(e),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut secret = Zeroizing::new([0u8; LEN]);
    getrandom::getrandom(&mut secret[..])
        .map_err(|e| std::io::Error::other(format!("no operating-system randomness: {e}")))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(&secret[..])?;
    file.sync_all()?;
    Ok((parse(&secret[..], path)?, created))
}

fn parse(bytes: &[u8], path: &Path) -> std::io::Result<Keys> {
    if bytes.len() != LEN {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{} is not a gateway key file ({} bytes, not {LEN})",
                path.display(),
                bytes.len()
            ),
        ));
    }
    let mut s = Zeroizing::new([0u8; 32]);
    s.copy_from_slice(&bytes[..32]);
    let mut a = Zeroizing::new([0u8; 32]);
    a.copy_from_slice(&bytes[32..]);
    Ok(Keys {
        static_key: StaticKeypair::from_secret(*s),
        audit: AuditKey::new(*a),
    })
}
