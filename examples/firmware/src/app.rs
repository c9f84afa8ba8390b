//! The application layer: what the device says and what it understands.
//!
//! This is the only module that knows what the bytes inside records mean. The session code
//! (`device.rs`) moves opaque plaintexts: it asks [`App::produce_reading`] for the next reading's
//! bytes and hands every command record's bytes to [`App::interpret_command`]. When tether's typed
//! CBOR messages arrive (readings and commands), these two functions change (encode a typed
//! reading, decode a typed command) and nothing else does.
//!
//! Today a reading and a command are UTF-8 text. In this replay the "sensor" is the vector's
//! script: the readings the reference implementation sent, in order (the second is empty, a
//! keep-alive).

use crate::say;
use crate::vector::DEVICE_READINGS;

/// What the cloud asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// The cloud acknowledged the readings so far.
    Ack,
    /// Any other command, as text (typed commands come with CBOR).
    Text(&'a str),
}

/// Why the application refused a reading or a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppError {
    /// The sensor has nothing more to report.
    NoReading,
    /// The reading does not fit the record.
    TooLarge,
    /// A command that is not valid UTF-8 text.
    BadCommand,
}

/// The device's application state.
pub struct App {
    readings_sent: usize,
    commands_received: usize,
}

impl App {
    pub const fn new() -> Self {
        Self {
            readings_sent: 0,
            commands_received: 0,
        }
    }

    /// Writes the plaintext of the next reading into `out` and returns it.
    ///
    /// With typed CBOR messages: take a measurement, encode it as a reading message.
    pub fn produce_reading<'o>(&mut self, out: &'o mut [u8]) -> Result<&'o [u8], AppError> {
        let reading = DEVICE_READINGS
            .get(self.readings_sent)
            .ok_or(AppError::NoReading)?;
        let out = out.get_mut(..reading.len()).ok_or(AppError::TooLarge)?;
        out.copy_from_slice(reading);
        self.readings_sent += 1;
        Ok(out)
    }

    /// Interprets the plaintext of a command record from the cloud and acts on it.
    ///
    /// With typed CBOR messages: decode a command message and dispatch on its type.
    pub fn interpret_command<'p>(&mut self, plaintext: &'p [u8]) -> Result<Command<'p>, AppError> {
        let text = core::str::from_utf8(plaintext).map_err(|_| AppError::BadCommand)?;
        let command = match text {
            "ack" => Command::Ack,
            other => Command::Text(other),
        };
        self.commands_received += 1;
        match &command {
            Command::Ack => say!(
                "[app] the cloud acknowledged ",
                self.readings_sent,
                " readings"
            ),
            Command::Text(t) => say!("[app] command from the cloud: \"", t, "\""),
        }
        Ok(command)
    }

    pub fn readings_sent(&self) -> usize {
        self.readings_sent
    }

    pub fn commands_received(&self) -> usize {
        self.commands_received
    }
}
