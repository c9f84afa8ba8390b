//! Devices relayed through a phone (spec/PROTOCOL.md 3.4), against a real gateway over loopback
//! TCP: one phone connection carries three devices' end-to-end sessions, each unit in a relay
//! envelope that the phone's `RelayTable` readdresses. The phone misbehaves (duplicates, replays,
//! re-addresses and injects units) and the database still holds every message exactly once; a
//! device that starts a new session through the same phone takes over its old one; a relayed
//! device gets its commands; units for no session are dropped without harm to the others.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use tether::delivery::{Endpoint, Incoming, MemStorage, MAX_FRAME};
use tether::link::relay::wrap;
use tether::link::{RelayIndex, RelayTable, Relayed};
use tether::policy::PinnedKey;
use tether::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// The phone: one TCP connection to the gateway and its relay table. It can also misbehave.
struct Phone {
    sock: TcpStream,
    dec: StreamDecoder,
    pending: Vec<u8>,
    table: RelayTable,
    /// Every relayed unit sent up, as sent (for replays).
    sent: Vec<Vec<u8>>,
}

impl Phone {
    async fn connect(gw: &TestGateway) -> Phone {
        Phone {
            sock: TcpStream::connect(gw.running.addr).await.unwrap(),
            dec: StreamDecoder::new(20_000),
            pending: Vec::new(),
            table: RelayTable::new(8).unwrap(),
            sent: Vec::new(),
        }
    }

    /// A relayed unit from the device on `link` goes up, readdressed.
    async fn up(&mut self, link: u32, mut relayed: Vec<u8>) {
        self.table.up(link, &mut relayed).unwrap();
        self.raw(&relayed).await;
        self.sent.push(relayed);
    }

    /// Bytes up as they are, with the stream length prefix.
    async fn raw(&mut self, relayed: &[u8]) {
        let mut framed = (relayed.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(relayed);
        self.sock.write_all(&framed).await.unwrap();
    }

    /// The next relayed unit from the gateway, readdressed for its device: (link, inner unit).
    async fn down(&mut self, wait: Duration) -> Res<(u32, Vec<u8>)> {
        let framed = read_unit(&self.sock, &mut self.dec, &mut self.pending, wait).await?;
        let mut relayed = framed[2..].to_vec();
        let route = self.table.down(&mut relayed).map_err(|e| e.to_string())?;
        assert_eq!(route.index, RelayIndex::ZERO, "devices use index 0");
        let inner = Relayed::parse(&relayed).unwrap().unit.to_vec();
        Ok((route.link, inner))
    }
}

/// A device whose session with the gateway is relayed: IK, channel 3, datagram framing.
struct RelayedDevice {
    secret: [u8; 32],
    id: String,
    session: Option<Session>,
    handshake: Option<Handshake>,
    ep: Endpoint<MemStorage>,
    start: std::time::Instant,
}

impl RelayedDevice {
    fn new(secret: [u8; 32], id: &str) -> RelayedDevice {
        RelayedDevice {
            secret,
            id: id.to_owned(),
            session: None,
            handshake: None,
            ep: endpoint(),
            start: std::time::Instant::now(),
        }
    }

    /// Handshake message 0 of a new session, wrapped for the phone.
    fn hello(&mut self, gw: &PublicKey) -> Vec<u8> {
        let identity = Identity::new(self.id.as_bytes(), "TestDevice", "1.0", b"k1").unwrap();
        let key = StaticKeypair::from_secret(self.secret);
        let config = HandshakeConfig {
            suite: Suite::ChaChaPolyBlake2s,
            channel: ChannelKind::Relayed,
            framing: Framing::Datagram,
            context: b"",
            identity: &identity,
            static_key: &key,
            session: SessionConfig {
                max_plaintext: MAX_FRAME,
                ..SessionConfig::default()
            },
            dh_cache: None,
        };
        let mut hs = Initiator::provisioned(&config, gw, &mut OsEntropy).unwrap();
        let mut buf = vec![0u8; 1024];
        let n = hs.write_message(&mut buf).unwrap();
        self.handshake = Some(hs);
        relayed(&buf[..n])
    }

    fn now(&self) -> Instant {
        Instant(self.start.elapsed().as_millis() as u64)
    }

