//! The gateway end to end over loopback TCP: durable acknowledgements, exactly-once storage
//! across reconnects and restarts, commands, spec 4.10 takeover, trust decisions, the handshake
//! flood, timeouts, backpressure, graceful shutdown and the audit trail.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use tether::delivery::Incoming;
use tether::message::command::{
    AckStatus, Command, CommandAck, CommandAuthority, CommandPolicy, CommandVerifier, Grant,
    ParamRule, Params,
};
use tether::message::cose::Signer;
use tether::StaticKeypair;
use tether_gateway::audit::Finding;
use tether_gateway::store::{NewCommand, Storage};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DEV: [u8; 32] = [0xD1; 32];
const CLINIC: [u8; 32] = [0xA7; 32];

fn signed_command(device: &str, id: u64, rate: i64) -> NewCommand {
    let signer = Signer::from_seed(&CLINIC, b"clinic").unwrap();
    let now = now_ms();
    let cmd = Command {
        device_id: device.as_bytes(),
        command_id: id,
        issued_ms: now,
        expires_ms: now + 300_000,
        operation: 1,
        params: Params::new(&[(1, rate)]).unwrap(),
    };
    let mut out = vec![0u8; 512];
    let n = cmd.encode(&signer, &mut out).unwrap();
    out.truncate(n);
    NewCommand {
        device: device.as_bytes().to_vec(),
        command_id: id,
        operation: 1,
        bytes: out,
        expires_ms: now + 300_000,
    }
}

