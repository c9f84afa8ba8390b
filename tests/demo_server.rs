//! The record-layer demo server (`cargo run --example records -- server ADDR`) survives bad
//! peers: one server process closes each misbehaving connection, logs why, and goes on serving well-behaved devices,
//! also while a silent client holds a connection open.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tether::policy::PinnedKey;
use tether::*;

/// How long the client waits for any answer from the server.
const ANSWER: Duration = Duration::from_secs(5);
/// The server's read timeout (`IDLE_TIMEOUT` in examples/records.rs), plus slack.
const SILENT_DROPPED: Duration = Duration::from_secs(15);
const T: Instant = Instant(0);

/// The `records` example next to this test binary (target/<profile>/examples/records), built with cargo
/// first, so that `cargo test --test demo_server` alone never runs a stale or missing one.
fn demo_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary in target/<profile>/deps");
    let mut build = Command::new(env!("CARGO"));
    build.args([
        "build",
        "--quiet",
        "--example",
        "records",
        "--manifest-path",
    ]);
    build.arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"));
    // Not the variables cargo set for this test: build scripts that watch them (ring's watches
    // CARGO_MANIFEST_DIR) would rebuild their crates on every run.
    for (name, _) in std::env::vars_os() {
        let name_str = name.to_string_lossy();
        if name_str.starts_with("CARGO_PKG_") || name_str.starts_with("CARGO_MANIFEST_") {
            build.env_remove(&name);
        }
    }
    if let Some(target_dir) = profile_dir.parent() {
        build.env("CARGO_TARGET_DIR", target_dir);
    }
    if profile_dir.ends_with("release") {
        build.arg("--release");
    }
    assert!(
        build.status().expect("run cargo").success(),
        "cargo build --example records failed"
    );
    let demo = profile_dir
        .join("examples")
        .join(format!("records{}", std::env::consts::EXE_SUFFIX));
    assert!(demo.is_file(), "no records example at {}", demo.display());
    demo
}

/// The server process, killed when dropped so that a failing test leaves nothing running.
struct Server {
    child: Child,
    addr: String,
    log: Arc<Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(demo_binary())
            .args(["server", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the demo server");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut server = Server {
            child,
            addr: String::new(),
            log: Arc::default(),
        };
        let (first_line, rx) = mpsc::channel();
        let log = Arc::clone(&server.log);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = first_line.send(line.clone());
                let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
        // "[cloud] listening on 127.0.0.1:PORT, static key HEX": the port 0 was bound to.
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the server says where it listens");
        server.addr = line
            .strip_prefix("[cloud] listening on ")
            .and_then(|rest| rest.split(',').next())
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .to_string();
        server
    }

    fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn assert_alive(&mut self, after: &str) {
        let status = self.child.try_wait().expect("poll the server");
        assert!(
            status.is_none(),
            "the server exited ({status:?}) after {after}; its output:\n{}",
            self.log()
        );
    }

    /// Waits until the server has logged a line containing all of `parts`, checking all along
    /// that it is still running.
    fn assert_logged(&mut self, after: &str, parts: &[&str]) {
        let deadline = std::time::Instant::now() + ANSWER;
        while std::time::Instant::now() < deadline {
            self.assert_alive(after);
            if self
                .log()
                .lines()
                .any(|l| parts.iter().all(|p| l.contains(p)))
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no server line with {parts:?}; its output:\n{}", self.log());
    }
}

/// A client connection that splits what the server sends into units.
struct Conn {
    sock: TcpStream,
    dec: StreamDecoder,
    pending: Vec<u8>,
}

impl Conn {
    fn connect(addr: &str) -> Conn {
        let sock = TcpStream::connect(addr).expect("connect to the server");
        sock.set_read_timeout(Some(ANSWER)).expect("read timeout");
        Conn {
            sock,
            dec: StreamDecoder::for_session_config(&SessionConfig::default()),
            pending: Vec::new(),
        }
    }

    fn local(&self) -> SocketAddr {
        self.sock.local_addr().expect("local address")
    }

    fn send(&mut self, bytes: &[u8]) {
        self.sock.write_all(bytes).expect("send to the server");
    }

    /// The next unit from the server; `None` if it closed the connection.
    fn unit(&mut self) -> Option<Vec<u8>> {
        loop {
            let mut input = &self.pending[..];
            let unit = self.dec.next(&mut input).expect("a well-formed unit");
            let unit = unit.map(<[u8]>::to_vec);
            let used = self.pending.len() - input.len();
            self.pending.drain(..used);
            if unit.is_some() {
                return unit;
            }
            let mut chunk = [0u8; 4096];
            let n = self.sock.read(&mut chunk).expect("the server answers");
            if n == 0 {
                return None;
            }
            self.pending.extend_from_slice(&chunk[..n]);
        }
    }

    /// Asserts that the server closes the connection within `within`: the read ends with EOF or a
    /// reset, not with our own timeout.
    fn assert_closed_by_server(self, what: &str, within: Duration) {
        let mut sock = self.sock;
        sock.set_read_timeout(Some(within)).expect("read timeout");
        let mut buf = [0u8; 512];
        loop {
            match sock.read(&mut buf) {
                Ok(0) => return,
                Ok(_) => continue,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    panic!("{what}: the server left the connection open")
                }
                Err(_) => return,
            }
        }
    }
}

/// The demo device's credentials and configuration (examples/records.rs).
struct Device {
    key: StaticKeypair,
    identity: Identity,
    cloud_key: PublicKey,
}

