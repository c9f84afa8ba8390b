//! tether's costs against what users would pick instead, all measured in one run:
//!
//! - records (seal + open, sender and receiver): tether in stream and datagram framing, the raw
//!   AEAD keyed once, and snow's transport, at 64 B, 1400 B and 16 KiB, for both suites;
//! - handshakes (both sides, in memory) for each pattern and suite: tether, plain snow with its own
//!   primitives, the X25519 operations the pattern needs (x25519-dalek), and rustls TLS 1.3 with
//!   mutual certificate authentication;
//! - bytes on the wire (written to `<criterion dir>/tether-wire.json`).
//!
//! After criterion's measurements, an interleaved pass runs the functions of each comparison in
//! turn, block after block, and records every block (`<criterion dir>/tether-interleaved.json`):
//! ratios taken within a cycle survive the speed drift of a shared virtual machine.
//!
//! `cargo bench --bench tether`, then `python3 benches/report.py` prints every ratio as one
//! table. See benches/README.md.

mod common;

use std::hint::black_box;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant as Clock};

use common::*;
use criterion::{Criterion, SamplingMode};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::client::Resumption;
use rustls::crypto::{ring as provider, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};
use tether::*;

// ---------------------------------------------------------------------------------------------
// rustls TLS 1.3, mutual authentication, in memory
// ---------------------------------------------------------------------------------------------

/// Client and server configurations: TLS 1.3 only, one cipher suite (the tether suite's AEAD),
/// X25519 only, Ed25519 certificates from a private CA (one CA certificate, one leaf per side),
/// no session resumption and no tickets, so every handshake is a full one.
struct Tls {
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
    name: ServerName<'static>,
}

fn tls_fixture(suite: Suite) -> Tls {
    let cipher = match suite {
        Suite::ChaChaPolyBlake2s => provider::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
        Suite::AesGcmSha256 => provider::cipher_suite::TLS13_AES_256_GCM_SHA384,
    };
    let prov = Arc::new(CryptoProvider {
        cipher_suites: vec![cipher],
        kx_groups: vec![provider::kx_group::X25519],
        ..provider::default_provider()
    });

    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "tether bench CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = |name: &str, usage: ExtendedKeyUsagePurpose| {
        let key = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let mut params = CertificateParams::new(vec![name.to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &issuer).unwrap();
        let der: CertificateDer<'static> = cert.der().clone();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (der, key)
    };
    let (server_cert, server_key) = leaf("ingest.example", ExtendedKeyUsagePurpose::ServerAuth);
    let (client_cert, client_key) = leaf("sn-0001.devices", ExtendedKeyUsagePurpose::ClientAuth);

    let mut roots = RootCertStore::empty();
    roots.add(ca_cert.der().clone()).unwrap();
    let roots = Arc::new(roots);
    let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), prov.clone())
        .build()
        .unwrap();
    let mut server = ServerConfig::builder_with_provider(prov.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![server_cert], server_key)
        .unwrap();
    server.session_storage = Arc::new(NoServerSessionStorage {});
    server.send_tls13_tickets = 0;
    let mut client = ClientConfig::builder_with_provider(prov)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![client_cert], client_key)
        .unwrap();
    client.resumption = Resumption::disabled();
    Tls {
        client: Arc::new(client),
        server: Arc::new(server),
        name: ServerName::try_from("ingest.example").unwrap(),
    }
}

/// One full mutually authenticated TLS 1.3 handshake, both sides, bytes moved through memory.
/// Returns both connections and the bytes sent each way (client to server, server to client).
fn tls_handshake(t: &Tls, buf: &mut Vec<u8>) -> (ClientConnection, ServerConnection, usize, usize) {
    let mut client = ClientConnection::new(t.client.clone(), t.name.clone()).unwrap();
    let mut server = ServerConnection::new(t.server.clone()).unwrap();
    let (mut c2s, mut s2c) = (0, 0);
    loop {
        buf.clear();
        while client.wants_write() {
            client.write_tls(buf).unwrap();
        }
        c2s += buf.len();
        let mut rd = &buf[..];
        while !rd.is_empty() {
            server.read_tls(&mut rd).unwrap();
            server.process_new_packets().unwrap();
        }
        buf.clear();
        while server.wants_write() {
            server.write_tls(buf).unwrap();
        }
        s2c += buf.len();
        let mut rd = &buf[..];
        while !rd.is_empty() {
            client.read_tls(&mut rd).unwrap();
            client.process_new_packets().unwrap();
        }
        if !client.is_handshaking()
            && !server.is_handshaking()
            && !client.wants_write()
            && !server.wants_write()
        {
            break;
        }
    }
    (client, server, c2s, s2c)
}