async fn wait_for(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..200 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_stored_once_and_acknowledged_after_commit() {
    let gw = gateway(test_config()).await;
    register(&gw, "SN-1", DEV).await;
    let mut d = Device::connect(gw.running.addr, gw.key, DEV, "SN-1", endpoint())
        .await
        .unwrap();
    for v in [97, 96, 98] {
        d.push(&vitals(v)).await.unwrap();
    }
    d.until_acked().await.unwrap();
    // Acknowledged means committed: the rows are there as soon as the device knows.
    assert_eq!(count(gw.dir.path(), "SELECT COUNT(*) FROM messages"), 3);
    assert_eq!(count(gw.dir.path(), "SELECT COUNT(*) FROM readings"), 6);
    let ep = d.close().await.unwrap();
    let mut d = Device::connect(gw.running.addr, gw.key, DEV, "SN-1", ep)
        .await
        .unwrap();
    d.push(&vitals(95)).await.unwrap();
    d.until_acked().await.unwrap();
    assert_eq!(count(gw.dir.path(), "SELECT COUNT(*) FROM messages"), 4);
    assert_eq!(
        count(gw.dir.path(), "SELECT COUNT(DISTINCT seq) FROM messages"),
        4
    );
    let mut s = storage(gw.dir.path());
    let mut values = Vec::new();
    s.export_readings(Some(b"SN-1"), &mut |r| {
        values.push(r.reading.value);
        Ok(())
    })
    .unwrap();
    assert_eq!(values, ["97", "72", "96", "72", "98", "72", "95", "72"]);
    let events: Vec<String> = s
        .audit_rows()
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert!(
        events.contains(&"device.new_stream".to_string()),
        "{events:?}"
    );
    assert!(s.verify_audit(None).unwrap().is_intact());
    d.close().await.unwrap();
    gw.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_after_a_lost_acknowledgement_is_not_stored_twice() {
    let gw = gateway(test_config()).await;
    register(&gw, "SN-1", DEV).await;
    let mut d = Device::connect(gw.running.addr, gw.key, DEV, "SN-1", endpoint())
        .await
        .unwrap();
    d.push(&vitals(97)).await.unwrap();
    d.push(&vitals(96)).await.unwrap();
    // Both are stored (and acknowledged), but the link drops before the device reads the
    // acknowledgements.
    assert!(wait_for(|| count(gw.dir.path(), "SELECT COUNT(*) FROM messages") == 2).await);
    let ep = d.drop_connection();
    assert_eq!(ep.sender().unacknowledged(), 2);
    // The device sends both again; the gateway recognises them and only acknowledges.
    let mut d = Device::connect(gw.running.addr, gw.key, DEV, "SN-1", ep)
        .await
        .unwrap();
    d.until_acked().await.unwrap();
    d.push(&vitals(95)).await.unwrap();
    d.until_acked().await.unwrap();
    assert_eq!(count(gw.dir.path(), "SELECT COUNT(*) FROM messages"), 3);
    assert_eq!(
        count(gw.dir.path(), "SELECT COUNT(DISTINCT seq) FROM messages"),
        3
    );
    d.close().await.unwrap();
    gw.running.shutdown().await.unwrap();
}

fn verify_policy_check(bytes: &[u8], verifier: &mut CommandVerifier) -> (u64, AckStatus) {
    let key = Signer::from_seed(&CLINIC, b"clinic")
        .unwrap()
        .authority_key();
    let rules = [ParamRule {
        id: 1,
        min: 0,
        max: 5000,
        required: true,
    }];
    let grants = [Grant {
        operation: 1,
        params: &rules,
    }];
    let authorities = [CommandAuthority {
        key,
        grants: &grants,
    }];
    let policy = CommandPolicy {
        device_id: b"SN-1",
        authorities: &authorities,
        max_clock_skew_ms: 60_000,
    };
    match verifier.verify(&policy, bytes, now_ms()) {
        Ok(c) => (c.command().command_id, AckStatus::Executed),
        Err(e) => {
            let r = tether::message::command::rejection_of(&e);
            (
                CommandAck::rejected(bytes, r, now_ms()).command_id,
                AckStatus::Rejected(r),
            )
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_are_delivered_when_the_device_connects_and_while_it_is_connected() {
    let gw = gateway(test_config()).await;
    register(&gw, "SN-1", DEV).await;
    // Queued while the device is away (as `tether-gateway queue-command` does).
    storage(gw.dir.path())
        .queue_command(&signed_command("SN-1", 1, 1250), now_ms())
        .unwrap();
    let mut d = Device::connect(gw.running.addr, gw.key, DEV, "SN-1", endpoint())
        .await
        .unwrap();
    let mut verifier = CommandVerifier::new(0);
    let mut handled = Vec::new();
    let mut queued_second = false;
    while handled.len() < 2 {
        let f = match d.recv(Duration::from_secs(10)).await.unwrap() {
            Got::Frame(f) => f,
            Got::Closed => panic!("closed"),
        };
        if let Incoming::Message { seq, bytes, .. } = d.ep.handle(&f).unwrap() {
            let (id, status) = verify_policy_check(bytes, &mut verifier);
            let mut ack = [0u8; 32];
            let n = d.ep.delivered(seq, &mut ack).unwrap();
            let wire = d.seal(&ack[..n]);
            d.sock.write_all(&wire).await.unwrap();
            let mut m = [0u8; 64];
            let n = CommandAck {
                command_id: id,
                status,
                time_ms: now_ms(),
            }
            .encode(&mut m)
            .unwrap();
            d.push(&m[..n]).await.unwrap();
            handled.push((id, status));
        }
        d.flush().await.unwrap();
        if !queued_second && !handled.is_empty() {
            // Queued while it is connected: the gateway picks it up and sends it.
            storage(gw.dir.path())
                .queue_command(&signed_command("SN-1", 2, 900), now_ms())
                .unwrap();
            queued_second = true;
        }
    }
    assert_eq!(
        handled,
        [(1, AckStatus::Executed), (2, AckStatus::Executed)]
    );
    d.until_acked().await.unwrap();
    let dir = gw.dir.path().to_owned();
    assert!(
        wait_for(|| {
            let s = storage(&dir).commands(Some(b"SN-1")).unwrap();
            s.len() == 2 && s.iter().all(|c| c.state == "executed")
        })
        .await
    );
    let events: Vec<String> = storage(&dir)
        .audit_rows()
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    for step in [
        "command.queued",
        "command.sent",
        "command.delivered",
        "command.executed",
    ] {
        assert_eq!(
            events.iter().filter(|e| *e == step).count(),
            2,
            "{step}: {events:?}"
        );
    }
    // Delivered commands are not sent again on the next session.
    let ep = d.close().await.unwrap();
    let mut d = Device::connect(gw.running.addr, gw.key, DEV, "SN-1", ep)
        .await
        .unwrap();
    d.push(&vitals(97)).await.unwrap();
    let got = d.until_acked().await.unwrap();
    assert!(got.is_empty(), "a command came again: {got:?}");
    d.close().await.unwrap();
    gw.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_first_message_does_not_displace_the_device_but_a_real_reconnect_does() {
    let mut config = test_config();
    config.limits.handshake_deadline_ms = 800;
    let gw = gateway(config).await;
    register(&gw, "SN-1", DEV).await;
    let mut a = Device::connect(gw.running.addr, gw.key, DEV, "SN-1", endpoint())
        .await
        .unwrap();
    a.push(&vitals(97)).await.unwrap();
    a.until_acked().await.unwrap();
    // Someone replays the device's recorded IK message 0: the gateway cannot tell it from a
    // reconnect, answers, and waits for a record that never comes.
    let mut replay = tokio::net::TcpStream::connect(gw.running.addr)
        .await
        .unwrap();
    replay.write_all(&a.msg0).await.unwrap();
    let mut sink = vec![0u8; 4096];
    let n = replay.read(&mut sink).await.unwrap();
    assert!(n > 0, "the gateway answers the replayed message");
    // Meanwhile the device's session carries on.
    a.push(&vitals(96)).await.unwrap();
    a.until_acked().await.unwrap();
    // The replayer is dropped at the deadline; the device is still served after it.
    let closed = tokio::time::timeout(Duration::from_secs(5), replay.read(&mut sink)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
    a.push(&vitals(95)).await.unwrap();
    a.until_acked().await.unwrap();
    // Replayed again, now followed by bytes that are not a record of the session: closed, and
    // written to the audit trail as a session that was never confirmed.
    let mut replay = tokio::net::TcpStream::connect(gw.running.addr)
        .await
        .unwrap();
    replay.write_all(&a.msg0).await.unwrap();
    let _ = replay.read(&mut sink).await.unwrap();
    replay.write_all(&[0, 40, 0x10, 1, 2, 3]).await.unwrap();
    replay.write_all(&[0xAB; 38]).await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(5), replay.read(&mut sink)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
    let dir = gw.dir.path().to_owned();
    assert!(
        wait_for(|| storage(&dir)
            .audit_rows()
            .unwrap()
            .iter()
            .any(|e| e.event == "security.session_not_confirmed"))
        .await
    );
    // A genuine new session takes over once its first record authenticates; the old one is
    // closed, and the device carries on where it was.
    let b_ep = endpoint();
    let mut b = Device::connect(gw.running.addr, gw.key, DEV, "SN-1", b_ep)
        .await
        .unwrap();
    b.push(&vitals(94)).await.unwrap();
    b.until_acked().await.unwrap();
    let old = loop {
        match a.recv(Duration::from_secs(5)).await {
            Ok(Got::Frame(_)) => continue,
            other => break other,
        }
    };
    assert!(
        matches!(old, Ok(Got::Closed)),
        "the replaced session is closed"
    );
    assert_eq!(count(gw.dir.path(), "SELECT COUNT(*) FROM messages"), 4);
    b.close().await.unwrap();
    gw.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_mismatched_and_revoked_devices_are_refused() {
    let gw = gateway(test_config()).await;
    register(&gw, "SN-1", DEV).await;
    assert!(
        Device::connect(gw.running.addr, gw.key, [0x77; 32], "SN-9", endpoint())
            .await
            .is_err()
    );
    // The right id with another key.
    assert!(
        Device::connect(gw.running.addr, gw.key, [0x77; 32], "SN-1", endpoint())
            .await
            .is_err()
    );
    let mut d = Device::connect(gw.running.addr, gw.key, DEV, "SN-1", endpoint())
        .await
        .unwrap();
    d.push(&vitals(97)).await.unwrap();
    d.until_acked().await.unwrap();
    storage(gw.dir.path())
        .revoke(b"SN-1", "lost by the patient", now_ms())
        .unwrap();
    // The poller sees the revocation and ends the session.
    let r = loop {
        match d.recv(Duration::from_secs(5)).await {
            Ok(Got::Frame(_)) => continue,
            other => break other,
        }
    };
    assert!(matches!(r, Ok(Got::Closed)), "revoked session not ended");
    assert!(
        Device::connect(gw.running.addr, gw.key, DEV, "SN-1", endpoint())
            .await
            .is_err()
    );
    let rows = storage(gw.dir.path()).audit_rows().unwrap();
    let events: Vec<&str> = rows.iter().map(|e| e.event.as_str()).collect();
    assert!(events.contains(&"device.revoked"));
    // The refusals of a registered id are security events; one row per device and kind per
    // minute (the revoked attempt came within the minute of the key mismatch).
    let refused: Vec<_> = rows
        .iter()
        .filter(|e| e.event == "security.handshake_refused")
        .collect();
    assert_eq!(refused.len(), 1, "{events:?}");
    assert_eq!(refused[0].device.as_deref(), Some(&b"SN-1"[..]));
    assert!(
        refused[0].detail.contains("static key mismatch"),
        "{}",
        refused[0].detail
    );
    // An unknown id is counted, not written to the audit trail.
    assert!(!rows
        .iter()
        .any(|e| e.device.as_deref() == Some(&b"SN-9"[..])));
    gw.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_that_requires_a_credential_refuses_a_device_without_a_valid_one() {
    use ed25519_dalek::SigningKey;
    use tether::credential::Credential;
    use tether::{Identity, UnixTime};
    let acme = SigningKey::from_bytes(&[0x42; 32]);
    let mut config = test_config();
    config.trust.issuers = vec![tether_gateway::config::Issuer {
        name: "acme".into(),
        key: tether_gateway::audit::hex(acme.verifying_key().as_bytes()),
    }];
    let gw = gateway(config).await;
    storage(gw.dir.path())
        .register(
            &[tether_gateway::store::Registration {
                id: b"SN-1".to_vec(),
                static_key: *StaticKeypair::from_secret(DEV).public().as_bytes(),
                require_credential: true,
            }],
            now_ms(),
        )
        .unwrap();
    assert!(wait_for(|| gw.running.knows(b"SN-1")).await);
    let now = UnixTime(now_ms() / 1000);
    let issue = |signer: &SigningKey, issuer: &[u8]| {
        Credential::issue(
            signer,
            issuer,
            b"SN-1",
            &StaticKeypair::from_secret(DEV).public(),
            UnixTime(now.0 - 60),
            UnixTime(now.0 + 3600),
        )
        .unwrap()
    };
    let plain = || Identity::new(b"SN-1", "TestDevice", "1.0", b"k1").unwrap();
    // No credential, one from an unknown issuer, one signed by another key: refused.
    assert!(
        Device::connect_as(gw.running.addr, gw.key, DEV, plain(), endpoint())
            .await
            .is_err()
    );
    let other = SigningKey::from_bytes(&[0x43; 32]);
    for cred in [issue(&acme, b"unknown"), issue(&other, b"acme")] {
        let id = plain().with_credential(cred);
        assert!(
            Device::connect_as(gw.running.addr, gw.key, DEV, id, endpoint())
                .await
                .is_err()
        );
    }
    // A valid one: served.
    let id = plain().with_credential(issue(&acme, b"acme"));
    let mut d = Device::connect_as(gw.running.addr, gw.key, DEV, id, endpoint())
        .await
        .unwrap();
    d.push(&vitals(97)).await.unwrap();
    d.until_acked().await.unwrap();
    d.close().await.unwrap();
    let rows = storage(gw.dir.path()).audit_rows().unwrap();
    assert!(rows.iter().any(
        |e| e.event == "security.handshake_refused" && e.detail.contains("credential missing")
    ));
    gw.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_keys_does_not_lock_out_registered_devices() {
    let mut config = test_config();
    config.limits.max_handshakes = 4;
    let gw = gateway(config).await;
    let devices = 8;
    for i in 0..devices {
        register(&gw, &format!("SN-{i}"), [i as u8 + 1; 32]).await;
    }
    let stop = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let mut flood = Vec::new();
    for k in 0..24u8 {
        let (stop, sent, addr, key) = (stop.clone(), sent.clone(), gw.running.addr, gw.key);
        flood.push(tokio::spawn(async move {
            let mut n = 0u32;
            while stop.load(Ordering::Relaxed) == 0 {
                n += 1;
                let mut secret = [0u8; 32];
                secret[0] = 0xEE;
                secret[1] = k;
                secret[2..6].copy_from_slice(&n.to_be_bytes());
                if Device::connect(addr, key, secret, &format!("X-{k}-{n}"), endpoint())
                    .await
                    .is_ok()
                {
                    panic!("an unknown key got a session");
                }
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut ok = 0;
    for i in 0..devices {
        let mut tries = 0;
        let d = loop {
            tries += 1;
            match Device::connect(
                gw.running.addr,
                gw.key,
                [i as u8 + 1; 32],
                &format!("SN-{i}"),
                endpoint(),
            )
            .await
            {
                Ok(d) => break Some(d),
                Err(_) if tries < 5 => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(_) => break None,
            }
        };
        if let Some(mut d) = d {
            d.push(&vitals(97)).await.unwrap();
            d.until_acked().await.unwrap();
            ok += 1;
        }
    }
    stop.store(1, Ordering::Relaxed);
    for f in flood {
        f.await.unwrap();
    }
    assert_eq!(ok, devices, "registered devices locked out");
    assert!(
        sent.load(Ordering::Relaxed) >= 24,
        "the flood was too small to mean anything"
    );
    gw.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_and_idle_sessions_are_closed() {
    let mut config = test_config();
    config.limits.handshake_deadline_ms = 1000;
    config.limits.idle_timeout_s = 2;
    let gw = gateway(config).await;
    register(&gw, "SN-1", DEV).await;
    let mut silent = tokio::net::TcpStream::connect(gw.running.addr)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 16];
    let r = tokio::time::timeout(Duration::from_secs(3), silent.read(&mut buf)).await;
    assert!(matches!(r, Ok(Ok(0)) | Ok(Err(_))), "{r:?}");
    assert!(started.elapsed() < Duration::from_millis(2500));
    let mut d = Device::connect(gw.running.addr, gw.key, DEV, "SN-1", endpoint())
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let r = loop {
        match d.recv(Duration::from_secs(5)).await {
            Ok(Got::Frame(f)) => {
                let _ = d.ep.handle(&f);
            }
            other => break other,
        }
    };
    assert!(matches!(r, Ok(Got::Closed)));
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        started.elapsed()
    );
    gw.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_loses_nothing_and_a_restart_continues_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let gw = gateway_in(test_config(), dir).await;
    register(&gw, "SN-1", DEV).await;
    let mut d = Device::connect(gw.running.addr, gw.key, DEV, "SN-1", endpoint())
        .await
        .unwrap();
    for i in 0..20 {
        d.push(&vitals(80 + i)).await.unwrap();
    }
    // Stop while messages are in flight: the gateway finishes its commits, acknowledges them
    // and closes the session.
    let TestGateway { running, dir, .. } = gw;
    let stopping = tokio::spawn(running.shutdown());
    while let Got::Frame(f) = d.recv(Duration::from_secs(10)).await.unwrap() {
        let _ = d.ep.handle(&f).unwrap();
    }
    stopping.await.unwrap().unwrap();
    let acked = 20 - d.ep.sender().unacknowledged() as i64;
    let stored = count(&path, "SELECT COUNT(*) FROM messages");
    assert!(stored >= acked, "acknowledged {acked} but stored {stored}");
    // Restart on the same data: the device sends what was not acknowledged, and the database
    // ends with each message exactly once.
    let gw = gateway_in(test_config(), dir).await;
    let mut d = Device::connect(gw.running.addr, gw.key, DEV, "SN-1", d.drop_connection())
        .await
        .unwrap();
    d.until_acked().await.unwrap();
    assert_eq!(count(&path, "SELECT COUNT(*) FROM messages"), 20);
    assert_eq!(count(&path, "SELECT COUNT(DISTINCT seq) FROM messages"), 20);
    d.close().await.unwrap();
    gw.running.shutdown().await.unwrap();
    let events: Vec<String> = storage(&path)
        .audit_rows()
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(events.iter().filter(|e| *e == "gateway.stopped").count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_with_the_audit_trail_is_detected() {
    let gw = gateway(test_config()).await;
    for i in 0..4u8 {
        register(&gw, &format!("SN-{i}"), [i + 1; 32]).await;
    }
    storage(gw.dir.path())
        .revoke(b"SN-2", "test", now_ms())
        .unwrap();
    let TestGateway { running, dir, .. } = gw;
    running.shutdown().await.unwrap();
    let intact = storage(dir.path()).verify_audit(None).unwrap();
    let Finding::Intact { rows, head } = intact else {
        panic!("{intact:?}")
    };
    assert!(rows >= 7);
    let bin = env!("CARGO_BIN_EXE_tether-gateway");
    let cli = |d: &std::path::Path, extra: &[&str]| {
        let mut c = std::process::Command::new(bin);
        c.arg("--data").arg(d).arg("verify-audit").args(extra);
        c.output().unwrap()
    };
    let out = cli(dir.path(), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let tamper = |sql: &str| {
        let copy = tempfile::tempdir().unwrap();
        for f in ["gateway.db", "gateway.key"] {
            std::fs::copy(dir.path().join(f), copy.path().join(f)).unwrap();
        }
        let c = rusqlite::Connection::open(copy.path().join("gateway.db")).unwrap();
        c.execute_batch(sql).unwrap();
        drop(c);
        let finding = storage(copy.path())
            .verify_audit(Some((rows, head)))
            .unwrap();
        let out = cli(copy.path(), &[]);
        (finding, out.status.code(), copy)
    };
    let (f, code, _) = tamper("UPDATE audit SET detail = 'static key 00' WHERE row = 2");
    assert_eq!(f, Finding::BadMac { row: 2 });
    assert_eq!(code, Some(1));
    let (f, code, _) = tamper("DELETE FROM audit WHERE row = 3");
    assert_eq!(
        f,
        Finding::Missing {
            expected: 3,
            found: 4
        }
    );
    assert_eq!(code, Some(1));
    let (f, _, _) = tamper(
        "UPDATE audit SET row = 100 WHERE row = 2; UPDATE audit SET row = 2 WHERE row = 3; UPDATE audit SET row = 3 WHERE row = 100;",
    );
    assert_eq!(f, Finding::BadMac { row: 2 });
    let (f, code, _) = tamper(&format!("DELETE FROM audit WHERE row = {rows}"));
    assert_eq!(
        f,
        Finding::BadHead {
            last_row: rows - 1,
            head_row: rows
        }
    );
    assert_eq!(code, Some(1));
    // The head rolled back with the deleted row: only a head recorded elsewhere shows it.
    let (f, code, copy) = tamper(&format!(
        "DELETE FROM audit WHERE row = {rows}; UPDATE audit_head SET row = {prev}, mac = (SELECT mac FROM audit WHERE row = {prev});",
        prev = rows - 1
    ));
    assert_eq!(f, Finding::NotExpectedHead { rows: rows - 1 });
    assert_eq!(code, Some(0));
    let head_arg = format!("{rows}:{}", tether_gateway::audit::hex(&head));
    let out = cli(copy.path(), &["--expect-head", &head_arg]);
    assert_eq!(out.status.code(), Some(1));
}

/// A storage that takes its time: the gateway must slow the device down, not lose anything.
struct Slow(tether_gateway::store::SqliteStorage);

impl Storage for Slow {
    fn devices_changed(
        &mut self,
        after: i64,
    ) -> Result<Vec<tether_gateway::store::Device>, tether_gateway::store::StoreError> {
        self.0.devices_changed(after)
    }
    fn commands_after(
        &mut self,
        after: i64,
    ) -> Result<Vec<tether_gateway::store::QueuedCommand>, tether_gateway::store::StoreError> {
        self.0.commands_after(after)
    }
    fn apply(
        &mut self,
        changes: &[tether_gateway::store::Change],
        now_ms: u64,
    ) -> Result<(), tether_gateway::store::StoreError> {
        std::thread::sleep(Duration::from_millis(30));
        self.0.apply(changes, now_ms)
    }
    fn register(
        &mut self,
        d: &[tether_gateway::store::Registration],
        now_ms: u64,
    ) -> Result<(), tether_gateway::store::StoreError> {
        self.0.register(d, now_ms)
    }
    fn revoke(
        &mut self,
        id: &[u8],
        reason: &str,
        now_ms: u64,
    ) -> Result<(), tether_gateway::store::StoreError> {
        self.0.revoke(id, reason, now_ms)
    }
    fn queue_command(
        &mut self,
        cmd: &NewCommand,
        now_ms: u64,
    ) -> Result<u64, tether_gateway::store::StoreError> {
        self.0.queue_command(cmd, now_ms)
    }
    fn next_command_id(&mut self, device: &[u8]) -> Result<u64, tether_gateway::store::StoreError> {
        self.0.next_command_id(device)
    }
    fn commands(
        &mut self,
        device: Option<&[u8]>,
    ) -> Result<Vec<tether_gateway::store::CommandStatus>, tether_gateway::store::StoreError> {
        self.0.commands(device)
    }
    fn export_readings(
        &mut self,
        device: Option<&[u8]>,
        each: &mut dyn FnMut(
            tether_gateway::store::ExportedReading,
        ) -> Result<(), tether_gateway::store::StoreError>,
    ) -> Result<u64, tether_gateway::store::StoreError> {
        self.0.export_readings(device, each)
    }
    fn verify_audit(
        &mut self,
        expect: Option<(i64, [u8; 32])>,
    ) -> Result<Finding, tether_gateway::store::StoreError> {
        self.0.verify_audit(expect)
    }
    fn audit_head(&mut self) -> Result<Option<(i64, [u8; 32])>, tether_gateway::store::StoreError> {
        self.0.audit_head()
    }
    fn audit_rows(
        &mut self,
    ) -> Result<Vec<tether_gateway::audit::Entry>, tether_gateway::store::StoreError> {
        self.0.audit_rows()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_storage_slows_the_device_down_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (keys, created, sqlite) = tether_gateway::server::open_data(dir.path()).unwrap();
    let mut config = test_config();
    config.limits.max_in_flight = 2;
    config.storage.queue = 2;
    let running = tether_gateway::server::start_with(
        config,
        dir.path(),
        keys,
        created,
        Slow(sqlite),
        Arc::new(tether_gateway::StoreAll),
    )
    .await
    .unwrap();
    let key = tether::PublicKey(running.public_key);
    register_in(dir.path(), "SN-1", DEV);
    assert!(wait_for(|| running.knows(b"SN-1")).await);
    let mut d = Device::connect(running.addr, key, DEV, "SN-1", endpoint())
        .await
        .unwrap();
    for i in 0..30 {
        d.push(&vitals(70 + i)).await.unwrap();
    }
    d.until_acked().await.unwrap();
    assert_eq!(count(dir.path(), "SELECT COUNT(*) FROM messages"), 30);
    assert_eq!(
        count(dir.path(), "SELECT COUNT(DISTINCT seq) FROM messages"),
        30
    );
    d.close().await.unwrap();
    running.shutdown().await.unwrap();
    let _ = StaticKeypair::from_secret(DEV);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_queues_a_command_signed_elsewhere_only_for_its_device() {
    let gw = gateway(test_config()).await;
    register(&gw, "SN-1", DEV).await;
    let TestGateway { running, dir, .. } = gw;
    running.shutdown().await.unwrap();
    let bin = env!("CARGO_BIN_EXE_tether-gateway");
    let queue = |device: &str, file: &std::path::Path| {
        std::process::Command::new(bin)
            .arg("--data")
            .arg(dir.path())
            .args(["queue-command", "--device", device, "--signed"])
            .arg(file)
            .output()
            .unwrap()
    };
    let signed = dir.path().join("command.cbor");
    std::fs::write(&signed, signed_command("SN-1", 7, 1200).bytes).unwrap();
    let out = queue("SN-1", &signed);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The same command for another device, and a file that is not a command: refused.
    register_in(dir.path(), "SN-2", [0x22; 32]);
    let out = queue("SN-2", &signed);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("another device"));
    let junk = dir.path().join("junk.cbor");
    std::fs::write(&junk, vitals(97)).unwrap();
    assert!(!queue("SN-1", &junk).status.success());
    let listed = std::process::Command::new(bin)
        .arg("--data")
        .arg(dir.path())
        .arg("commands")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout),
        "SN-1 command 7 (stream number 1): queued\n"
    );
}
