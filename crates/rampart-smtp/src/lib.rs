//! Rampart's SMTP server: listeners, sessions, TLS.
//!
//! ```text
//! server (accept, limits, early talker) ─▶ session (state machine) ─▶ codec (lines, DATA)
//!                                              │  address (relay tricks)  reply (codes)
//!                                              └─▶ store.enqueue (durable) ─▶ 250
//! ```
//! What does not live here: storage (rampart-store) and delivery (rampart-queue).

pub mod address;
pub mod codec;
pub mod geoip;
pub mod limits;
pub mod policy;
pub mod received;
pub mod reply;
pub mod room;
pub mod server;
pub mod session;
pub mod submit;
pub mod tls;
pub mod verify;

pub use server::Server;
pub use session::{Flow, ServerContext, Session};
