//! The system report (AL-3.2): what the server did over a period, counted from the trace (one
//! row per event, [`crate::trace`]). `rampart report summary`, the scheduled report mail and the
//! console's dashboard all read this one [`Summary`]; rendering lives with them.
//!
//! Every number is a count of trace events of a named kind, so a reader can recount it from
//! `rampart trace --json` (the integration test does). What each field counts is said where it is
//! declared. Also here: which scheduled reports were sent ([`Store::claim_report`]), so a restart
//! does not send a period twice.

use crate::{now_micros, Result, Sqlite, Store};
use async_trait::async_trait;
use rusqlite::params;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Entries kept in each "top" list.
pub const TOP: usize = 10;

/// The trace event of a lesson a user's move taught the spam classifier (AL-1.2): its detail
/// begins [`MOVED_OUT_OF_JUNK`] (learned as ham) or [`MOVED_INTO_JUNK`] (learned as spam).
pub const TRAINED: &str = "trained";
pub const MOVED_OUT_OF_JUNK: &str = "moved out of Junk";
pub const MOVED_INTO_JUNK: &str = "moved into Junk";

const HOUR: i64 = 3_600 * 1_000_000;
const DAY: i64 = 24 * HOUR;

/// The length of a report's period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day,
    Week,
    Month,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }

    /// The period that ends at `until` (microseconds since the epoch): one day, seven days, or
    /// the calendar month before `until`'s (a month report is asked for at the start of a month).
    pub fn range(self, until: i64) -> (i64, i64) {
        let since = match self {
            Period::Day => until - DAY,
            Period::Week => until - 7 * DAY,
            Period::Month => {
                let (y, m, _) = civil(until.div_euclid(DAY));
                let (py, pm) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
                let back = days_from_civil(y, m, 1) - days_from_civil(py, pm, 1);
                until - back * DAY
            }
        };
        (since, until)
    }

    /// The end of the last whole period before `now`, in UTC: today's midnight for a day, the
    /// last Monday's midnight for a week, the first of this month for a month.
    pub fn last_end(self, now: i64) -> i64 {
        let day = now.div_euclid(DAY);
        let end_day = match self {
            Period::Day => day,
            // 1970-01-01 was a Thursday: day 4 (mod 7) is a Monday.
            Period::Week => day - (day - 4).rem_euclid(7),
            Period::Month => {
                let (y, m, _) = civil(day);
                days_from_civil(y, m, 1)
            }
        };
        end_day * DAY
    }
}

/// A name and how many times it was counted.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Count {
    pub name: String,
    pub count: u64,
}

/// Messages per hour of the period, for the charts.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Hour {
    /// Start of the hour, microseconds since the epoch.
    pub start: i64,
    pub inbound: u64,
    pub outbound: u64,
}

/// Messages taken in (`queued` events).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Volume {
    /// `queued` from an SMTP session that did not authenticate: mail from other servers.
    pub inbound: u64,
    /// `queued` from an authenticated session: mail our users sent.
    pub submitted: u64,
    /// `queued` without a session: mail this server wrote (bounces, notices, reports).
    pub generated: u64,
}

/// What the checks decided (`checks` events), one per message checked.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Decisions {
    pub accepted: u64,
    pub quarantined: u64,
    pub refused: u64,
}

/// Refusals during the SMTP dialogue, before or instead of the checks.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Refusals {
    /// `refused` events: connections refused (bans, limits) and commands not offered.
    pub connections_or_commands: u64,
    /// `mail` events whose detail says `refused`.
    pub senders: u64,
    /// `rcpt` events whose detail says `refused`: unknown users, relaying denied.
    pub recipients: u64,
    /// `data` events whose detail says `refused`.
    pub messages: u64,
    /// `protocol` and `early-talker` events: protocol abuse.
    pub protocol: u64,
}

/// Failed authentications (`auth` events).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuthFailures {
    /// `auth` events whose detail starts `failed for`: a wrong password.
    pub failed: u64,
    /// `auth` events whose detail starts `refused`: attempts refused before the password was
    /// checked (address blocked, too many attempts, busy).
    pub refused: u64,
    /// The failed ones by the account named.
    pub by_account: Vec<Count>,
    /// The failed and refused ones by client address.
    pub by_address: Vec<Count>,
}

