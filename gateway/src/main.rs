//! `tether-gateway`: run the gateway, and operate it (register devices, queue commands, export
//! readings, verify the audit trail). Every subcommand works on a data directory holding the
//! database and the key file; `serve` creates both on its first run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Parser, Subcommand};
use tether::message::command::{Command, Params};
use tether::message::cose::{Sign1, Signer};
use tether::message::{Kind, Message};
use tether_gateway::audit;
use tether_gateway::config::Config;
use tether_gateway::server::{self, open_data};
use tether_gateway::store::{NewCommand, Registration, Storage};
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(name = "tether-gateway", version, about = "The cloud side of tether")]
struct Cli {
    /// Data directory: gateway.db (SQLite, WAL) and gateway.key (created on first use).
    #[arg(
        long,
        global = true,
        env = "TETHER_GATEWAY_DATA",
        default_value = "tether-gateway-data"
    )]
    data: PathBuf,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Runs the gateway until SIGINT or SIGTERM, then shuts down gracefully.
    Serve {
        /// Configuration file (TOML); every field has a default.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Overrides the configuration's listen address.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Overrides the configuration's metrics address.
        #[arg(long)]
        metrics: Option<std::net::SocketAddr>,
        /// Serves no metrics endpoint.
        #[arg(long)]
        no_metrics: bool,
    },
    /// Prints the public key devices pin (creating the key on first use).
    PublicKey,
    /// Registers a device, or many from a file of `ID KEY-HEX` lines.
    Register {
        /// The device's identity id (its serial number).
        #[arg(long, required_unless_present = "from")]
        id: Option<String>,
        /// Its static public key, 64 hex digits.
        #[arg(long, required_unless_present = "from")]
        key: Option<String>,
        /// Also require a manufacturer credential from a configured issuer.
        #[arg(long)]
        require_credential: bool,
        /// A file of `ID KEY-HEX` lines, registered in one transaction.
        #[arg(long, conflicts_with_all = ["id", "key"])]
        from: Option<PathBuf>,
    },
    /// Revokes a device: refused from now on, its session ended.
    Revoke {
        /// The device's id.
        #[arg(long)]
        id: String,
        /// Why (goes into the audit trail).
        #[arg(long)]
        reason: String,
    },
    /// Queues a signed command for a device; it is delivered when the device is connected or
    /// next connects.
    QueueCommand {
        /// The device's id.
        #[arg(long)]
        device: String,
        /// A command message already signed by the command authority (its encoded bytes).
        #[arg(long, conflicts_with_all = ["authority_seed", "operation"])]
        signed: Option<PathBuf>,
        /// Signs here with this Ed25519 seed file (32 bytes, or 64 hex digits). For tests and
        /// demos: a real authority key stays in its HSM, and its commands come with --signed.
        #[arg(long, requires = "operation")]
        authority_seed: Option<PathBuf>,
        /// The key id the device knows the authority by.
        #[arg(long, default_value = "clinic")]
        kid: String,
        /// The operation code.
        #[arg(long)]
        operation: Option<u16>,
        /// Parameters as ID=VALUE.
        #[arg(long = "param", value_parser = parse_param)]
        params: Vec<(u8, i64)>,
        /// Seconds until it expires.
        #[arg(long, default_value_t = 3600)]
        expires_in: u64,
    },
    /// Lists commands and their states.
    Commands {
        /// Only this device's.
        #[arg(long)]
        device: Option<String>,
    },
    /// Writes readings as CSV (device,seq,time_ms,mdc,unit,value) to standard output.
    Export {
        /// Only this device's.
        #[arg(long)]
        device: Option<String>,
    },
    /// Checks the audit trail's chain; exits 1 if it was tampered with.
    VerifyAudit {
        /// A head recorded elsewhere (`ROW:MAC` as printed), which the chain must contain.
        #[arg(long, value_parser = parse_head)]
        expect_head: Option<(i64, [u8; 32])>,
    },
    /// Prints the audit trail.
    Audit,
}

fn parse_param(s: &str) -> Result<(u8, i64), String> {
    let (id, v) = s.split_once('=').ok_or("expected ID=VALUE")?;
    Ok((
        id.parse().map_err(|e| format!("parameter id: {e}"))?,
        v.parse().map_err(|e| format!("parameter value: {e}"))?,
    ))
}

