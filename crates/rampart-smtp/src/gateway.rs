//! The gateway's content checks, run once per message on one parsed tree (AL-1.2 to AL-1.6,
//! NC-2.3.2), in a declared order; [`rampart_checks::decide`] combines their verdicts.
//!
//! Order: antivirus, attachments, URLs, DLP, spam (which reads the URL report), `[External]` tag.
//! Inbound mail (from the Internet) and outbound mail (authenticated or from a relay network) go
//! through the same list; each check knows which directions it applies to.

use rampart_checks::auth::{AuthOutcome, Authenticator};
use rampart_checks::dlp::Dlp;
use rampart_checks::spam::SpamSignals;
use rampart_checks::urls::UrlFeeds;
use rampart_checks::{decide, Context, Decision, Direction, Verdict};
use rampart_config::{CheckName, Config};
use std::sync::Arc;

/// Shared state of the checks: compiled DLP rules, URL feeds, a DNS resolver for blocklists.
pub struct Gateway {
    config: Arc<Config>,
    auth: Option<Authenticator>,
    dlp: Dlp,
    feeds: UrlFeeds,
    resolver: Option<hickory_resolver::TokioResolver>,
}

/// The envelope facts a check may read: the checks' own type.
pub use rampart_checks::Envelope;

impl Gateway {
    /// Builds the checks; every bad DLP rule is reported together.
    pub fn new(config: Arc<Config>) -> Result<Gateway, String> {
        let dlp = Dlp::new(config.checks.dlp.clone())
            .map_err(|errs| format!("checks.dlp: {}", errs.join("; ")))?;
        let feeds = UrlFeeds::new(&config.checks.urls.feeds);
        for e in feeds.refresh() {
            tracing::warn!(error = %e, "URL feed");
        }
        let resolver =
            rampart_checks::dnsbl::resolver(&config.dns.servers, config.dns.timeout_secs).ok();
        let auth = if config.checks.enabled(CheckName::Authentication) {
            let mut cfg = config.checks.authentication.clone();
            if cfg.dns_servers.is_empty() {
                cfg.dns_servers = config.dns.servers.iter().map(|s| (*s).into()).collect();
            }
            Some(
                Authenticator::new(&cfg, config.hostname.get_ref())
                    .map_err(|e| format!("checks.authentication: {e}"))?,
            )
        } else {
            None
        };
        Ok(Gateway {
            config,
            auth,
            dlp,
            feeds,
            resolver,
        })
    }

    fn on(&self, name: CheckName) -> bool {
        self.config.checks.enabled(name)
    }

    /// Parses the message once and runs every enabled check on it. Returns the decision, every
    /// verdict, and the ARC set to add once the message is in its final form (see [`Gateway::seal`]).
    pub async fn run(
        &self,
        env: &Envelope<'_>,
        local_domains: &[String],
        raw: &[u8],
    ) -> (Decision, Vec<Verdict>, Option<AuthOutcome>) {
        let Some(parsed) = mail_parser::MessageParser::default().parse(raw) else {
            let v = Verdict::with(
                "parse",
                rampart_checks::Action::Reject(rampart_checks::Refusal::new(
                    554,
                    "5.6.0",
                    "The message could not be parsed",
                )),
                "unparseable message",
            );
            return (decide(std::slice::from_ref(&v)), vec![v], None);
        };
        let ctx = Context {
            envelope: *env,
            local_domains,
            raw,
            parsed: &parsed,
        };
        let checks = &self.config.checks;
        let mut verdicts = Vec::with_capacity(7);
        let mut auth_failed = false;
        let mut auth_outcome = None;
        if let Some(a) = &self.auth {
            let outcome = a.check(&ctx).await;
            auth_failed = env.direction == Direction::Inbound
                && matches!(
                    outcome.dmarc.result(),
                    rampart_checks::auth::DmarcResult::Fail(_)
                );
            verdicts.push(outcome.verdict.clone());
            auth_outcome = Some(outcome);
        }
        if self.on(CheckName::Antivirus) {
            verdicts.push(rampart_checks::antivirus::check(&checks.antivirus, &ctx).await);
        }
        if self.on(CheckName::Attachments) {
            verdicts.push(rampart_checks::attachments::check(
                &checks.attachments,
                &ctx,
            ));
        }
        let mut url_report = None;
        if self.on(CheckName::Urls) {
            let cfg = &checks.urls;
            if env.direction == Direction::Inbound || cfg.check_outbound {
                let report = self.inspect_urls(local_domains, &parsed).await;
                verdicts.push(rampart_checks::urls::verdict(cfg, &report));
                url_report = Some(report);
            }
        }
        if self.on(CheckName::Dlp) {
            verdicts.push(rampart_checks::dlp::check(&self.dlp, &ctx));
        }
        if self.on(CheckName::Spam) {
            let signals = SpamSignals {
                auth_failed,
                urls: url_report.as_ref(),
            };
            verdicts.push(
                rampart_checks::spam::check(&checks.spam, self.resolver.as_ref(), &signals, &ctx)
                    .await,
            );
        }
        if self.on(CheckName::External) {
            verdicts.push(rampart_checks::external::check(&checks.external, &ctx));
        }
        (decide(&verdicts), verdicts, auth_outcome)
    }

