//! Not a benchmark: fixed workloads to run under `valgrind --tool=callgrind`, which counts
//! instructions (repeatable on a noisy machine, unlike timings). `cargo bench` runs it with only
//! `--bench` and it does nothing then.
//!
//! ```text
//! cargo bench --bench profile --no-run      # prints the binary's path (target/release/deps/profile-*)
//! valgrind --tool=callgrind --toggle-collect='*tether_seal_open*' BINARY record aesgcm datagram 64 10000
//! valgrind --tool=callgrind --toggle-collect='*seal_open_in_place*' BINARY record aesgcm datagram-in-place 64 10000
//! valgrind --tool=callgrind --toggle-collect='*seal_open*' BINARY record aesgcm aead 64 10000
//! callgrind_annotate --inclusive=yes callgrind.out.PID | head -40
//! ```
//!
//! Workloads (the same code the benchmark times, from `benches/common`):
//! - `record SUITE KIND SIZE N`: KIND is `stream` or `datagram` (tether seal + open), `aead` (the
//!   raw AEAD keyed once) or `snow` (snow's transport); SUITE is `chachapoly` or `aesgcm`.
//! - `handshake SUITE PATTERN IMPL N`: PATTERN is `provisioned`, `enrollment`, `pairing` or
//!   `reconnect`; IMPL is `tether` or `snow`.
//! - `floor dh|keygen N`.

mod common;

use std::hint::black_box;

use common::*;
use tether::*;

fn usage() -> ! {
    eprintln!(
        "usage: profile record SUITE stream|datagram|stream-in-place|datagram-in-place|aead|snow SIZE N\n       \
         profile handshake SUITE provisioned|enrollment|pairing|reconnect tether|snow N\n       \
         profile floor dh|keygen N\n(SUITE: chachapoly | aesgcm)"
    );
    std::process::exit(2)
}

fn suite(s: &str) -> Suite {
    match s {
        "chachapoly" => Suite::ChaChaPolyBlake2s,
        "aesgcm" => Suite::AesGcmSha256,
        _ => usage(),
    }
}

fn pattern(s: &str) -> Pattern {
    Pattern::ALL
        .into_iter()
        .find(|p| pattern_name(*p) == s)
        .unwrap_or_else(|| usage())
}

fn number(s: &str) -> usize {
    s.parse().unwrap_or_else(|_| usage())
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.is_empty() {
        // `cargo bench` runs every bench target: nothing to do here.
        return;
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let parties = Parties::new();
    match args.as_slice() {
        ["record", s, kind, size, n] => {
            let (suite, size, n) = (suite(s), number(size), number(n));
            let msg = vec![0x5au8; size];
            let mut sum = 0usize;
            match *kind {
                "stream" | "datagram" => {
                    let framing = if *kind == "stream" {
                        Framing::Stream
                    } else {
                        Framing::Datagram
                    };
                    let (mut tx, mut rx) = session_pair(&parties, suite, framing);
                    let mut wire = vec![0u8; tx.seal_capacity(size)];
                    let mut out = vec![0u8; size];
                    for _ in 0..n {
                        sum += tether_seal_open(
                            &mut tx,
                            &mut rx,
                            black_box(&msg),
                            &mut wire,
                            &mut out,
                        );
                    }
                }
                "stream-in-place" | "datagram-in-place" => {
                    let framing = if kind.starts_with("stream") {
                        Framing::Stream
                    } else {
                        Framing::Datagram
                    };
                    let (mut tx, mut rx) = session_pair(&parties, suite, framing);
                    let mut buf = vec![0x5au8; tx.seal_in_place_len(size)];
                    for _ in 0..n {
                        sum +=
                            tether_seal_open_in_place(&mut tx, &mut rx, size, black_box(&mut buf));
                    }
                }
                "aead" => {
                    let mut raw = RawPair::new(suite);
                    let mut buf = msg.clone();
                    for _ in 0..n {
                        raw.seal_open(black_box(&mut buf));
                        sum += buf.len();
                    }
                }
                "snow" => {
                    let (mut tx, mut rx) = snow_transport_pair(&parties, suite);
                    let mut wire = vec![0u8; size + 16];
                    let mut out = vec![0u8; size + 16];
                    for _ in 0..n {
                        sum +=
                            snow_write_read(&mut tx, &mut rx, black_box(&msg), &mut wire, &mut out);
                    }
                }
                _ => usage(),
            }
            println!("{sum} bytes delivered");
        }
        ["handshake", s, p, which, n] => {
            let (suite, pattern, n) = (suite(s), pattern(p), number(n));
            let mut rng = BenchRng(5);
            match *which {
                "tether" => {
                    for _ in 0..n {
                        black_box(tether_handshake(
                            &parties,
                            pattern,
                            suite,
                            Framing::Datagram,
                            &mut rng,
                        ));
                    }
                }
                "snow" => {
                    let case = SnowCase::new(&parties, pattern, suite, Framing::Datagram);
                    for seed in 0..n {
                        black_box(case.run(seed as u64 * 2));
                    }
                }
                _ => usage(),
            }
            println!("{n} handshakes");
        }
        ["floor", op, n] => {
            let n = number(n);
            let mut floor = Floor::new();
            let mut rng = BenchRng(11);
            for _ in 0..n {
                match *op {
                    "dh" => black_box(floor.dh()),
                    "keygen" => black_box(floor.keygen(&mut rng)),
                    _ => usage(),
                };
            }
            println!("{n} operations");
        }
        _ => usage(),
    }
}
