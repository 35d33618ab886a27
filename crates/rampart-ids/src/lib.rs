//! Intrusion detection and prevention (NC-2.4.1, NC-2.4.2, NC-2.4.3), shared by the SMTP
//! listeners (rampart-smtp), the HTTPS listener (through [`rampart_http::Watch`]) and the JMAP
//! and webmail logins (rampart).
//!
//! ```text
//!  listener ── observe(Observation) ──► counters (memory, per node) ──► threshold crossed?
//!     │                                                                     │ yes
//!     │                                                allow-listed? ── no ─┤
//!     │                                                                     ▼
//!     │                                      store: ban_network (ladder) + trace + IDS log
//!     │                                                                     │
//!  accept ── is_banned(ip) ◄── Snapshot (memory) ◄── reload when the store's generation moves
//! ```
//!
//! Counters live in memory in each node: a restart forgets them. On a shared store (several
//! nodes on PostgreSQL, issue 20) [`Ids::count_in_store`] makes each node add what it counts to
//! one count in the store ([`rampart_store::api::SharedState::auth_failure`], a sliding window),
//! so a brute force spread over the nodes crosses the threshold as one would on a single node;
//! the distinct keys (passwords tried) are still told apart per node. Flood (connections per
//! address) stays per node: it is counted at every accept, and is a load on the node it hits.
//! Bans live in the store ([`rampart_store::Bans`]) and survive restarts; each node reloads its
//! [`snapshot`] when the store's generation row changes, read every [`REFRESH`] by [`Ids::run`],
//! so a ban added or lifted by `rampart ban` (another process) takes effect within that time.
//!
//! A detection is the crossing of a threshold: it is written to the trace (event `ids`, client
//! = the address) and the IDS log with its evidence, whether it bans or the address is
//! allow-listed.

pub mod detectors;
pub mod net;
pub mod snapshot;

use detectors::{auth::PasswordKey, Detector, Observation};
use ipnet::IpNet;
use rampart_config::IdsConfig;
use rampart_store::{AnyStore, BanLength, IdsEvent, NetBan, NewBan, TraceEvent};
use snapshot::Snapshot;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// How often a node reads the store's ban generation (one row) to notice bans made elsewhere.
pub const REFRESH: Duration = Duration::from_secs(1);
/// How often the IDS log is pruned after its retention (NC-2.4.3).
const PRUNE_EVERY: Duration = Duration::from_secs(24 * 3600);
/// Keys remembered per counter: past this a counter has crossed any sane threshold.
const MAX_KEYS: usize = 4096;
/// Counters kept before the ended windows are swept.
const SWEEP_AT: usize = 100_000;
/// Evidence lines kept per counter for the ban.
const EVIDENCE_LINES: usize = 3;

struct Counter {
    start: Instant,
    seen: HashSet<u64>,
    anonymous: u64,
    evidence: Vec<String>,
}

impl Counter {
    fn count(&self) -> u64 {
        self.seen.len() as u64 + self.anonymous
    }
}

pub struct Ids {
    cfg: IdsConfig,
    store: AnyStore,
    snapshot: RwLock<Arc<Snapshot>>,
    generation: Mutex<Option<i64>>,
    counters: Mutex<HashMap<(Detector, String), Counter>>,
    password_key: PasswordKey,
    /// Addresses whose observations are not counted until the instant given: the audit's own
    /// self-test probes (smuggling variants, relay tricks) from this host, opened and closed
    /// over the admin socket, which only the service's user and root can reach.
    exempt: Mutex<HashMap<IpAddr, Instant>>,
    /// Thresholds are judged on the store's shared count ([`Ids::count_in_store`]).
    shared: std::sync::atomic::AtomicBool,
}