/// Bytes TLS adds to a 64-byte application record.
fn tls_record_overhead(t: &Tls) -> usize {
    let mut buf = Vec::new();
    let (mut client, _server, _, _) = tls_handshake(t, &mut buf);
    client.writer().write_all(&[0u8; 64]).unwrap();
    buf.clear();
    while client.wants_write() {
        client.write_tls(&mut buf).unwrap();
    }
    buf.len() - 64
}

// ---------------------------------------------------------------------------------------------
// Bytes on the wire and run metadata
// ---------------------------------------------------------------------------------------------

/// Where criterion writes (the same rule as criterion's own default).
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/criterion")
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Measures the wire sizes from tether's own handshakes (realistic identities, no credential)
/// and from rustls, and returns them as JSON text (hand-written: no serde in the benches).
fn wire_json(parties: &Parties) -> String {
    let mut rows = Vec::new();
    for framing in FRAMINGS {
        for pattern in Pattern::ALL {
            let (i, r, sizes) = tether_handshake(
                parties,
                pattern,
                Suite::ChaChaPolyBlake2s,
                framing,
                &mut BenchRng(3),
            );
            let (ilen, rlen) = parties.identity_lens(pattern);
            let (dh, keygen) = floor_ops(pattern);
            let messages = pattern.message_count();
            let sizes = &sizes[..messages];
            rows.push(format!(
                "{{\"pattern\": \"{}\", \"noise\": \"{}\", \"framing\": \"{}\", \"messages\": {:?}, \
                 \"total\": {}, \"initiator_identity\": {}, \"responder_identity\": {}, \
                 \"dh\": {}, \"keygen\": {}}}",
                pattern_name(pattern),
                pattern.noise_name(),
                framing_name(framing),
                sizes,
                sizes.iter().sum::<usize>(),
                ilen,
                rlen,
                dh,
                keygen
            ));
            drop((i, r));
        }
    }
    let mut overhead = Vec::new();
    for framing in FRAMINGS {
        let (mut tx, mut rx) = session_pair(parties, Suite::ChaChaPolyBlake2s, framing);
        let mut wire = vec![0u8; 256];
        let mut out = vec![0u8; 64];
        let sealed = tx.seal(T0, &[7u8; 64], &mut wire).unwrap();
        assert_eq!(sealed.key_update, 0);
        rx.open(T0, &wire[..sealed.total()], &mut out).unwrap();
        overhead.push(format!(
            "\"{}\": {}",
            framing_name(framing),
            sealed.total() - 64
        ));
    }
    let tls = tls_fixture(Suite::AesGcmSha256);
    let (_, _, c2s, s2c) = tls_handshake(&tls, &mut Vec::new());
    let tls_overhead = tls_record_overhead(&tls);
    format!(
        "{{\n  \"handshakes\": [\n    {}\n  ],\n  \"record_overhead\": {{{}}},\n  \
         \"rustls_measured\": {{\"client_to_server\": {}, \"server_to_client\": {}, \
         \"record_overhead\": {}, \"note\": \"TLS 1.3, mutual auth, Ed25519 certificates \
         (one CA-signed leaf each side), X25519\"}}",
        rows.join(",\n    "),
        overhead.join(", "),
        c2s,
        s2c,
        tls_overhead
    )
}

