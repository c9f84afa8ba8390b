//! The message layer: what the bytes inside a record mean (spec/MESSAGES.md).
//!
//! Vital signs, device usage, diagnostics and security events go up from a device; therapy
//! commands and update manifests come down, signed end to end (COSE_Sign1, Ed25519) by an
//! authority the device was provisioned with, so a phone, relay or gateway in between can neither
//! forge nor alter them. Every message is CBOR under the strict rules of spec/MESSAGES.md section 2 (`src/cbor.rs`): decoding
//! borrows from the input, allocates nothing, and names the field that was wrong.
//!
//! This layer knows nothing of sessions or delivery: it turns values into bytes and bytes into
//! values. [`crate::delivery`] carries the bytes, numbered and acknowledged.

pub mod command;
pub mod cose;
pub mod decimal;
pub mod diagnostics;
pub mod envelope;
pub mod rows;
pub mod security_event;
pub mod update;
pub mod usage;
pub mod vitals;

pub use envelope::{Kind, Message};