impl Ids {
    pub fn new(cfg: IdsConfig, store: AnyStore) -> Ids {
        let snapshot = Snapshot::new(&[], cfg.allow.clone());
        Ids {
            cfg,
            store,
            snapshot: RwLock::new(Arc::new(snapshot)),
            generation: Mutex::new(None),
            counters: Mutex::new(HashMap::new()),
            password_key: PasswordKey::random(),
            exempt: Mutex::new(HashMap::new()),
            shared: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Several nodes share the store (issue 20): each new event a node counts is also added to
    /// one count per (detector, subject) in the store, and the threshold is judged on that. When
    /// the store cannot be asked, the node's own count decides.
    pub fn count_in_store(&self) {
        self.shared
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Stops counting what `ip` does for `for_how_long` (None: ends an exemption). For the
    /// audit's self-test from this host (NC-2.4.1 still sees real abuse from everywhere else);
    /// it ends by itself, so an audit that dies midway leaves nothing open for long.
    pub fn exempt(&self, ip: IpAddr, for_how_long: Option<Duration>) {
        let ip = net::canonical(ip);
        let mut exempt = rampart_sync::lock(&self.exempt);
        let now = Instant::now();
        exempt.retain(|_, until| *until > now);
        match for_how_long {
            Some(d) => {
                exempt.insert(ip, now + d);
            }
            None => {
                exempt.remove(&ip);
            }
        }
    }

    fn is_exempt(&self, ip: IpAddr) -> bool {
        let exempt = rampart_sync::lock(&self.exempt);
        !exempt.is_empty()
            && exempt
                .get(&net::canonical(ip))
                .is_some_and(|until| *until > Instant::now())
    }

    pub fn config(&self) -> &IdsConfig {
        &self.cfg
    }

    fn snap(&self) -> Arc<Snapshot> {
        match self.snapshot.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// NC-2.4.2: is `ip` refused at accept now? In memory only (see [`snapshot`]).
    pub fn is_banned(&self, ip: IpAddr) -> bool {
        self.is_banned_at(ip, rampart_store::now_micros())
    }

    /// [`Ids::is_banned`] at `now` (microseconds).
    pub fn is_banned_at(&self, ip: IpAddr, now: i64) -> bool {
        self.cfg.enabled && self.snap().banned(ip, now).is_some()
    }

    /// The network a ban of `ip` covers (`ids.ipv4_prefix`, `ids.ipv6_prefix`).
    pub fn network_of(&self, ip: IpAddr) -> IpNet {
        net::network_of(ip, self.cfg.ipv4_prefix, self.cfg.ipv6_prefix)
    }

    /// Reloads the snapshot when the store's generation moved (or `force`). Returns whether it
    /// reloaded.
    pub async fn refresh(&self, force: bool) -> rampart_store::Result<bool> {
        let generation = self.store.bans_generation().await?;
        {
            let g = rampart_sync::lock(&self.generation);
            if !force && *g == Some(generation) {
                return Ok(false);
            }
        }
        let now = rampart_store::now_micros();
        let bans = self.store.list_active(now).await?;
        let mut allow = self.cfg.allow.clone();
        for a in self.store.allowed().await? {
            match a.network.parse::<IpNet>() {
                Ok(n) => allow.push(n),
                Err(_) => {
                    tracing::warn!(network = %a.network, "an allowed network that does not parse; ignored")
                }
            }
        }
        let snap = Snapshot::new(&bans, allow);
        tracing::debug!(bans = snap.len, generation, "ban list reloaded");
        match self.snapshot.write() {
            Ok(mut g) => *g = Arc::new(snap),
            Err(p) => *p.into_inner() = Arc::new(snap),
        }
        *rampart_sync::lock(&self.generation) = Some(generation);
        Ok(true)
    }

    /// Keeps the snapshot in step with the store and prunes the IDS log daily, until shutdown.
    pub async fn run(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut last_prune: Option<Instant> = None;
        loop {
            if let Err(e) = self.refresh(false).await {
                tracing::warn!(error = %e, "ban list not reloaded");
            }
            if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                last_prune = Some(Instant::now());
                let now = rampart_store::now_micros();
                match self.store.prune_ids(self.cfg.retention_days, now).await {
                    Ok(n) if n > 0 => tracing::info!(
                        removed = n,
                        days = self.cfg.retention_days,
                        "IDS log pruned (NC-2.4.3)"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "IDS log not pruned"),
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(REFRESH) => {}
                r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { return },
            }
        }
    }

    /// A failed login (SMTP AUTH, JMAP, webmail): see [`detectors::auth`].
    pub async fn failed_login(&self, ip: IpAddr, account: &str, password: &str, service: &str) {
        let network = self.network_of(ip).to_string();
        for o in detectors::auth::failed_login(
            &self.password_key,
            ip,
            &network,
            account,
            password,
            service,
        ) {
            self.observe(o).await;
        }
    }

    /// Counts `o`; past its detector's threshold, records the detection and bans the client's
    /// network (unless allow-listed). Returns the ban made, if any.
    pub async fn observe(&self, o: Observation) -> Option<NetBan> {
        if !self.cfg.enabled {
            return None;
        }
        let th = o.detector.threshold(&self.cfg);
        if th.count == 0 || self.is_exempt(o.ip) {
            return None;
        }
        let network = self.network_of(o.ip);
        let subject = o.account.clone().unwrap_or_else(|| network.to_string());
        let now = Instant::now();
        let window = Duration::from_secs(th.window_secs);
        let crossed = {
            let mut counters = rampart_sync::lock(&self.counters);
            if counters.len() > SWEEP_AT {
                let cfg = &self.cfg;
                counters.retain(|(d, _), c| {
                    now.duration_since(c.start) < Duration::from_secs(d.threshold(cfg).window_secs)
                });
            }
            let c = counters
                .entry((o.detector, subject.clone()))
                .or_insert_with(|| Counter {
                    start: now,
                    seen: HashSet::new(),
                    anonymous: 0,
                    evidence: Vec::new(),
                });
            if now.duration_since(c.start) >= window {
                *c = Counter {
                    start: now,
                    seen: HashSet::new(),
                    anonymous: 0,
                    evidence: Vec::new(),
                };
            }
            let new = match o.key {
                Some(k) => c.seen.len() < MAX_KEYS && c.seen.insert(k),
                None => {
                    c.anonymous = c.anonymous.saturating_add(1);
                    true
                }
            };
            if new {
                if c.evidence.len() >= EVIDENCE_LINES {
                    c.evidence.remove(0);
                }
                c.evidence.push(o.evidence.clone());
            }
            new.then(|| {
                (
                    c.count(),
                    now.duration_since(c.start).as_secs(),
                    c.evidence.join("; "),
                )
            })
        };
        let (mut count, secs, evidence) = crossed?;
        // Flood counts every connection: a round trip to the store for each would put the
        // database on every accept, and a flood is a load on the node it reaches, so each node
        // judges its own.
        if o.detector != Detector::Flood && self.shared.load(std::sync::atomic::Ordering::Relaxed) {
            count = self
                .shared_count(o.detector, &subject, window)
                .await
                .unwrap_or(count);
        }
        // Once crossed, each further new event asks again: for auth_account each new address
        // failing on the account is banned in its turn.
        if count < u64::from(th.count) {
            return None;
        }
        // NC-2.4.2: an allow-listed address is never banned, so only the first crossing of a
        // window is traced. Every later event used to be recorded too: a commit of the store per
        // connection from a busy allow-listed peer (issue 23: loopback under a benchmark).
        let first = count == u64::from(th.count);
        if !first && self.snap().allowed(net::canonical(o.ip)) {
            return None;
        }
        let crossed = format!(
            "{count} in {secs} s (threshold {} in {} s); last: {evidence}",
            th.count, th.window_secs,
        );
        self.detected(o, network, crossed).await
    }

    /// Adds one to the store's count of (`detector`, `subject`) and returns it: what every node
    /// counted within the window. None (logged) when the store cannot be asked.
    async fn shared_count(
        &self,
        detector: Detector,
        subject: &str,
        window: Duration,
    ) -> Option<u64> {
        let key = format!("ids:{}:{subject}", detector.name());
        let window = i64::try_from(window.as_micros()).unwrap_or(i64::MAX);
        match self
            .store
            .auth_failure(&key, rampart_store::now_micros(), window)
            .await
        {
            Ok(n) => Some(u64::from(n)),
            Err(e) => {
                tracing::warn!(error = %e, key, "IDS: the shared count cannot be read; this node's count decides");
                None
            }
        }
    }

    /// A threshold was crossed: trace it, and ban unless the address is allowed.
    async fn detected(&self, o: Observation, network: IpNet, evidence: String) -> Option<NetBan> {
        let ip = net::canonical(o.ip);
        let snap = self.snap();
        let allowed = snap.allowed(ip);
        let detail = format!(
            "{}: {evidence}{}",
            o.detector.reason(),
            if allowed {
                "; allow-listed, not banned"
            } else {
                ""
            }
        );
        let mut e = TraceEvent::new("ids", detail.clone());
        e.client = Some(ip.to_string());
        self.store.record(e).await;
        let now = rampart_store::now_micros();
        self.store
            .ids_record(IdsEvent {
                ts: now,
                network: ip.to_string(),
                event: "detect".into(),
                detector: o.detector.name().into(),
                detail,
            })
            .await;
        if allowed {
            return None;
        }
        if snap.banned(ip, now).is_some() {
            // Already banned (a session open before the ban): nothing more to do.
            return None;
        }
        tracing::warn!(client = %ip, detector = o.detector.name(), "banning {network}: {evidence}");
        let ban = NewBan {
            network: network.to_string(),
            reason: o.detector.reason().into(),
            detector: o.detector.name().into(),
            evidence,
        };
        let made = match self.store.ban_network(ban, self.ladder(), now).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "ban not stored");
                return None;
            }
        };
        if let Err(e) = self.refresh(true).await {
            tracing::warn!(error = %e, "ban list not reloaded");
        }
        self.subnet_ban(ip, now).await;
        Some(made)
    }

    /// NC-2.4.2: enough banned addresses in one /24 (/48) ban the whole of it.
    async fn subnet_ban(&self, ip: IpAddr, now: i64) {
        if self.cfg.subnet_after == 0 {
            return;
        }
        let subnet = net::network_of(ip, self.cfg.subnet_ipv4_prefix, self.cfg.subnet_ipv6_prefix);
        let snap = self.snap();
        let inside = snap.banned_inside(&subnet, now);
        if inside < self.cfg.subnet_after as usize || snap.banned(ip, now) == Some(subnet) {
            return;
        }
        if self
            .cfg
            .allow
            .iter()
            .any(|a| a.contains(&subnet) || subnet.contains(a))
        {
            return;
        }
        let ban = NewBan {
            network: subnet.to_string(),
            reason: "several addresses of the network banned".into(),
            detector: "subnet".into(),
            evidence: format!("{inside} addresses of {subnet} banned at once"),
        };
        match self.store.ban_network(ban, self.ladder(), now).await {
            Ok(_) => {
                if let Err(e) = self.refresh(true).await {
                    tracing::warn!(error = %e, "ban list not reloaded");
                }
            }
            Err(e) => tracing::error!(error = %e, "subnet ban not stored"),
        }
    }

    /// NC-2.4.2: the escalation from `ids.ban_secs`, permanent from `ids.permanent_after` on.
    pub fn ladder(&self) -> BanLength {
        ladder(&self.cfg)
    }
}

/// The ban ladder of a configuration, in microseconds.
pub fn ladder(cfg: &IdsConfig) -> BanLength {
    let mut steps: Vec<Option<i64>> = cfg
        .ban_secs
        .iter()
        .map(|s| Some(i64::try_from(*s).unwrap_or(i64::MAX / 2_000_000) * 1_000_000))
        .collect();
    if let Some(n) = cfg.permanent_after {
        let n = n as usize;
        let last = steps.last().copied().flatten();
        while steps.len() < n {
            steps.push(last);
        }
        steps.truncate(n);
        steps.push(None);
    }
    BanLength::Ladder(steps)
}

/// [`Ids`] as the HTTPS listener takes it (NC-2.4.1, NC-2.4.2): the ban check in memory, and
/// reports counted on a task of their own so the accept loop and the response never wait on the
/// store.
pub struct Shared(pub Arc<Ids>);

impl rampart_http::Watch for Shared {
    fn refuse(&self, peer: IpAddr) -> bool {
        self.0.is_banned(peer)
    }
    fn tls_failed(&self, peer: IpAddr, error: &str) {
        let (ids, o) = (
            self.0.clone(),
            detectors::tls::handshake_failed(peer, error),
        );
        tokio::spawn(async move { ids.observe(o).await });
    }
    fn probe(&self, peer: IpAddr, path: &str) {
        let (ids, o) = (self.0.clone(), detectors::http_scan::probe(peer, path));
        tokio::spawn(async move { ids.observe(o).await });
    }
}

#[cfg(test)]
mod tests;
