//! The result of a run: one JSON object for scripts, a few lines for people.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Instant;

use serde::Serialize;

use crate::stats::{DataLatency, SetupLatency, Tally};
use crate::Config;

/// What a run measured. Serialised as the JSON object the binary prints on stdout.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Messages answered with `250` after the data, in the timed part.
    pub messages_ok: u64,
    /// Failed attempts by reply code (`"550"`) or by kind (`"timeout"`, `"closed"`, `"io"`,
    /// `"tls"`, `"starttls-not-offered"`, `"protocol"`). A non-221 reply to QUIT is counted
    /// too, although its message was delivered.
    pub errors: BTreeMap<String, u64>,
    /// TCP connections that could not be made.
    pub connect_errors: u64,
    /// Seconds from the first connect to the last `250` (to the end of the run if no message
    /// got through).
    pub wall_secs: f64,
    /// `messages_ok / wall_secs`.
    pub msgs_per_sec: f64,
    /// From writing `<CRLF>.<CRLF>` to reading the whole final reply, in microseconds.
    pub data_latency_us: DataLatency,
    /// From connect to the greeting, or with STARTTLS to the end of the second EHLO reply.
    pub setup_latency_us: SetupLatency,
    /// Connections that got through set-up.
    pub connections: u64,
    /// Of those, the ones whose TLS handshake resumed an earlier session (rustls' client
    /// session cache; see `tls_resume`).
    pub tls_resumed: u64,
    /// Messages asked for (the timed part).
    pub messages: u64,
    pub sessions: usize,
    /// Body bytes per message, before dot-stuffing, headers not counted.
    pub size: usize,
    pub per_connection: u32,
    pub starttls: bool,
    /// TLS sessions could be resumed (`--tls-no-resume` not given).
    pub tls_resume: bool,
    /// PIPELINING was asked for (it is used where the server offers it).
    pub pipelining: bool,
    /// Warm-up messages per session, before the timed part.
    pub warmup: u32,
    /// Warm-up messages that got through, and the ones that failed (any reason).
    pub warmup_ok: u64,
    pub warmup_failed: u64,
}

impl Report {
    /// Summarises the timed part's tally; `end` is when its last session finished.
    pub(crate) fn new(cfg: &Config, mut t: Tally, warmup: &Tally, end: Instant) -> Report {
        let wall = match (t.first_connect, t.last_ok) {
            (Some(first), Some(last)) => last.saturating_duration_since(first),
            (Some(first), None) => end.saturating_duration_since(first),
            _ => Default::default(),
        };
        let wall_secs = wall.as_secs_f64();
        Report {
            messages_ok: t.messages_ok,
            errors: std::mem::take(&mut t.errors),
            connect_errors: t.connect_errors,
            wall_secs,
            msgs_per_sec: if wall_secs > 0.0 {
                t.messages_ok as f64 / wall_secs
            } else {
                0.0
            },
            data_latency_us: DataLatency::of(&mut t.data_latency),
            setup_latency_us: SetupLatency::of(&mut t.setup_latency),
            connections: t.connections,
            tls_resumed: t.tls_resumed,
            messages: cfg.messages,
            sessions: cfg.sessions,
            size: cfg.size,
            per_connection: cfg.per_connection,
            starttls: cfg.starttls,
            tls_resume: cfg.tls_resume,
            pipelining: cfg.pipelining,
            warmup: cfg.warmup,
            warmup_ok: warmup.messages_ok,
            warmup_failed: warmup.errors.values().sum::<u64>() + warmup.connect_errors,
        }
    }

    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a report always serialises")
    }

    /// A few lines for a terminal.
    pub fn human(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} messages of {} bytes, {} sessions, {} per connection, {}{}",
            self.messages,
            self.size,
            self.sessions,
            self.per_connection,
            if self.starttls { "STARTTLS" } else { "plain" },
            if self.pipelining { ", pipelining" } else { "" }
        );
        if self.warmup > 0 {
            let _ = writeln!(
                s,
                "  warm-up:   {} per session, {} ok, {} failed",
                self.warmup, self.warmup_ok, self.warmup_failed
            );
        }
        let errors = if self.errors.is_empty() {
            "none".to_string()
        } else {
            self.errors
                .iter()
                .map(|(k, n)| format!("{k} x{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            s,
            "  ok:        {} in {:.2} s = {:.1} msg/s over {} connections",
            self.messages_ok, self.wall_secs, self.msgs_per_sec, self.connections
        );
        let _ = writeln!(
            s,
            "  errors:    {errors}; connect errors {}",
            self.connect_errors
        );
        if self.starttls {
            let _ = writeln!(
                s,
                "  TLS:       {} of {} handshakes resumed{}",
                self.tls_resumed,
                self.connections,
                if self.tls_resume {
                    ""
                } else {
                    " (resumption off)"
                }
            );
        }
        let d = &self.data_latency_us;
        let _ = writeln!(
            s,
            "  DATA->250: p50 {} p90 {} p99 {} max {} mean {} (ms)",
            ms(d.p50),
            ms(d.p90),
            ms(d.p99),
            ms(d.max),
            ms(d.mean)
        );
        let _ = writeln!(
            s,
            "  set-up:    p50 {} p99 {} (ms)",
            ms(self.setup_latency_us.p50),
            ms(self.setup_latency_us.p99)
        );
        s
    }
}

fn ms(us: u64) -> String {
    format!("{:.3}", us as f64 / 1000.0)
}
