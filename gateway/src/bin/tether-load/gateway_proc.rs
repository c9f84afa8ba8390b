//! The gateway under test as a child process: started, killed with SIGKILL, restarted on the
//! same address, stopped with SIGTERM; its resident memory read from /proc.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running gateway process.
pub struct GatewayProc {
    bin: PathBuf,
    data: PathBuf,
    config: PathBuf,
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its metrics endpoint.
    pub metrics: Option<SocketAddr>,
    /// The public key it printed.
    pub key_hex: String,
}

impl GatewayProc {
    /// Starts `bin serve` on `listen` and waits for it to say where it listens.
    pub fn start(bin: &Path, data: &Path, config: &Path, listen: &str) -> Result<Self, String> {
        let mut child = Command::new(bin)
            .arg("--data")
            .arg(data)
            .arg("serve")
            .arg("--config")
            .arg(config)
            .arg("--listen")
            .arg(listen)
            .arg("--metrics")
            .arg("127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", bin.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let (mut addr, mut key, mut metrics) = (None, None, None);
        while addr.is_none() {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                return Err("the gateway exited before listening".into());
            };
            if let Some(k) = line.strip_prefix("gateway public key (pin it on devices): ") {
                key = Some(k.trim().to_owned());
            } else if let Some(a) = line.strip_prefix("listening on ") {
                addr = a.trim().parse().ok();
            }
            if let Some(m) = line.strip_prefix("metrics on http://") {
                metrics = m.trim_end_matches("/metrics").parse().ok();
            }
        }
        // Keep draining its standard output so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(GatewayProc {
            bin: bin.to_owned(),
            data: data.to_owned(),
            config: config.to_owned(),
            child,
            addr: addr.ok_or("no address")?,
            metrics,
            key_hex: key.ok_or("the gateway did not print its key")?,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory in KiB (VmRSS).
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// SIGKILL, then a new process on the same address and data.
    pub fn kill_and_restart(&mut self) -> Result<(), String> {
        self.child.kill().map_err(|e| format!("kill: {e}"))?;
        let _ = self.child.wait();
        let listen = self.addr.to_string();
        // The address is free once the process is gone; retry briefly in case it is not yet.
        let mut last = String::new();
        for _ in 0..50 {
            match GatewayProc::start(&self.bin, &self.data, &self.config, &listen) {
                Ok(p) => {
                    *self = p;
                    return Ok(());
                }
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("restart: {last}"))
    }

    /// SIGTERM (graceful shutdown) and wait; true if it exited successfully.
    pub fn stop(mut self) -> bool {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        for _ in 0..300 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        false
    }

    /// Reads one metric's value (summing all its label sets) from the metrics endpoint.
    pub fn metric(&self, name: &str) -> Option<f64> {
        use std::io::{Read, Write};
        let addr = self.metrics?;
        let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        let mut total = None;
        for line in body.lines() {
            if line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let metric = key.split('{').next().unwrap_or(key);
            if metric == name {
                *total.get_or_insert(0.0) += value.parse::<f64>().unwrap_or(0.0);
            }
        }
        total
    }
}

impl Drop for GatewayProc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