fn write_meta(wire: &str, load_start: &str, end: Option<&str>) {
    let dir = criterion_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let end = end.unwrap_or_default();
    let text = format!("{wire},\n  \"load_start\": \"{load_start}\"{end}\n}}\n");
    std::fs::write(dir.join("tether-wire.json"), text).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Benchmarks
// ---------------------------------------------------------------------------------------------

fn records(c: &mut Criterion, parties: &Parties) {
    for suite in SUITES {
        for size in SIZES {
            let mut g = c.benchmark_group(format!("record-{}-{}", suite_name(suite), size));
            g.warm_up_time(Duration::from_millis(800))
                .measurement_time(Duration::from_secs(3))
                .sample_size(50);
            let msg = vec![0x5au8; size];

            // The floor first, then tether in both framings, then snow.
            let mut raw = RawPair::new(suite);
            let mut buf = msg.clone();
            g.bench_function("aead", |b| b.iter(|| raw.seal_open(black_box(&mut buf))));

            for framing in FRAMINGS {
                let (mut tx, mut rx) = session_pair(parties, suite, framing);
                let mut buf = vec![0x5au8; tx.seal_in_place_len(size)];
                g.bench_function(format!("tether-{}", framing_name(framing)), |b| {
                    b.iter(|| {
                        tether_seal_open_in_place(&mut tx, &mut rx, size, black_box(&mut buf))
                    })
                });
            }
            let (mut tx, mut rx) = session_pair(parties, suite, Framing::Datagram);
            let mut wire = vec![0u8; tx.seal_capacity(size)];
            let mut out = vec![0u8; size];
            g.bench_function("tether-datagram-copy", |b| {
                b.iter(|| tether_seal_open(&mut tx, &mut rx, black_box(&msg), &mut wire, &mut out))
            });

            let (mut stx, mut srx) = snow_transport_pair(parties, suite);
            let mut wire = vec![0u8; size + 16];
            let mut out = vec![0u8; size + 16];
            g.bench_function("snow", |b| {
                b.iter(|| snow_write_read(&mut stx, &mut srx, black_box(&msg), &mut wire, &mut out))
            });
            g.finish();
        }
    }
}

/// Patterns with a static-static DH, which a [`DhCache`] saves on a repeat handshake.
fn cached_pattern(pattern: Pattern) -> bool {
    matches!(pattern, Pattern::Provisioned | Pattern::Reconnect)
}

fn handshakes(c: &mut Criterion, parties: &Parties) {
    let mut g = c.benchmark_group("floor-x25519");
    g.warm_up_time(Duration::from_millis(800))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    let mut floor = Floor::new();
    let mut rng = BenchRng(11);
    g.bench_function("dh", |b| b.iter(|| floor.dh()));
    g.bench_function("keygen", |b| b.iter(|| floor.keygen(&mut rng)));
    g.finish();

    for suite in SUITES {
        for pattern in Pattern::ALL {
            let mut g = c.benchmark_group(format!(
                "handshake-{}-{}",
                suite_name(suite),
                pattern_name(pattern)
            ));
            g.sampling_mode(SamplingMode::Flat)
                .warm_up_time(Duration::from_millis(800))
                .measurement_time(Duration::from_secs(4))
                .sample_size(25);
            let mut rng = BenchRng(5);
            g.bench_function("tether", |b| {
                b.iter(|| tether_handshake(parties, pattern, suite, Framing::Datagram, &mut rng))
            });
            if cached_pattern(pattern) {
                let caches = (DhCache::new(16), DhCache::new(16));
                let c = Some((&caches.0, &caches.1));
                tether_handshake_cached(parties, pattern, suite, Framing::Datagram, &mut rng, c);
                g.bench_function("tether-cached", |b| {
                    b.iter(|| {
                        tether_handshake_cached(
                            parties,
                            pattern,
                            suite,
                            Framing::Datagram,
                            &mut rng,
                            c,
                        )
                    })
                });
            }
            let case = SnowCase::new(parties, pattern, suite, Framing::Datagram);
            let mut seed = 0u64;
            g.bench_function("snow", |b| {
                b.iter(|| {
                    seed = seed.wrapping_add(2);
                    case.run(seed)
                })
            });
            g.finish();
        }

        let tls = tls_fixture(suite);
        let mut g = c.benchmark_group(format!("tls13-{}", suite_name(suite)));
        g.sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_millis(800))
            .measurement_time(Duration::from_secs(4))
            .sample_size(25);
        let mut buf = Vec::with_capacity(4096);
        g.bench_function("mutual-auth", |b| b.iter(|| tls_handshake(&tls, &mut buf)));
        g.finish();
    }
}

/// Samples the 1-minute load average every 2 s while the benchmarks run (the benchmark itself
/// adds about 1.0 on these machines: it keeps one core busy).
struct LoadSampler {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<f64>>,
}

impl LoadSampler {
    fn start() -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(one) = loadavg()
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<f64>().ok())
                {
                    samples.push(one);
                }
                for _ in 0..20 {
                    if flag.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            samples
        });
        LoadSampler { stop, thread }
    }

    /// (min, mean, max) of the samples.
    fn finish(self) -> (f64, f64, f64) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let s = self.thread.join().unwrap_or_default();
        if s.is_empty() {
            return (0.0, 0.0, 0.0);
        }
        let min = s.iter().copied().fold(f64::INFINITY, f64::min);
        let max = s.iter().copied().fold(0.0, f64::max);
        (min, s.iter().sum::<f64>() / s.len() as f64, max)
    }
}

// ---------------------------------------------------------------------------------------------
// Interleaved pass: ratios that survive the machine's speed drift
// ---------------------------------------------------------------------------------------------

/// One function of an interleaved comparison: its name and one operation.
type Op<'a> = (&'static str, Box<dyn FnMut() + 'a>);

