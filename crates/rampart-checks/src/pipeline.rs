//! The check pipeline: the message is read once ([`crate::message::read`]), then every enabled
//! check runs on that one reading in a declared order, and [`decide`] combines their verdicts
//! (AL-1.2 to AL-1.6, AL-2.4, NC-2.3.2).
//!
//! ```text
//! raw bytes ─▶ message::read (one reading, or 554 5.6.0) ─▶ headers (From present, display names)
//!           ─▶ authentication ─▶ antivirus ─▶ attachments ─▶ URLs ─▶ DLP ─▶ spam ─▶ [External]
//!           ─▶ decide ─▶ Decision + verdicts (+ the authentication outcome, for ARC sealing)
//! ```
//!
//! Inbound mail (from the Internet) and outbound mail (authenticated or from a relay network) go
//! through the same list; each check knows which directions it applies to. The SMTP session runs
//! the pipeline before its 250; the queue asks it again at delivery for the URL check (AL-1.3).

use crate::auth::{AuthOutcome, Authenticator};
use crate::dlp::Dlp;
use crate::message::Message;
use crate::spam::SpamSignals;
use crate::urls::UrlFeeds;
use crate::{decide, Action, Context, Decision, Direction, Envelope, Refusal, Verdict};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Instant;

/// The gateway's checks. Each section is the check's own configuration (documented in
/// rampart-checks and in rampart.example.toml).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChecksConfig {
    /// Checks switched off, by name: `antivirus`, `attachments`, `urls`, `spam`, `dlp`,
    /// `external`, `authentication`. Empty by default; every name here is a finding for the audit
    /// and a warning at start.
    pub disabled: Vec<CheckName>,
    /// Where notices go when a rule's action is `notify` (AL-1.5 DLP). Unset: postmaster@ the
    /// sender's domain.
    pub notify: Option<String>,
    /// ClamAV over its socket (NC-2.3.2, AL-1.2). On by default: with no clamd reachable, mail
    /// gets 451 rather than passing unscanned.
    pub antivirus: crate::antivirus::AntivirusConfig,
    /// Dangerous attachments and embedded code (AL-1.4).
    pub attachments: crate::attachments::AttachmentConfig,
    /// URL inspection (AL-1.3).
    pub urls: crate::urls::UrlConfig,
    /// Spam and phishing score (AL-1.2).
    pub spam: crate::spam::SpamConfig,
    /// Outbound data loss prevention (AL-1.5).
    pub dlp: crate::dlp::DlpConfig,
    /// The `[External]` tag on inbound mail (AL-1.6).
    pub external: crate::external::ExternalTagConfig,
    /// SPF, DKIM, DMARC and ARC on inbound mail (AL-2.4, NC-2.1.7). Its DNS servers default to
    /// those of `[dns]`.
    pub authentication: crate::auth::AuthConfig,
}

impl ChecksConfig {
    pub fn enabled(&self, name: CheckName) -> bool {
        !self.disabled.contains(&name)
    }
}

/// A check that can be switched off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckName {
    Antivirus,
    Attachments,
    Urls,
    Spam,
    Dlp,
    External,
    Authentication,
}

impl std::fmt::Display for CheckName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CheckName::Antivirus => "antivirus",
            CheckName::Attachments => "attachments",
            CheckName::Urls => "urls",
            CheckName::Spam => "spam",
            CheckName::Dlp => "dlp",
            CheckName::External => "external",
            CheckName::Authentication => "authentication",
        })
    }
}

/// The checks, built once at start: compiled DLP rules, URL feeds, a DNS resolver for
/// blocklists, the authentication checker.
pub struct Pipeline {
    checks: ChecksConfig,
    auth: Option<Authenticator>,
    dlp: Dlp,
    /// The spam check's content rules: the built-in set and `checks.spam.rule_files` (AL-1.2).
    spam_rules: crate::spam::rules::RuleSet,
    feeds: UrlFeeds,
    resolver: Option<hickory_resolver::TokioResolver>,
    /// What the spam classifier learned (the store); None: the classifier does not run.
    tokens: Option<std::sync::Arc<dyn crate::spam::bayes::TokenSource>>,
    /// The authserv-id of our `Authentication-Results`, whose forgeries are removed whether
    /// or not the authentication check runs.
    authserv_id: String,
}

