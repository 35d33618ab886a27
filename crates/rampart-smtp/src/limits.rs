//! Rate limits (NC-2.1.8), the authentication-failure guard (NC-2.1.4, NC-2.4.2), and the time
//! budget of a read ([`ReadBudget`], NC-2.1.8).
//!
//! The first two keep counters in memory, in fixed windows: simple, cheap on the hot path, and
//! enough for one node. (Several nodes will share them through the database later.)

use rampart_config::{AuthConfig, RateLimit, RateScope, RateWhat};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept before expired windows are swept.
const SWEEP_AT: usize = 100_000;

/// Counts connections, messages and recipients per scope.
pub struct RateLimiter {
    rules: Vec<RateLimit>,
    counters: Mutex<HashMap<(usize, String), (Instant, u32)>>,
}

/// The limit that was hit, in words for the trace and the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded(pub String);

impl RateLimiter {
    pub fn new(rules: Vec<RateLimit>) -> RateLimiter {
        RateLimiter {
            rules,
            counters: Mutex::new(HashMap::new()),
        }
    }

    /// Counts `n` of `what` for each key that a rule covers; refuses (counting nothing) if any
    /// rule would go over its limit. `keys` gives the value of each scope (user, ip, domain).
    pub fn hit(&self, what: RateWhat, keys: &[(RateScope, &str)], n: u32) -> Result<(), Exceeded> {
        let now = Instant::now();
        let mut counters = rampart_sync::lock(&self.counters);
        if counters.len() > SWEEP_AT {
            let rules = &self.rules;
            counters.retain(|(i, _), (start, _)| {
                now.duration_since(*start) < Duration::from_secs(rules[*i].window_secs)
            });
        }
        let mut touched = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.what != what {
                continue;
            }
            let key = if rule.scope == RateScope::Global {
                String::new()
            } else {
                match keys.iter().find(|(s, _)| *s == rule.scope) {
                    Some((_, k)) => k.to_ascii_lowercase(),
                    None => continue,
                }
            };
            let window = Duration::from_secs(rule.window_secs);
            let entry = counters.get(&(i, key.clone())).copied();
            let current = match entry {
                Some((start, count)) if now.duration_since(start) < window => count,
                _ => 0,
            };
            if current + n > rule.limit {
                return Err(Exceeded(
                    format!(
                        "{} {:?} per {} in {} s exceeded",
                        rule.limit,
                        rule.what,
                        scope_name(rule.scope),
                        rule.window_secs
                    )
                    .to_lowercase(),
                ));
            }
            touched.push((i, key, current, window));
        }
        for (i, key, current, window) in touched {
            let e = counters.entry((i, key)).or_insert((now, 0));
            if now.duration_since(e.0) >= window {
                *e = (now, 0);
            }
            e.1 = current + n;
        }
        Ok(())
    }
}

fn scope_name(s: RateScope) -> &'static str {
    match s {
        RateScope::User => "user",
        RateScope::Ip => "address",
        RateScope::Domain => "sender domain",
        RateScope::Global => "server",
    }
}

/// Tracks failed authentications per client address and per account: each failure doubles the
/// delay before the next answer; too many from one address refuse it for a while.
pub struct AuthGuard {
    cfg: AuthConfig,
    by_ip: Mutex<HashMap<IpAddr, Failures>>,
    by_account: Mutex<HashMap<String, Failures>>,
}

#[derive(Clone, Copy)]
struct Failures {
    first: Instant,
    count: u32,
    blocked_until: Option<Instant>,
}

impl AuthGuard {
    pub fn new(cfg: AuthConfig) -> AuthGuard {
        AuthGuard {
            cfg,
            by_ip: Mutex::new(HashMap::new()),
            by_account: Mutex::new(HashMap::new()),
        }
    }

