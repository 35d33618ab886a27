//! Rate limits (NC-2.1.8), the authentication guard (NC-2.1.4, NC-2.4.2; NC-2.1.8 for what the
//! attempts may cost), and the time budget of a read ([`ReadBudget`], NC-2.1.8).
//!
//! The first two keep counters in memory, in fixed windows: simple, cheap on the hot path, and
//! enough for one node. (Several nodes will share them through the database later.)

use rampart_config::{AuthConfig, RateLimit, RateScope, RateWhat};
use rampart_ids::detectors::auth::PasswordKey;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Entries kept before expired windows are swept.
const SWEEP_AT: usize = 100_000;
/// NC-2.4.1: distinct wrong (account, password) pairs remembered per address in a window; past
/// this every failure counts (a client this busy is past any sane block threshold anyway).
const REPEATS_REMEMBERED: usize = 256;

/// Counts connections, messages and recipients per scope. The rules can be replaced while the
/// server runs ([`RateLimiter::set_rules`], on SIGHUP); the counts of the rules that stay go on.
pub struct RateLimiter {
    /// The rules and the counts, by rule index and key: under one lock, so a count always
    /// belongs to the rule it was made under.
    state: Mutex<Limits>,
}

struct Limits {
    rules: Vec<RateLimit>,
    counters: HashMap<(usize, String), (Instant, u32)>,
}

/// A rule's count as several nodes keep it in the shared store (issue 20): the store key, the
/// window and the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedCount {
    /// The same on every node with the same rule: scope, what, window and the scope's value.
    pub key: String,
    pub window_secs: u64,
    pub limit: u32,
    /// The rule in words, as [`Exceeded`] says it.
    pub text: String,
}

/// The limit that was hit, in words for the trace and the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded(pub String);

impl RateLimiter {
    pub fn new(rules: Vec<RateLimit>) -> RateLimiter {
        RateLimiter {
            state: Mutex::new(Limits {
                rules,
                counters: HashMap::new(),
            }),
        }
    }

    /// Replaces the rules (a reload). A rule found unchanged among the new ones keeps its counts,
    /// whatever its place in the list; a new or changed rule starts from zero.
    pub fn set_rules(&self, rules: Vec<RateLimit>) {
        let mut state = rampart_sync::lock(&self.state);
        let moved: Vec<Option<usize>> = state
            .rules
            .iter()
            .map(|old| rules.iter().position(|new| new == old))
            .collect();
        let counters = std::mem::take(&mut state.counters);
        state.counters = counters
            .into_iter()
            .filter_map(|((i, key), v)| moved.get(i).copied().flatten().map(|j| ((j, key), v)))
            .collect();
        state.rules = rules;
    }

    /// The rules in force.
    pub fn rules(&self) -> Vec<RateLimit> {
        rampart_sync::lock(&self.state).rules.clone()
    }

    /// The counts a shared store keeps for `what` and `keys` (the rules [`RateLimiter::hit`]
    /// applies), for nodes that count together (NC-2.1.8 across nodes).
    pub fn shared_counts(&self, what: RateWhat, keys: &[(RateScope, &str)]) -> Vec<SharedCount> {
        let state = rampart_sync::lock(&self.state);
        state
            .rules
            .iter()
            .filter(|rule| rule.what == what)
            .filter_map(|rule| {
                let key = rule_key(rule, keys)?;
                Some(SharedCount {
                    key: format!(
                        "rate:{}:{:?}:{}:{key}",
                        scope_name(rule.scope),
                        rule.what,
                        rule.window_secs
                    ),
                    window_secs: rule.window_secs,
                    limit: rule.limit,
                    text: exceeded_text(rule),
                })
            })
            .collect()
    }