/// What the pipeline concluded about one message.
pub struct Outcome {
    pub decision: Decision,
    /// Every check's verdict, in order.
    pub verdicts: Vec<Verdict>,
    /// SPF, DKIM, DMARC and ARC results of an inbound message, for the ARC set (see
    /// [`Pipeline::seal`]).
    pub auth: Option<AuthOutcome>,
}

impl Outcome {
    fn refused(v: Verdict) -> Outcome {
        Outcome {
            decision: decide(std::slice::from_ref(&v)),
            verdicts: vec![v],
            auth: None,
        }
    }

    /// Rules whose action is to notify an administrator (AL-1.5), in words.
    pub fn notices(&self) -> Vec<String> {
        self.verdicts
            .iter()
            .flat_map(|v| v.notices.iter().map(|n| format!("{}: {n}", v.check)))
            .collect()
    }
}

impl Pipeline {
    /// Builds the checks; every bad DLP rule, and every bad spam rule file line, is reported
    /// together. `hostname` names our
    /// Authentication-Results; `dns_servers` (empty: the system's) answer the blocklists and,
    /// unless the authentication settings name others, SPF, DKIM, DMARC and ARC.
    pub fn new(
        checks: ChecksConfig,
        hostname: &str,
        dns_servers: &[SocketAddr],
        dns_timeout_secs: u64,
    ) -> Result<Pipeline, String> {
        let dlp = Dlp::new(checks.dlp.clone())
            .map_err(|errs| format!("checks.dlp: {}", errs.join("; ")))?;
        let spam_rules =
            crate::spam::rules::RuleSet::load(&checks.spam.rule_files).map_err(|errs| {
                let errs: Vec<String> = errs.iter().map(ToString::to_string).collect();
                format!("checks.spam.rule_files: {}", errs.join("; "))
            })?;
        let feeds = UrlFeeds::new(&checks.urls.feeds);
        for e in feeds.refresh() {
            tracing::warn!(error = %e, "URL feed");
        }
        let resolver = crate::dnsbl::resolver(dns_servers, dns_timeout_secs).ok();
        let auth = if checks.enabled(CheckName::Authentication) {
            let mut cfg = checks.authentication.clone();
            if cfg.dns_servers.is_empty() {
                cfg.dns_servers = dns_servers.iter().map(|s| (*s).into()).collect();
            }
            Some(
                Authenticator::new(&cfg, hostname)
                    .map_err(|e| format!("checks.authentication: {e}"))?,
            )
        } else {
            None
        };
        let authserv_id = crate::auth::own_authserv_id(&checks.authentication, hostname);
        Ok(Pipeline {
            authserv_id,
            checks,
            auth,
            dlp,
            spam_rules,
            feeds,
            resolver,
            tokens: None,
        })
    }

    /// Lets the spam classifier (AL-1.2) read what it learned from `source`.
    pub fn with_token_source(
        mut self,
        source: std::sync::Arc<dyn crate::spam::bayes::TokenSource>,
    ) -> Pipeline {
        self.tokens = Some(source);
        self
    }

    /// Whether a check runs: not named in `disabled`, and (for the checks that have one) its
    /// own `enabled` is not false. Both are warnings at start.
    fn on(&self, name: CheckName) -> bool {
        self.checks.enabled(name) && (name != CheckName::Urls || self.checks.urls.enabled)
    }

