//! Inbound email authentication: SPF, DKIM, DMARC and ARC (mail-auth 0.13), and the verdict they
//! lead to.
//!
//! ```text
//! Context ─▶ SPF (HELO, MAIL FROM) ┐
//!            DKIM (every signature) ├─▶ DMARC (p / sp / np) ─▶ own-domain rule ─▶ Verdict
//!            ARC (chain)            ┘                           forwarder overrides   + Authentication-Results
//! ```
//!
//! - AL-2.4: a From domain publishing `p=reject` that fails DMARC is refused (550 5.7.1);
//!   `p=quarantine` is quarantined; `p=none` is delivered. Trusted forwarders (by client network,
//!   or by the domain of an ARC sealer whose results show `dmarc=pass`) override reject and
//!   quarantine, and the verdict reason says so.
//! - NC-2.1.7: mail from the Internet whose From is one of our own domains is refused unless it
//!   is DMARC-aligned (an aligned SPF or DKIM pass), whatever that domain publishes.
//! - A temporary DNS error that decides the outcome answers 451 4.7.x (configurable per check),
//!   so the sender retries rather than having mail refused or passed on a guess.
//! - RFC 8601 section 5: every incoming `Authentication-Results` claiming our authserv-id is
//!   removed; ours is added.
//! - [`Authenticator::seal`] adds an ARC set (RFC 8617) once the message has been changed.
//! - [`dns_records`] prints the SPF, DKIM and DMARC records to publish
//!   (AL-2.1, AL-2.2, AL-2.3, AL-1.1).
//!
//! Only inbound mail is checked; outbound (authenticated) mail is accepted here, its sender
//! alignment is the submission checks' job. What does not live here: DKIM signing of outbound
//! mail, DMARC aggregate reports.

mod cache;
mod config;
pub mod records;
mod results;
mod seal;

use std::net::IpAddr;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    ArcOutput, AuthenticatedMessage, AuthenticationResults, DkimOutput, Error as MailAuthError,
    MessageAuthenticator,
};

pub use self::config::{
    ArcSealConfig, AuthConfig, DnsServer, Network, TempErrorAction, TrustedForwarders,
};
pub use self::records::{dkim_record, dns_records};
pub use self::results::{authserv_id, claims, results_authenticate};
pub use mail_auth::dmarc::Policy;
pub use mail_auth::{DkimResult, DmarcOutput, DmarcResult, SpfOutput, SpfResult};

use self::cache::Caches;
use self::seal::Sealer;
use crate::{Action, Context, Direction, EnhancedStatus, Modification, Refusal, Verdict};

/// The header field we add, and whose forged copies we remove.
pub const AUTH_RESULTS: &str = "Authentication-Results";
/// Check name when the DMARC policy decides.
const CHECK_DMARC: &str = "dmarc";
/// Check name otherwise (own-domain rule, temporary errors, accept).
const CHECK_AUTH: &str = "auth";
/// Attempts per DNS query.
const DNS_ATTEMPTS: usize = 2;
/// DKIM signatures verified per message (the first ones, newest on top): each costs a DNS
/// lookup, and a sender could otherwise add hundreds.
const MAX_DKIM_SIGNATURES: usize = 10;

/// Why an [`Authenticator`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// The authserv-id (or host name) is not a usable token.
    AuthservId(String),
    /// The DNS resolver could not be set up.
    Resolver(String),
    /// The ARC sealing key could not be read or is not a usable key.
    SealKey(String),
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthError::AuthservId(s) => write!(f, "auth.authserv_id: {s}"),
            AuthError::Resolver(s) => write!(f, "auth.dns_servers: {s}"),
            AuthError::SealKey(s) => write!(f, "auth.arc_seal.key_file: {s}"),
        }
    }
}

impl std::error::Error for AuthError {}

/// One DKIM signature and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimCheck {
    /// A body changed after signing is reported as `fail` (RFC 6376 section 6.1.3), where
    /// mail-auth says `neutral`.
    pub result: DkimResult,
    /// `d=` (empty for a signature that could not be parsed).
    pub domain: String,
    /// `s=`.
    pub selector: String,
    /// Position among the message's parsed DKIM-Signature fields (for the ARC results).
    signature_index: Option<usize>,
}