    /// Counts `n` of `what` for each key that a rule covers; refuses (counting nothing) if any
    /// rule would go over its limit. `keys` gives the value of each scope (user, ip, domain).
    pub fn hit(&self, what: RateWhat, keys: &[(RateScope, &str)], n: u32) -> Result<(), Exceeded> {
        let now = Instant::now();
        let mut state = rampart_sync::lock(&self.state);
        let Limits { rules, counters } = &mut *state;
        if counters.len() > SWEEP_AT {
            counters.retain(|(i, _), (start, _)| {
                now.duration_since(*start) < Duration::from_secs(rules[*i].window_secs)
            });
        }
        let mut touched = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            if rule.what != what {
                continue;
            }
            let Some(key) = rule_key(rule, keys) else {
                continue;
            };
            let window = Duration::from_secs(rule.window_secs);
            let entry = counters.get(&(i, key.clone())).copied();
            let current = match entry {
                Some((start, count)) if now.duration_since(start) < window => count,
                _ => 0,
            };
            if current + n > rule.limit {
                return Err(Exceeded(exceeded_text(rule)));
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

/// The value of `rule`'s scope among `keys` (lower case); empty for the global scope; None when
/// the rule's scope is not among them (no user for an unauthenticated relay).
fn rule_key(rule: &RateLimit, keys: &[(RateScope, &str)]) -> Option<String> {
    if rule.scope == RateScope::Global {
        return Some(String::new());
    }
    keys.iter()
        .find(|(s, _)| *s == rule.scope)
        .map(|(_, k)| k.to_ascii_lowercase())
}

fn exceeded_text(rule: &RateLimit) -> String {
    format!(
        "{} {:?} per {} in {} s exceeded",
        rule.limit,
        rule.what,
        scope_name(rule.scope),
        rule.window_secs
    )
    .to_lowercase()
}

fn scope_name(s: RateScope) -> &'static str {
    match s {
        RateScope::User => "user",
        RateScope::Ip => "address",
        RateScope::Domain => "sender domain",
        RateScope::Global => "server",
    }
}

/// NC-2.1.8: attempts that may wait for a password-hashing slot, per slot. Past this an attempt
/// is answered 454 4.7.0 at once instead of queueing behind the others: a burst is refused
/// rather than held in memory. (A candidate for a configuration key, `auth.hash_queue_per_slot`.)
pub const HASH_QUEUE_PER_SLOT: usize = 4;

/// NC-2.1.8: password hashes computed at once: one per core, at least two. Each Argon2id check
/// holds 19 MiB while it runs, so AUTH never holds more than `slots × 19 MiB` for hashing,
/// whatever the number of attempts. (A candidate for a configuration key, `auth.hash_slots`.)
pub fn hash_slots() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().max(2))
}

/// Tracks failed authentications per client address and per account: each failure doubles the
/// delay before the next answer; too many from one address refuse it for a while. A wrong
/// password repeated for the same account from the same address counts once (NC-2.4.1: a phone
/// retrying a stale password does not lock out an office behind one NAT address), told apart
/// by the IDS's keyed hash, never by the password itself. It also
/// admits attempts before their password is hashed (NC-2.1.8): per address, attempts in
/// progress count with the failures; for the server, hashes run in a bounded number of slots.
pub struct AuthGuard {
    cfg: AuthConfig,
    by_ip: Mutex<HashMap<IpAddr, Address>>,
    by_account: Mutex<HashMap<String, Failures>>,
    /// Keys the hashes of failed passwords; random per process, kept in memory only.
    password_key: PasswordKey,
    hashing: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
}

#[derive(Clone, Copy)]
struct Failures {
    first: Instant,
    count: u32,
    blocked_until: Option<Instant>,
}

impl Failures {
    fn fresh(now: Instant) -> Failures {
        Failures {
            first: now,
            count: 0,
            blocked_until: None,
        }
    }

    /// Starts over once the window has passed, or once a block has run out; true if it did.
    fn age(&mut self, now: Instant, window: Duration) -> bool {
        let expired_block = self.blocked_until.is_some_and(|t| t <= now);
        let restart = now.duration_since(self.first) >= window || expired_block;
        if restart {
            *self = Failures::fresh(now);
        }
        restart
    }
}

