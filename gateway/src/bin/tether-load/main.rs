//! `tether-load`: a bounded load and fault run against a real `tether-gateway` process on
//! 127.0.0.1. It registers N simulated devices, starts the gateway, connects the devices (each a
//! handshake, then idle), sends readings at a set rate, optionally breaks some devices'
//! connections in every way a network or a bad device can, floods the gateway with handshakes
//! from unknown keys, kills the gateway with SIGKILL and restarts it, then drains, lets the
//! devices leave, stops the gateway and counts, in its database, that no acknowledged reading
//! was lost and none stored twice. It stops by itself.
//!
//! ```text
//! cargo build --release -p tether-gateway
//! target/release/tether-load --devices 10000 --rate 1 --readings 5 --duration 30
//! target/release/tether-load --devices 1000 --fault-every 4 --kill-at 8 --flood 200 --duration 20 --assert
//! ```

mod check;
mod device;
mod gateway_proc;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use tether::{PublicKey, StaticKeypair};
use tokio::sync::watch;

use device::{Ctx, Fault, Phase};
use gateway_proc::GatewayProc;

#[derive(Parser, Debug)]
#[command(
    name = "tether-load",
    about = "Load and fault run against a tether-gateway on 127.0.0.1"
)]
struct Args {
    /// The gateway binary (default: tether-gateway next to this one).
    #[arg(long)]
    gateway: Option<PathBuf>,
    /// Data directory for the gateway (default: a new temporary one, removed afterwards).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Simulated devices.
    #[arg(long, default_value_t = 1000)]
    devices: usize,
    /// Messages per second per device.
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// Readings per message (a vitals batch).
    #[arg(long, default_value_t = 5)]
    readings: usize,
    /// New connections per second while connecting.
    #[arg(long, default_value_t = 5000.0)]
    connect_rate: f64,
    /// Seconds of load.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// One device in this many misbehaves (cut, corrupt, duplicate, replay, reconnect in turn);
    /// 0: none.
    #[arg(long, default_value_t = 0)]
    fault_every: usize,
    /// Seconds between a misbehaving device's faults (jittered).
    #[arg(long, default_value_t = 2.0)]
    fault_interval: f64,
    /// Kill the gateway with SIGKILL this many seconds into the load, and restart it.
    #[arg(long)]
    kill_at: Option<f64>,
    /// Handshake initiations per second from unknown keys during the load.
    #[arg(long, default_value_t = 0.0)]
    flood: f64,
    /// Seed for the device keys.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write the results table (markdown) here too.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Exit 1 unless: nothing acknowledged lost, nothing stored twice, every device finished,
    /// the gateway stopped cleanly, and its memory returned near its baseline.
    #[arg(long)]
    assert: bool,
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tether-load: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match rt.block_on(run(args)) {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("tether-load: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    let v: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    v?.try_into().ok()
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i.min(sorted.len() - 1)]) / 1000.0
}

