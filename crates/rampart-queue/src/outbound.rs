//! Outbound delivery: remote recipients of queued messages, by domain, over SMTP.
//!
//! For each destination domain: route (smarthost, or MX with implicit-MX fallback and null MX,
//! RFC 5321 5.1 / RFC 7505), connect host by host, STARTTLS at TLS 1.2+ whenever offered
//! (AL-1.1; a per-domain policy can require it and verify the certificate), send every due message
//! for the domain over the one connection, and record each recipient's outcome. Temporary failures
//! are retried on the configured schedule until the message's lifetime runs out; permanent
//! failures and expiry send a DSN to the sender. Every attempt is a trace event (AL-3.1).

mod tls_connect;

use crate::client::{verifying_config, ClientError, Connection, RemoteReply, TlsMode};
use crate::dkim::{from_domain, Signers};
use crate::dns::{addresses, route, Route};
use crate::dsn;
use crate::mta_sts::MtaSts;
use crate::transport_security::{PolicyKind, Security};
use hickory_resolver::TokioResolver;
use rampart_config::{Config, Smarthost};
use rampart_store::dkim_keys::{DkimKey, KeysStamp};
use rampart_store::{
    now_micros, AnyStore, Bounce, DueMessage, Failure, RecipientStatus, TraceEvent,
};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

/// What outbound delivery shares across its tasks.
pub struct Outbound {
    pub store: AnyStore,
    pub config: Arc<Config>,
    pub resolver: TokioResolver,
    /// DKIM keys, reloaded when the key directory or the store's keys change
    /// (`rampart dkim generate`): see [`Outbound::signers`].
    signers: std::sync::RwLock<Keys>,
    /// Woken when a bounce is queued.
    pub notify: Arc<Notify>,
    total: Arc<Semaphore>,
    per_domain: Mutex<HashMap<String, Arc<Semaphore>>>,
    in_flight: Mutex<InFlight>,
    /// RFC 8461: receiving domains' MTA-STS policies.
    mta_sts: MtaSts,
    /// The Web PKI roots (and `mta_sts_ca_file`) MX certificates are checked against.
    roots: Arc<rustls::RootCertStore>,
}

/// (queue id, recipient)
type Key = (String, String);

/// How long the signing keys read from a shared store are used before the store is asked
/// whether they changed (a key of a domain that has none here is asked for at once).
const STORED_KEYS_REFRESH: Duration = Duration::from_secs(60);

/// The DKIM signers and where they came from.
struct Keys {
    /// The key directory's modification time when the files were read.
    files_mtime: Option<std::time::SystemTime>,
    /// The store's keys as last read, with their stamp (none on the embedded store).
    stored: Option<(KeysStamp, Vec<DkimKey>)>,
    /// When the store was last asked whether its keys changed.
    checked: Option<std::time::Instant>,
    signers: Arc<Signers>,
}

/// The recipients taken for delivery, and those recorded since the oldest queue snapshot that
/// may still be handed to [`Outbound::dispatch`].
///
/// A snapshot of the queue ([`Store::due`]) read before an attempt was recorded still shows its
/// recipient as queued. Were the recipient forgotten as soon as its attempt is recorded, that
/// stale snapshot would start a second attempt: a second delivery, or a second bounce of a
/// message the first one removed (it then fails with "no message"). So a recorded recipient stays
/// here, marked with the count of recorded attempts at that moment, until a snapshot read after
/// it ([`Outbound::mark`]) reaches dispatch.
#[derive(Default)]
struct InFlight {
    /// `None` while the attempt runs; `Some(epoch)` once it is recorded.
    taken: HashMap<Key, Option<u64>>,
    /// Recorded recipients, oldest first.
    recorded: VecDeque<(u64, Key)>,
    /// Attempts recorded so far (per message and domain).
    epoch: u64,
}

/// When a queue snapshot was read, in recorded attempts: see [`Outbound::mark`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueMark(u64);

/// One message's recipients at one domain.
struct Item {
    msg: DueMessage,
    rcpts: Vec<String>,
}