    /// Runs every enabled check on the one reading of the message. A message that reads two
    /// ways never gets here: [`crate::message::read`] refused it (see [`Pipeline::read_and_run`]).
    pub async fn run(
        &self,
        env: &Envelope<'_>,
        local_domains: &[String],
        message: &Message<'_>,
    ) -> Outcome {
        let ctx = Context {
            envelope: *env,
            local_domains,
            raw: message.raw,
            headers: &message.headers,
            parsed: &message.parsed,
        };
        let t = Instant::now();
        let headers = crate::headers::check(&ctx);
        timed(crate::headers::CHECK, t);
        if matches!(headers.action, Action::Reject(_)) {
            return Outcome::refused(headers);
        }
        let checks = &self.checks;
        let mut verdicts = Vec::with_capacity(8);
        verdicts.push(headers);
        let mut auth_failed = false;
        let mut from_authenticated = false;
        let mut auth_outcome = None;
        if let Some(a) = &self.auth {
            let t = Instant::now();
            let outcome = a.check(&ctx).await;
            timed("authentication", t);
            auth_failed = env.direction == Direction::Inbound
                && matches!(outcome.dmarc.result(), crate::auth::DmarcResult::Fail(_));
            from_authenticated = env.direction == Direction::Inbound && outcome.from_aligned();
            verdicts.push(outcome.verdict.clone());
            auth_outcome = Some(outcome);
        }
        if self.auth.is_none() || env.direction != Direction::Inbound {
            // The authentication check did not look at them: forgeries of our results go all
            // the same (RFC 8601 section 5).
            crate::auth::remove_forged_results(
                &mut verdicts[0],
                &message.headers,
                &self.authserv_id,
            );
        }
        if self.on(CheckName::Antivirus) {
            let t = Instant::now();
            verdicts.push(crate::antivirus::check(&checks.antivirus, &ctx).await);
            timed(crate::antivirus::CHECK, t);
        }
        if self.on(CheckName::Attachments) {
            let t = Instant::now();
            verdicts.push(crate::attachments::check(&checks.attachments, &ctx));
            timed(crate::attachments::CHECK, t);
        }
        let mut url_report = None;
        if self.on(CheckName::Urls) {
            let cfg = &checks.urls;
            if env.direction == Direction::Inbound || cfg.check_outbound {
                let t = Instant::now();
                let report = self.inspect_urls(local_domains, &message.parsed).await;
                verdicts.push(crate::urls::verdict(cfg, &report));
                timed(crate::urls::CHECK, t);
                url_report = Some(report);
            }
        }
        if self.on(CheckName::Dlp) {
            let t = Instant::now();
            verdicts.push(crate::dlp::check(&self.dlp, &ctx));
            timed(crate::dlp::CHECK, t);
        }
        if self.on(CheckName::Spam) {
            let bayes = self.classify(env, message).await;
            let signals = SpamSignals {
                auth_failed,
                from_authenticated,
                urls: url_report.as_ref(),
                bayes: bayes.as_ref(),
            };
            let t = Instant::now();
            verdicts.push(
                crate::spam::check_with_rules(
                    &checks.spam,
                    &self.spam_rules,
                    self.resolver.as_ref(),
                    &signals,
                    &ctx,
                )
                .await,
            );
            timed(crate::spam::CHECK, t);
        } else {
            // Not scored here, so no verdict of ours: one a sender wrote must not pass for it.
            crate::spam::remove_forged_verdicts(&mut verdicts[0], &message.headers);
        }
        if self.on(CheckName::External) {
            verdicts.push(crate::external::check(&checks.external, &ctx));
        }
        Outcome {
            decision: decide(&verdicts),
            verdicts,
            auth: auth_outcome,
        }
    }

    /// The spam classifier on inbound mail: against the recipient's own training when the
    /// message has one recipient, else the installation's.
    async fn classify(
        &self,
        env: &Envelope<'_>,
        message: &Message<'_>,
    ) -> Option<crate::spam::bayes::Outcome> {
        let source = self.tokens.as_deref()?;
        if env.direction != Direction::Inbound || !self.checks.spam.enabled {
            return None;
        }
        let rcpt = match env.rcpts {
            [one] => Some(one.as_str()),
            _ => None,
        };
        crate::spam::bayes::classify_with(&self.checks.spam.bayes, source, rcpt, || {
            crate::spam::bayes::tokens::tokens(&message.headers, &message.parsed)
        })
        .await
    }

    /// Reads `raw` once, as the server reads mail it receives (header bytes that are not UTF-8
    /// repaired first, [`crate::message::repair`]), and runs the checks on it; a message that
    /// reads two ways is refused before any check (`554 5.6.0`).
    pub async fn read_and_run(
        &self,
        env: &Envelope<'_>,
        local_domains: &[String],
        raw: &[u8],
    ) -> Outcome {
        let raw = crate::message::repaired(raw);
        match crate::message::read(&raw) {
            Ok(m) => self.run(env, local_domains, &m).await,
            Err(r) => Outcome::refused(unreadable(r)),
        }
    }