/// The ARC chain the message arrived with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArcCheck {
    /// `pass` when the whole chain validates; `none` without a chain.
    pub result: DkimResult,
    /// `d=` of the newest ARC-Seal.
    pub sealer: Option<String>,
    /// Number of ARC sets.
    pub instances: usize,
    /// Whether the newest set's ARC-Authentication-Results report `dmarc=pass` for the From
    /// domain.
    pub sealer_reports_dmarc_pass: bool,
}

/// Everything the check found, and its verdict.
#[derive(Debug, Clone)]
pub struct AuthOutcome {
    /// SPF of the HELO identity (RFC 7208 section 2.3).
    pub spf_helo: SpfOutput,
    /// SPF of the MAIL FROM identity (for the null sender: `postmaster@<helo>`).
    pub spf_mail_from: SpfOutput,
    /// Every DKIM signature.
    pub dkim: Vec<DkimCheck>,
    pub arc: ArcCheck,
    /// DMARC for the From domain: `result()`, `policy()` (p, sp or np as applies), `domain()`.
    pub dmarc: DmarcOutput,
    /// Domains of the From header (lower case).
    pub from_domains: Vec<String>,
    /// Our `Authentication-Results` value (`authserv-id; spf=...; dkim=...; ...`), folded with
    /// CRLF TAB. `None` when the message was not checked (outbound).
    pub authentication_results: Option<String>,
    pub verdict: Verdict,
    /// Number of From header fields.
    from_fields: usize,
    client_ip: IpAddr,
    helo: String,
    mail_from: String,
}

impl AuthOutcome {
    /// Whether `domain` is authenticated (NC-2.1.7, and the spam rules' `from_authenticated`):
    /// DMARC pass when the domain publishes a record; otherwise an SPF or DKIM pass for the
    /// domain itself or a name below it (relaxed alignment with the domain as its own
    /// organisational domain).
    pub fn aligned(&self, domain: &str) -> bool {
        if self.dmarc.domain() == domain && self.dmarc.dmarc_record().is_some() {
            return self.dmarc.result() == DmarcResult::Pass;
        }
        (self.spf_mail_from.result() == SpfResult::Pass
            && within(self.spf_mail_from.domain(), domain))
            || self
                .dkim
                .iter()
                .any(|d| d.result == DkimResult::Pass && within(&d.domain, domain))
    }

    /// The message has one From field naming one domain, and that domain is
    /// [`aligned`](Self::aligned): the From address is the sender's own, as far as the domain
    /// can show it.
    pub fn from_aligned(&self) -> bool {
        self.from_fields == 1 && matches!(self.from_domains.as_slice(), [d] if self.aligned(d))
    }
}

/// The inbound authentication check. Build once, share (`Arc`) between sessions.
pub struct Authenticator {
    resolver: MessageAuthenticator,
    caches: Caches,
    authserv_id: String,
    config: AuthConfig,
    sealer: Option<Sealer>,
}

impl Authenticator {
    /// Sets up the resolver (the configured servers, or the system's), the caches and the ARC
    /// key. `hostname` is the authserv-id when the configuration names none.
    pub fn new(config: &AuthConfig, hostname: &str) -> Result<Authenticator, AuthError> {
        let authserv_id = own_authserv_id(config, hostname);
        if authserv_id.is_empty()
            || !authserv_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
        {
            return Err(AuthError::AuthservId(format!(
                "`{authserv_id}` is not a host name (letters, digits, `-`, `.`)"
            )));
        }

        let (resolver_config, mut opts) = if config.dns_servers.is_empty() {
            hickory_resolver::system_conf::read_system_conf()
                .map_err(|e| AuthError::Resolver(format!("system resolver: {e}")))?
        } else {
            let servers = config
                .dns_servers
                .iter()
                .map(|s| {
                    let mut ns = NameServerConfig::udp_and_tcp(s.0.ip());
                    for c in &mut ns.connections {
                        c.port = s.0.port();
                    }
                    ns
                })
                .collect();
            (
                ResolverConfig::from_parts(None, Vec::new(), servers),
                ResolverOpts::default(),
            )
        };
        opts.timeout = Duration::from_millis(config.dns_timeout_ms.max(1));
        opts.attempts = DNS_ATTEMPTS;
        opts.cache_size = config.dns_cache_entries as u64;
        // SPF `a`/`mx` must see the DNS, not this host's /etc/hosts.
        opts.use_hosts_file = ResolveHosts::Never;
        let resolver = MessageAuthenticator::new(resolver_config, opts)
            .map_err(|e| AuthError::Resolver(e.to_string()))?;

        let sealer = match &config.arc_seal {
            Some(seal) => Some(Sealer::load(seal).map_err(AuthError::SealKey)?),
            None => None,
        };

        Ok(Authenticator {
            resolver,
            caches: Caches::new(config.dns_cache_entries),
            authserv_id,
            config: config.clone(),
            sealer,
        })
    }

