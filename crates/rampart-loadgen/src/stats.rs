//! Counting: what one session saw, merged into the run's totals, and percentiles.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

/// Why a message attempt or a connection failed. Counted in the report's `errors` map under
/// [`Failure::key`], except [`Failure::Connect`], which has its own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The TCP connection could not be made (refused, unreachable, timed out).
    Connect,
    /// A reply with a code other than the expected one.
    Reply(u16),
    /// No complete reply, or a write that did not finish, within the timeout.
    Timeout,
    /// The server closed the connection where a reply was due.
    Closed,
    /// Another I/O error on an established connection.
    Io,
    /// The TLS handshake failed (certificate not trusted, wrong name, protocol error).
    Tls,
    /// `--starttls` was given but the EHLO reply did not offer STARTTLS.
    NoStartTls,
    /// A reply that is not SMTP (no three-digit code, a line too long), or bytes sent after
    /// the `220` to STARTTLS, before the handshake (RFC 3207 section 5 command injection).
    Protocol,
}

impl Failure {
    /// The key in the `errors` map: the reply code, or a short name.
    pub fn key(self) -> String {
        match self {
            Failure::Reply(code) => code.to_string(),
            Failure::Connect => "connect".into(),
            Failure::Timeout => "timeout".into(),
            Failure::Closed => "closed".into(),
            Failure::Io => "io".into(),
            Failure::Tls => "tls".into(),
            Failure::NoStartTls => "starttls-not-offered".into(),
            Failure::Protocol => "protocol".into(),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::BrokenPipe => Failure::Closed,
            std::io::ErrorKind::TimedOut => Failure::Timeout,
            _ => Failure::Io,
        }
    }
}

/// What one session (or the whole run, after [`Tally::merge`]) counted.
#[derive(Debug, Default)]
pub struct Tally {
    pub messages_ok: u64,
    pub errors: BTreeMap<String, u64>,
    pub connect_errors: u64,
    /// Connections that got through set-up.
    pub connections: u64,
    /// Of those, the ones whose TLS handshake resumed an earlier session.
    pub tls_resumed: u64,
    /// Microseconds from the end of the message (`<CRLF>.<CRLF>` written) to its `250`.
    pub data_latency: Vec<u64>,
    /// Microseconds from connect to the greeting, or to the end of the EHLO after STARTTLS.
    pub setup_latency: Vec<u64>,
    /// When the first connection attempt started.
    pub first_connect: Option<Instant>,
    /// When the last `250` to a message arrived.
    pub last_ok: Option<Instant>,
}

impl Tally {
    pub fn with_capacity(messages: usize) -> Self {
        Tally {
            data_latency: Vec::with_capacity(messages),
            setup_latency: Vec::with_capacity(messages),
            ..Default::default()
        }
    }

    pub fn failed(&mut self, f: Failure) {
        if f == Failure::Connect {
            self.connect_errors += 1;
        } else {
            *self.errors.entry(f.key()).or_default() += 1;
        }
    }

    pub fn connecting(&mut self, at: Instant) {
        self.first_connect.get_or_insert(at);
    }

    pub fn connected(&mut self, took: Duration) {
        self.connections += 1;
        self.setup_latency.push(micros(took));
    }

    pub fn delivered(&mut self, took: Duration, at: Instant) {
        self.messages_ok += 1;
        self.data_latency.push(micros(took));
        self.last_ok = Some(at);
    }

