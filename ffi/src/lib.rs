//! # tether C ABI
//!
//! One audited core for firmware (C), servers (C, C++, Go, Python through C) and phone apps (JNI on
//! Android, a C module on iOS). The header `ffi/include/tether.h` is generated from this crate by a
//! pinned cbindgen and checked in.
//!
//! ## Conventions
//! The header's opening comment (from `cbindgen.toml`) is the reference; in short:
//! - Sans-I/O like the core: you pass input bytes and output buffers; every call returns a
//!   `tether_status` and says what to do next (`tether_handshake_next`, the `tether_event` of an
//!   opened record, the byte counts written).
//! - `TETHER_OK` is 0 and the only success; every error is non-zero, with its own number that is
//!   never reused. Each function's doc lists its statuses and what it writes on failure.
//! - Every pointer argument is checked for NULL (a NULL buffer is accepted only with length 0),
//!   every length against `PTRDIFF_MAX`, every output against the inputs, the other outputs and
//!   the handle's storage (nothing works in place, except the two calls named so:
//!   `tether_session_seal_in_place` and `tether_session_open_in_place`, whose one buffer is both).
//!   Pointers to scalars and structs need no alignment.
//! - Handles live in storage the caller declares (`tether_handshake`, `tether_session`,
//!   `tether_decoder`, `tether_sender`, for the BLE link `tether_fragmenter` and
//!   `tether_reassembler`, for short-code pairing `tether_code_pairing`, and for a relay
//!   `tether_relay_table`, sized and aligned by `TETHER_*_SIZE` and `TETHER_*_ALIGN`), zeroed
//!   before the first init. Each starts with a header (see `boundary.rs`) naming its kind, its own
//!   address and whether a call is running on it, so that a handle of the wrong kind, a copied
//!   or moved handle, misaligned storage and a callback that calls back into its own handle each
//!   get a status instead of corrupting memory.
//! - No panic crosses the boundary: with the `std` feature every entry point catches panics and
//!   returns `TETHER_ERR_PANIC` (the handle involved is then poisoned: only wipe or init it).
//!   Without `std` nothing unwinds: a panic aborts through the firmware's `tether_panic_hook()`
//!   (feature `c-hooks`, which also takes memory from the firmware's `tether_alloc_hook()`; see
//!   `src/hooks.rs`). Every precondition whose violation would abort in a debug build
//!   (misaligned pointers, slice lengths, overlapping copies) is checked first.
//!
//! ## Threading
//! A handle is not locked: never use one handle from two threads at once (the second call gets
//! `TETHER_ERR_BUSY` when tether sees the overlap, but do not rely on it). Different handles are
//! independent. The platform callbacks are called only from inside a tether call on the same
//! handle, on the calling thread, with the `user` pointer given at init. `tether_strerror`,
//! `tether_version`, the key helpers, `tether_short_code_generate` and the relay's wrap, header
//! and parse are thread-safe.
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![cfg_attr(not(feature = "std"), no_std)]

mod boundary;
mod code_pairing;
mod command;
mod config;
mod decoder;
mod handshake;
#[cfg(all(feature = "c-hooks", not(feature = "std"), not(test)))]
mod hooks;
mod keys;
mod link;
mod message;
mod outbox;
mod peer;
mod platform;
mod receiver;
mod relay;
mod session;
mod sizes;
mod status;
mod update;
mod vitals;