    /// A unit from the gateway. Returns what the device sends back, wrapped.
    fn receive(&mut self, gw: &PublicKey, unit: &[u8]) -> Vec<Vec<u8>> {
        if let Some(mut hs) = self.handshake.take() {
            hs.read_message(unit, &mut PinnedKey(*gw), UnixTime(now_ms() / 1000))
                .unwrap();
            self.session = Some(hs.finish(self.now()).unwrap().session);
            self.ep.on_reconnect();
            return self.flush();
        }
        let now = self.now();
        let mut plain = vec![0u8; MAX_FRAME + 64];
        let Some(session) = self.session.as_mut() else {
            return Vec::new();
        };
        // A record the phone broke or replayed is dropped, as on any datagram carrier.
        let Ok(Event::Data(frame)) = session.open(now, unit, &mut plain) else {
            return Vec::new();
        };
        let frame = frame.to_vec();
        let mut out = Vec::new();
        if let Ok(Incoming::Message { seq, .. }) = self.ep.handle(&frame) {
            // A command: applied (here, nothing to do) and acknowledged.
            let mut ack = [0u8; 16];
            let n = self.ep.delivered(seq, &mut ack).unwrap();
            let mut wire = vec![0u8; session.seal_capacity(n)];
            let sealed = session.seal(now, &ack[..n], &mut wire).unwrap();
            out.extend(sealed.units(&wire).map(relayed));
        }
        out.extend(self.flush());
        out
    }

    /// Everything the endpoint has due, sealed and wrapped.
    fn flush(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut frame = vec![0u8; MAX_FRAME];
        let now_ms = self.start.elapsed().as_millis() as u64;
        let now = self.now();
        let Some(session) = self.session.as_mut() else {
            return out;
        };
        while let Some(n) = self.ep.poll(now_ms, &mut frame).unwrap() {
            let mut wire = vec![0u8; session.seal_capacity(n)];
            let sealed = session.seal(now, &frame[..n], &mut wire).unwrap();
            for unit in sealed.units(&wire) {
                out.push(relayed(unit));
            }
        }
        out
    }
}

fn relayed(unit: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; unit.len() + 2];
    let n = wrap(RelayIndex::ZERO, unit, &mut out).unwrap();
    out.truncate(n);
    out
}

/// Moves units between the gateway and the devices until every device's messages are all
/// acknowledged (or `wait` passes without a unit). `tamper` may add units of its own on the way.
async fn pump(
    phone: &mut Phone,
    devices: &mut HashMap<u32, RelayedDevice>,
    gw: &PublicKey,
    wait: Duration,
    tamper: &mut dyn FnMut(&[u8]) -> Vec<Vec<u8>>,
) {
    loop {
        if devices
            .values()
            .all(|d| d.session.is_some() && d.ep.sender().unacknowledged() == 0)
        {
            return;
        }
        let (link, unit) = match phone.down(wait).await {
            Ok(x) => x,
            Err(e) => panic!("no unit from the gateway: {e}"),
        };
        let device = devices.get_mut(&link).unwrap();
        for up in device.receive(gw, &unit) {
            for extra in tamper(&up) {
                phone.raw(&extra).await;
            }
            phone.up(link, up).await;
        }
    }
}

fn messages_of(gw: &TestGateway, id: &str) -> i64 {
    count(
        gw.dir.path(),
        &format!(
            "SELECT COUNT(*) FROM messages m JOIN devices d ON m.device = d.row WHERE d.id = x'{}'",
            hexed(id)
        ),
    )
}

