//! The sending half: numbered messages out of the sealed outbox, resent until acknowledged
//! (spec/MESSAGES.md 6.4).
//!
//! Go-back-N: at most `window` messages are in flight; after a reconnect, or when nothing was
//! acknowledged for `resend_after_ms`, sending starts again from the oldest unacknowledged
//! message. Only acknowledgements free messages, so a reboot, a lost frame or a dropped session
//! can delay a message but never lose it.

use crate::delivery::frame::Frame;
use crate::delivery::outbox::Outbox;
use crate::delivery::storage::OutboxStorage;
use crate::entropy::Entropy;
use crate::error::{Error, Local, PeerError};

/// How a sender paces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderConfig {
    /// Most data frames sent and not yet acknowledged (1..=65535). Bounds the resend work after
    /// a loss and the receiver's gap drops; raise it on links with a long round trip.
    pub window: u32,
    /// Milliseconds without acknowledgement progress after which everything unacknowledged
    /// (and the hello, if it was never answered) is sent again; 0 never resends within a
    /// session, which suits stream links that lose nothing until they break.
    pub resend_after_ms: u64,
}

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig {
            window: 8,
            resend_after_ms: 5_000,
        }
    }
}

/// The sending half of delivery, backed by the sealed outbox.
#[derive(Debug)]
pub struct Sender<S: OutboxStorage> {
    outbox: Outbox<S>,
    config: SenderConfig,
    /// The next sequence number to send on this session.
    send_next: u64,
    /// The hello must be (re)sent before anything else.
    hello_due: bool,
    /// An acknowledgement arrived on this session, so the peer has our hello.
    acked: bool,
    /// When the oldest outstanding frame was sent (or acknowledgements last progressed).
    timer: Option<u64>,
    /// Acknowledgements progressed: restart the timer at the next call.
    restart_timer: bool,
    /// The outbox was reset: nothing more until a new session.
    await_session: bool,
}

impl<S: OutboxStorage> Sender<S> {
    /// A sender over an opened outbox, at the start of a session (its hello is due).
    pub fn new(outbox: Outbox<S>, config: SenderConfig) -> Result<Self, Error> {
        if !(1..=65_535).contains(&config.window) {
            return Err(Local::Config.into());
        }
        let head = outbox.head();
        Ok(Sender {
            outbox,
            config,
            send_next: head,
            hello_due: true,
            acked: false,
            timer: None,
            restart_timer: false,
            await_session: false,
        })
    }

    /// Seals and stores `message` in the outbox (durably, before returning) and returns its
    /// sequence number; it is sent by [`Sender::next_frame`].
    pub fn push(&mut self, message: &[u8]) -> Result<u64, Error> {
        self.outbox.push(message)
    }

    /// Writes the hello frame: this sender's stream and its oldest unacknowledged message.
    /// [`Sender::next_frame`] sends it by itself when it is due; call this only to send it
    /// some other way.
    pub fn hello(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        if self.await_session {
            return Err(Local::WrongState.into());
        }
        let len = Frame::Hello {
            stream: self.outbox.stream(),
            first_seq: self.outbox.head(),
        }
        .encode(out)?;
        self.hello_due = false;
        Ok(len)
    }

    /// The next frame to send on this session, if any: the hello when it is due, else the next
    /// data frame not yet sent while fewer than `window` are unacknowledged. `now_ms` is any
    /// monotonic clock in milliseconds; it drives resending. `Ok(None)`: nothing to send now.
    pub fn next_frame(&mut self, now_ms: u64, out: &mut [u8]) -> Result<Option<usize>, Error> {
        if self.await_session {
            return Err(Local::WrongState.into());
        }
        let head = self.outbox.head();
        self.send_next = self.send_next.max(head);
        if self.restart_timer {
            self.restart_timer = false;
            self.timer = self.outstanding().then_some(now_ms);
        }
        if let Some(start) = self.timer {
            let after = self.config.resend_after_ms;
            if after > 0 && now_ms.saturating_sub(start) >= after {
                // Nothing acknowledged for a while: go back to the oldest unacknowledged
                // message, and to the hello if the peer never answered it.
                self.send_next = head;
                if !self.acked {
                    self.hello_due = true;
                }
                self.timer = None;
            }
        }
        let len = if self.hello_due {
            self.hello(out)?
        } else if self.send_next < self.outbox.next_seq()
            && self.send_next - head < u64::from(self.config.window)
        {
            let seq = self.send_next;
            let len = self
                .outbox
                .with_message(seq, |message| Frame::Data { seq, message }.encode(out))??;
            self.send_next = seq + 1;
            len
        } else {
            return Ok(None);
        };
        if self.timer.is_none() {
            self.timer = Some(now_ms);
        }
        Ok(Some(len))
    }