impl Device {
    fn new() -> Device {
        Device {
            key: StaticKeypair::from_secret([0xD1; 32]),
            identity: Identity::new(b"SN-DEMO-0001", "PulseOximeter P3", "2.4.1", b"k1")
                .expect("identity"),
            cloud_key: StaticKeypair::from_secret([0xC1; 32]).public(),
        }
    }

    /// An IK handshake and its first message.
    fn initiate(&self) -> (Handshake, Vec<u8>) {
        let config = HandshakeConfig {
            suite: Suite::ChaChaPolyBlake2s,
            channel: ChannelKind::DeviceCloud,
            framing: Framing::Stream,
            context: b"",
            identity: &self.identity,
            static_key: &self.key,
            session: SessionConfig::default(),
            dh_cache: None,
        };
        let mut hs = Initiator::provisioned(&config, &self.cloud_key, &mut OsEntropy)
            .expect("start the handshake");
        let mut buf = vec![0u8; 2048];
        let n = hs.write_message(&mut buf).expect("handshake message 1");
        buf.truncate(n);
        (hs, buf)
    }

    /// A new connection with an established session.
    fn connect(&self, addr: &str) -> (Conn, Session) {
        let mut conn = Conn::connect(addr);
        let (mut hs, msg1) = self.initiate();
        conn.send(&msg1);
        let msg2 = conn.unit().expect("handshake message 2");
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        hs.read_message(&msg2, &mut PinnedKey(self.cloud_key), UnixTime(wall))
            .expect("the cloud's handshake message");
        (conn, hs.finish(T).expect("session").session)
    }

    /// A whole session: two readings, the cloud's command, and a close both ways.
    fn good_session(&self, addr: &str) {
        let (mut conn, mut session) = self.connect(addr);
        for reading in ["SpO2 97 %", "pulse 72 /min"] {
            conn.send(&seal(&mut session, reading.as_bytes()));
        }
        let mut out = [0u8; 256];
        let cmd = conn.unit().expect("a command after the second reading");
        let got = session.open(T, &cmd, &mut out).expect("open the command");
        assert_eq!(got, Event::Data(&b"command: set-interval 60s"[..]));
        let mut close = [0u8; 64];
        let n = session.close(&mut close).expect("close");
        conn.send(&close[..n]);
        let unit = conn.unit().expect("the cloud's close");
        let got = session.open(T, &unit, &mut out).expect("open the close");
        assert_eq!(got, Event::Close);
    }
}

fn seal(session: &mut Session, plaintext: &[u8]) -> Vec<u8> {
    let mut wire = vec![0u8; session.seal_capacity(plaintext.len())];
    let sealed = session.seal(T, plaintext, &mut wire).expect("seal");
    wire.truncate(sealed.total());
    wire
}

#[test]
fn demo_server_survives_bad_peers() {
    let mut server = Server::start();
    let addr = server.addr.clone();
    let device = Device::new();

    // A client that connects and says nothing must not hold up anyone else.
    let silent = Conn::connect(&addr);
    let silent_since = std::time::Instant::now();
    device.good_session(&addr);
    server.assert_alive("a good session");

    // (what, how to misbehave on a new connection, words in the server's reason)
    type Misbehave = fn(&Device, &str) -> Conn;
    let cases: [(&str, Misbehave, &str); 6] = [
        (
            "a record with a flipped bit",
            |d, addr| {
                let (mut conn, mut session) = d.connect(addr);
                let mut record = seal(&mut session, b"SpO2 97 %");
                if let Some(last) = record.last_mut() {
                    *last ^= 1;
                }
                conn.send(&record);
                conn
            },
            "peer misbehaved: authentication failed",
        ),
        (
            "a replayed record",
            |d, addr| {
                let (mut conn, mut session) = d.connect(addr);
                let record = seal(&mut session, b"SpO2 97 %");
                conn.send(&record);
                conn.send(&record);
                conn
            },
            "peer misbehaved",
        ),
        (
            "a record in the wrong epoch",
            |d, addr| {
                let (mut conn, mut session) = d.connect(addr);
                let mut record = seal(&mut session, b"SpO2 97 %");
                record[2] ^= 0b01; // the epoch bits of the first body byte
                conn.send(&record);
                conn
            },
            "peer misbehaved",
        ),
        (
            "garbage instead of a handshake",
            |_, addr| {
                let mut conn = Conn::connect(addr);
                let mut garbage = vec![0x00, 0x10];
                garbage.extend([0xAB; 16]);
                conn.send(&garbage);
                conn
            },
            "handshake refused: malformed input",
        ),
        (
            "an oversized length prefix",
            |_, addr| {
                let mut conn = Conn::connect(addr);
                conn.send(&[0xFF, 0xFF, 0x50]);
                conn
            },
            "handshake refused: malformed input: oversized",
        ),
        (
            "a hang-up mid-handshake",
            |d, addr| {
                let mut conn = Conn::connect(addr);
                let (_, msg1) = d.initiate();
                conn.send(&msg1[..msg1.len() / 2]);
                conn.sock.shutdown(Shutdown::Write).expect("half-close");
                conn
            },
            "peer hung up during the handshake",
        ),
    ];
    for (what, misbehave, reason) in cases {
        let conn = misbehave(&device, &addr);
        let peer = format!("[cloud] {}: connection closed: ", conn.local());
        conn.assert_closed_by_server(what, ANSWER);
        server.assert_logged(what, &[&peer, reason]);
        device.good_session(&addr);
    }

    // The silent client is dropped once the server's read timeout passes.
    let left = SILENT_DROPPED.saturating_sub(silent_since.elapsed());
    let peer = format!("[cloud] {}: connection closed: ", silent.local());
    silent.assert_closed_by_server("a silent client", left);
    server.assert_logged("a silent client", &[&peer, "no data"]);
    device.good_session(&addr);
}