    /// True while `ip` is refused for too many failures.
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        rampart_sync::lock(&self.by_ip)
            .get(&ip)
            .and_then(|f| f.blocked_until)
            .is_some_and(|t| t > now)
    }

    /// Records a failure; returns the delay to wait before answering and whether the address is
    /// now blocked.
    pub fn failed(&self, ip: IpAddr, account: &str) -> (Duration, bool) {
        let now = Instant::now();
        let window = Duration::from_secs(self.cfg.window_secs);
        let bump = |f: &mut Failures| {
            if now.duration_since(f.first) >= window {
                *f = Failures {
                    first: now,
                    count: 0,
                    blocked_until: None,
                };
            }
            f.count += 1;
            f.count
        };
        let fresh = Failures {
            first: now,
            count: 0,
            blocked_until: None,
        };
        let (ip_count, blocked) = {
            let mut m = rampart_sync::lock(&self.by_ip);
            let f = m.entry(ip).or_insert(fresh);
            let n = bump(f);
            if n >= self.cfg.block_after_failures {
                f.blocked_until = Some(now + Duration::from_secs(self.cfg.block_secs));
            }
            (n, f.blocked_until.is_some())
        };
        let account_count = {
            let mut m = rampart_sync::lock(&self.by_account);
            if m.len() > SWEEP_AT {
                m.retain(|_, f| now.duration_since(f.first) < window);
            }
            bump(m.entry(account.to_ascii_lowercase()).or_insert(fresh))
        };
        let n = ip_count.max(account_count).min(20);
        let delay = self
            .cfg
            .failure_delay_ms
            .saturating_mul(1 << (n - 1))
            .min(self.cfg.max_failure_delay_ms);
        (Duration::from_millis(delay), blocked)
    }

    /// A success clears the address's and the account's failures.
    pub fn succeeded(&self, ip: IpAddr, account: &str) {
        {
            let mut m = rampart_sync::lock(&self.by_ip);
            if m.get(&ip).is_some_and(|f| f.blocked_until.is_none()) {
                m.remove(&ip);
            }
        }
        rampart_sync::lock(&self.by_account).remove(&account.to_ascii_lowercase());
    }
}

/// NC-2.1.8: the time a session may spend waiting on its client for one record: a command line,
/// or message data (DATA, or one BDAT chunk). It counts every wait for the record, not each read,
/// so a client that trickles a byte now and then (slowloris) runs out all the same. Only time spent
/// waiting on the client counts, not the server's own work (writing the spool, say).
///
/// A command line has a fixed budget. Message data starts with `limit` and earns one second for
/// every `min_rate` bytes received, never holding more than `limit`: a client sending at or above
/// the minimum rate with no pause longer than `limit` never runs out, and one at a lower rate runs
/// out after about `limit / (1 - rate / min_rate)`. Postfix's smtpd_per_request_deadline with
/// smtpd_min_data_rate takes the same approach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadBudget {
    left: Duration,
    limit: Duration,
    /// Bytes per second that earn time; 0 for a fixed budget.
    min_rate: u32,
    received: u64,
    waited: Duration,
}

impl ReadBudget {
    /// A budget that received bytes do not extend: for a command line.
    pub fn fixed(limit: Duration) -> ReadBudget {
        ReadBudget::earning(limit, 0)
    }

    /// A budget that grows by a second for every `min_rate` bytes, up to `limit`: for message data.
    pub fn earning(limit: Duration, min_rate: u32) -> ReadBudget {
        ReadBudget {
            left: limit,
            limit,
            min_rate,
            received: 0,
            waited: Duration::ZERO,
        }
    }

    /// The time left to wait.
    pub fn left(&self) -> Duration {
        self.left
    }

    /// Records a wait of `waited` that brought `bytes`.
    pub fn spent(&mut self, waited: Duration, bytes: usize) {
        self.left = self.left.saturating_sub(waited);
        if self.min_rate > 0 {
            let nanos = bytes as u128 * 1_000_000_000 / u128::from(self.min_rate);
            let earned = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
            self.left = self.left.saturating_add(earned).min(self.limit);
        }
        self.received = self.received.saturating_add(bytes as u64);
        self.waited = self.waited.saturating_add(waited);
    }

    /// The budget a full record starts with (and, for message data, the most it holds).
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// Bytes per second that earn time; 0 for a fixed budget.
    pub fn min_rate(&self) -> u32 {
        self.min_rate
    }