/// Runs the functions of one comparison in turn, a block of each per cycle (blocks of about
/// `block` long, the start rotating from cycle to cycle), for about `total`, and returns for every
/// function its time per operation in each cycle (ns). Neighbouring blocks see the same machine
/// speed, so per-cycle ratios cancel drifts that move criterion's separate measurements by more
/// than the goals' margins on a shared virtual machine.
fn interleave(ops: &mut [Op<'_>], block: Duration, total: Duration) -> Vec<Vec<f64>> {
    // Calibrate: operations per block for each function.
    let mut per_block = Vec::new();
    for (_, op) in ops.iter_mut() {
        let mut n = 1u64;
        loop {
            let t = Clock::now();
            for _ in 0..n {
                op();
            }
            let e = t.elapsed();
            if e >= block / 4 || n >= 1 << 20 {
                let per = e.as_secs_f64() / n as f64;
                per_block.push(((block.as_secs_f64() / per).ceil() as u64).max(1));
                break;
            }
            n *= 2;
        }
    }
    let k = ops.len();
    let mut times = vec![Vec::new(); k];
    let start = Clock::now();
    let mut cycle = 0usize;
    while start.elapsed() < total || cycle < 20 {
        for j in 0..k {
            let i = (cycle + j) % k;
            let n = per_block[i];
            let op = &mut ops[i].1;
            let t = Clock::now();
            for _ in 0..n {
                op();
            }
            times[i].push(t.elapsed().as_nanos() as f64 / n as f64);
        }
        cycle += 1;
    }
    times
}

fn json_series(group: &str, ops: &[Op<'_>], times: &[Vec<f64>]) -> String {
    let fns: Vec<String> = ops
        .iter()
        .zip(times)
        .map(|((name, _), t)| {
            let v: Vec<String> = t.iter().map(|x| format!("{x:.1}")).collect();
            format!("\"{name}\": [{}]", v.join(", "))
        })
        .collect();
    format!("\"{group}\": {{{}}}", fns.join(", "))
}

/// The interleaved pass over every comparison; returns its JSON (group -> function -> ns per
/// operation in each cycle).
fn interleaved(parties: &Parties) -> String {
    let mut out = Vec::new();
    for suite in SUITES {
        for size in SIZES {
            let msg = vec![0x5au8; size];
            let mut raw = RawPair::new(suite);
            let mut buf = msg.clone();
            let (mut stx, mut srx) = session_pair(parties, suite, Framing::Stream);
            let (mut dtx, mut drx) = session_pair(parties, suite, Framing::Datagram);
            // A second, identical raw AEAD: the control (aead-again / aead should be 1.00).
            let mut raw2 = RawPair::new(suite);
            let mut buf2 = msg.clone();
            let (mut ntx, mut nrx) = snow_transport_pair(parties, suite);
            let (mut ctx, mut crx) = session_pair(parties, suite, Framing::Datagram);
            let mut sbuf = vec![0x5au8; stx.seal_in_place_len(size)];
            let mut dbuf = vec![0x5au8; dtx.seal_in_place_len(size)];
            let mut cwire = vec![0u8; ctx.seal_capacity(size)];
            let mut nwire = vec![0u8; size + 16];
            let (mut o2, mut o3) = (vec![0u8; size], vec![0u8; size + 16]);
            let m = &msg;
            let mut ops: Vec<Op<'_>> = vec![
                ("aead", Box::new(|| raw.seal_open(black_box(&mut buf)))),
                (
                    "aead-again",
                    Box::new(|| raw2.seal_open(black_box(&mut buf2))),
                ),
                (
                    "tether-stream",
                    Box::new(|| {
                        black_box(tether_seal_open_in_place(
                            &mut stx,
                            &mut srx,
                            size,
                            black_box(&mut sbuf),
                        ));
                    }),
                ),
                (
                    "tether-datagram",
                    Box::new(|| {
                        black_box(tether_seal_open_in_place(
                            &mut dtx,
                            &mut drx,
                            size,
                            black_box(&mut dbuf),
                        ));
                    }),
                ),
                (
                    "tether-datagram-copy",
                    Box::new(|| {
                        black_box(tether_seal_open(
                            &mut ctx,
                            &mut crx,
                            black_box(m),
                            &mut cwire,
                            &mut o2,
                        ));
                    }),
                ),
                (
                    "snow",
                    Box::new(|| {
                        black_box(snow_write_read(
                            &mut ntx,
                            &mut nrx,
                            black_box(m),
                            &mut nwire,
                            &mut o3,
                        ));
                    }),
                ),
            ];
            let times = interleave(&mut ops, Duration::from_micros(200), Duration::from_secs(3));
            out.push(json_series(
                &format!("record-{}-{}", suite_name(suite), size),
                &ops,
                &times,
            ));
        }
    }
    for suite in SUITES {
        let tls = tls_fixture(suite);
        let mut tls_buf = Vec::with_capacity(4096);
        for pattern in Pattern::ALL {
            let (n_dh, n_kg) = floor_ops(pattern);
            let mut rng = BenchRng(5);
            let case = SnowCase::new(parties, pattern, suite, Framing::Datagram);
            let mut seed = 0u64;
            // The control: the same plain-snow handshake again (snow-again / snow should be 1.00).
            let case2 = SnowCase::new(parties, pattern, suite, Framing::Datagram);
            let mut seed2 = 1u64 << 40;
            let mut floor = Floor::new();
            let mut frng = BenchRng(11);
            let tls = &tls;
            let tls_buf = &mut tls_buf;
            let caches = (DhCache::new(16), DhCache::new(16));
            let warm = Some((&caches.0, &caches.1));
            let mut crng = BenchRng(6);
            tether_handshake_cached(parties, pattern, suite, Framing::Datagram, &mut crng, warm);
            let mut ops: Vec<Op<'_>> = vec![
                (
                    "tether",
                    Box::new(|| {
                        black_box(tether_handshake(
                            parties,
                            pattern,
                            suite,
                            Framing::Datagram,
                            &mut rng,
                        ));
                    }),
                ),
                (
                    "snow",
                    Box::new(|| {
                        seed = seed.wrapping_add(2);
                        black_box(case.run(seed));
                    }),
                ),
                (
                    "snow-again",
                    Box::new(|| {
                        seed2 = seed2.wrapping_add(2);
                        black_box(case2.run(seed2));
                    }),
                ),
                (
                    "floor",
                    Box::new(|| {
                        for _ in 0..n_dh {
                            black_box(floor.dh());
                        }
                        for _ in 0..n_kg {
                            black_box(floor.keygen(&mut frng));
                        }
                    }),
                ),
                (
                    "tls13",
                    Box::new(|| {
                        black_box(tls_handshake(tls, tls_buf));
                    }),
                ),
            ];
            if cached_pattern(pattern) {
                ops.push((
                    "tether-cached",
                    Box::new(|| {
                        black_box(tether_handshake_cached(
                            parties,
                            pattern,
                            suite,
                            Framing::Datagram,
                            &mut crng,
                            warm,
                        ));
                    }),
                ));
            }
            let times = interleave(&mut ops, Duration::from_millis(2), Duration::from_secs(3));
            out.push(json_series(
                &format!("handshake-{}-{}", suite_name(suite), pattern_name(pattern)),
                &ops,
                &times,
            ));
        }
    }
    format!("{{\n  {}\n}}\n", out.join(",\n  "))
}