    /// The authserv-id of our Authentication-Results.
    pub fn authserv_id(&self) -> &str {
        &self.authserv_id
    }

    /// Runs SPF, DKIM, ARC and DMARC on an inbound message and decides (AL-2.4, NC-2.1.7).
    /// Outbound messages are accepted unchecked.
    pub async fn check(&self, ctx: &Context<'_>) -> AuthOutcome {
        if ctx.envelope.direction != Direction::Inbound {
            return AuthOutcome {
                spf_helo: SpfOutput::default(),
                spf_mail_from: SpfOutput::default(),
                dkim: Vec::new(),
                arc: ArcCheck::none(),
                dmarc: DmarcOutput::default(),
                from_domains: Vec::new(),
                from_fields: 0,
                authentication_results: None,
                verdict: Verdict::accept(
                    CHECK_AUTH,
                    "outbound: not an inbound authentication case",
                ),
                client_ip: ctx.envelope.client_ip,
                helo: ctx.envelope.helo.to_string(),
                mail_from: ctx.envelope.mail_from.to_string(),
            };
        }

        // mail-auth reads the same parse every check reads (the message was read once, and its
        // header section shown to be unambiguous): DKIM gets the fields exactly as received,
        // as offsets into `raw`.
        let mut message = AuthenticatedMessage::from_parsed(ctx.parsed, ctx.raw, true);
        message.dkim_headers.truncate(MAX_DKIM_SIGNATURES);
        let message = message;
        let from_domains = from_domains(&message);
        let mail_from_domain = ctx
            .envelope
            .mail_from
            .rsplit_once('@')
            .map_or(ctx.envelope.helo, |(_, d)| d)
            .to_ascii_lowercase();
        let host = self.authserv_id.as_str();

        let lookups = async {
            let (spf_helo, spf_mail_from, dkim, arc) = tokio::join!(
                self.resolver
                    .verify_spf(self.caches.params(SpfParameters::verify_ehlo(
                        ctx.envelope.client_ip,
                        ctx.envelope.helo,
                        host
                    ))),
                self.resolver
                    .verify_spf(self.caches.params(SpfParameters::verify_mail_from(
                        ctx.envelope.client_ip,
                        ctx.envelope.helo,
                        host,
                        ctx.envelope.mail_from,
                    ))),
                self.resolver.verify_dkim(self.caches.params(&message)),
                self.resolver.verify_arc(self.caches.params(&message)),
            );
            (spf_helo, spf_mail_from, dkim, arc)
        };
        let budget = Duration::from_secs(self.config.check_timeout_secs.max(1));
        let started = tokio::time::Instant::now();
        let Ok((spf_helo, spf_mail_from, dkim, arc)) = tokio::time::timeout(budget, lookups).await
        else {
            return self.timed_out(ctx, &message, from_domains, &mail_from_domain);
        };
        let remaining = budget.saturating_sub(started.elapsed());
        let dmarc_lookup = self
            .resolver
            .verify_dmarc(self.caches.params(DmarcParameters::new(
                &message,
                &dkim,
                &mail_from_domain,
                &spf_mail_from,
            )));
        let Ok(dmarc) = tokio::time::timeout(remaining, dmarc_lookup).await else {
            return self.timed_out(ctx, &message, from_domains, &mail_from_domain);
        };

        let mut outcome = AuthOutcome {
            spf_helo,
            spf_mail_from,
            dkim: dkim_checks(&message, &dkim),
            arc: arc_check(&arc, dmarc.domain()),
            dmarc,
            from_domains,
            from_fields: from_fields(&message),
            authentication_results: None,
            verdict: Verdict::accept(CHECK_AUTH, ""),
            client_ip: ctx.envelope.client_ip,
            helo: ctx.envelope.helo.to_string(),
            mail_from: ctx.envelope.mail_from.to_string(),
        };
        let dkim_out = dkim_outputs(&message, &outcome.dkim);
        outcome.authentication_results = Some(self.results(&outcome, &dkim_out, &arc).to_string());
        outcome.verdict = self.verdict(ctx, &outcome);
        outcome
    }