    /// ARC-seals a message we changed, so receivers downstream can still trust the results we
    /// saw (RFC 8617). None when no sealing key is configured.
    pub fn seal(&self, message: &[u8], outcome: &AuthOutcome) -> Option<String> {
        self.auth.as_ref()?.seal(message, outcome)
    }

    /// The banner for inbound mail, if configured (AL-1.6).
    pub fn banner(&self, direction: Direction) -> Option<&str> {
        let cfg = &self.checks.external;
        (self.on(CheckName::External) && cfg.enabled && direction == Direction::Inbound)
            .then_some(cfg.banner.as_deref())
            .flatten()
            .filter(|b| !b.trim().is_empty())
    }

    /// The URL check (AL-1.3) against the feeds, reloaded if their files changed, and the DNS
    /// lists as they are now: at receipt and again at delivery.
    async fn inspect_urls(
        &self,
        local_domains: &[String],
        parsed: &mail_parser::Message<'_>,
    ) -> crate::urls::UrlReport {
        for e in self.feeds.refresh() {
            tracing::warn!(error = %e, "URL feed");
        }
        crate::urls::inspect(
            &self.checks.urls,
            &self.feeds,
            self.resolver.as_ref(),
            local_domains,
            parsed,
        )
        .await
    }

    /// True when [`Pipeline::recheck_urls`] can find anything: the URL check is on and a feed or
    /// a list is configured. Otherwise the queue need not read messages back to ask it.
    pub fn rechecks_urls(&self) -> bool {
        let cfg = &self.checks.urls;
        self.on(CheckName::Urls) && !(cfg.feeds.is_empty() && cfg.uri_blocklists.is_empty())
    }

    /// AL-1.3 at delivery: the URL check against the feeds and lists as they are now, on a
    /// message that was read and accepted at receipt. None when it passes, or when no feed or
    /// list is configured (nothing could have changed); otherwise (reason, verdict summary).
    pub async fn recheck_urls(&self, raw: &[u8], local_domains: &[String]) -> Option<Held> {
        if !self.rechecks_urls() {
            return None;
        }
        let report = match crate::message::read(raw) {
            Ok(m) => self.inspect_urls(local_domains, &m.parsed).await,
            // Stored before the normaliser existed and unreadable now: hold it, never pass it.
            Err(r) => {
                let v = unreadable(r);
                return Some(Held {
                    reason: format!("urls at delivery: {}", v.reason),
                    verdicts: summary(std::slice::from_ref(&v)),
                });
            }
        };
        let v = crate::urls::verdict(&self.checks.urls, &report);
        match v.action {
            Action::Reject(_) | Action::Quarantine => Some(Held {
                reason: format!("urls at delivery: {}", v.reason),
                verdicts: summary(std::slice::from_ref(&v)),
            }),
            _ => None,
        }
    }
}

/// A message held at delivery: why, and every verdict in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub reason: String,
    pub verdicts: String,
}

/// The verdict for a message the normaliser refused.
fn unreadable(r: Refusal) -> Verdict {
    let reason = r.text.clone();
    Verdict::with(crate::message::CHECK, Action::Reject(r), reason)
}

/// One line for the trace: every verdict, its action and reason.
/// How long one check took, as a DEBUG event on target `rampart::check` (fields `check`,
/// `seconds`): the server's metrics make a histogram per check of it.
fn timed(check: &str, started: Instant) {
    tracing::debug!(
        target: "rampart::check",
        check,
        seconds = started.elapsed().as_secs_f64()
    );
}

pub fn summary(verdicts: &[Verdict]) -> String {
    verdicts
        .iter()
        .map(|v| {
            let action = match &v.action {
                Action::Accept => "accept".to_string(),
                Action::Tag => "tag".to_string(),
                Action::Quarantine => "quarantine".to_string(),
                Action::Reject(r) => format!("reject {} {}", r.code, r.status.with_class(r.code)),
                Action::TempFail(r) => {
                    format!("tempfail {} {}", r.code, r.status.with_class(r.code))
                }
            };
            format!("{}={} ({})", v.check, action, v.reason)
        })
        .collect::<Vec<_>>()
        .join("; ")
}