/// What is known about one client address.
struct Address {
    failures: Failures,
    /// Attempts admitted by [`AuthGuard::begin`] and not yet answered.
    in_flight: u32,
    /// NC-2.4.1: keyed hashes of the (account, password) pairs that failed in this window.
    failed_pairs: HashSet<u64>,
}

impl Address {
    fn fresh(now: Instant) -> Address {
        Address {
            failures: Failures::fresh(now),
            in_flight: 0,
            failed_pairs: HashSet::new(),
        }
    }

    /// Starts the window over (see [`Failures::age`]), forgetting the failed pairs with it.
    fn age(&mut self, now: Instant, window: Duration) {
        if self.failures.age(now, window) {
            self.failed_pairs.clear();
        }
    }
}

/// Why an authentication attempt is refused before its password is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthRefusal {
    /// The address is blocked after repeated failures.
    Blocked,
    /// The address's attempts in progress and failures together reach the block threshold.
    TooManyAttempts,
    /// Every hashing slot is taken and the queue for them is full.
    Busy,
}

impl AuthGuard {
    pub fn new(cfg: AuthConfig) -> AuthGuard {
        let slots = hash_slots();
        AuthGuard::with_hash_slots(cfg, slots, slots * HASH_QUEUE_PER_SLOT)
    }

    /// A guard that runs at most `slots` hashes at once, with at most `queue` attempts waiting.
    pub fn with_hash_slots(cfg: AuthConfig, slots: usize, queue: usize) -> AuthGuard {
        AuthGuard {
            cfg,
            by_ip: Mutex::new(HashMap::new()),
            by_account: Mutex::new(HashMap::new()),
            password_key: PasswordKey::random(),
            hashing: Arc::new(Semaphore::new(slots.max(1))),
            waiting: AtomicUsize::new(0),
            max_waiting: queue,
        }
    }

    fn window(&self) -> Duration {
        Duration::from_secs(self.cfg.window_secs)
    }