/// Handshakes per second of the library alone, initiator and responder in this thread: the
/// same measurement as the handshake benchmark, taken in this run for the ratio.
fn library_handshake_rate(seconds: f64) -> Res<f64> {
    use tether::policy::{AllowList, PinnedKey};
    use tether::*;
    let cloud = StaticKeypair::from_secret([0xC1; 32]);
    let dev = StaticKeypair::from_secret([0xD1; 32]);
    let dev_id = Identity::new(b"LIB-0001", "LoadSim", "1.0", b"k1")?;
    let cloud_id = Identity::new(b"tether-gateway", "tether-gateway", "0.1.0", b"k1")?;
    let registry = [(&b"LIB-0001"[..], dev.public())];
    let session = SessionConfig::default();
    let icfg = HandshakeConfig {
        suite: Suite::ChaChaPolyBlake2s,
        channel: ChannelKind::DeviceCloud,
        framing: Framing::Stream,
        context: b"",
        identity: &dev_id,
        static_key: &dev,
        session,
        dh_cache: None,
    };
    let rcfg = ResponderConfig {
        suites: Suite::ENABLED,
        patterns: &[Pattern::Provisioned],
        channel: ChannelKind::DeviceCloud,
        framing: Framing::Stream,
        context: b"",
        identity: &cloud_id,
        static_key: &cloud,
        session,
        known_initiator: None,
        pairing: None,
        allow_without_code: false,
        dh_cache: None,
    };
    let start = std::time::Instant::now();
    let mut n = 0u64;
    let (mut a, mut b) = (vec![0u8; 2048], vec![0u8; 2048]);
    while start.elapsed().as_secs_f64() < seconds {
        let mut i = Initiator::provisioned(&icfg, &cloud.public(), &mut OsEntropy)?;
        let len = i.write_message(&mut a)?;
        let mut r = Responder::accept(
            &rcfg,
            &a[..len],
            &mut AllowList::new(&registry),
            UnixTime(1),
            &mut OsEntropy,
        )?;
        let len = r.write_message(&mut b)?;
        i.read_message(&b[..len], &mut PinnedKey(cloud.public()), UnixTime(1))?;
        let _ = (i.finish(Instant(0))?, r.finish(Instant(0))?);
        n += 1;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// Handshake initiations from random unknown keys at `rate` per second until `stop`.
async fn flood(
    addr: std::net::SocketAddr,
    key: PublicKey,
    rate: f64,
    stop: watch::Receiver<Phase>,
    sent: Arc<AtomicU64>,
) {
    use tether::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let period = Duration::from_secs_f64(1.0 / rate.max(0.1));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut n = 0u64;
    while matches!(*stop.borrow(), Phase::Load | Phase::Connect) {
        tick.tick().await;
        n += 1;
        let sent = sent.clone();
        tokio::spawn(async move {
            let Ok(k) = StaticKeypair::generate(&mut OsEntropy) else {
                return;
            };
            let id = format!("INTRUDER-{n}");
            let Ok(identity) = Identity::new(id.as_bytes(), "Unknown", "0", b"k1") else {
                return;
            };
            let cfg = HandshakeConfig {
                suite: Suite::ChaChaPolyBlake2s,
                channel: ChannelKind::DeviceCloud,
                framing: Framing::Stream,
                context: b"",
                identity: &identity,
                static_key: &k,
                session: SessionConfig::default(),
                dh_cache: None,
            };
            let Ok(mut hs) = Initiator::provisioned(&cfg, &key, &mut OsEntropy) else {
                return;
            };
            let mut buf = [0u8; 1024];
            let Ok(len) = hs.write_message(&mut buf) else {
                return;
            };
            let Ok(Ok(mut s)) =
                tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr))
                    .await
            else {
                return;
            };
            if s.write_all(&buf[..len]).await.is_ok() {
                sent.fetch_add(1, Ordering::Relaxed);
                let mut sink = [0u8; 64];
                let _ = tokio::time::timeout(Duration::from_secs(5), s.read(&mut sink)).await;
            }
        });
    }
}

/// Connects every device again, idle, then lets them leave; returns the gateway's resident
/// memory before, with the sessions, and after (KiB), and whether every device came and went.
async fn memory_wave(
    gw: &GatewayProc,
    n: usize,
    seed: u64,
    connect_rate: f64,
) -> ((u64, u64, u64), bool) {
    let before = gw.rss_kib();
    let (phase_tx, phase_rx) = watch::channel(Phase::Connect);
    let ctx = Arc::new(Ctx {
        addr: gw.addr,
        gateway_key: PublicKey(unhex32(&gw.key_hex).unwrap_or([0; 32])),
        rate: 1.0,
        readings: 1,
        fault_every_s: 1.0,
        phase: phase_rx,
        connected: AtomicU64::new(0),
        handshakes: AtomicU64::new(0),
        acked: AtomicU64::new(0),
        connect_failures: AtomicU64::new(0),
    });
    let pace = Duration::from_secs_f64(16.0 / connect_rate.max(1.0));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        tasks.push(tokio::spawn(device::run(i, seed, Fault::None, ctx.clone())));
        if i % 16 == 15 {
            tokio::time::sleep(pace).await;
        }
    }
    let until = Instant::now() + Duration::from_secs(60 + n as u64 / 200);
    while (ctx.connected.load(Ordering::Relaxed) as usize) < n && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let with = gw.rss_kib();
    let _ = phase_tx.send(Phase::Leave);
    let mut ok = true;
    for t in tasks {
        ok &= matches!(tokio::time::timeout(Duration::from_secs(60), t).await, Ok(Ok(o)) if o.finished);
    }
    // The gateway hands freed memory back a few seconds after connections end.
    tokio::time::sleep(Duration::from_secs(5)).await;
    ((before, with, gw.rss_kib()), ok)
}