fn main() {
    let started = Clock::now();
    let load_start = loadavg();
    let parties = Parties::new();
    let mut c = Criterion::default()
        .nresamples(20_000)
        .configure_from_args();
    // Wire sizes are measured once, before any timing.
    let wire = wire_json(&parties);
    write_meta(&wire, &load_start, None);
    let sampler = LoadSampler::start();
    // TETHER_BENCH_INTERLEAVED_ONLY=1 skips criterion's part (for a quick look at the ratios).
    let only_interleaved = std::env::var_os("TETHER_BENCH_INTERLEAVED_ONLY").is_some();
    if !only_interleaved {
        records(&mut c, &parties);
        handshakes(&mut c, &parties);
        c.final_summary();
    }
    // Skipped when criterion only lists or tests the benchmarks, or runs a filtered subset.
    let args: Vec<String> = std::env::args().collect();
    let full_run = !args
        .iter()
        .skip(1)
        .any(|a| !a.starts_with('-') || a == "--list" || a == "--test" || a == "--profile-time");
    if full_run {
        println!("interleaved pass (about 50 s)...");
        let json = interleaved(&parties);
        std::fs::write(criterion_dir().join("tether-interleaved.json"), json).unwrap();
    }
    let (min, mean, max) = sampler.finish();
    let seconds = started.elapsed().as_secs_f64();
    let end = format!(
        ",\n  \"load_end\": \"{}\",\n  \"load_during\": {{\"min\": {min:.2}, \"mean\": {mean:.2}, \
         \"max\": {max:.2}}},\n  \"run_seconds\": {seconds:.0}",
        loadavg()
    );
    write_meta(&wire, &load_start, Some(&end));
    println!(
        "tether bench: {seconds:.0} s; 1-minute load average during the run {min:.2} to {max:.2} \
         (mean {mean:.2}); now run `python3 benches/report.py`"
    );
}