fn hexed(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn distinct_of(gw: &TestGateway, id: &str) -> i64 {
    count(
        gw.dir.path(),
        &format!(
            "SELECT COUNT(DISTINCT seq) FROM messages m JOIN devices d ON m.device = d.row WHERE d.id = x'{}'",
            hexed(id)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_devices_through_one_misbehaving_phone_each_message_stored_once() {
    let gw = gateway(test_config()).await;
    let mut devices = HashMap::new();
    for (link, seed) in [(11u32, 0x31u8), (12, 0x32), (13, 0x33)] {
        let id = format!("relayed-{link}");
        register(&gw, &id, [seed; 32]).await;
        devices.insert(link, RelayedDevice::new([seed; 32], &id));
    }
    let mut phone = Phone::connect(&gw).await;
    let mut links: Vec<u32> = devices.keys().copied().collect();
    links.sort();
    for link in &links {
        let hello = devices.get_mut(link).unwrap().hello(&gw.key);
        phone.up(*link, hello).await;
    }
    // Each device pushes its readings; they go up once the session is there.
    for link in &links {
        let d = devices.get_mut(link).unwrap();
        for i in 0..20 {
            d.ep.push(&vitals(90 + i % 9)).unwrap();
        }
    }
    // The phone duplicates every third unit, replays an old one every fifth, sends every
    // seventh unit again under the index of another device, and injects garbage.
    let mut n = 0usize;
    let mut history: Vec<Vec<u8>> = Vec::new();
    let mut tamper = |up: &[u8]| -> Vec<Vec<u8>> {
        n += 1;
        let mut extra = Vec::new();
        let mut readdressed = up.to_vec();
        // Up-link indexes are 0, 1, 2 (the table's order): send as the next device.
        readdressed[1] = readdressed[1].wrapping_add(1) % 3;
        if n % 3 == 0 {
            extra.push(readdressed.clone()); // a copy under its own index comes from `up`
        }
        if n % 5 == 0 {
            if let Some(old) = history.get(n % history.len().max(1)) {
                extra.push(old.clone());
            }
        }
        if n % 7 == 0 {
            extra.push(readdressed);
        }
        if n % 11 == 0 {
            extra.push(vec![0x90, 0x01, 0x13, 0xde, 0xad, 0xbe, 0xef]);
            extra.push(vec![0x13, 0x00]); // not even an envelope
        }
        history.push(up.to_vec());
        extra
    };
    pump(
        &mut phone,
        &mut devices,
        &gw.key,
        Duration::from_secs(10),
        &mut tamper,
    )
    .await;
    // Replays of everything the phone ever sent, at the end: nothing new is stored.
    let sent = phone.sent.clone();
    for unit in &sent {
        phone.raw(unit).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for link in &links {
        let id = format!("relayed-{link}");
        assert_eq!(messages_of(&gw, &id), 20, "{id}: every message once");
        assert_eq!(distinct_of(&gw, &id), 20, "{id}: no sequence number twice");
    }
    assert_eq!(
        count(gw.dir.path(), "SELECT COUNT(*) FROM readings"),
        3 * 20 * 2
    );
    gw.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_session_through_the_same_phone_takes_over_and_loses_nothing() {
    let gw = gateway(test_config()).await;
    register(&gw, "relayed-a", [0x41; 32]).await;
    let mut devices = HashMap::new();
    devices.insert(21u32, RelayedDevice::new([0x41; 32], "relayed-a"));
    let mut phone = Phone::connect(&gw).await;
    let hello = devices.get_mut(&21).unwrap().hello(&gw.key);
    let first_hello = hello.clone();
    phone.up(21, hello).await;
    for i in 0..5 {
        devices
            .get_mut(&21)
            .unwrap()
            .ep
            .push(&vitals(90 + i))
            .unwrap();
    }
    pump(
        &mut phone,
        &mut devices,
        &gw.key,
        Duration::from_secs(10),
        &mut |_| Vec::new(),
    )
    .await;
    assert_eq!(messages_of(&gw, "relayed-a"), 5);

    // The old message 0 again (a replay by the phone): it takes nothing over. The device,
    // meanwhile, reboots (keeps its outbox) and starts a new session through the same phone.
    phone.up(21, first_hello).await;
    let d = devices.get_mut(&21).unwrap();
    for i in 0..5 {
        d.ep.push(&vitals(80 + i)).unwrap();
    }
    d.session = None;
    let hello = d.hello(&gw.key);
    phone.up(21, hello).await;
    pump(
        &mut phone,
        &mut devices,
        &gw.key,
        Duration::from_secs(10),
        &mut |_| Vec::new(),
    )
    .await;
    assert_eq!(messages_of(&gw, "relayed-a"), 10);
    assert_eq!(distinct_of(&gw, "relayed-a"), 10);
    gw.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relayed_device_gets_its_commands_and_a_stranger_gets_nothing() {
    let gw = gateway(test_config()).await;
    register(&gw, "relayed-c", [0x51; 32]).await;
    use tether_gateway::store::{NewCommand, Storage};
    // The gateway carries command bytes as they are; this device does not verify them.
    storage(gw.dir.path())
        .queue_command(
            &NewCommand {
                device: b"relayed-c".to_vec(),
                command_id: 1,
                operation: 1,
                bytes: vec![0xa1, 0x01, 0x02],
                expires_ms: now_ms() + 300_000,
            },
            now_ms(),
        )
        .unwrap();
    let mut devices = HashMap::new();
    devices.insert(31u32, RelayedDevice::new([0x51; 32], "relayed-c"));
    let mut phone = Phone::connect(&gw).await;
    // A stranger's message 0 (unregistered key) on another link: refused, and the registered
    // device through the same connection is not disturbed.
    let mut stranger = RelayedDevice::new([0x52; 32], "stranger");
    let hello = stranger.hello(&gw.key);
    phone.up(32, hello).await;
    let hello = devices.get_mut(&31).unwrap().hello(&gw.key);
    phone.up(31, hello).await;
    devices.get_mut(&31).unwrap().ep.push(&vitals(97)).unwrap();
    let mut received = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while received.is_empty() || devices[&31].ep.sender().unacknowledged() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "no command arrived");
        let (link, unit) = phone.down(Duration::from_secs(10)).await.unwrap();
        assert_eq!(link, 31, "nothing is sent to the stranger");
        let d = devices.get_mut(&31).unwrap();
        let before = d.ep.receiver_state();
        for up in d.receive(&gw.key, &unit) {
            phone.up(31, up).await;
        }
        if d.ep.receiver_state() != before {
            received.push(());
        }
    }
    // The device acknowledged the command: the gateway marks it delivered.
    let mut delivered = false;
    for _ in 0..200 {
        if count(
            gw.dir.path(),
            "SELECT COUNT(*) FROM commands WHERE state = 'delivered'",
        ) == 1
        {
            delivered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(delivered, "the command was acknowledged through the relay");
    assert_eq!(messages_of(&gw, "relayed-c"), 1);
    gw.running.shutdown().await.unwrap();
}