/// Bans (NC-2.4.2): `ban` and `unban` events.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BanCounts {
    pub bans: u64,
    pub unbans: u64,
    /// Banned networks, most often first.
    pub networks: Vec<Count>,
}

/// Delivery outcomes, one per recipient and attempt.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Deliveries {
    /// `delivered`: into a local mailbox.
    pub local: u64,
    /// `relayed`: accepted by the next server.
    pub relayed: u64,
    /// `deferred`: a temporary failure, retried later.
    pub deferred: u64,
    /// `failed` and `expired`: given up.
    pub failed: u64,
    /// `bounce`: delivery status notifications queued.
    pub bounces: u64,
}

/// Transport security in and out.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TlsUse {
    /// `connect` events: SMTP sessions.
    pub sessions: u64,
    /// `tls` events of a completed handshake, by protocol version (`TLSv1.3`).
    pub inbound: Vec<Count>,
    /// `tls` events of a failed or timed-out handshake.
    pub inbound_failures: u64,
    /// Outbound attempts (`relayed`, `deferred`, `failed` naming the host) by the version used,
    /// `none` for plain text.
    pub outbound: Vec<Count>,
}

/// The quarantine: `quarantined`, `released`, `deleted` events.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct QuarantineCounts {
    pub held: u64,
    pub released: u64,
    pub deleted: u64,
    /// Releases by who released.
    pub released_by: Vec<Count>,
}

/// Users' corrections of the spam check (AL-1.2): [`TRAINED`] events. Mail moved out of Junk
/// is wanted mail the score tagged (a false positive a user saw); mail moved into Junk is spam
/// it let through (a miss). The moves of the period, whenever the mail arrived.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct JunkCorrections {
    pub out_of_junk: u64,
    pub into_junk: u64,
    /// The Return-Path domains of the mail moved out of Junk, most first: whose wanted mail
    /// the score tags.
    #[serde(default)]
    pub out_of_junk_by_domain: Vec<Count>,
}

/// The system report of one period (AL-3.2).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Summary {
    /// `day`, `week` or `month`.
    pub period: String,
    /// The period, microseconds since the epoch, `since` included, `until` not.
    pub since: i64,
    pub until: i64,
    /// Trace events read.
    pub events: u64,
    pub volume: Volume,
    /// One entry per hour of the period.
    pub hourly: Vec<Hour>,
    pub decisions: Decisions,
    /// Each check's verdicts by action (`accept`, `tag`, `quarantine`, `reject`, `tempfail`),
    /// from the verdict list of every `checks` event.
    pub verdicts: BTreeMap<String, BTreeMap<String, u64>>,
    pub refusals: Refusals,
    /// Senders of the messages taken in (inbound and submitted; `<>` for the null sender).
    #[serde(default)]
    pub top_senders: Vec<Count>,
    /// Recipients of what was delivered: to a local mailbox or relayed to the next hop.
    #[serde(default)]
    pub top_recipients: Vec<Count>,
    /// Senders of what was blocked: messages the checks refused or quarantined, and senders or
    /// recipients refused in the dialogue (`<>` for the null sender), one count per event.
    pub top_blocked_senders: Vec<Count>,
    /// The same, by the sender's domain.
    pub top_blocked_domains: Vec<Count>,
    /// DLP rules that matched in messages the DLP check did not accept.
    pub top_dlp_rules: Vec<Count>,
    /// Attachment findings of messages the attachment check refused or quarantined, by type.
    pub attachments_blocked: Vec<Count>,
    pub auth_failures: AuthFailures,
    pub bans: BanCounts,
    pub deliveries: Deliveries,
    pub tls: TlsUse,
    pub quarantine: QuarantineCounts,
    #[serde(default)]
    pub junk: JunkCorrections,
}

impl Summary {
    /// All mail taken in from outside and sent by our users or this server.
    pub fn outbound(&self) -> u64 {
        self.volume.submitted + self.volume.generated
    }
}

/// One check's verdict as the trace writes it (`check=action (reason)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracedVerdict {
    pub check: String,
    /// The first word of the action: `accept`, `tag`, `quarantine`, `reject`, `tempfail`.
    pub action: String,
    pub reason: String,
}