    /// The ARC set to prepend to `raw` — the message as it will be delivered, after every
    /// modification — carrying `outcome`'s results, or `None` when no sealing key is configured,
    /// the message was not checked, or the chain it came with had already failed.
    pub fn seal(&self, raw: &[u8], outcome: &AuthOutcome) -> Option<String> {
        let sealer = self.sealer.as_ref()?;
        outcome.authentication_results.as_ref()?;
        let message = AuthenticatedMessage::parse(raw)?;
        let chain = seal::chain_of(&message, &outcome.arc.result);
        let dkim_out = dkim_outputs(&message, &outcome.dkim);
        let results = self.results(outcome, &dkim_out, &chain);
        match sealer.seal(&message, &results, &chain) {
            Ok(headers) => Some(headers),
            Err(e) => {
                tracing::warn!(error = %e, "ARC sealing skipped");
                None
            }
        }
    }

    /// Our Authentication-Results for `o`, built the same way for the header and for the ARC
    /// set; `dkim` and `arc` are mail-auth's views of `o.dkim` and `o.arc` on the message.
    fn results<'x>(
        &'x self,
        o: &AuthOutcome,
        dkim: &[DkimOutput<'_>],
        arc: &ArcOutput<'_>,
    ) -> AuthenticationResults<'x> {
        let (ip, helo) = (o.client_ip, o.helo.as_str());
        let mut ar = AuthenticationResults::new(&self.authserv_id)
            .with_spf_ehlo_result(&o.spf_helo, ip, helo)
            .with_spf_mailfrom_result(&o.spf_mail_from, ip, &o.mail_from, helo)
            .with_dkim_results(dkim, o.from_domains.first().map_or("", String::as_str))
            .with_arc_result(arc, ip);
        if !o.dmarc.domain().is_empty() {
            ar = ar.with_dmarc_result(&o.dmarc);
        }
        ar
    }

    /// The outcome when the lookups ran past `check_timeout_secs`: as if the DMARC record could
    /// not be fetched.
    fn timed_out(
        &self,
        ctx: &Context<'_>,
        message: &AuthenticatedMessage<'_>,
        from_domains: Vec<String>,
        mail_from_domain: &str,
    ) -> AuthOutcome {
        let temp = || MailAuthError::Dns(mail_auth::DnsError::Resolver("timed out".into()));
        let dmarc = DmarcOutput::new(from_domains.first().cloned().unwrap_or_default())
            .with_spf_result(DmarcResult::TempError(temp()))
            .with_dkim_result(DmarcResult::TempError(temp()));
        let mut outcome = AuthOutcome {
            spf_helo: SpfOutput::new(ctx.envelope.helo.to_string())
                .with_result(SpfResult::TempError),
            spf_mail_from: SpfOutput::new(mail_from_domain.to_string())
                .with_result(SpfResult::TempError),
            dkim: Vec::new(),
            arc: ArcCheck::none(),
            dmarc,
            from_domains,
            from_fields: from_fields(message),
            authentication_results: None,
            verdict: Verdict::accept(CHECK_AUTH, ""),
            client_ip: ctx.envelope.client_ip,
            helo: ctx.envelope.helo.to_string(),
            mail_from: ctx.envelope.mail_from.to_string(),
        };
        let ar = self
            .results(&outcome, &[], &ArcOutput::default())
            .to_string();
        outcome.authentication_results = Some(ar);
        outcome.verdict = self.verdict(ctx, &outcome);
        outcome.verdict.reason = format!(
            "authentication lookups timed out; {}",
            outcome.verdict.reason
        );
        outcome
    }

    /// The verdict, with the header modifications (RFC 8601 section 5).
    fn verdict(&self, ctx: &Context<'_>, o: &AuthOutcome) -> Verdict {
        let mut verdict = self.decide(ctx, o);
        // RFC 8601 section 5: results claiming our authserv-id that came from outside are
        // forgeries. They are named by their place in the one header section every check
        // reads, so the removal cannot miss a copy folded, cased or spaced differently.
        remove_forged_results(&mut verdict, ctx.headers, &self.authserv_id);
        // An ARC set from outside whose results claim our authserv-id is forged as well: the
        // whole instance (seal, signature, results) goes.
        let forged_instances: Vec<String> = ctx
            .headers
            .all("ARC-Authentication-Results")
            .filter_map(|(_, f)| {
                let (instance, rest) = f.value.split_once(';')?;
                results::claims(rest.as_bytes(), &self.authserv_id)
                    .then(|| arc_instance(instance))
                    .flatten()
            })
            .collect();
        if !forged_instances.is_empty() {
            for name in [
                "ARC-Seal",
                "ARC-Message-Signature",
                "ARC-Authentication-Results",
            ] {
                let indices: Vec<usize> = ctx
                    .headers
                    .all(name)
                    .filter(|(_, f)| {
                        f.value
                            .split(';')
                            .find_map(arc_instance)
                            .is_some_and(|i| forged_instances.contains(&i))
                    })
                    .map(|(i, _)| i)
                    .collect();
                if !indices.is_empty() {
                    verdict.modifications.push(Modification::RemoveFields {
                        name: name.to_string(),
                        indices,
                    });
                }
            }
            verdict.reason.push_str(&format!(
                "; removed ARC set(s) i={} claiming our authserv-id",
                forged_instances.join(",")
            ));
        }
        if let Some(ar) = &o.authentication_results {
            verdict.modifications.push(Modification::AddHeader {
                name: AUTH_RESULTS.to_string(),
                value: ar.clone(),
            });
        }
        verdict
    }

    fn decide(&self, ctx: &Context<'_>, o: &AuthOutcome) -> Verdict {
        let dmarc = &o.dmarc;
        let domain = dmarc.domain();

        // NC-2.1.7: a From in one of our domains must be aligned, whatever the domain publishes.
        let own: Vec<&str> = o
            .from_domains
            .iter()
            .map(String::as_str)
            .filter(|d| ctx.local_domains.iter().any(|l| l.eq_ignore_ascii_case(d)))
            .collect();
        if let Some(unaligned) = own.iter().find(|d| !o.aligned(d)) {
            if self.config.trusted_forwarders.override_own_domain {
                if let Some(why) = self.forwarder_override(ctx, o, unaligned) {
                    return Verdict::accept(
                        CHECK_AUTH,
                        format!("NC-2.1.7: From in own domain {unaligned} without alignment, overridden: {why}"),
                    );
                }
            }
            if let Some((action, what)) = self.own_domain_temperror(o, unaligned) {
                return self.temp_verdict(
                    action,
                    what,
                    format!("NC-2.1.7: From in own domain {unaligned}: alignment unknown ({what} temporary DNS error)"),
                );
            }
            return Verdict::with(
                CHECK_AUTH,
                Action::Reject(Refusal::new(
                    550,
                    EnhancedStatus::NOT_AUTHORIZED,
                    format!(
                        "Message rejected: its From address is in {unaligned}, a domain of this server, and it was not authenticated as sent from {unaligned}"
                    ),
                )),
                format!("NC-2.1.7: From in own domain {unaligned} from outside without SPF or DKIM alignment"),
            );
        }

        // AL-2.4: a second From field, or a From naming several domains, would let a spoof pass
        // as "DMARC does not apply" (RFC 7489 section 6.6.1 allows refusing them).
        if o.from_fields > 1 || o.from_domains.len() > 1 {
            let what = if o.from_fields > 1 {
                "more than one From header field"
            } else {
                "From addresses in more than one domain"
            };
            return Verdict::with(
                CHECK_DMARC,
                Action::Reject(Refusal::new(
                    550,
                    EnhancedStatus::NOT_AUTHORIZED,
                    format!(
                        "Message rejected: it has {what}, so its sender cannot be authenticated"
                    ),
                )),
                format!("AL-2.4: {what}: DMARC cannot be applied"),
            );
        }

        // AL-2.4: the DMARC policy of the From domain.
        if domain.is_empty() {
            return Verdict::accept(CHECK_AUTH, "no From address: DMARC does not apply");
        }
        let policy = dmarc.policy();
        let enforcing = matches!(policy, Policy::Reject | Policy::Quarantine);
        match dmarc.result() {
            DmarcResult::Pass => Verdict::accept(CHECK_DMARC, format!("dmarc=pass for {domain}")),
            DmarcResult::None => Verdict::accept(
                CHECK_DMARC,
                format!("dmarc=none: {domain} publishes no DMARC policy"),
            ),
            DmarcResult::TempError(_) if dmarc.dmarc_record().is_none() => self.temp_verdict(
                self.config.dmarc_temperror,
                "DMARC",
                format!("dmarc=temperror: the DMARC policy of {domain} could not be fetched"),
            ),
            DmarcResult::TempError(_) if !enforcing => Verdict::accept(
                CHECK_DMARC,
                format!("dmarc=temperror for {domain}, policy none"),
            ),
            DmarcResult::TempError(_) => {
                let (action, what) = self.dmarc_temperror_cause(o);
                self.temp_verdict(
                    action,
                    what,
                    format!(
                        "dmarc=temperror for {domain} (p={policy}): {what} temporary DNS error"
                    ),
                )
            }
            DmarcResult::Fail(_) | DmarcResult::PermError(_) => {
                if !enforcing {
                    return Verdict::accept(
                        CHECK_DMARC,
                        format!("dmarc=fail for {domain}, policy none: delivered"),
                    );
                }
                if let Some(why) = self.forwarder_override(ctx, o, domain) {
                    return Verdict::accept(
                        CHECK_DMARC,
                        format!("AL-2.4: dmarc=fail for {domain} (p={policy}) overridden: {why}"),
                    );
                }
                if policy == Policy::Reject {
                    Verdict::with(
                        CHECK_DMARC,
                        Action::Reject(Refusal::new(
                            550,
                            EnhancedStatus::NOT_AUTHORIZED,
                            format!("Message rejected: {domain} publishes a DMARC policy of reject and this message failed DMARC authentication"),
                        )),
                        format!("AL-2.4: dmarc=fail for {domain}, p=reject"),
                    )
                } else {
                    Verdict::with(
                        CHECK_DMARC,
                        Action::Quarantine,
                        format!("AL-2.4: dmarc=fail for {domain}, p=quarantine"),
                    )
                }
            }
        }
    }

    /// A temporary error that could have produced the missing own-domain alignment.
    fn own_domain_temperror(
        &self,
        o: &AuthOutcome,
        domain: &str,
    ) -> Option<(TempErrorAction, &'static str)> {
        let mut causes = Vec::new();
        if o.spf_mail_from.result() == SpfResult::TempError
            && within(o.spf_mail_from.domain(), domain)
        {
            causes.push((self.config.spf_temperror, "SPF"));
        }
        if o.dkim
            .iter()
            .any(|d| matches!(d.result, DkimResult::TempError(_)) && within(&d.domain, domain))
        {
            causes.push((self.config.dkim_temperror, "DKIM"));
        }
        if o.dmarc.domain() == domain && matches!(o.dmarc.result(), DmarcResult::TempError(_)) {
            causes.push((self.config.dmarc_temperror, "DMARC"));
        }
        causes.into_iter().max_by_key(|(a, _)| *a)
    }

    /// Which check's temporary error left an enforcing DMARC policy undecided.
    fn dmarc_temperror_cause(&self, o: &AuthOutcome) -> (TempErrorAction, &'static str) {
        let mut causes = Vec::new();
        if matches!(o.dmarc.spf_result(), DmarcResult::TempError(_)) {
            causes.push(if o.spf_mail_from.result() == SpfResult::TempError {
                (self.config.spf_temperror, "SPF")
            } else {
                (self.config.dmarc_temperror, "DMARC")
            });
        }
        if matches!(o.dmarc.dkim_result(), DmarcResult::TempError(_)) {
            causes.push(
                if o.dkim
                    .iter()
                    .any(|d| matches!(d.result, DkimResult::TempError(_)))
                {
                    (self.config.dkim_temperror, "DKIM")
                } else {
                    (self.config.dmarc_temperror, "DMARC")
                },
            );
        }
        causes
            .into_iter()
            .max_by_key(|(a, _)| *a)
            .unwrap_or((self.config.dmarc_temperror, "DMARC"))
    }

    fn temp_verdict(&self, action: TempErrorAction, what: &str, reason: String) -> Verdict {
        match action {
            TempErrorAction::TempFail => {
                // RFC 7372: X.7.24 is "SPF validation error"; the others have no code of their own.
                let status = if what == "SPF" {
                    EnhancedStatus::SPF_ERROR
                } else {
                    EnhancedStatus::SECURITY_OTHER
                };
                Verdict::with(
                    CHECK_AUTH,
                    Action::TempFail(Refusal::new(
                        451,
                        status,
                        format!(
                            "Temporary DNS error while checking {what}; please try again later"
                        ),
                    )),
                    reason,
                )
            }
            TempErrorAction::Quarantine => Verdict::with(CHECK_AUTH, Action::Quarantine, reason),
            TempErrorAction::Accept => {
                Verdict::accept(CHECK_AUTH, format!("{reason}; accepted by configuration"))
            }
        }
    }

    /// A trusted forwarder that lets this message through a failing policy, in words.
    fn forwarder_override(
        &self,
        ctx: &Context<'_>,
        o: &AuthOutcome,
        domain: &str,
    ) -> Option<String> {
        let trusted = &self.config.trusted_forwarders;
        if let Some(net) = trusted
            .networks
            .iter()
            .find(|n| n.contains(ctx.envelope.client_ip))
        {
            return Some(format!(
                "client {} is a trusted forwarder ({net})",
                ctx.envelope.client_ip
            ));
        }
        let sealer = o.arc.sealer.as_deref()?;
        let is_trusted = trusted.arc_sealers.iter().any(|s| {
            s.trim_end_matches('.')
                .eq_ignore_ascii_case(sealer.trim_end_matches('.'))
        });
        (is_trusted
            && o.arc.result == DkimResult::Pass
            && o.arc.sealer_reports_dmarc_pass
            && o.dmarc.domain() == domain)
            .then(|| format!("ARC chain sealed by trusted forwarder {sealer} reports dmarc=pass"))
    }
}

