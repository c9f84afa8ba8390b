//! The gateway's configuration: a TOML file whose every field has a default, so a first run
//! needs none (`tether-gateway serve` with no file).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Everything `serve` can be told. Unknown keys are errors, so a typo is not silently ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where devices connect (TCP, stream framing).
    pub listen: SocketAddr,
    /// Where Prometheus scrapes `/metrics`; absent: no metrics endpoint.
    pub metrics: Option<SocketAddr>,
    /// Connection and handshake limits.
    pub limits: Limits,
    /// Group commits.
    pub storage: StorageConfig,
    /// Manufacturer credential issuers.
    pub trust: Trust,
    /// How often the registry and the command queue are read for changes made by the CLI.
    pub poll_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 7878)),
            metrics: Some(SocketAddr::from(([127, 0, 0, 1], 9464))),
            limits: Limits::default(),
            storage: StorageConfig::default(),
            trust: Trust::default(),
            poll_ms: 500,
        }
    }
}

/// What one peer, or many, may hold of the gateway.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Connections open at once; beyond it the gateway stops accepting until one ends.
    pub max_connections: usize,
    /// Handshakes being computed at once (a connection takes a slot only once its first
    /// handshake message has fully arrived, so a slow sender holds none).
    pub max_handshakes: usize,
    /// From accept until the first record of the new session authenticates, in ms.
    pub handshake_deadline_ms: u64,
    /// A session that receives nothing for this long is closed, in seconds.
    pub idle_timeout_s: u64,
    /// A write that the peer does not take within this long ends the connection, in ms.
    pub write_timeout_ms: u64,
    /// Messages of one connection waiting for their commit; beyond it the gateway stops
    /// reading that connection (backpressure when storage is slow).
    pub max_in_flight: usize,
    /// Commands sent to a device and not yet acknowledged.
    pub command_window: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 20_000,
            max_handshakes: 256,
            handshake_deadline_ms: 10_000,
            idle_timeout_s: 900,
            write_timeout_ms: 10_000,
            max_in_flight: 64,
            command_window: 8,
        }
    }
}

impl Limits {
    /// The handshake deadline.
    pub fn handshake_deadline(&self) -> Duration {
        Duration::from_millis(self.handshake_deadline_ms)
    }
    /// The idle timeout.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_s)
    }
    /// The write timeout.
    pub fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.write_timeout_ms)
    }
}

/// Group commits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Most changes in one transaction.
    pub max_batch: usize,
    /// Changes waiting for the committer; when full, connections wait (and stop reading).
    pub queue: usize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            max_batch: 4096,
            queue: 16_384,
        }
    }
}

/// Manufacturer credential issuers, for devices registered with `--require-credential`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Trust {
    /// Issuer name and Ed25519 public key (hex).
    pub issuers: Vec<Issuer>,
}

/// One manufacturer credential issuer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Issuer {
    /// The issuer name credentials carry.
    pub name: String,
    /// Its Ed25519 public key, 64 hex digits.
    pub key: String,
}

/// Reading the configuration failed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid configuration.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: toml::de::Error,
    },
}

impl Config {
    /// Reads `path`, or gives the defaults when `path` is None.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_is_the_defaults_and_typos_are_refused() {
        let c: Config = toml::from_str("").unwrap();
        assert_eq!(c.limits.max_connections, 20_000);
        let c: Config =
            toml::from_str("listen = \"127.0.0.1:0\"\n[limits]\nidle_timeout_s = 5\n").unwrap();
        assert_eq!(c.limits.idle_timeout_s, 5);
        assert_eq!(c.limits.max_handshakes, 256);
        assert!(toml::from_str::<Config>("[limits]\nidle_timeout = 5\n").is_err());
    }
}