    /// Something sent on this session awaits an answer.
    fn outstanding(&self) -> bool {
        self.send_next > self.outbox.head() || (!self.acked && !self.hello_due)
    }

    /// The peer acknowledged every message up to `seq`: frees them in the outbox. An old
    /// acknowledgement is ignored; one above the last sequence number this sender ever
    /// assigned (so never sent, on this session or before a reboot) is
    /// [`PeerError::UnexpectedMessage`] and changes nothing.
    pub fn on_ack(&mut self, seq: u64) -> Result<(), Error> {
        if self.await_session {
            return Err(Local::WrongState.into());
        }
        if seq >= self.outbox.next_seq() {
            return Err(PeerError::UnexpectedMessage.into());
        }
        if seq >= self.outbox.head() {
            self.outbox.release(seq)?;
            self.send_next = self.send_next.max(seq + 1);
            self.restart_timer = true;
        }
        if !self.acked {
            self.acked = true;
            self.restart_timer = true;
        }
        Ok(())
    }

    /// A new session: the hello is due again and every unacknowledged message is sent again.
    pub fn on_reconnect(&mut self) {
        self.send_next = self.outbox.head();
        self.hello_due = true;
        self.acked = false;
        self.timer = None;
        self.restart_timer = false;
        self.await_session = false;
    }

    /// Forgets every message and starts a new stream (factory reset). Acknowledgements still in
    /// flight would name the old stream's numbers, so nothing more is sent or accepted on this
    /// session: call [`Sender::on_reconnect`] on a new one.
    pub fn reset(&mut self, rng: &mut (impl Entropy + ?Sized)) -> Result<(), Error> {
        self.outbox.reset(rng)?;
        self.on_reconnect();
        self.await_session = true;
        Ok(())
    }

    /// Messages pushed and not yet acknowledged.
    pub fn unacknowledged(&self) -> u64 {
        self.outbox.len()
    }

    /// Data frames sent on this session and not yet acknowledged.
    pub fn in_flight(&self) -> u64 {
        self.send_next.saturating_sub(self.outbox.head())
    }

    /// The outbox, for inspection.
    pub fn outbox(&self) -> &Outbox<S> {
        &self.outbox
    }

    /// Gives the outbox back.
    pub fn into_outbox(self) -> Outbox<S> {
        self.outbox
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::outbox::{OutboxConfig, StorageKey};
    use crate::delivery::storage::MemStorage;
    use crate::delivery::{StreamId, MAX_FRAME};
    use rand_core::{CryptoRng, RngCore};
    use std::vec::Vec;

    struct Rng(u8);
    impl RngCore for Rng {
        fn next_u32(&mut self) -> u32 {
            0
        }
        fn next_u64(&mut self) -> u64 {
            0
        }
        fn fill_bytes(&mut self, d: &mut [u8]) {
            for x in d {
                self.0 = self.0.wrapping_add(1);
                *x = self.0;
            }
        }
        fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> {
            self.fill_bytes(d);
            Ok(())
        }
    }
    impl CryptoRng for Rng {}

    fn sender(window: u32, resend: u64) -> Sender<MemStorage> {
        let ob = Outbox::open(
            MemStorage::new(16, 256),
            &StorageKey::new([1; 32]),
            OutboxConfig::default(),
            &mut Rng(0),
        )
        .unwrap();
        Sender::new(
            ob,
            SenderConfig {
                window,
                resend_after_ms: resend,
            },
        )
        .unwrap()
    }

    fn frames(s: &mut Sender<MemStorage>, now: u64) -> Vec<Frame<'static>> {
        let mut out = Vec::new();
        let mut buf = [0u8; MAX_FRAME];
        while let Some(n) = s.next_frame(now, &mut buf).unwrap() {
            let f = match Frame::decode(&buf[..n]).unwrap() {
                Frame::Data { seq, message } => Frame::Data {
                    seq,
                    message: Vec::leak(message.to_vec()),
                },
                Frame::Ack { seq } => Frame::Ack { seq },
                Frame::Hello { stream, first_seq } => Frame::Hello { stream, first_seq },
            };
            out.push(f);
        }
        out
    }