fn parse_head(s: &str) -> Result<(i64, [u8; 32]), String> {
    audit::parse_head(s).ok_or_else(|| "expected ROW:MAC (64 hex digits)".into())
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn key32(hex: &str, what: &str) -> Res<[u8; 32]> {
    audit::unhex(hex.trim())
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("{what}: expected 64 hex digits").into())
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(cli) {
        Ok(code) => code,
        // The reader of our output went away (`tether-gateway audit | head`): not an error.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tether-gateway: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Res<std::process::ExitCode> {
    let data = cli.data;
    match cli.command {
        Cmd::Serve {
            config,
            listen,
            metrics,
            no_metrics,
        } => {
            let mut config = Config::load(config.as_deref())?;
            if let Some(l) = listen {
                config.listen = l;
            }
            if metrics.is_some() {
                config.metrics = metrics;
            }
            if no_metrics {
                config.metrics = None;
            }
            serve(config, &data)?;
        }
        Cmd::PublicKey => {
            let (keys, _, _) = open_data(&data)?;
            println!("{}", audit::hex(keys.public().as_bytes()));
        }
        Cmd::Register {
            id,
            key,
            require_credential,
            from,
        } => {
            let mut regs = Vec::new();
            if let Some(path) = from {
                let text = std::fs::read_to_string(&path)?;
                for (n, line) in text.lines().enumerate() {
                    let line = line.trim();
                    if line.is_empty() || line.starts_with('#') {
                        continue;
                    }
                    let (id, key) = line.split_once(char::is_whitespace).ok_or_else(|| {
                        format!("{}:{}: expected ID KEY-HEX", path.display(), n + 1)
                    })?;
                    regs.push(Registration {
                        id: id.as_bytes().to_vec(),
                        static_key: key32(key, &format!("{}:{}", path.display(), n + 1))?,
                        require_credential,
                    });
                }
            } else if let (Some(id), Some(key)) = (id, key) {
                regs.push(Registration {
                    id: id.into_bytes(),
                    static_key: key32(&key, "--key")?,
                    require_credential,
                });
            }
            let (_, _, mut store) = open_data(&data)?;
            store.register(&regs, tether_gateway::wall_ms())?;
            println!("registered {} device(s)", regs.len());
        }
        Cmd::Revoke { id, reason } => {
            let (_, _, mut store) = open_data(&data)?;
            store.revoke(id.as_bytes(), &reason, tether_gateway::wall_ms())?;
            println!("revoked {id}");
        }
        Cmd::QueueCommand {
            device,
            signed,
            authority_seed,
            kid,
            operation,
            params,
            expires_in,
        } => {
            let (_, _, mut store) = open_data(&data)?;
            let cmd = match (signed, authority_seed) {
                (Some(path), _) => {
                    let bytes = std::fs::read(&path)?;
                    let (command_id, expires_ms, operation) = {
                        let m = Message::parse(&bytes)?;
                        if m.kind != Kind::Command {
                            return Err(format!(
                                "{} is a {:?} message, not a command",
                                path.display(),
                                m.kind
                            )
                            .into());
                        }
                        let sign1 = Sign1::parse(m.body)?;
                        let c = Command::decode_payload(sign1.payload)?;
                        if c.device_id != device.as_bytes() {
                            return Err("the signed command is for another device".into());
                        }
                        (c.command_id, c.expires_ms, c.operation)
                    };
                    NewCommand {
                        device: device.clone().into_bytes(),
                        command_id,
                        operation,
                        bytes,
                        expires_ms,
                    }
                }
                (None, Some(seed_path)) => {
                    let raw = Zeroizing::new(std::fs::read(&seed_path)?);
                    let seed: Zeroizing<[u8; 32]> = Zeroizing::new(match raw.len() {
                        32 => raw[..].try_into()?,
                        _ => key32(std::str::from_utf8(&raw)?, "authority seed")?,
                    });
                    let signer = Signer::from_seed(&seed, kid.as_bytes())?;
                    let operation = operation.ok_or("--operation is required")?;
                    let command_id = store.next_command_id(device.as_bytes())?;
                    let issued_ms = tether_gateway::wall_ms();
                    let expires_ms = issued_ms + expires_in.max(1) * 1000;
                    let command = Command {
                        device_id: device.as_bytes(),
                        command_id,
                        issued_ms,
                        expires_ms,
                        operation,
                        params: Params::new(&params)?,
                    };
                    let mut out = vec![0u8; 1024];
                    let n = command.encode(&signer, &mut out)?;
                    out.truncate(n);
                    NewCommand {
                        device: device.clone().into_bytes(),
                        command_id,
                        operation,
                        bytes: out,
                        expires_ms,
                    }
                }
                (None, None) => {
                    return Err(
                        "give --signed FILE, or --authority-seed FILE with --operation".into(),
                    )
                }
            };
            let seq = store.queue_command(&cmd, tether_gateway::wall_ms())?;
            println!(
                "queued command {} for {device} (stream number {seq}, {} bytes)",
                cmd.command_id,
                cmd.bytes.len()
            );
        }
        Cmd::Commands { device } => {
            let (_, _, mut store) = open_data(&data)?;
            let mut out = std::io::stdout().lock();
            for c in store.commands(device.as_deref().map(str::as_bytes))? {
                writeln!(
                    out,
                    "{} command {} (stream number {}): {}",
                    String::from_utf8_lossy(&c.device),
                    c.command_id,
                    c.seq,
                    c.state
                )?;
            }
        }
        Cmd::Export { device } => {
            let (_, _, mut store) = open_data(&data)?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            writeln!(out, "device,seq,time_ms,mdc,unit,value")?;
            // A write error (a closed pipe) stops the export and is reported as itself.
            let mut failed: Option<std::io::Error> = None;
            let exported = store.export_readings(device.as_deref().map(str::as_bytes), &mut |r| {
                writeln!(
                    out,
                    "{},{},{},{},{},{}",
                    csv(&String::from_utf8_lossy(&r.device)),
                    r.seq,
                    r.reading.time_ms,
                    r.reading.mdc,
                    r.reading.unit,
                    r.reading.value
                )
                .map_err(|e| {
                    let what = e.to_string();
                    failed = Some(e);
                    tether_gateway::store::StoreError::Refused(what)
                })
            });
            if let Some(e) = failed {
                return Err(e.into());
            }
            let n = exported?;
            out.flush()?;
            eprintln!("{n} readings");
        }
        Cmd::VerifyAudit { expect_head } => {
            let (_, _, mut store) = open_data(&data)?;
            let finding = store.verify_audit(expect_head)?;
            if let tether_gateway::audit::Finding::Intact { rows, head } = &finding {
                println!(
                    "audit trail intact: {rows} rows; head {rows}:{}",
                    audit::hex(head)
                );
            } else {
                println!("audit trail TAMPERED: {finding}");
                return Ok(std::process::ExitCode::from(1));
            }
        }
        Cmd::Audit => {
            let (_, _, mut store) = open_data(&data)?;
            let mut out = std::io::stdout().lock();
            for e in store.audit_rows()? {
                writeln!(
                    out,
                    "{} {} {} {} {}",
                    e.row,
                    e.time_ms,
                    e.event,
                    e.device
                        .as_deref()
                        .map_or_else(|| "-".into(), |d| String::from_utf8_lossy(d).into_owned()),
                    e.detail
                )?;
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn csv(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn serve(config: Config, data: &Path) -> Res<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let running = server::start(config, data, Arc::new(tether_gateway::StoreAll)).await?;
        println!("tether-gateway {}", env!("CARGO_PKG_VERSION"));
        println!("data directory: {}", running.data.display());
        if running.key_created {
            println!("created a new gateway key and database");
        }
        println!(
            "gateway public key (pin it on devices): {}",
            audit::hex(&running.public_key)
        );
        if let Some(m) = running.metrics_addr {
            println!("metrics on http://{m}/metrics");
        }
        println!("listening on {}", running.addr);
        std::io::stdout().flush()?;
        let trim = tokio::spawn(return_memory(running.metrics().clone()));
        wait_for_signal().await;
        trim.abort();
        tracing::info!("signal received: shutting down");
        running.shutdown().await?;
        println!("stopped: every connection closed, every commit applied");
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}

/// When many connections have ended, hands the memory they used back to the operating system.
/// glibc keeps freed memory in its per-thread arenas for reuse, so without this the gateway's
/// resident memory stays at its peak after a wave of devices has left.
async fn return_memory(metrics: Arc<tether_gateway::metrics::Metrics>) {
    let mut high = 0i64;
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let now = metrics.connections.get();
        high = high.max(now);
        if high - now >= 256 && now <= high / 2 {
            trim();
            high = now;
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim takes a plain integer and only walks glibc's own heap structures; it is
    // safe to call at any time from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