const ACTIONS: &[&str] = &["accept", "tag", "quarantine", "reject", "tempfail"];

/// Reads the verdict list of a `checks` event: the text after `verdicts: `, items `check=action
/// (reason)` joined by `; `. A reason may itself hold `; `: a piece that does not start a new
/// verdict belongs to the reason before it.
pub fn parse_verdicts(detail: &str) -> Vec<TracedVerdict> {
    let Some((_, list)) = detail.split_once("verdicts: ") else {
        return Vec::new();
    };
    let mut out: Vec<TracedVerdict> = Vec::new();
    for piece in list.split("; ") {
        if let Some(v) = start_of_verdict(piece) {
            out.push(v);
        } else if let Some(last) = out.last_mut() {
            last.reason.push_str("; ");
            last.reason.push_str(piece);
        }
    }
    for v in &mut out {
        // The reason was written in parentheses.
        let r = v.reason.trim();
        v.reason = r
            .strip_prefix('(')
            .and_then(|r| r.strip_suffix(')'))
            .unwrap_or(r)
            .to_string();
    }
    out
}

fn start_of_verdict(piece: &str) -> Option<TracedVerdict> {
    let (check, rest) = piece.split_once('=')?;
    if check.is_empty()
        || !check
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return None;
    }
    let action = rest.split([' ', '(']).next()?;
    if !ACTIONS.contains(&action) {
        return None;
    }
    let reason = rest.find('(').map(|i| &rest[i..]).unwrap_or("");
    Some(TracedVerdict {
        check: check.to_string(),
        action: action.to_string(),
        reason: reason.to_string(),
    })
}

/// The DLP rules a DLP reason names (`rule NAME matched N time(s) in ...`).
pub fn dlp_rules(reason: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = reason;
    while let Some(i) = rest.find("rule ") {
        let after = &rest[i + 5..];
        match after.find(" matched ") {
            Some(j) => {
                out.push(after[..j].to_string());
                rest = &after[j..];
            }
            None => break,
        }
    }
    out
}

/// The type of each attachment finding in an attachment reason (`AL-1.4: PATH: WHAT; ...`):
/// the true type when the finding names one (`true type is X`), else what was found.
pub fn attachment_types(reason: &str) -> Vec<String> {
    let body = reason.strip_prefix("AL-1.4: ").unwrap_or(reason);
    body.split("; ")
        .filter_map(|f| f.rsplit_once(": ").map(|(_, what)| what))
        .map(|what| {
            what.strip_prefix("true type is ")
                .unwrap_or(what)
                .trim()
                .to_string()
        })
        .filter(|t| !t.is_empty())
        .collect()
}

/// `sender` as counted in the blocked lists: lower case, `<>` for the null sender.
fn sender_name(s: &str) -> String {
    if s.is_empty() {
        "<>".to_string()
    } else {
        s.to_ascii_lowercase()
    }
}

fn domain_of(sender: &str) -> String {
    match sender.rsplit_once('@') {
        Some((_, d)) => d.to_string(),
        None => sender.to_string(),
    }
}

/// The address in `MAIL FROM:<x>` at the start of a `mail` event's detail.
fn mail_from(detail: &str) -> Option<&str> {
    let rest = detail.strip_prefix("MAIL FROM:<")?;
    rest.split_once('>').map(|(a, _)| a)
}

/// The TLS version in an outbound outcome's ` via HOST (TLSv1.3 ...; ...)`; `none` without TLS.
fn outbound_version(detail: &str) -> Option<String> {
    let (_, via) = detail.split_once(" via ")?;
    let (_, security) = via.split_once(" (")?;
    let first = security.split([' ', ';', ')']).next().unwrap_or("");
    Some(if first.starts_with("TLS") {
        first.to_string()
    } else {
        "none".to_string()
    })
}

fn top(map: HashMap<String, u64>) -> Vec<Count> {
    let mut v: Vec<Count> = map
        .into_iter()
        .map(|(name, count)| Count { name, count })
        .collect();
    // Most first; equal counts by name, so the order does not change from run to run.
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    v.truncate(TOP);
    v
}