    /// True while `ip` is refused for too many failures.
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        rampart_sync::lock(&self.by_ip)
            .get(&ip)
            .and_then(|a| a.failures.blocked_until)
            .is_some_and(|t| t > now)
    }

    /// NC-2.1.8: admits an attempt from `ip` before its password is hashed. The attempts in
    /// progress count with the failures against `block_after_failures`, so that parallel
    /// attempts cannot all be checked before the first of them has failed: with a threshold of
    /// 10, 30 attempts at once hash 10 passwords and the rest are refused as a block is.
    pub fn begin(&self, ip: IpAddr) -> Result<AuthAttempt<'_>, AuthRefusal> {
        let now = Instant::now();
        let window = self.window();
        let mut m = rampart_sync::lock(&self.by_ip);
        if m.len() > SWEEP_AT {
            m.retain(|_, a| {
                a.in_flight > 0
                    || a.failures.blocked_until.is_some_and(|t| t > now)
                    || now.duration_since(a.failures.first) < window
            });
        }
        let a = m.entry(ip).or_insert_with(|| Address::fresh(now));
        if a.failures.blocked_until.is_some_and(|t| t > now) {
            return Err(AuthRefusal::Blocked);
        }
        a.age(now, window);
        if a.failures.count.saturating_add(a.in_flight) >= self.cfg.block_after_failures {
            return Err(AuthRefusal::TooManyAttempts);
        }
        a.in_flight += 1;
        Ok(AuthAttempt {
            guard: self,
            ip,
            open: true,
        })
    }

    /// Records a failure of `account` with `secret` (a password or a token); returns the delay
    /// to wait before answering and whether the address is now blocked. NC-2.4.1: the same
    /// wrong secret for the same account from the same address counts once in a window: it is
    /// answered after the delay the failures so far earn, and blocks nothing new.
    pub fn failed(&self, ip: IpAddr, account: &str, secret: &str) -> (Duration, bool) {
        self.record_failure(ip, account, secret, false)
    }

    fn record_failure(
        &self,
        ip: IpAddr,
        account: &str,
        secret: &str,
        ends_attempt: bool,
    ) -> (Duration, bool) {
        let now = Instant::now();
        let window = self.window();
        let account = account.to_ascii_lowercase();
        // NC-2.4.1: the IDS's keyed hash (HMAC-SHA-256 under a per-process key), so repeats are
        // recognised without the password being kept.
        let pair = self.password_key.tag(&["auth-guard", &account, secret]);
        let (ip_count, blocked, repeat) = {
            let mut m = rampart_sync::lock(&self.by_ip);
            let a = m.entry(ip).or_insert_with(|| Address::fresh(now));
            // The attempt turns into a failure under the same lock: never counted twice or
            // not at all by a `begin` running alongside.
            if ends_attempt {
                a.in_flight = a.in_flight.saturating_sub(1);
            }
            a.age(now, window);
            let repeat = a.failed_pairs.contains(&pair);
            if !repeat {
                if a.failed_pairs.len() < REPEATS_REMEMBERED {
                    a.failed_pairs.insert(pair);
                }
                a.failures.count += 1;
                if a.failures.count >= self.cfg.block_after_failures {
                    a.failures.blocked_until = Some(now + Duration::from_secs(self.cfg.block_secs));
                }
            }
            (a.failures.count, a.failures.blocked_until.is_some(), repeat)
        };
        let account_count = {
            let mut m = rampart_sync::lock(&self.by_account);
            if m.len() > SWEEP_AT {
                m.retain(|_, f| now.duration_since(f.first) < window);
            }
            let f = m.entry(account).or_insert(Failures::fresh(now));
            f.age(now, window);
            if !repeat {
                f.count += 1;
            }
            f.count
        };
        let n = ip_count.max(account_count).clamp(1, 20);
        let delay = self
            .cfg
            .failure_delay_ms
            .saturating_mul(1 << (n - 1))
            .min(self.cfg.max_failure_delay_ms);
        (Duration::from_millis(delay), blocked)
    }

    /// The administrator lifts the blocks (`rampart ban remove`): every address inside `net`
    /// starts again with no failure. Attempts in progress still count. Returns how many
    /// addresses were blocked.
    pub fn unblock(&self, net: &rampart_config::IpNet) -> usize {
        let now = Instant::now();
        let mut blocked = 0;
        for (ip, a) in rampart_sync::lock(&self.by_ip).iter_mut() {
            if net.contains(ip) {
                blocked += usize::from(a.failures.blocked_until.is_some_and(|t| t > now));
                a.failures = Failures::fresh(now);
            }
        }
        blocked
    }

    /// A success clears the address's and the account's failures.
    pub fn succeeded(&self, ip: IpAddr, account: &str) {
        {
            let mut m = rampart_sync::lock(&self.by_ip);
            if let Some(a) = m.get_mut(&ip) {
                if a.failures.blocked_until.is_none() {
                    a.failures = Failures::fresh(Instant::now());
                    a.failed_pairs.clear();
                }
            }
        }
        rampart_sync::lock(&self.by_account).remove(&account.to_ascii_lowercase());
    }

    fn end_attempt(&self, ip: IpAddr) {
        if let Some(a) = rampart_sync::lock(&self.by_ip).get_mut(&ip) {
            a.in_flight = a.in_flight.saturating_sub(1);
        }
    }
}

/// An attempt admitted by [`AuthGuard::begin`]: it counts against its address until it is
/// answered ([`AuthAttempt::failed`], [`AuthAttempt::succeeded`]) or dropped (the client left).
pub struct AuthAttempt<'a> {
    guard: &'a AuthGuard,
    ip: IpAddr,
    open: bool,
}