    /// ARC-seals a message we changed, so receivers downstream can still trust the results we
    /// saw (RFC 8617). None when no sealing key is configured.
    pub fn seal(&self, message: &[u8], outcome: &AuthOutcome) -> Option<String> {
        self.auth.as_ref()?.seal(message, outcome)
    }

    /// The banner for inbound mail, if configured (AL-1.6).
    pub fn banner(&self, direction: Direction) -> Option<&str> {
        let cfg = &self.config.checks.external;
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
    ) -> rampart_checks::urls::UrlReport {
        for e in self.feeds.refresh() {
            tracing::warn!(error = %e, "URL feed");
        }
        rampart_checks::urls::inspect(
            &self.config.checks.urls,
            &self.feeds,
            self.resolver.as_ref(),
            local_domains,
            parsed,
        )
        .await
    }

    /// True when [`Gateway::recheck_urls`] can find anything: the URL check is on and a feed or
    /// a list is configured. Otherwise the queue need not read messages back to ask it.
    pub fn rechecks_urls(&self) -> bool {
        let cfg = &self.config.checks.urls;
        self.on(CheckName::Urls) && !(cfg.feeds.is_empty() && cfg.uri_blocklists.is_empty())
    }

    /// AL-1.3 at delivery: the URL check against the feeds and lists as they are now. None when
    /// it passes, or when no feed or list is configured (nothing could have changed).
    pub async fn recheck_urls(
        &self,
        raw: &[u8],
        local_domains: &[String],
    ) -> Option<(String, String)> {
        let cfg = &self.config.checks.urls;
        if !self.rechecks_urls() {
            return None;
        }
        let parsed = mail_parser::MessageParser::default().parse(raw)?;
        let report = self.inspect_urls(local_domains, &parsed).await;
        let v = rampart_checks::urls::verdict(cfg, &report);
        match v.action {
            rampart_checks::Action::Reject(_) | rampart_checks::Action::Quarantine => Some((
                format!("urls at delivery: {}", v.reason),
                summary(std::slice::from_ref(&v)),
            )),
            _ => None,
        }
    }
}

/// One line for the trace: every verdict, its action and reason.
pub fn summary(verdicts: &[Verdict]) -> String {
    verdicts
        .iter()
        .map(|v| {
            let action = match &v.action {
                rampart_checks::Action::Accept => "accept".to_string(),
                rampart_checks::Action::Tag => "tag".to_string(),
                rampart_checks::Action::Quarantine => "quarantine".to_string(),
                rampart_checks::Action::Reject(r) => format!("reject {} {}", r.code, r.status),
                rampart_checks::Action::TempFail(r) => format!("tempfail {} {}", r.code, r.status),
            };
            format!("{}={} ({})", v.check, action, v.reason)
        })
        .collect::<Vec<_>>()
        .join("; ")
}