/// Adds trace events up into a [`Summary`], one at a time: the store streams rows into it.
#[derive(Debug, Default)]
pub struct Tally {
    s: Summary,
    senders: HashMap<String, u64>,
    recipients: HashMap<String, u64>,
    blocked_senders: HashMap<String, u64>,
    blocked_domains: HashMap<String, u64>,
    dlp: HashMap<String, u64>,
    attachments: HashMap<String, u64>,
    auth_accounts: HashMap<String, u64>,
    auth_addresses: HashMap<String, u64>,
    banned: HashMap<String, u64>,
    tls_in: HashMap<String, u64>,
    tls_out: HashMap<String, u64>,
    released_by: HashMap<String, u64>,
    out_of_junk_domains: HashMap<String, u64>,
}

impl Tally {
    pub fn new(period: Period, since: i64, until: i64) -> Tally {
        let hours = ((until - since).max(0) + HOUR - 1) / HOUR;
        let hourly = (0..hours)
            .map(|h| Hour {
                start: since + h * HOUR,
                ..Hour::default()
            })
            .collect();
        Tally {
            s: Summary {
                period: period.as_str().to_string(),
                since,
                until,
                hourly,
                ..Summary::default()
            },
            ..Tally::default()
        }
    }

    fn blocked(&mut self, sender: &str) {
        let s = sender_name(sender);
        *self.blocked_domains.entry(domain_of(&s)).or_default() += 1;
        *self.blocked_senders.entry(s).or_default() += 1;
    }

    /// A delivered message's recipient: the event's own, else the one its text names
    /// (`delivered to mailbox R`, `delivered to R via ...`).
    fn recipient(&mut self, e: &crate::TraceEvent) {
        let named = e
            .detail
            .strip_prefix("delivered to mailbox ")
            .or_else(|| e.detail.strip_prefix("delivered to "))
            .and_then(|r| r.split([' ', ':']).next());
        if let Some(r) = e.recipient.as_deref().or(named).filter(|r| !r.is_empty()) {
            *self.recipients.entry(r.to_ascii_lowercase()).or_default() += 1;
        }
    }