impl ArcCheck {
    fn none() -> ArcCheck {
        ArcCheck {
            result: DkimResult::None,
            sealer: None,
            instances: 0,
            sealer_reports_dmarc_pass: false,
        }
    }
}

/// `domain` is `parent` or a name below it.
/// The instance number of an ARC tag `i=N` (RFC 8617 section 4.2.1), white space and folds
/// allowed around it.
fn arc_instance(tag: &str) -> Option<String> {
    let t: String = tag.chars().filter(|c| !c.is_whitespace()).collect();
    let n = t.strip_prefix("i=")?;
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then(|| n.to_string())
}

/// The authserv-id of this server's `Authentication-Results`: `authserv_id` of the
/// configuration, else the host name.
pub fn own_authserv_id(config: &AuthConfig, hostname: &str) -> String {
    config
        .authserv_id
        .as_deref()
        .unwrap_or(hostname)
        .trim()
        .to_string()
}

/// RFC 8601 section 5: every `Authentication-Results` field claiming `authserv_id` came from
/// outside and is a forgery; `verdict` removes them (named by their place in the one header
/// section every check reads, so no copy folded, cased or spaced differently is missed) and
/// says so. Run by the authentication check, and by the pipeline when that check did not run
/// (switched off, or outbound mail): a server behind this one may believe our results
/// (NC-2.3.4, `trusted_authserv_ids`), so a forged one must never pass through.
pub fn remove_forged_results(
    verdict: &mut Verdict,
    headers: &crate::message::Headers<'_>,
    authserv_id: &str,
) {
    let forged: Vec<usize> = headers
        .all(AUTH_RESULTS)
        .filter(|(_, f)| results::claims(f.value.as_bytes(), authserv_id))
        .map(|(i, _)| i)
        .collect();
    if !forged.is_empty() {
        verdict.reason.push_str(&format!(
            "; removed {} Authentication-Results claiming our authserv-id",
            forged.len()
        ));
        verdict.modifications.push(Modification::RemoveFields {
            name: AUTH_RESULTS.to_string(),
            indices: forged,
        });
    }
}