impl AuthAttempt<'_> {
    /// NC-2.1.8: waits for one of the server's hashing slots; the permit is to be held while the
    /// password is hashed. Refused with [`AuthRefusal::Busy`] when the queue for slots is full.
    pub async fn hash_slot(&self) -> Result<OwnedSemaphorePermit, AuthRefusal> {
        let slots = self.guard.hashing.clone();
        if let Ok(permit) = slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let _queued =
            Queued::enter(&self.guard.waiting, self.guard.max_waiting).ok_or(AuthRefusal::Busy)?;
        slots.acquire_owned().await.map_err(|_| AuthRefusal::Busy)
    }

    /// The password was wrong: see [`AuthGuard::failed`].
    pub fn failed(mut self, account: &str, password: &str) -> (Duration, bool) {
        self.open = false;
        self.guard.record_failure(self.ip, account, password, true)
    }

    /// The password was right: see [`AuthGuard::succeeded`].
    pub fn succeeded(mut self, account: &str) {
        self.open = false;
        self.guard.end_attempt(self.ip);
        self.guard.succeeded(self.ip, account);
    }
}

impl Drop for AuthAttempt<'_> {
    fn drop(&mut self) {
        if self.open {
            self.guard.end_attempt(self.ip);
        }
    }
}

/// One place in the queue for a hashing slot, given back on drop.
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn enter(waiting: &'a AtomicUsize, max: usize) -> Option<Queued<'a>> {
        if waiting.fetch_add(1, Ordering::AcqRel) >= max {
            waiting.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Queued(waiting))
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
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

    /// NC-2.1.8 on reload: a rule kept (even at another place in the list) keeps its counts; a
    /// changed rule starts from zero with its new limit.
    #[test]
    fn rate_limits_replaced_on_reload_keep_the_counts_of_unchanged_rules() {
        let user = |limit| RateLimit {
            scope: RateScope::User,
            what: RateWhat::Messages,
            limit,
            window_secs: 60,
        };
        let ip = |limit| RateLimit {
            scope: RateScope::Ip,
            what: RateWhat::Messages,
            limit,
            window_secs: 60,
        };
        let r = RateLimiter::new(vec![user(2), ip(5)]);
        let keys = [(RateScope::User, "a@x.test"), (RateScope::Ip, "192.0.2.1")];
        assert!(r.hit(RateWhat::Messages, &keys, 2).is_ok());
        // The user rule kept (moved to second place), the address rule tightened to 3.
        r.set_rules(vec![ip(3), user(2)]);
        assert_eq!(r.rules(), vec![ip(3), user(2)]);
        let e = r.hit(RateWhat::Messages, &keys, 1).unwrap_err();
        assert!(e.0.contains("per user"), "the kept count was lost: {e:?}");
        let other = [(RateScope::User, "b@x.test"), (RateScope::Ip, "192.0.2.1")];
        // The new address rule counts from zero: 2 of 3, then refused.
        assert!(r.hit(RateWhat::Messages, &other, 2).is_ok());
        let e = r.hit(RateWhat::Messages, &other, 2).unwrap_err();
        assert!(e.0.starts_with("3 messages per address"), "{e:?}");
    }

    fn auth_cfg(block_after_failures: u32) -> AuthConfig {
        AuthConfig {
            failure_delay_ms: 100,
            max_failure_delay_ms: 350,
            block_after_failures,
            block_secs: 60,
            window_secs: 60,
        }
    }

    #[test]
    fn nc_2_1_8_parallel_attempts_count_before_hashing() {
        let g = AuthGuard::new(auth_cfg(10));
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        // 30 attempts at once from one address: 10 are admitted, 20 refused before any hash.
        let results: Vec<_> = (0..30).map(|_| g.begin(ip)).collect();
        let admitted = results.iter().filter(|r| r.is_ok()).count();
        let refused = results
            .iter()
            .filter(|r| matches!(r, Err(AuthRefusal::TooManyAttempts)))
            .count();
        assert_eq!((admitted, refused), (10, 20));
        // Another address is not affected.
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        assert!(g.begin(other).is_ok());

        let mut admitted: Vec<_> = results.into_iter().filter_map(Result::ok).collect();
        // One fails: the failure takes the place of the attempt, nothing frees up.
        let (_, blocked) = admitted.pop().unwrap().failed("a", "p0");
        assert!(!blocked);
        assert_eq!(g.begin(ip).err(), Some(AuthRefusal::TooManyAttempts));
        // Clients that leave before an answer give their place back (the failure stays).
        admitted.truncate(5);
        let again = g.begin(ip).expect("a place was given back");
        // Failures up to nine (five answered attempts, three more), then the tenth blocks.
        for i in 1..9 {
            let p = format!("p{i}");
            admitted
                .pop()
                .map(|a| a.failed("a", &p))
                .unwrap_or_else(|| g.failed(ip, "a", &p));
        }
        let (_, blocked) = again.failed("a", "p9");
        assert!(blocked);
        assert_eq!(g.begin(ip).err(), Some(AuthRefusal::Blocked));
    }

    #[tokio::test]
    async fn nc_2_1_8_hashing_slots_are_bounded_and_so_is_their_queue() {
        use std::future::Future;
        use std::task::{Context, Poll, Waker};
        let g = AuthGuard::with_hash_slots(auth_cfg(10), 2, 1);
        let ip = |n: u8| IpAddr::from([192, 0, 2, n]);
        let (a, b, c, d) = (
            g.begin(ip(1)).unwrap(),
            g.begin(ip(2)).unwrap(),
            g.begin(ip(3)).unwrap(),
            g.begin(ip(4)).unwrap(),
        );
        let first = a.hash_slot().await.unwrap();
        let _second = b.hash_slot().await.unwrap();
        // The third waits in the queue (one place) ...
        let mut third = std::pin::pin!(c.hash_slot());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(third.as_mut().poll(&mut cx).is_pending());
        // ... and the fourth finds the queue full: refused at once, not held.
        assert_eq!(d.hash_slot().await.err(), Some(AuthRefusal::Busy));
        // A finished hash hands its slot to the one waiting.
        drop(first);
        assert!(matches!(third.as_mut().poll(&mut cx), Poll::Ready(Ok(_))));
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
        assert_eq!(g.failed(ip, "a", "x"), (Duration::from_millis(100), false));
        assert_eq!(g.failed(ip, "b", "x"), (Duration::from_millis(200), false));
        assert!(!g.is_blocked(ip));
        assert_eq!(g.failed(ip, "c", "x"), (Duration::from_millis(350), true));
        assert!(g.is_blocked(ip));
        // Per account too, from another address.
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(g.failed(other, "a", "x").0, Duration::from_millis(200));
        g.succeeded(other, "a");
        // A success clears the address (not blocked) and the account: back to the first delay.
        assert_eq!(g.failed(other, "a", "x").0, Duration::from_millis(100));
    }

    /// NC-2.4.1: a client repeating one stale password is never blocked, and its delay does not
    /// grow; the same number of different passwords blocks. Begin/fail pairs, as SMTP AUTH and
    /// JMAP run them.
    #[test]
    fn nc_2_4_1_auth_guard_counts_a_stale_password_once() {
        let g = AuthGuard::new(auth_cfg(5));
        let phone: IpAddr = "192.0.2.20".parse().unwrap();
        for _ in 0..20 {
            let attempt = g.begin(phone).expect("the stale phone is never refused");
            let (delay, blocked) = attempt.failed("alice@example.test", "old password");
            assert_eq!((delay, blocked), (Duration::from_millis(100), false));
        }
        assert!(!g.is_blocked(phone));
        // The account's count took the stale password once too: a first failure for alice from
        // another address earns the second delay, not the twenty-first.
        let other: IpAddr = "192.0.2.21".parse().unwrap();
        assert_eq!(
            g.failed(other, "Alice@example.test", "guess").0,
            Duration::from_millis(200)
        );
        // The same secret for another account is another failure.
        assert_eq!(
            g.failed(phone, "bob@example.test", "old password").0,
            Duration::from_millis(200)
        );

        let attacker: IpAddr = "192.0.2.66".parse().unwrap();
        let mut last = (Duration::ZERO, false);
        for i in 0..5 {
            let attempt = g.begin(attacker).expect("admitted before the block");
            last = attempt.failed("carol@example.test", &format!("guess {i}"));
        }
        assert!(last.1, "five different passwords block the address");
        assert_eq!(g.begin(attacker).err(), Some(AuthRefusal::Blocked));
    }
}