impl Outbound {
    pub fn new(
        store: AnyStore,
        config: Arc<Config>,
        notify: Arc<Notify>,
    ) -> Result<Outbound, String> {
        let resolver = crate::dns::resolver(&config.dns)?;
        let roots = crate::transport_security::roots(config.delivery.mta_sts_ca_file.as_deref())?;
        let mta_sts = MtaSts::new(
            store.clone(),
            resolver.clone(),
            roots.clone(),
            config.delivery.mta_sts_port,
        );
        let signers = std::sync::RwLock::new(Keys {
            files_mtime: key_dir_mtime(&config.data_dir),
            stored: None,
            checked: None,
            signers: Arc::new(Signers::load(&config.data_dir)?),
        });
        Ok(Outbound {
            total: Arc::new(Semaphore::new(
                config.delivery.max_connections.max(1) as usize
            )),
            store,
            resolver,
            signers,
            notify,
            config,
            per_domain: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(InFlight::default()),
            mta_sts,
            roots,
        })
    }

    /// The current signing keys for mail from `from`: reloaded if the key directory changed,
    /// or if a shared store's keys changed (issue 20: a key generated on any node signs here
    /// too). The store is asked for its stamp when the keys were last checked
    /// [`STORED_KEYS_REFRESH`] ago, and at once when `from` has no key here (a key just added
    /// for a domain signs its next message); the keys themselves are read only when the stamp
    /// moved. A store that cannot be read leaves the keys as they were.
    async fn signers(&self, from: Option<&str>) -> Arc<Signers> {
        let mtime = key_dir_mtime(&self.config.data_dir);
        let (files_changed, ask_store, stamp, current) = {
            let k = rampart_sync::read(&self.signers);
            let stale = k.checked.is_none_or(|t| t.elapsed() >= STORED_KEYS_REFRESH);
            let missing = from.is_some_and(|d| !k.signers.has(d));
            (
                k.files_mtime != mtime,
                stale || missing,
                k.stored.as_ref().map(|(s, _)| *s),
                k.signers.clone(),
            )
        };
        let mut read = None;
        if ask_store {
            match self.store.dkim_keys_stamp().await {
                Ok(Some(now)) if Some(now) != stamp => match self.store.dkim_keys().await {
                    Ok(Some(keys)) => read = Some((now, keys)),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "the store's DKIM keys could not be read; keeping the previous ones")
                    }
                },
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "the store's DKIM keys could not be checked; keeping the previous ones")
                }
            }
            rampart_sync::write(&self.signers).checked = Some(std::time::Instant::now());
        }
        if !files_changed && read.is_none() {
            return current;
        }
        let stored = match read {
            Some(r) => Some(r),
            None => rampart_sync::read(&self.signers).stored.clone(),
        };
        let keys: &[DkimKey] = stored.as_ref().map_or(&[], |(_, k)| k.as_slice());
        match Signers::with_stored(&self.config.data_dir, keys) {
            Ok(s) => {
                let s = Arc::new(s);
                let mut k = rampart_sync::write(&self.signers);
                k.files_mtime = mtime;
                k.stored = stored;
                k.signers = s.clone();
                tracing::info!(keys = s.len(), "DKIM keys reloaded");
                s
            }
            Err(e) => {
                tracing::error!(error = %e, "DKIM keys could not be reloaded; keeping the previous ones");
                current
            }
        }
    }

    /// To be taken just before the queue is read: [`Outbound::dispatch`] then knows which
    /// recipients of that snapshot were recorded after it was read.
    pub fn mark(&self) -> QueueMark {
        QueueMark(rampart_sync::lock(&self.in_flight).epoch)
    }

    /// Starts delivery of the remote recipients of `due` (a queue snapshot read after `mark`)
    /// that are not being delivered, and were not recorded since the snapshot was read.
    /// Returns how many recipients were taken.
    pub fn dispatch(self: &Arc<Self>, due: &[DueMessage], mark: QueueMark) -> usize {
        let mut by_domain: HashMap<String, Vec<Item>> = HashMap::new();
        let mut taken = 0;
        {
            let mut in_flight = rampart_sync::lock(&self.in_flight);
            // Recorded before the snapshot was read: the snapshot shows them as they are now.
            while in_flight
                .recorded
                .front()
                .is_some_and(|(e, _)| *e <= mark.0)
            {
                if let Some((e, key)) = in_flight.recorded.pop_front() {
                    if in_flight.taken.get(&key) == Some(&Some(e)) {
                        in_flight.taken.remove(&key);
                    }
                }
            }
            for msg in due {
                let mut per: HashMap<String, Vec<String>> = HashMap::new();
                for r in msg.recipients.iter().filter(|r| !r.local) {
                    let key = (msg.id.0.clone(), r.address.clone());
                    // Running, or recorded after the snapshot was read (it is stale for them).
                    if let std::collections::hash_map::Entry::Vacant(v) = in_flight.taken.entry(key)
                    {
                        v.insert(None);
                        let domain = r
                            .address
                            .rsplit_once('@')
                            .map(|(_, d)| d.to_ascii_lowercase())
                            .unwrap_or_default();
                        per.entry(domain).or_default().push(r.address.clone());
                        taken += 1;
                    }
                }
                for (domain, rcpts) in per {
                    by_domain.entry(domain).or_default().push(Item {
                        msg: msg.clone(),
                        rcpts,
                    });
                }
            }
        }
        let per_domain = self.config.delivery.max_connections_per_domain.max(1) as usize;
        for (domain, items) in by_domain {
            // Up to the per-domain limit of connections, each carrying a share of the messages.
            let n = per_domain.min(items.len());
            let mut shares: Vec<Vec<Item>> = (0..n).map(|_| Vec::new()).collect();
            for (i, item) in items.into_iter().enumerate() {
                shares[i % n].push(item);
            }
            for share in shares {
                let this = self.clone();
                let domain = domain.clone();
                tokio::spawn(async move { this.deliver_domain(domain, share).await });
            }
        }
        taken
    }

    fn domain_slot(&self, domain: &str) -> Arc<Semaphore> {
        let n = self.config.delivery.max_connections_per_domain.max(1) as usize;
        rampart_sync::lock(&self.per_domain)
            .entry(domain.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(n)))
            .clone()
    }

    async fn deliver_domain(self: Arc<Self>, domain: String, items: Vec<Item>) {
        let slot = self.domain_slot(&domain);
        let _d = slot.acquire_owned().await;
        let _t = self.total.clone().acquire_owned().await;
        let mut pending: Vec<Item> = items;
        match self.connect(&domain).await {
            Ok((mut conn, security)) => {
                // AL-1.1, AL-3.1: every attempt's trace event says how the hop was secured.
                let security = security.describe();
                let mut broken: Option<String> = None;
                for item in pending.drain(..) {
                    if let Some(why) = &broken {
                        self.finish(
                            &item,
                            item.rcpts
                                .iter()
                                .map(|r| (r.clone(), temporary(why.clone())))
                                .collect(),
                            None,
                        )
                        .await;
                        continue;
                    }
                    let results = self.send_one(&mut conn, &item).await;
                    if let Err(why) = &results {
                        broken = Some(why.clone());
                    }
                    let attempts = match results {
                        Ok(r) => r,
                        Err(why) => item
                            .rcpts
                            .iter()
                            .map(|r| (r.clone(), temporary(why.clone())))
                            .collect(),
                    };
                    self.finish(&item, attempts, Some((&conn.host, &security)))
                        .await;
                }
                if broken.is_none() {
                    conn.quit().await;
                }
            }
            Err(e) => {
                for item in pending.drain(..) {
                    let a = item.rcpts.iter().map(|r| (r.clone(), e.clone())).collect();
                    self.finish(&item, a, None).await;
                }
            }
        }
    }

    /// Opens a connection for `domain`: to the smarthost, or the first MX host that answers.
    async fn connect(&self, domain: &str) -> Result<(Connection, Security), RecipientStatus> {
        let d = &self.config.delivery;
        let timeout = Duration::from_secs(d.timeout_secs.max(1));
        let helo = self.config.hostname.get_ref().as_str();
        // AL-1: a relay domain goes to its internal next hops, in order, never by MX or through
        // the smarthost. NC-2.1.9: a null client sends to its primary servers only, in order.
        let relays: Vec<Smarthost> =
            match (self.config.relay_domain(domain), &self.config.null_client) {
                (Some(rd), _) => crate::relay_domain::next_hops(rd),
                (None, Some(nc)) => nc.smarthosts(),
                (None, None) => d.smarthost.iter().cloned().collect(),
            };
        if !relays.is_empty() {
            let mut last = temporary("no primary server configured".into());
            for sh in &relays {
                match self.connect_smarthost(sh, helo, timeout).await {
                    Ok(c) => {
                        let security = Security {
                            tls: c.tls.clone(),
                            verified: c.tls.is_some(),
                            policy: PolicyKind::Configured,
                        };
                        return Ok((c, security));
                    }
                    Err(e) => {
                        tracing::debug!(host = %sh.host, error = ?e, "relay host failed; trying the next");
                        last = e;
                    }
                }
            }
            return Err(last);
        }
        let hosts = match route(&self.resolver, domain).await {
            Route::Hosts(h) => h,
            Route::NullMx => {
                return Err(RecipientStatus::PermanentFailure(Failure {
                    status: "5.1.10".into(),
                    reply: format!("{domain} accepts no mail (null MX)"),
                    remote_mta: None,
                }))
            }
            Route::NoSuchDomain => {
                return Err(RecipientStatus::PermanentFailure(Failure {
                    status: "5.1.2".into(),
                    reply: format!("{domain} has no mail server (no MX and no address)"),
                    remote_mta: None,
                }))
            }
            Route::TempFail(e) => return Err(temporary(e)),
        };
        self.connect_mx(domain, hosts, helo, timeout).await
    }

    /// Connects to one relay host (smarthost or null-client primary): TLS required and the
    /// certificate verified (AL-1.1), then AUTH PLAIN inside TLS when a user is configured.
    async fn connect_smarthost(
        &self,
        sh: &Smarthost,
        helo: &str,
        timeout: Duration,
    ) -> Result<Connection, RecipientStatus> {
        // NC-2.3.4: a client certificate proves this node to the relay (the store to the
        // gateway, the gateway to the internal server).
        let client = match (&sh.client_cert, &sh.client_key) {
            (Some(c), Some(k)) => Some((c.as_path(), k.as_path())),
            _ => None,
        };
        let ca = sh
            .ca_file
            .as_deref()
            .unwrap_or(std::path::Path::new("/etc/ssl/certs/ca-certificates.crt"));
        let config = verifying_config(ca, client).map_err(temporary)?;
        let tls = TlsMode {
            required: true,
            config,
            implicit: sh.tls == rampart_config::SmarthostTls::Implicit,
        };
        let addrs = addresses(&self.resolver, &sh.host)
            .await
            .map_err(|(_, e)| temporary(e))?;
        let mut last = temporary(format!("no address for {}", sh.host));
        for ip in addrs {
            match Connection::open(SocketAddr::new(ip, sh.port), &sh.host, helo, &tls, timeout)
                .await
            {
                Ok(mut c) => {
                    if let (Some(user), Some(pf)) = (&sh.username, &sh.password_file) {
                        let pw = std::fs::read_to_string(pf)
                            .map_err(|e| temporary(format!("{}: {e}", pf.display())))?;
                        let pw = pw.lines().next().unwrap_or_default().to_string();
                        c.auth_plain(user, &pw)
                            .await
                            .map_err(|e| classify(e, &sh.host))?;
                    }
                    return Ok(c);
                }
                Err(e) => last = classify(e, &sh.host),
            }
        }
        Err(last)
    }

    /// Sends one message over an open connection. Err: the connection broke (temporary).
    async fn send_one(
        &self,
        conn: &mut Connection,
        item: &Item,
    ) -> Result<Vec<(String, RecipientStatus)>, String> {
        let mut message = match self.store.message_bytes(&item.msg.id, false).await {
            Ok(m) => m,
            Err(e) => return Err(format!("reading the queued message: {e}")),
        };
        // AL-1: mail forwarded inward to a relay domain's next hop is not signed: a signature
        // is for mail leaving to the Internet, and a forged From arriving from outside must not
        // come out of the gateway with the agency's signature on it.
        let inward = item
            .rcpts
            .first()
            .and_then(|r| r.rsplit_once('@'))
            .is_some_and(|(_, d)| self.config.relay_domain(d).is_some());
        let from = from_domain(&message).filter(|_| !inward);
        let signers = self.signers(from.as_deref()).await;
        if let Some(domain) = from.filter(|d| signers.has(d)) {
            match signers.sign(&domain, &message) {
                Ok(headers) => {
                    let mut signed = headers.into_bytes();
                    signed.extend_from_slice(&message);
                    message = signed;
                }
                Err(e) => tracing::error!(error = %e, "DKIM signing failed; sending unsigned"),
            }
        }
        let host = conn.host.clone();
        // NC-2.1.9: a null client's every message leaves with the bounce address as envelope
        // sender, its own DSNs too (a primary's submission port refuses the null sender). The
        // queue still knows a DSN by its null sender, so a DSN is never bounced (no loop).
        let from = match &self.config.null_client {
            Some(nc) => nc.bounce(),
            None => item.msg.sender.as_str(),
        };
        match conn.send(from, &item.rcpts, &message).await {
            Ok(results) => Ok(results
                .into_iter()
                .map(|(r, reply)| (r, status_of(reply, &host)))
                .collect()),
            Err(ClientError::Refused(reply)) => Ok(item
                .rcpts
                .iter()
                .map(|r| (r.clone(), status_of(reply.clone(), &host)))
                .collect()),
            Err(ClientError::Transport(e)) => Err(e),
        }
    }

    /// Records the attempt for one message's recipients, bounces what failed, and releases them.
    async fn finish(
        &self,
        item: &Item,
        attempts: Vec<(String, RecipientStatus)>,
        via: Option<(&str, &str)>,
    ) {
        let now = now_micros();
        let lifetime = self.config.delivery.lifetime_secs as i64 * 1_000_000;
        let expired = now - item.msg.received > lifetime;
        let mut outcomes = Vec::new();
        let mut failed = Vec::new();
        let via_text = match via {
            Some((host, security)) => format!(" via {host} ({security})"),
            None => String::new(),
        };
        for (rcpt, a) in attempts {
            let (outcome, event, detail) = match a {
                RecipientStatus::Delivered(reply) => {
                    // AL-1: the trace follows the message to the next hop's queue.
                    let next = crate::relay_domain::next_hop_queue_id(&reply)
                        .map(|id| format!("; next hop queue id {id}"))
                        .unwrap_or_default();
                    let detail = format!("delivered to {rcpt}{via_text}: {reply}{next}");
                    (RecipientStatus::Delivered(reply), "relayed", detail)
                }
                RecipientStatus::TemporaryFailure { reply, .. } if expired => {
                    let f = Failure {
                        status: "4.4.7".into(),
                        reply: format!("delivery time expired; last error: {reply}"),
                        remote_mta: None,
                    };
                    let detail = format!("{rcpt}: {}", f.reply);
                    failed.push((rcpt.clone(), f.clone()));
                    (RecipientStatus::PermanentFailure(f), "expired", detail)
                }
                RecipientStatus::TemporaryFailure { reply, .. } => {
                    let (wait, next_attempt) = self.retry(&item.msg, &rcpt, now);
                    let detail = format!("{rcpt}{via_text}: {reply}; next attempt in {wait} s");
                    (
                        RecipientStatus::TemporaryFailure {
                            reply,
                            next_attempt,
                        },
                        "deferred",
                        detail,
                    )
                }
                RecipientStatus::PermanentFailure(f) => {
                    let detail = format!("{rcpt}{via_text}: {}", f.reply);
                    failed.push((rcpt.clone(), f.clone()));
                    (RecipientStatus::PermanentFailure(f), "failed", detail)
                }
                // An attempt ends in one of the above; anything else leaves the row as it is.
                RecipientStatus::Scheduled | RecipientStatus::Held => continue,
            };
            outcomes.push((rcpt, outcome, event, detail));
        }
        let mut bounce = None;
        if !failed.is_empty() && !item.msg.sender.is_empty() {
            match self.bounce(&item.msg, &failed).await {
                Ok(b) => bounce = Some(b),
                Err(e) => {
                    // Recorded without its bounce, the failure would remove the message and the
                    // sender would never hear of it: it is retried instead, bounce and all.
                    tracing::error!(error = %e, queue_id = %item.msg.id, "could not prepare the bounce; the failure is retried");
                    for (rcpt, outcome, event, detail) in &mut outcomes {
                        if let RecipientStatus::PermanentFailure(f) = outcome {
                            let (wait, next_attempt) = self.retry(&item.msg, rcpt, now);
                            *detail = format!(
                                "{}; the bounce could not be queued ({e}): next attempt in {wait} s",
                                f.reply
                            );
                            *outcome = RecipientStatus::TemporaryFailure {
                                reply: f.reply.clone(),
                                next_attempt,
                            };
                            *event = "deferred";
                        }
                    }
                }
            }
        }
        let mut events = Vec::new();
        let outcomes = outcomes
            .into_iter()
            .map(|(rcpt, outcome, event, detail)| {
                let mut e = TraceEvent::new(event, detail);
                e.queue_id = Some(item.msg.id.0.clone());
                e.message_id = item.msg.message_id.clone();
                e.sender = Some(item.msg.sender.clone());
                e.recipient = Some(rcpt.clone());
                events.push(e);
                (rcpt, outcome)
            })
            .collect();
        // One commit: the outcomes, the bounce, and the removal of a message nothing needs any
        // more. The message goes only with the bounce that quotes it, never before.
        if let Err(e) = self
            .store
            .record_attempts(&item.msg.id, outcomes, events, bounce)
            .await
        {
            tracing::error!(error = %e, queue_id = %item.msg.id, "recording the delivery attempt failed");
        }
        {
            // Recorded (or left as it was): a queue snapshot read from now on shows it as it is.
            let mut in_flight = rampart_sync::lock(&self.in_flight);
            in_flight.epoch += 1;
            let epoch = in_flight.epoch;
            for r in &item.rcpts {
                let key = (item.msg.id.0.clone(), r.clone());
                in_flight.taken.insert(key.clone(), Some(epoch));
                in_flight.recorded.push_back((epoch, key));
            }
        }
        // The manager schedules the next retry from the recorded outcome, and sends the bounce.
        self.notify.notify_one();
    }

    /// How long until `rcpt` of `msg` is tried again after a temporary failure, and when that
    /// is: from the schedule, by the attempts made before this one.
    fn retry(&self, msg: &DueMessage, rcpt: &str, now: i64) -> (u64, i64) {
        let schedule = &self.config.delivery.retry_secs;
        let prior = msg
            .recipients
            .iter()
            .find(|r| r.address == rcpt)
            .map_or(0, |r| r.attempts) as usize;
        let wait = schedule
            .get(prior)
            .or(schedule.last())
            .copied()
            .unwrap_or(300);
        (wait, now + wait as i64 * 1_000_000)
    }

    /// Prepares a DSN to the sender of `msg` (null sender, so it never bounces itself), to be
    /// queued with the failures it reports.
    async fn bounce(
        &self,
        msg: &DueMessage,
        failed: &[(String, Failure)],
    ) -> Result<Bounce, String> {
        // The DSN quotes the original's header; without it, it still tells the sender.
        let original = match self.store.message_bytes(&msg.id, false).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, queue_id = %msg.id, "the bounced message could not be read; its DSN quotes no header");
                Vec::new()
            }
        };
        let hostname = self.config.hostname.get_ref();
        let arrival = rampart_store::rfc5322_date(msg.received / 1_000_000);
        let daemon = match &self.config.null_client {
            Some(nc) => nc.bounce().to_string(),
            None => format!("MAILER-DAEMON@{hostname}"),
        };
        let body = dsn::build(
            hostname,
            &daemon,
            &msg.id.0,
            &msg.sender,
            failed,
            &original,
            &arrival,
        );
        // NC-2.1.9: a null client's bounces go to its bounce address, through the primary
        // (never into a local mailbox); the envelope sender already is that address.
        let to = match &self.config.null_client {
            Some(nc) => nc.bounce(),
            None => msg.sender.as_str(),
        };
        let mut message = self
            .store
            .generated(
                to,
                body,
                format!("{}.dsn@{hostname}", msg.id.0),
                &format!("delivery status notification for {}", msg.id),
            )
            .await
            .map_err(|e| e.to_string())?;
        if self.config.null_client.is_some() {
            message.recipients = vec![rampart_store::QueuedRecipient {
                address: to.to_string(),
                local: false,
            }];
        }
        let mut event = TraceEvent::new("bounce", format!("DSN {} queued for <{to}>", message.id));
        event.queue_id = Some(msg.id.0.clone());
        event.message_id = msg.message_id.clone();
        event.sender = Some(msg.sender.clone());
        Ok(Bounce { message, event })
    }
}