    /// Bytes received within this budget.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Time spent waiting within this budget.
    pub fn waited(&self) -> Duration {
        self.waited
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_command_budget_is_spent_by_a_trickle() {
        let mut b = ReadBudget::fixed(1000 * MS);
        // A byte every 100 ms: each read well inside the limit, the line never within it.
        for _ in 0..9 {
            b.spent(100 * MS, 1);
        }
        assert_eq!(b.left(), 100 * MS);
        b.spent(100 * MS, 1);
        assert_eq!(b.left(), Duration::ZERO);
        assert_eq!((b.received(), b.waited()), (10, 1000 * MS));
    }

    #[test]
    fn data_at_the_minimum_rate_never_runs_out_and_below_it_does() {
        // 500 bytes/s minimum, 3 s limit.
        let mut fast = ReadBudget::earning(3000 * MS, 500);
        for _ in 0..10_000 {
            fast.spent(100 * MS, 50); // 500 bytes/s: exactly the minimum
        }
        assert_eq!(fast.left(), 3000 * MS);
        // Never more than the limit, however much arrives at once: the longest pause stays 3 s.
        fast.spent(MS, 10 << 20);
        assert_eq!(fast.left(), 3000 * MS);

        // 250 bytes/s: half the minimum; loses 0.5 s a second, so 3 s last about 6 s.
        let mut slow = ReadBudget::earning(3000 * MS, 500);
        let mut elapsed = Duration::ZERO;
        loop {
            let left = slow.left();
            if left < 100 * MS {
                // The next 25 bytes would come too late: the wait ends with the budget.
                slow.spent(left, 0);
                elapsed += left;
                break;
            }
            slow.spent(100 * MS, 25);
            elapsed += 100 * MS;
        }
        assert!(slow.left().is_zero());
        assert!(
            (5900 * MS..6100 * MS).contains(&elapsed),
            "ran out after {elapsed:?}"
        );
    }

    #[test]
    fn a_pause_spends_what_was_earned() {
        let mut b = ReadBudget::earning(3000 * MS, 500);
        b.spent(2000 * MS, 250); // 2 s for 250 bytes: 1 s left, +0.5 s
        assert_eq!(b.left(), 1500 * MS);
        b.spent(1500 * MS, 0);
        assert_eq!(b.left(), Duration::ZERO);
    }

    #[test]
    fn rate_limits_count_per_key_and_refuse_without_counting() {
        let r = RateLimiter::new(vec![
            RateLimit {
                scope: RateScope::User,
                what: RateWhat::Messages,
                limit: 2,
                window_secs: 60,
            },
            RateLimit {
                scope: RateScope::Global,
                what: RateWhat::Messages,
                limit: 3,
                window_secs: 60,
            },
        ]);
        let a = [(RateScope::User, "a@x.test")];
        let b = [(RateScope::User, "B@x.test")];
        assert!(r.hit(RateWhat::Messages, &a, 1).is_ok());
        assert!(r.hit(RateWhat::Messages, &a, 1).is_ok());
        let e = r.hit(RateWhat::Messages, &a, 1).unwrap_err();
        assert!(e.0.contains("per user"), "{e:?}");
        assert!(r.hit(RateWhat::Messages, &b, 1).is_ok());
        // The global limit (3) is reached now: a's refused attempt was not counted.
        assert!(r
            .hit(RateWhat::Messages, &[(RateScope::User, "c@x.test")], 1)
            .unwrap_err()
            .0
            .contains("per server"));
        // Other kinds are not limited by these rules.
        assert!(r.hit(RateWhat::Recipients, &a, 100).is_ok());
    }

    #[test]
    fn auth_delays_double_and_block() {
        let g = AuthGuard::new(AuthConfig {
            failure_delay_ms: 100,
            max_failure_delay_ms: 350,
            block_after_failures: 3,
            block_secs: 60,
            window_secs: 60,
        });
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(g.failed(ip, "a"), (Duration::from_millis(100), false));
        assert_eq!(g.failed(ip, "b"), (Duration::from_millis(200), false));
        assert!(!g.is_blocked(ip));
        assert_eq!(g.failed(ip, "c"), (Duration::from_millis(350), true));
        assert!(g.is_blocked(ip));
        // Per account too, from another address.
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(g.failed(other, "a").0, Duration::from_millis(200));
        g.succeeded(other, "a");
        // A success clears the address (not blocked) and the account: back to the first delay.
        assert_eq!(g.failed(other, "a").0, Duration::from_millis(100));
    }
}
