//! The delivery layer: each application message exactly once, across disconnects and reboots
//! (spec/MESSAGES.md, delivery).
//!
//! (being written)