fn key_dir_mtime(data_dir: &std::path::Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(crate::dkim::key_dir(data_dir))
        .and_then(|m| m.modified())
        .ok()
}

/// A temporary failure as an attempt reports it; [`Outbound::finish`] schedules the next
/// attempt from the recipient's count of attempts before it is recorded.
fn temporary(reply: String) -> RecipientStatus {
    RecipientStatus::TemporaryFailure {
        reply,
        next_attempt: 0,
    }
}

/// What a remote reply means for the recipient it answers.
fn status_of(r: RemoteReply, host: &str) -> RecipientStatus {
    let text = format!("{host} said: {}", r.line());
    if r.is_ok() {
        RecipientStatus::Delivered(text)
    } else if r.is_permanent() {
        // RFC 3463: the enhanced code leads the text when the server sends one.
        let status = r
            .text
            .split_whitespace()
            .next()
            .filter(|s| s.starts_with("5."))
            .unwrap_or("5.0.0")
            .to_string();
        RecipientStatus::PermanentFailure(Failure {
            status,
            reply: text,
            remote_mta: Some(host.to_string()),
        })
    } else {
        temporary(text)
    }
}

fn classify(e: ClientError, host: &str) -> RecipientStatus {
    match e {
        ClientError::Refused(r) => match status_of(r, host) {
            // A refusal at connection level (greeting, EHLO) from one host is worth retrying.
            RecipientStatus::PermanentFailure(f) => temporary(f.reply),
            a => a,
        },
        ClientError::Transport(t) => temporary(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_store::{Enqueue, QueueId, QueuedRecipient, Sqlite, TraceFilter};
    use std::path::PathBuf;

    /// A data directory for one test, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            let b = rampart_store::random_bytes::<8>();
            let name: String = b.iter().map(|x| format!("{x:02x}")).collect();
            let p = std::env::temp_dir().join(format!("rampart-outbound-test-{name}"));
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Outbound delivery through a smarthost whose CA file is missing: every attempt is a
    /// temporary failure without any network, and with a lifetime of 0 it expires and bounces.
    fn expiring_outbound(dir: &TempDir, store: &AnyStore) -> Arc<Outbound> {
        let mut config = Config {
            data_dir: dir.0.clone(),
            ..Default::default()
        };
        config.delivery.lifetime_secs = 0;
        config.delivery.smarthost = Some(rampart_config::Smarthost {
            host: "127.0.0.1".into(),
            port: 9,
            tls: rampart_config::SmarthostTls::Starttls,
            ca_file: Some(dir.0.join("no-such-ca.pem")),
            username: None,
            password_file: None,
            client_cert: None,
            client_key: None,
        });
        let out = Outbound::new(store.clone(), Arc::new(config), Arc::new(Notify::new()));
        Arc::new(out.unwrap())
    }

    async fn queue_one(store: &AnyStore, to: &str) -> QueueId {
        let id = QueueId::generate();
        let rp = "Return-Path: <alice@example.test>\r\n";
        let data = format!("{rp}From: <alice@example.test>\r\nSubject: bounce me\r\n\r\nhi\r\n");
        let enq = Enqueue {
            id: id.clone(),
            sender: "alice@example.test".into(),
            size: data.len() as u64,
            message_id: Some("<bounce-me@example.test>".into()),
            return_path_len: rp.len(),
            client: None,
            recipients: vec![QueuedRecipient {
                address: to.into(),
                local: false,
            }],
            events: Vec::new(),
            quarantine: None,
            inline: Some(data.into_bytes()),
            deliver_local_now: false,
            junk: false,
            authenticated_from: None,
        };
        store.enqueue(enq).await.unwrap();
        id
    }

    async fn events(store: &AnyStore, id: &QueueId, kind: &str) -> usize {
        let filter = TraceFilter {
            queue_id: Some(id.0.clone()),
            ..Default::default()
        };
        let trace = store.trace(&filter).await.unwrap();
        trace.iter().filter(|e| e.event == kind).count()
    }

    /// The lost bounce of the delivery tests ("could not queue the bounce error=no message"): a
    /// queue snapshot read before an attempt was recorded, dispatched after it, started a second
    /// attempt of a message the first had bounced and removed. Now the snapshot's recipients
    /// recorded since it was read are not taken again, and the message bounced once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stale_queue_snapshot_starts_no_second_attempt() {
        let dir = TempDir::new();
        let (sqlite, _thread) = Sqlite::open(&dir.0).unwrap();
        let store: AnyStore = Arc::new(sqlite);
        let out = expiring_outbound(&dir, &store);
        let id = queue_one(&store, "bob@remote.test").await;

        let mark = out.mark();
        let stale = store.due(10).await.unwrap();
        assert_eq!(stale.len(), 1);
        assert_eq!(out.dispatch(&stale, mark), 1);
        // Wait (on the manager's wake-up) until the attempt is recorded: expired and bounced,
        // the message is gone.
        let recorded = async {
            while store
                .queue_list()
                .await
                .unwrap()
                .iter()
                .any(|e| e.message == id)
            {
                out.notify.notified().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), recorded)
            .await
            .expect("the attempt was recorded");
        assert!(store.message_bytes(&id, false).await.is_err(), "removed");
        assert_eq!(events(&store, &id, "expired").await, 1);
        assert_eq!(events(&store, &id, "bounce").await, 1);

        // The snapshot read before that is handed to dispatch now: nothing in it is taken.
        assert_eq!(
            out.dispatch(&stale, mark),
            0,
            "a second attempt was started"
        );
        // A snapshot read after the attempt forgets it: nothing is kept in memory for it.
        let fresh = out.mark();
        assert!(store.due(10).await.unwrap().iter().all(|m| m.id != id));
        out.dispatch(&[], fresh);
        assert!(rampart_sync::lock(&out.in_flight).taken.is_empty());
        assert!(rampart_sync::lock(&out.in_flight).recorded.is_empty());
    }

    fn reply(code: u16, text: &str) -> RemoteReply {
        RemoteReply {
            code,
            text: text.into(),
        }
    }

    #[test]
    fn a_reply_is_one_recipient_status() {
        assert!(matches!(
            status_of(reply(250, "2.0.0 ok"), "mx.example.net"),
            RecipientStatus::Delivered(t) if t == "mx.example.net said: 250 2.0.0 ok"
        ));
        assert!(matches!(
            status_of(reply(451, "4.3.0 try later"), "mx.example.net"),
            RecipientStatus::TemporaryFailure { .. }
        ));
        match status_of(reply(550, "5.1.1 no such user"), "mx.example.net") {
            RecipientStatus::PermanentFailure(f) => {
                assert_eq!(f.status, "5.1.1");
                assert_eq!(f.remote_mta.as_deref(), Some("mx.example.net"));
            }
            other => panic!("{other:?}"),
        }
        // Without an enhanced code, the generic one.
        match status_of(reply(554, "go away"), "mx.example.net") {
            RecipientStatus::PermanentFailure(f) => assert_eq!(f.status, "5.0.0"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_refusal_at_connection_level_is_retried() {
        let s = classify(
            ClientError::Refused(reply(554, "5.7.1 not now")),
            "mx.example.net",
        );
        assert!(
            matches!(s, RecipientStatus::TemporaryFailure { .. }),
            "{s:?}"
        );
    }
}