    /// Counts one event. `ts`, `event`, `detail`, `session`, `client`, `sender` as in the trace.
    /// Events outside the period are not counted.
    pub fn add(&mut self, e: &crate::TraceEvent) {
        let s = &mut self.s;
        if e.ts < s.since || e.ts >= s.until {
            return;
        }
        s.events += 1;
        let refused = e.detail.contains("refused");
        let sender = e.sender.as_deref().unwrap_or("");
        match e.event.as_str() {
            "queued" => {
                let outbound = if e.session.is_none() {
                    s.volume.generated += 1;
                    true
                } else if e.detail.contains(", authenticated as ") {
                    s.volume.submitted += 1;
                    true
                } else {
                    s.volume.inbound += 1;
                    false
                };
                if e.session.is_some() {
                    *self.senders.entry(sender_name(sender)).or_default() += 1;
                }
                let h = (e.ts - s.since).div_euclid(HOUR);
                if let Some(hour) = usize::try_from(h).ok().and_then(|h| s.hourly.get_mut(h)) {
                    if outbound {
                        hour.outbound += 1;
                    } else {
                        hour.inbound += 1;
                    }
                }
            }
            "checks" => {
                let verdicts = parse_verdicts(&e.detail);
                if e.detail.starts_with("accepted") {
                    s.decisions.accepted += 1;
                } else if e.detail.starts_with("quarantined by ") {
                    s.decisions.quarantined += 1;
                } else if e.detail.starts_with("refused by ") {
                    s.decisions.refused += 1;
                }
                for v in &verdicts {
                    *s.verdicts
                        .entry(v.check.clone())
                        .or_default()
                        .entry(v.action.clone())
                        .or_default() += 1;
                }
                for v in &verdicts {
                    let blocking = v.action != "accept" && v.action != "tag";
                    if v.check == "dlp" && v.action != "accept" {
                        for r in dlp_rules(&v.reason) {
                            *self.dlp.entry(r).or_default() += 1;
                        }
                    }
                    if v.check == "attachments" && blocking {
                        for t in attachment_types(&v.reason) {
                            *self.attachments.entry(t).or_default() += 1;
                        }
                    }
                }
                if e.detail.starts_with("quarantined by ") || e.detail.starts_with("refused by ") {
                    self.blocked(sender);
                }
            }
            "refused" => s.refusals.connections_or_commands += 1,
            "protocol" | "early-talker" => s.refusals.protocol += 1,
            "mail" if refused => {
                s.refusals.senders += 1;
                let from = mail_from(&e.detail).unwrap_or(sender).to_string();
                self.blocked(&from);
            }
            "rcpt" if refused => {
                s.refusals.recipients += 1;
                self.blocked(sender);
            }
            "data" if refused => {
                s.refusals.messages += 1;
                self.blocked(sender);
            }
            "auth" => {
                let address = e.client.clone().unwrap_or_default();
                if let Some(rest) = e.detail.strip_prefix("failed for ") {
                    s.auth_failures.failed += 1;
                    let account = rest.split(';').next().unwrap_or(rest).to_ascii_lowercase();
                    *self.auth_accounts.entry(account).or_default() += 1;
                    *self.auth_addresses.entry(address).or_default() += 1;
                } else if e.detail.starts_with("refused") {
                    s.auth_failures.refused += 1;
                    *self.auth_addresses.entry(address).or_default() += 1;
                }
            }
            "ban" => {
                s.bans.bans += 1;
                let net = e.client.clone().unwrap_or_default();
                *self.banned.entry(net).or_default() += 1;
            }
            "unban" => s.bans.unbans += 1,
            "delivered" => {
                s.deliveries.local += 1;
                self.recipient(e);
            }
            "relayed" | "deferred" | "failed" | "expired" => {
                match e.event.as_str() {
                    "relayed" => {
                        s.deliveries.relayed += 1;
                        self.recipient(e);
                    }
                    "deferred" => s.deliveries.deferred += 1,
                    _ => s.deliveries.failed += 1,
                }
                if let Some(v) = outbound_version(&e.detail) {
                    *self.tls_out.entry(v).or_default() += 1;
                }
            }
            "bounce" => s.deliveries.bounces += 1,
            "connect" if e.session.is_some() => s.tls.sessions += 1,
            "tls" => {
                if e.detail.starts_with("handshake") {
                    s.tls.inbound_failures += 1;
                } else {
                    let v = e.detail.split(' ').next().unwrap_or("").to_string();
                    *self.tls_in.entry(v).or_default() += 1;
                }
            }
            "quarantined" => s.quarantine.held += 1,
            TRAINED => {
                if e.detail.starts_with(MOVED_OUT_OF_JUNK) {
                    s.junk.out_of_junk += 1;
                    if let Some(from) = e.sender.as_deref() {
                        let d = domain_of(&sender_name(from));
                        *self.out_of_junk_domains.entry(d).or_default() += 1;
                    }
                } else if e.detail.starts_with(MOVED_INTO_JUNK) {
                    s.junk.into_junk += 1;
                }
            }
            "released" => {
                s.quarantine.released += 1;
                let by = e
                    .detail
                    .strip_prefix("released from quarantine by ")
                    .map(|r| r.split(" for ").next().unwrap_or(r))
                    .unwrap_or("")
                    .to_string();
                *self.released_by.entry(by).or_default() += 1;
            }
            "deleted" => s.quarantine.deleted += 1,
            _ => {}
        }
    }

    pub fn finish(mut self) -> Summary {
        let s = &mut self.s;
        s.top_senders = top(self.senders);
        s.top_recipients = top(self.recipients);
        s.top_blocked_senders = top(self.blocked_senders);
        s.top_blocked_domains = top(self.blocked_domains);
        s.top_dlp_rules = top(self.dlp);
        s.attachments_blocked = top(self.attachments);
        s.auth_failures.by_account = top(self.auth_accounts);
        s.auth_failures.by_address = top(self.auth_addresses);
        s.bans.networks = top(self.banned);
        s.tls.inbound = top(self.tls_in);
        s.tls.outbound = top(self.tls_out);
        s.quarantine.released_by = top(self.released_by);
        s.junk.out_of_junk_by_domain = top(self.out_of_junk_domains);
        self.s
    }
}