async fn run(args: Args) -> Res<bool> {
    let gateway_bin = match &args.gateway {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .ok_or("no directory for this binary")?
            .join("tether-gateway"),
    };
    let temp = args.data.is_none();
    let data = match &args.data {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("tether-load-{}", std::process::id())),
    };
    std::fs::create_dir_all(&data)?;
    let n = args.devices;
    println!("== {n} devices, {} message(s)/s each of {} readings, {} s of load; faults: {}; kill at: {:?}; flood: {}/s",
        args.rate, args.readings, args.duration,
        if args.fault_every == 0 { "none".to_string() } else { format!("1 device in {}", args.fault_every) },
        args.kill_at, args.flood);

    // Registration, through the gateway's own CLI.
    let keys_file = data.join("devices.txt");
    let mut lines = String::new();
    for i in 0..n {
        let pk = StaticKeypair::from_secret(device::secret(args.seed, i)).public();
        lines.push_str(&format!("{} {}\n", device::id(i), hex(pk.as_bytes())));
    }
    std::fs::write(&keys_file, lines)?;
    let status = std::process::Command::new(&gateway_bin)
        .arg("--data")
        .arg(&data)
        .arg("register")
        .arg("--from")
        .arg(&keys_file)
        .env("RUST_LOG", "warn")
        .status()?;
    if !status.success() {
        return Err("registering the devices failed".into());
    }
    let config = data.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[limits]\nmax_connections = {}\nidle_timeout_s = 3600\nhandshake_deadline_ms = 10000\n",
            n + 4096
        ),
    )?;

    let lib_rate =
        tokio::task::spawn_blocking(|| library_handshake_rate(1.5).map_err(|e| e.to_string()))
            .await??;
    let mut gw = GatewayProc::start(&gateway_bin, &data, &config, "127.0.0.1:0")?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_base = gw.rss_kib();
    let key = PublicKey(unhex32(&gw.key_hex).ok_or("bad gateway key")?);

    let (phase_tx, phase_rx) = watch::channel(Phase::Connect);
    let ctx = Arc::new(Ctx {
        addr: gw.addr,
        gateway_key: key,
        rate: args.rate,
        readings: args.readings,
        fault_every_s: args.fault_interval,
        phase: phase_rx.clone(),
        connected: AtomicU64::new(0),
        handshakes: AtomicU64::new(0),
        acked: AtomicU64::new(0),
        connect_failures: AtomicU64::new(0),
    });

    // Connect everyone, paced.
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    let pace = Duration::from_secs_f64(1.0 / args.connect_rate.max(1.0));
    for i in 0..n {
        let fault = Fault::of(i, args.fault_every);
        tasks.push(tokio::spawn(device::run(i, args.seed, fault, ctx.clone())));
        if i % 16 == 15 {
            tokio::time::sleep(pace * 16).await;
        }
    }
    let wait_until = Instant::now() + Duration::from_secs(60 + n as u64 / 200);
    while (ctx.connected.load(Ordering::Relaxed) as usize) < n && Instant::now() < wait_until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connect_s = started.elapsed().as_secs_f64();
    let connected = ctx.connected.load(Ordering::Relaxed);
    let hs_rate = ctx.handshakes.load(Ordering::Relaxed) as f64 / connect_s;
    println!("connected {connected}/{n} in {connect_s:.2} s: {hs_rate:.0} handshakes/s (library alone, one thread: {lib_rate:.0}/s)");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle = gw.rss_kib();
    let per_session = (rss_idle.saturating_sub(rss_base)) as f64 * 1024.0 / connected.max(1) as f64;
    println!("gateway memory: {rss_base} KiB before, {rss_idle} KiB with {connected} idle sessions: {per_session:.0} bytes per session");

    // Load.
    let flood_sent = Arc::new(AtomicU64::new(0));
    if args.flood > 0.0 {
        tokio::spawn(flood(
            gw.addr,
            key,
            args.flood,
            phase_rx.clone(),
            flood_sent.clone(),
        ));
    }
    phase_tx.send(Phase::Load)?;
    let load_start = Instant::now();
    let mut killed = false;
    let warm = 2.0f64.min(args.duration / 4.0);
    let mut window: Option<(Instant, u64)> = None;
    let mut window_end: Option<(Instant, u64)> = None;
    let mut peak_rss = rss_idle;
    while load_start.elapsed().as_secs_f64() < args.duration {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let t = load_start.elapsed().as_secs_f64();
        if window.is_none() && t >= warm {
            window = Some((Instant::now(), ctx.acked.load(Ordering::Relaxed)));
        }
        if !killed {
            if let Some(k) = args.kill_at {
                if t >= k {
                    // Close the throughput window before the kill: throughput is a no-fault figure.
                    if window_end.is_none() {
                        window_end = Some((Instant::now(), ctx.acked.load(Ordering::Relaxed)));
                    }
                    println!(
                        "SIGKILL the gateway at {t:.1} s, {} sessions up",
                        ctx.connected.load(Ordering::Relaxed)
                    );
                    let mut g = gw;
                    gw = tokio::task::spawn_blocking(move || g.kill_and_restart().map(|()| g))
                        .await??;
                    println!("restarted at {:.1} s", load_start.elapsed().as_secs_f64());
                    killed = true;
                }
            }
        }
        peak_rss = peak_rss.max(gw.rss_kib());
    }
    let end = window_end.unwrap_or((Instant::now(), ctx.acked.load(Ordering::Relaxed)));
    let commits = gw
        .metric("tether_gateway_commit_seconds_count")
        .unwrap_or(0.0);
    let commit_ms = 1000.0
        * gw.metric("tether_gateway_commit_seconds_sum")
            .unwrap_or(0.0)
        / commits.max(1.0);
    let per_commit = gw
        .metric("tether_gateway_commit_changes_sum")
        .unwrap_or(0.0)
        / commits.max(1.0);
    let acks = gw.metric("tether_gateway_ack_seconds_count").unwrap_or(0.0);
    let ack_ms =
        1000.0 * gw.metric("tether_gateway_ack_seconds_sum").unwrap_or(0.0) / acks.max(1.0);
    println!("gateway: message to acknowledgement {ack_ms:.1} ms on average");
    println!("group commits{}: {commits:.0}, {commit_ms:.1} ms and {per_commit:.0} changes each on average", if killed { " since the restart" } else { "" });
    let (msgs_per_s, readings_per_s) = match window {
        Some((t0, a0)) if end.0 > t0 => {
            let m = (end.1 - a0) as f64 / end.0.duration_since(t0).as_secs_f64();
            (m, m * args.readings as f64)
        }
        _ => (0.0, 0.0),
    };
    println!("steady state: {msgs_per_s:.0} messages/s acknowledged = {readings_per_s:.0} readings/s durably stored");

    // Drain, then leave.
    phase_tx.send(Phase::Drain)?;
    let drain_start = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    phase_tx.send(Phase::Leave)?;
    let mut outcomes = Vec::with_capacity(n);
    let mut unfinished = 0;
    let leave_deadline = Instant::now() + Duration::from_secs(90);
    for t in tasks {
        let left = leave_deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, t).await {
            Ok(Ok(o)) => {
                if !o.finished {
                    unfinished += 1;
                }
                outcomes.push(o);
            }
            _ => unfinished += 1,
        }
    }
    println!(
        "devices left after {:.1} s of drain; {unfinished} did not finish",
        drain_start.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let sessions_after = gw.metric("tether_gateway_sessions").unwrap_or(-1.0);
    let rss_after = gw.rss_kib();
    println!("gateway memory after the devices left: {rss_after} KiB (baseline {rss_base}, peak {peak_rss}); sessions open: {sessions_after}");
    // A second wave, idle, to see what sessions cost and whether it all comes back when they
    // leave: every device connects again (a new outbox, so a new stream), then leaves.
    let (wave, wave_ok) = memory_wave(&gw, n, args.seed, args.connect_rate).await;
    println!(
        "memory wave: {} KiB before, {} KiB with {n} idle sessions, {} KiB after they left",
        wave.0, wave.1, wave.2
    );
    let handshake_failures = gw.metric("tether_gateway_handshakes_total").unwrap_or(0.0);
    let closed_bad_record = gw.metric("tether_gateway_closed_total").unwrap_or(0.0);
    let _ = (handshake_failures, closed_bad_record);
    let stopped = tokio::task::spawn_blocking(move || gw.stop()).await?;
    println!("gateway stopped gracefully: {stopped}");

    let checked = check::check(&data.join("gateway.db"), &outcomes, args.readings as u64)?;
    let mut lat: Vec<u32> = Vec::new();
    let mut healthy: Vec<u32> = Vec::new();
    let (mut faults, mut sessions, mut full) = (0u64, 0u64, 0u64);
    for (i, o) in outcomes.iter().enumerate() {
        lat.extend_from_slice(&o.latencies_us);
        if Fault::of(i, args.fault_every) == Fault::None {
            healthy.extend_from_slice(&o.latencies_us);
        }
        faults += o.faults;
        sessions += o.sessions;
        full += o.outbox_full;
    }
    lat.sort_unstable();
    healthy.sort_unstable();
    if let Some(o) = outcomes.iter().find(|o| !o.finished) {
        println!(
            "an unfinished device: {} pushed {} acked {} last error {:?}",
            o.id, o.pushed, o.acked, o.last_error
        );
    }
    // Memory "returns to baseline": within a quarter of what the sessions took, or 4 MiB.
    // Memory "returns to baseline": after the wave left, within 10 % of what its sessions took
    // (or 2 MiB) of where it was before the wave.
    let took = wave.1.saturating_sub(wave.0);
    let back = wave_ok && wave.2 <= wave.0 + (took / 10).max(2048);
    let mut table = String::new();
    table.push_str("| measure | result |\n|---|---|\n");
    let mut row = |k: &str, v: String| table.push_str(&format!("| {k} | {v} |\n"));
    row(
        "devices (concurrent sessions)",
        format!("{n} ({connected} connected at once)"),
    );
    row(
        "handshakes/s while connecting (gateway + devices on 2 cores)",
        format!("{hs_rate:.0}"),
    );
    row(
        "library alone, initiator + responder in one thread",
        format!("{lib_rate:.0}/s (ratio {:.2})", hs_rate / lib_rate.max(1.0)),
    );
    row(
        "gateway memory per idle session",
        format!("{per_session:.0} bytes"),
    );
    row(
        "messages/s acknowledged (steady state, before any kill)",
        format!("{msgs_per_s:.0}"),
    );
    row("readings/s durably stored", format!("{readings_per_s:.0}"));
    row(
        "acknowledgement latency p50 / p99 / max, devices without faults",
        format!(
            "{:.1} / {:.1} / {:.1} ms",
            percentile(&healthy, 0.5),
            percentile(&healthy, 0.99),
            percentile(&healthy, 1.0)
        ),
    );
    row(
        "acknowledgement latency p99, all devices",
        format!("{:.1} ms", percentile(&lat, 0.99)),
    );
    row(
        "group commits: mean time / changes each",
        format!("{commit_ms:.1} ms / {per_commit:.0}"),
    );
    row(
        "faults injected (cut, corrupt, duplicate, replay, reconnect)",
        format!("{faults}"),
    );
    row(
        "gateway killed with SIGKILL and restarted",
        (if killed { "yes" } else { "no" }).to_string(),
    );
    row(
        "unknown-key handshakes flooded",
        format!("{}", flood_sent.load(Ordering::Relaxed)),
    );
    row(
        "sessions established (all devices, with reconnects)",
        format!("{sessions}"),
    );
    row("messages acknowledged", format!("{}", checked.acknowledged));
    row(
        "acknowledged but not stored (lost)",
        format!("{}", checked.lost),
    );
    row("stored twice", format!("{}", checked.duplicates));
    row(
        "readings rows / expected",
        format!("{} / {}", checked.readings, checked.readings_expected),
    );
    row(
        "devices that did not finish (all acknowledged, closed)",
        format!("{unfinished}"),
    );
    row("ticks skipped, outbox full", format!("{full}"));
    row(
        "gateway memory: start / idle sessions / peak under load / after leaving",
        format!(
            "{} / {} / {} / {} MiB",
            rss_base / 1024,
            rss_idle / 1024,
            peak_rss / 1024,
            rss_after / 1024
        ),
    );
    row(
        "second wave, idle: memory before / with the sessions / after they left",
        format!(
            "{} / {} / {} MiB ({:.0} bytes per session, {} returned)",
            wave.0 / 1024,
            wave.1 / 1024,
            wave.2 / 1024,
            took as f64 * 1024.0 / n as f64,
            if back { "all" } else { "NOT all" }
        ),
    );
    row("gateway graceful stop", format!("{stopped}"));
    println!("\n{table}");
    if let Some(r) = &args.report {
        std::fs::write(r, &table)?;
    }
    let ok = checked.lost == 0
        && checked.duplicates == 0
        && checked.readings == checked.readings_expected
        && unfinished == 0
        && checked.unacknowledged_devices == 0
        && connected as usize == n
        && stopped
        && sessions_after == 0.0
        && back;
    if temp {
        let _ = std::fs::remove_dir_all(&data);
    }
    if args.assert {
        println!(
            "{}",
            if ok {
                "PASS: nothing acknowledged lost, nothing stored twice, every device finished, the gateway stopped cleanly and its memory came back"
            } else {
                "FAIL"
            }
        );
        return Ok(ok);
    }
    Ok(true)
}
