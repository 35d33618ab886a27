//! The HTTPS listeners' limits (NC-2.1.8): how large a request may be, how long its parts may
//! take to arrive, and how many run at once. Each limit ends in a status code or a closed
//! connection, never in a worker held by a slow client.

use serde::{Deserialize, Serialize};
use std::num::NonZeroU32;

/// Limits for every `role = "https"` listener; each listener counts its own connections and
/// requests.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Largest request body, in bytes: a larger one is answered 413 (at once when its
    /// Content-Length says so, else as soon as it grows past this).
    pub max_request_body_bytes: NonZeroU32,
    /// Largest request header section (request line and headers), in bytes, from 1024 to
    /// 1048576: a larger one is answered 431 (HTTP/1.1, then the connection is closed) or refused
    /// by the HTTP/2 layer.
    pub max_header_bytes: NonZeroU32,
    /// Seconds for a request's whole header section to arrive, counted from when the server
    /// starts waiting for it; a client that trickles it (slowloris) is cut off all the same.
    /// On HTTP/1.1 this also bounds how long a kept-alive connection waits for its next request.
    /// (On HTTP/2 a header section still arriving opens no request: `idle_timeout_secs` ends it.)
    pub header_read_timeout_secs: NonZeroU32,
    /// Seconds for a request's whole body to arrive, counted from its headers: a body still
    /// arriving then is answered 408 and the connection closed.
    pub body_read_timeout_secs: NonZeroU32,
    /// Seconds a connection with no request in progress is kept open (HTTP/2; HTTP/1.1 waits at
    /// most `header_read_timeout_secs` as well).
    pub idle_timeout_secs: NonZeroU32,
    /// Requests handled at once on one listener; one more is answered 503 with Retry-After.
    pub max_concurrent_requests: NonZeroU32,
    /// Connections open at once on one listener; beyond it, new connections wait in the
    /// listen queue until one closes.
    pub max_connections: NonZeroU32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            // A message's attachments are uploaded through here: as large as a message may be.
            max_request_body_bytes: nz(25 * 1024 * 1024),
            max_header_bytes: nz(16 * 1024),
            header_read_timeout_secs: nz(10),
            body_read_timeout_secs: nz(120),
            idle_timeout_secs: nz(60),
            max_concurrent_requests: nz(512),
            max_connections: nz(4096),
        }
    }
}

/// The smallest and largest header limits accepted: below 1 KiB ordinary browsers fail, above
/// 1 MiB one request may hold that much memory per connection.
pub const HEADER_BYTES_RANGE: std::ops::RangeInclusive<u32> = 1024..=1024 * 1024;

/// A non-zero literal for the defaults above.
fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

/// The webmail on the HTTPS listeners (`[webmail]`): how long a browser's sign-in lasts.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebmailConfig {
    /// Seconds without a request after which a session ends (the user signs in again). In
    /// seconds, not minutes, so that a test (or a kiosk) can use a short one; no lower bound
    /// is enforced, but below a minute users are signed out while reading.
    pub idle_timeout_secs: NonZeroU32,
    /// Hours after sign-in after which a session ends however busy it was.
    pub max_session_hours: NonZeroU32,
}

impl Default for WebmailConfig {
    fn default() -> Self {
        WebmailConfig {
            idle_timeout_secs: nz(30 * 60),
            max_session_hours: nz(12),
        }
    }
}

impl WebmailConfig {
    /// The idle timeout, in microseconds.
    pub fn idle_micros(&self) -> i64 {
        i64::from(self.idle_timeout_secs.get()) * 1_000_000
    }

    /// The longest session, in microseconds.
    pub fn max_age_micros(&self) -> i64 {
        i64::from(self.max_session_hours.get()) * 3600 * 1_000_000
    }
}