    fn seqs(fs: &[Frame<'_>]) -> Vec<u64> {
        fs.iter()
            .map(|f| match f {
                Frame::Data { seq, .. } => *seq,
                Frame::Hello { .. } => 0,
                Frame::Ack { .. } => u64::MAX,
            })
            .collect()
    }

    #[test]
    fn hello_then_window_then_acks() {
        let mut s = sender(3, 0);
        for i in 0..5u8 {
            assert_eq!(s.push(&[i]).unwrap(), u64::from(i) + 1);
        }
        let fs = frames(&mut s, 0);
        assert_eq!(seqs(&fs), [0, 1, 2, 3]);
        assert_eq!(
            fs[0],
            Frame::Hello {
                stream: StreamId([1, 2, 3, 4, 5, 6, 7, 8]),
                first_seq: 1
            }
        );
        assert_eq!(
            fs[1],
            Frame::Data {
                seq: 1,
                message: &[0]
            }
        );
        assert_eq!(s.in_flight(), 3);
        s.on_ack(0).unwrap(); // the hello's answer: nothing delivered yet
        assert_eq!(seqs(&frames(&mut s, 0)), Vec::<u64>::new());
        s.on_ack(2).unwrap();
        assert_eq!(s.unacknowledged(), 3);
        assert_eq!(seqs(&frames(&mut s, 0)), [4, 5]);
        // An ack above anything ever assigned changes nothing.
        assert_eq!(s.on_ack(6), Err(PeerError::UnexpectedMessage.into()));
        assert_eq!(s.unacknowledged(), 3);
        s.on_ack(1).unwrap(); // stale
        assert_eq!(s.unacknowledged(), 3);
        // Reconnect: hello again (first_seq = 3), then 3, 4, 5.
        s.on_reconnect();
        let fs = frames(&mut s, 0);
        assert_eq!(seqs(&fs), [0, 3, 4, 5]);
        assert!(matches!(fs[0], Frame::Hello { first_seq: 3, .. }));
        s.on_ack(5).unwrap();
        assert!(s.outbox().is_empty());
    }

    #[test]
    fn resends_after_silence() {
        let mut s = sender(8, 100);
        s.push(b"a").unwrap();
        s.push(b"b").unwrap();
        assert_eq!(seqs(&frames(&mut s, 1000)), [0, 1, 2]);
        assert_eq!(seqs(&frames(&mut s, 1099)), Vec::<u64>::new());
        // No answer at all: the hello goes again too.
        assert_eq!(seqs(&frames(&mut s, 1100)), [0, 1, 2]);
        s.on_ack(1).unwrap();
        // Progress restarts the timer.
        assert_eq!(seqs(&frames(&mut s, 1150)), Vec::<u64>::new());
        assert_eq!(seqs(&frames(&mut s, 1249)), Vec::<u64>::new());
        assert_eq!(seqs(&frames(&mut s, 1250)), [2]);
        s.on_ack(2).unwrap();
        assert_eq!(seqs(&frames(&mut s, 99_999)), Vec::<u64>::new());
    }

    #[test]
    fn reset_needs_a_new_session() {
        let mut s = sender(8, 0);
        s.push(b"a").unwrap();
        let old = s.outbox().stream();
        s.reset(&mut Rng(50)).unwrap();
        assert_ne!(s.outbox().stream(), old);
        let mut buf = [0u8; 64];
        assert_eq!(s.next_frame(0, &mut buf), Err(Local::WrongState.into()));
        assert_eq!(s.on_ack(0), Err(Local::WrongState.into()));
        s.on_reconnect();
        let n = s.next_frame(0, &mut buf).unwrap().unwrap();
        assert!(matches!(
            Frame::decode(&buf[..n]),
            Ok(Frame::Hello { first_seq: 1, .. })
        ));
        assert_eq!(s.next_frame(0, &mut buf), Ok(None));
    }

    #[test]
    fn small_buffer_changes_nothing() {
        let mut s = sender(8, 0);
        s.push(&[5u8; 100]).unwrap();
        let mut buf = [0u8; MAX_FRAME];
        s.next_frame(0, &mut buf).unwrap();
        let mut small = [0u8; 20];
        assert_eq!(
            s.next_frame(0, &mut small),
            Err(Local::BufferTooSmall { needed: 105 }.into())
        );
        assert_eq!(s.in_flight(), 0);
        assert_eq!(s.next_frame(0, &mut buf), Ok(Some(105)));
        assert_eq!(s.in_flight(), 1);
    }

    #[test]
    fn window_is_validated() {
        let ob = Outbox::open(
            MemStorage::new(2, 128),
            &StorageKey::new([1; 32]),
            OutboxConfig::default(),
            &mut Rng(0),
        )
        .unwrap();
        assert!(Sender::new(
            ob,
            SenderConfig {
                window: 0,
                resend_after_ms: 0
            }
        )
        .is_err());
    }
}