fn within(domain: &str, parent: &str) -> bool {
    let domain = domain.trim_end_matches('.');
    domain.eq_ignore_ascii_case(parent)
        || (domain.len() > parent.len()
            && domain.as_bytes()[domain.len() - parent.len() - 1] == b'.'
            && domain[domain.len() - parent.len()..].eq_ignore_ascii_case(parent))
}

fn from_fields(message: &AuthenticatedMessage<'_>) -> usize {
    message
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case(b"From"))
        .count()
}

fn from_domains(message: &AuthenticatedMessage<'_>) -> Vec<String> {
    let mut domains: Vec<String> = Vec::new();
    for from in &message.from {
        if let Some((_, d)) = from.rsplit_once('@') {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if !domains.contains(&d) {
                domains.push(d);
            }
        }
    }
    domains
}

fn dkim_checks(message: &AuthenticatedMessage<'_>, outputs: &[DkimOutput<'_>]) -> Vec<DkimCheck> {
    outputs
        .iter()
        .map(|o| {
            let signature = o.signature();
            let result = match o.result() {
                DkimResult::Neutral(
                    e @ MailAuthError::Dkim(mail_auth::dkim::DkimError::FailedBodyHashMatch),
                ) => DkimResult::Fail(e.clone()),
                other => other.clone(),
            };
            DkimCheck {
                result,
                domain: signature
                    .map(|s| s.d.to_ascii_lowercase())
                    .unwrap_or_default(),
                selector: signature.map(|s| s.s.clone()).unwrap_or_default(),
                signature_index: signature.and_then(|s| {
                    message
                        .dkim_headers
                        .iter()
                        .position(|h| std::ptr::eq(&h.header, s))
                }),
            }
        })
        .collect()
}

