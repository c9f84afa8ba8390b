//! One side of a conversation: a sender and a receiver over the same sessions, so application
//! code is a short loop (spec/MESSAGES.md 6.4.4).

use crate::delivery::receiver::{Incoming, Receiver, ReceiverState};
use crate::delivery::sender::Sender;
use crate::delivery::storage::OutboxStorage;
use crate::error::Error;

/// A [`Sender`] and a [`Receiver`] paired: acknowledgements the receiver decodes go to the
/// sender, and [`Endpoint::poll`] yields whatever is due (acknowledgements first, then the
/// hello and data).
///
/// ```text
/// on each new session:   endpoint.on_reconnect()
/// on each record opened: match endpoint.handle(plaintext)? {
///                            Incoming::Message { seq, bytes, then } => {
///                                store(bytes, then) atomically; endpoint.delivered(seq, out)? -> send
///                            }
///                            Incoming::NewStream { .. } | Incoming::Skipped { .. } => audit log,
///                            _ => {}
///                        }
/// whenever idle:         while let Some(n) = endpoint.poll(now_ms, out)? { seal and send out[..n] }
/// ```
#[derive(Debug)]
pub struct Endpoint<S: OutboxStorage> {
    sender: Sender<S>,
    receiver: Receiver,
}

impl<S: OutboxStorage> Endpoint<S> {
    /// Pairs a sender with a receiver restored from the state the application persisted.
    pub fn new(sender: Sender<S>, state: ReceiverState) -> Self {
        Endpoint {
            sender,
            receiver: Receiver::new(state),
        }
    }

    /// A new session (after a handshake): hello due, unacknowledged messages due again, and the
    /// peer's hello awaited before its data is accepted.
    pub fn on_reconnect(&mut self) {
        self.sender.on_reconnect();
        self.receiver.on_reconnect();
    }

    /// Stores a message for the peer ([`Sender::push`]).
    pub fn push(&mut self, message: &[u8]) -> Result<u64, Error> {
        self.sender.push(message)
    }

    /// Handles one frame from the peer ([`Receiver::handle`]); an acknowledgement is passed to
    /// the sender before it is returned. Errors change nothing.
    pub fn handle<'a>(&mut self, frame: &'a [u8]) -> Result<Incoming<'a>, Error> {
        let incoming = self.receiver.handle(frame)?;
        if let Incoming::Ack(seq) = incoming {
            self.sender.on_ack(seq)?;
        }
        Ok(incoming)
    }

    /// The application durably applied message `seq` ([`Receiver::delivered`]); writes the
    /// acknowledgement to send.
    pub fn delivered(&mut self, seq: u64, out: &mut [u8]) -> Result<usize, Error> {
        self.receiver.delivered(seq, out)
    }

    /// The next frame to send, if any: a due acknowledgement first, then the sender's hello or
    /// data ([`Sender::next_frame`]).
    pub fn poll(&mut self, now_ms: u64, out: &mut [u8]) -> Result<Option<usize>, Error> {
        if let Some(n) = self.receiver.poll_ack(out)? {
            return Ok(Some(n));
        }
        self.sender.next_frame(now_ms, out)
    }

    /// The receiver's state (what to persist; [`Incoming::Message`] carries it too).
    pub fn receiver_state(&self) -> ReceiverState {
        self.receiver.state()
    }

    /// The sending half.
    pub fn sender(&self) -> &Sender<S> {
        &self.sender
    }

    /// The sending half, mutable (for example to reset its outbox).
    pub fn sender_mut(&mut self) -> &mut Sender<S> {
        &mut self.sender
    }

    /// Splits the endpoint (on shutdown: the outbox's storage and the receiver's state).
    pub fn into_parts(self) -> (Sender<S>, ReceiverState) {
        (self.sender, self.receiver.state())
    }
}