pub use code_pairing::{
    tether_attempt_limiter, tether_attempt_limiter_restore, tether_attempt_limiter_succeeded,
    tether_code_pairing, tether_code_pairing_finish, tether_code_pairing_init_device,
    tether_code_pairing_init_phone, tether_code_pairing_respond, tether_code_pairing_start,
    tether_code_pairing_wipe, tether_short_code_generate, TETHER_CODE_MESSAGE_MAX,
    TETHER_CODE_PAIRING_ALIGN, TETHER_CODE_PAIRING_SIZE, TETHER_SHORT_CODE_LEN,
};
pub use command::{
    tether_command, tether_command_ack_encode, tether_command_ack_rejected,
    tether_command_authority, tether_command_grant, tether_command_param, tether_command_policy,
    tether_command_rule, tether_command_verify, TETHER_ACK_ACCEPTED, TETHER_ACK_EXECUTED,
    TETHER_ACK_FAILED, TETHER_ACK_REJECTED, TETHER_COMMAND_MAX_PARAMS, TETHER_COMMAND_MAX_RULES,
    TETHER_COMMAND_REASON_BAD_SIGNATURE, TETHER_COMMAND_REASON_EXPIRED,
    TETHER_COMMAND_REASON_MALFORMED, TETHER_COMMAND_REASON_NOT_YET_VALID,
    TETHER_COMMAND_REASON_OPERATION_NOT_ALLOWED, TETHER_COMMAND_REASON_PARAMETER_OUT_OF_RANGE,
    TETHER_COMMAND_REASON_REPLAYED, TETHER_COMMAND_REASON_UNKNOWN_AUTHORITY,
    TETHER_COMMAND_REASON_WRONG_DEVICE, TETHER_KID_MAX_LEN,
};
pub use config::{tether_config, tether_config_init, tether_identity};
pub use decoder::{
    tether_decoder, tether_decoder_init, tether_decoder_next, tether_decoder_wipe,
    TETHER_DECODER_ALIGN, TETHER_DECODER_SIZE,
};
pub use handshake::{
    tether_action, tether_handshake, tether_handshake_finish, tether_handshake_init_code_initiator,
    tether_handshake_init_code_responder, tether_handshake_init_initiator,
    tether_handshake_init_responder, tether_handshake_next, tether_handshake_read,
    tether_handshake_wipe, tether_handshake_write, TETHER_HANDSHAKE_ALIGN, TETHER_HANDSHAKE_SIZE,
};
pub use keys::{
    tether_keypair_generate, tether_pairing_code_generate, tether_public_key,
    TETHER_PAIRING_CODE_LEN,
};
pub use link::{
    tether_fragmenter, tether_fragmenter_init, tether_fragmenter_next, tether_fragmenter_set_mtu,
    tether_fragmenter_start, tether_fragmenter_wipe, tether_reassembler, tether_reassembler_init,
    tether_reassembler_push, tether_reassembler_reset, tether_reassembler_set_mtu,
    tether_reassembler_wipe, TETHER_FRAGMENTER_ALIGN, TETHER_FRAGMENTER_SIZE,
    TETHER_REASSEMBLER_ALIGN, TETHER_REASSEMBLER_SIZE,
};
pub use message::{
    tether_message_kind, TETHER_KIND_APP_UPDATE_NOTICE, TETHER_KIND_COMMAND,
    TETHER_KIND_COMMAND_ACK, TETHER_KIND_DIAGNOSTICS, TETHER_KIND_FIRMWARE_MANIFEST,
    TETHER_KIND_IMAGE_CHUNK, TETHER_KIND_SECURITY_EVENTS, TETHER_KIND_UPDATE_STATUS,
    TETHER_KIND_USAGE, TETHER_KIND_VITALS,
};
pub use outbox::{
    tether_outbox_storage, tether_sender, tether_sender_hello, tether_sender_next_frame,
    tether_sender_on_ack, tether_sender_open, tether_sender_pending, tether_sender_push,
    tether_sender_reconnect, tether_sender_reset_storage, tether_sender_wipe,
    tether_storage_read_fn, tether_storage_write_fn, TETHER_DELIVERY_CONTROL_MAX,
    TETHER_DELIVERY_MAX_FRAME, TETHER_DELIVERY_MAX_MESSAGE, TETHER_OUTBOX_DEFAULT_BLOCK,
    TETHER_OUTBOX_ENTRY_OVERHEAD, TETHER_OUTBOX_INDEX_LEN, TETHER_OUTBOX_MAX_BLOCK,
    TETHER_OUTBOX_MIN_BLOCK, TETHER_SENDER_ALIGN, TETHER_SENDER_SIZE,
};
pub use peer::{tether_peer, tether_peer_info, tether_peer_verify_credential};
pub use platform::tether_platform;
pub use receiver::{
    tether_incoming, tether_incoming_kind, tether_receiver_delivered, tether_receiver_handle,
    tether_receiver_poll_ack, tether_receiver_reconnect, tether_receiver_state,
    TETHER_RECEIVER_STATE_LEN,
};
pub use relay::{
    tether_relay_header, tether_relay_parse, tether_relay_table, tether_relay_table_down,
    tether_relay_table_init, tether_relay_table_remove_link, tether_relay_table_route,
    tether_relay_table_up, tether_relay_table_wipe, tether_relay_wrap, TETHER_RELAY_HEADER_LEN,
    TETHER_RELAY_INDEXES, TETHER_RELAY_TABLE_ALIGN, TETHER_RELAY_TABLE_SIZE,
};
pub use session::{
    tether_event, tether_session, tether_session_close, tether_session_open,
    tether_session_open_in_place, tether_session_poll, tether_session_seal,
    tether_session_seal_capacity, tether_session_seal_headroom, tether_session_seal_in_place,
    tether_session_seal_in_place_len, tether_session_update_key, tether_session_wipe,
    TETHER_SESSION_ALIGN, TETHER_SESSION_SIZE,
};
pub use sizes::{
    TETHER_DATAGRAM_OVERHEAD, TETHER_HANDSHAKE_HASH_LEN, TETHER_HANDSHAKE_MAX_LEN, TETHER_KEY_LEN,
    TETHER_LINK_DEFAULT_MAX_UNIT, TETHER_LINK_MAX_FRAGMENT, TETHER_LINK_MAX_UNIT,
    TETHER_LINK_MIN_ATT_MTU, TETHER_MAX_PLAINTEXT, TETHER_SEAL_HEADROOM, TETHER_STREAM_OVERHEAD,
};
pub use status::tether_status;
pub use update::{
    tether_image_check, tether_image_chunk_decode, tether_manifest, tether_manifest_verify,
    tether_update_authority, tether_update_policy, TETHER_IMAGE_CHUNK_MAX, TETHER_IMAGE_READ_BLOCK,
    TETHER_UPDATE_ID_LEN, TETHER_VERSION_MAX_LEN, TETHER_VERSION_SIZE,
};
pub use vitals::{
    tether_value_from_float, tether_value_from_sfloat, tether_vital_channel, tether_vital_reading,
    tether_vital_table_codes, tether_vital_value, tether_vitals_decode, tether_vitals_encode,
    TETHER_VALUE_NAN, TETHER_VALUE_NEG_INF, TETHER_VALUE_NRES, TETHER_VALUE_NUMBER,
    TETHER_VALUE_POS_INF, TETHER_VITALS_MAX_CHANNELS, TETHER_VITALS_MAX_READINGS,
    TETHER_VITALS_MDC_MIN,
};

use boundary::boundary_or;

/// Major version of this library (a test checks it against Cargo.toml).
pub const TETHER_VERSION_MAJOR: u32 = 0;
/// Minor version.
pub const TETHER_VERSION_MINOR: u32 = 1;
/// Patch version.
pub const TETHER_VERSION_PATCH: u32 = 0;

/// The library's version as `(major << 16) | (minor << 8) | patch`, to compare with the
/// `TETHER_VERSION_*` macros the caller compiled against.
#[no_mangle]
pub extern "C" fn tether_version() -> u32 {
    boundary_or(0, || {
        (TETHER_VERSION_MAJOR << 16) | (TETHER_VERSION_MINOR << 8) | TETHER_VERSION_PATCH
    })
}

/// A static, NUL-terminated English description of `status` (never NULL; "unknown status" for a
/// number that is not a status). Do not free it.
#[no_mangle]
pub extern "C" fn tether_strerror(status: i32) -> *const core::ffi::c_char {
    boundary_or(c"internal panic".as_ptr(), || {
        tether_status::from_raw(status)
            .map_or("unknown status\0", tether_status::describe)
            .as_ptr()
            .cast()
    })
}

#[cfg(test)]
mod tests;