/// mail-auth's DKIM outputs rebuilt from our summaries, pointing at `message`'s signatures.
fn dkim_outputs<'x>(
    message: &'x AuthenticatedMessage<'x>,
    checks: &[DkimCheck],
) -> Vec<DkimOutput<'x>> {
    checks
        .iter()
        .filter_map(|c| {
            let out = match &c.result {
                DkimResult::Pass => DkimOutput::pass(),
                DkimResult::Fail(e) => DkimOutput::fail(e.clone()),
                DkimResult::Neutral(e) => DkimOutput::neutral(e.clone()),
                DkimResult::PermError(e) => DkimOutput::perm_err(e.clone()),
                DkimResult::TempError(e) => DkimOutput::temp_err(e.clone()),
                DkimResult::None => return None,
            };
            let signature = c
                .signature_index
                .and_then(|i| message.dkim_headers.get(i))
                .map(|h| &h.header)
                .filter(|s| s.d.eq_ignore_ascii_case(&c.domain) && s.s == c.selector);
            Some(match signature {
                Some(s) => out.with_signature(s),
                None => out,
            })
        })
        .collect()
}

fn arc_check(arc: &ArcOutput<'_>, from_domain: &str) -> ArcCheck {
    let newest = arc.sets().last();
    ArcCheck {
        result: arc.result().clone(),
        sealer: newest.map(|s| s.seal.header.d.to_ascii_lowercase()),
        instances: arc.sets().len(),
        sealer_reports_dmarc_pass: newest.is_some_and(|s| {
            !from_domain.is_empty() && results::aar_reports_dmarc_pass(s.results.value, from_domain)
        }),
    }
}