    pub fn merge(&mut self, other: Tally) {
        self.messages_ok += other.messages_ok;
        for (k, n) in other.errors {
            *self.errors.entry(k).or_default() += n;
        }
        self.connect_errors += other.connect_errors;
        self.connections += other.connections;
        self.tls_resumed += other.tls_resumed;
        self.data_latency.extend(other.data_latency);
        self.setup_latency.extend(other.setup_latency);
        self.first_connect = match (self.first_connect, other.first_connect) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_ok = match (self.last_ok, other.last_ok) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The nearest-rank percentile of an ascending sample: the smallest value such that at least
/// `p` percent of the sample is less than or equal to it, i.e. the value at rank
/// `ceil(p / 100 * n)` (1-based), rank 1 for `p` = 0. `None` for an empty sample.
pub fn percentile(sorted: &[u64], p: u32) -> Option<u64> {
    assert!(p <= 100, "percentile {p} is over 100");
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len() as u64;
    let rank = (u64::from(p) * n).div_ceil(100).max(1);
    Some(sorted[(rank - 1) as usize])
}

/// Latency of messages, in microseconds; all 0 when there was no sample.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct DataLatency {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
    pub mean: u64,
}

impl DataLatency {
    /// Sorts `sample` and summarises it.
    pub fn of(sample: &mut [u64]) -> Self {
        sample.sort_unstable();
        let at = |p| percentile(sample, p).unwrap_or(0);
        let mean = if sample.is_empty() {
            0
        } else {
            let sum: u128 = sample.iter().map(|&v| u128::from(v)).sum();
            (sum / sample.len() as u128) as u64
        };
        DataLatency {
            p50: at(50),
            p90: at(90),
            p99: at(99),
            max: at(100),
            mean,
        }
    }
}

/// Latency of connection set-up, in microseconds; 0 when there was no sample.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct SetupLatency {
    pub p50: u64,
    pub p99: u64,
}

impl SetupLatency {
    /// Sorts `sample` and summarises it.
    pub fn of(sample: &mut [u64]) -> Self {
        sample.sort_unstable();
        SetupLatency {
            p50: percentile(sample, 50).unwrap_or(0),
            p99: percentile(sample, 99).unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7], 0), Some(7));
        assert_eq!(percentile(&[7], 50), Some(7));
        assert_eq!(percentile(&[7], 100), Some(7));
        // The textbook example: 15, 20, 35, 40, 50.
        let s = [15, 20, 35, 40, 50];
        assert_eq!(percentile(&s, 5), Some(15));
        assert_eq!(percentile(&s, 30), Some(20));
        assert_eq!(percentile(&s, 40), Some(20));
        assert_eq!(percentile(&s, 50), Some(35));
        assert_eq!(percentile(&s, 100), Some(50));
        // 1..=100: the p-th percentile is p itself; 1..=10: rank ceil(n p / 100).
        let hundred: Vec<u64> = (1..=100).collect();
        for p in 1..=100 {
            assert_eq!(percentile(&hundred, p), Some(u64::from(p)));
        }
        let ten: Vec<u64> = (1..=10).collect();
        assert_eq!(percentile(&ten, 90), Some(9));
        assert_eq!(percentile(&ten, 91), Some(10));
        assert_eq!(percentile(&ten, 99), Some(10));
        assert_eq!(percentile(&ten, 0), Some(1));
    }

    #[test]
    fn summaries_sort_and_handle_empty_samples() {
        let mut s = vec![5, 1, 4, 2, 3];
        assert_eq!(
            DataLatency::of(&mut s),
            DataLatency {
                p50: 3,
                p90: 5,
                p99: 5,
                max: 5,
                mean: 3
            }
        );
        assert_eq!(DataLatency::of(&mut []), DataLatency::default());
        assert_eq!(SetupLatency::of(&mut []), SetupLatency::default());
        assert_eq!(
            SetupLatency::of(&mut [9, 1]),
            SetupLatency { p50: 1, p99: 9 }
        );
    }

    #[test]
    fn tallies_merge() {
        let t0 = Instant::now();
        let mut a = Tally::default();
        a.connecting(t0 + Duration::from_millis(5));
        a.delivered(Duration::from_micros(10), t0 + Duration::from_millis(9));
        a.failed(Failure::Reply(550));
        a.failed(Failure::Connect);
        let mut b = Tally::default();
        b.connecting(t0);
        b.delivered(Duration::from_micros(20), t0 + Duration::from_millis(7));
        b.failed(Failure::Reply(550));
        b.failed(Failure::Timeout);
        a.merge(b);
        assert_eq!(a.messages_ok, 2);
        assert_eq!(a.connect_errors, 1);
        assert_eq!(a.errors.get("550"), Some(&2));
        assert_eq!(a.errors.get("timeout"), Some(&1));
        assert_eq!(a.first_connect, Some(t0));
        assert_eq!(a.last_ok, Some(t0 + Duration::from_millis(9)));
        assert_eq!(a.data_latency, vec![10, 20]);
    }
}