const SENT_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS system_reports_sent (
    period TEXT NOT NULL,
    until INTEGER NOT NULL,
    sent INTEGER NOT NULL,
    PRIMARY KEY (period, until)
)";

impl Store {
    /// The summary of `[since, until)` (microseconds since the epoch), read from the trace in
    /// one pass.
    pub fn summary(&self, period: Period, since: i64, until: i64) -> Result<Summary> {
        let mut tally = Tally::new(period, since, until);
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT ts, session, queue_id, message_id, client, sender, recipient, event, detail
                 FROM trace WHERE ts >= ?1 AND ts < ?2 ORDER BY ts, id",
            )?;
            let mut rows = st.query(params![since, until])?;
            while let Some(r) = rows.next()? {
                tally.add(&crate::TraceEvent {
                    ts: r.get(0)?,
                    session: r.get(1)?,
                    queue_id: r.get(2)?,
                    message_id: r.get(3)?,
                    client: r.get(4)?,
                    sender: r.get(5)?,
                    recipient: r.get(6)?,
                    event: r.get(7)?,
                    detail: r.get(8)?,
                });
            }
            Ok(())
        })?;
        Ok(tally.finish())
    }

    /// The queue as the metrics show it: messages with a recipient still to deliver, and when
    /// the oldest of them was received (microseconds since the epoch).
    pub fn queue_gauge(&self) -> Result<(u64, Option<i64>)> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT COUNT(DISTINCT q.message), MIN(m.received) FROM queue q
                 JOIN messages m ON m.id = q.message WHERE q.status = ?1",
                [crate::status::Column::Queued.as_str()],
                |r| Ok((u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0), r.get(1)?)),
            )?)
        })
    }

    /// AL-3.2: records that the report of `period` ending at `until` is being sent. True the
    /// first time only: a restart, or a second `rampart report summary --send`, does not send
    /// the same period again.
    pub fn claim_report(&self, period: Period, until: i64) -> Result<bool> {
        let conn = self.admin_connection()?;
        conn.execute_batch(SENT_SCHEMA)?;
        let n = conn.execute(
            "INSERT OR IGNORE INTO system_reports_sent(period, until, sent) VALUES (?1, ?2, ?3)",
            params![period.as_str(), until, now_micros()],
        )?;
        Ok(n == 1)
    }

    /// Gives a claimed period back, when its report could not be queued: the next run retries.
    pub fn unclaim_report(&self, period: Period, until: i64) -> Result<()> {
        let conn = self.admin_connection()?;
        conn.execute_batch(SENT_SCHEMA)?;
        conn.execute(
            "DELETE FROM system_reports_sent WHERE period = ?1 AND until = ?2",
            params![period.as_str(), until],
        )?;
        Ok(())
    }
}

/// AL-3.2 on either store: the system report's counts, and which scheduled reports were sent
/// (so that several nodes, or a restart, send each period once).
#[async_trait]
pub trait SystemReports: Send + Sync {
    /// The summary of `[since, until)`, counted from the trace.
    async fn summary(&self, period: Period, since: i64, until: i64) -> Result<Summary>;
    /// Claims the report of `period` ending at `until`: true the first time only.
    async fn claim_report(&self, period: Period, until: i64) -> Result<bool>;
    /// Gives a claim back, when the report could not be queued.
    async fn unclaim_report(&self, period: Period, until: i64) -> Result<()>;
}

#[async_trait]
impl SystemReports for Sqlite {
    async fn summary(&self, period: Period, since: i64, until: i64) -> Result<Summary> {
        self.read(move |s| s.summary(period, since, until)).await
    }
    async fn claim_report(&self, period: Period, until: i64) -> Result<bool> {
        self.read(move |s| s.claim_report(period, until)).await
    }
    async fn unclaim_report(&self, period: Period, until: i64) -> Result<()> {
        self.read(move |s| s.unclaim_report(period, until)).await
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
pub fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// (year, month, day) to days since 1970-01-01.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` of a time stamp (microseconds since the epoch), UTC.
pub fn date(ts: i64) -> String {
    let (y, m, d) = civil(ts.div_euclid(DAY));
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests;
