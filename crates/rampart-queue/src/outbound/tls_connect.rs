//! Connecting to a domain's MX hosts under the TLS policy that applies to it, and counting
//! each session's TLS outcome for the reports (RFC 8460).
//!
//! Precedence: a configured `[[delivery.policy]]` for the domain, then DANE (RFC 8461 section
//! 2), then MTA-STS, else opportunistic TLS. Under MTA-STS `enforce` (RFC 8461 section 4.2) an
//! MX host not named by the policy is skipped, and one without STARTTLS or without a
//! certificate valid for its name is not given the mail: each is a temporary failure whose
//! reason the trace shows. Under `testing` the same failures are reported and the mail goes.

use super::{classify, temporary, Outbound};
use crate::client::{opportunistic_config, verifying_config, Connection, TlsMode};
use crate::mta_sts::{Lookup, Mode, Policy};
use crate::tls_report::{self, PolicyType, ResultType, TlsOutcome};
use crate::transport_security::{PolicyKind, Security, Verifier};
use rampart_config::TlsPolicy;
use rampart_store::RecipientStatus;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// How the hosts of one domain are to be connected to.
struct Plan {
    kind: PolicyKind,
    /// A configured policy's client configuration, and whether TLS is required by it.
    configured: Option<(Arc<rustls::ClientConfig>, bool)>,
    /// The MTA-STS policy that applies.
    sts: Option<Arc<Policy>>,
}

impl Outbound {
    /// Opens a connection to the first of `hosts` (MX hosts of `domain`, by preference) that
    /// answers and satisfies the domain's TLS policy.
    pub(super) async fn connect_mx(
        &self,
        domain: &str,
        hosts: Vec<String>,
        helo: &str,
        timeout: Duration,
    ) -> Result<(Connection, Security), RecipientStatus> {
        let d = &self.config.delivery;
        let configured = d
            .policies
            .iter()
            .find(|p| p.domain.eq_ignore_ascii_case(domain));
        let plan = match configured {
            Some(p) => Plan {
                kind: PolicyKind::Configured,
                configured: Some((configured_tls(p)?, p.require_tls || p.verify)),
                sts: None,
            },
            None => {
                let lookup = if d.mta_sts {
                    self.mta_sts.lookup(domain).await
                } else {
                    Lookup::NoPolicy
                };
                match lookup {
                    Lookup::Policy(p) => Plan {
                        kind: match p.mode {
                            Mode::Enforce => PolicyKind::MtaStsEnforce,
                            _ => PolicyKind::MtaStsTesting,
                        },
                        configured: None,
                        sts: Some(p),
                    },
                    Lookup::Failed { result, reason } => {
                        // RFC 8460 section 4.3.2.2: reported; delivery goes on without a policy.
                        self.count(domain, None, None, None, result, Some(reason))
                            .await;
                        opportunistic()
                    }
                    Lookup::NoPolicy => opportunistic(),
                }
            }
        };
        let enforce = plan.sts.as_ref().is_some_and(|p| p.mode == Mode::Enforce);
        let mut last = temporary(format!("no reachable mail server for {domain}"));
        for host in hosts {
            // RFC 7672, RFC 8461 section 2: DANE first. A secure TLSA RRset overrides every
            // other policy; a TLSA lookup that failed or was bogus skips the host (AL-1.1).
            let dane = crate::dane::lookup(&self.config.dns, domain, &host, d.port).await;
            if let Some(why) = dane.refusal() {
                let result = match dane {
                    crate::dane::DaneState::Bogus(_) => ResultType::DnssecInvalid,
                    _ => ResultType::TlsaInvalid,
                };
                self.count_dane(domain, &host, None, result, Some(why.clone()))
                    .await;
                last = temporary(why);
                continue;
            }
            if let Some(tls) = crate::dane::tls_mode(dane) {
                match self.open_dane(domain, &host, &tls, helo, timeout).await {
                    Ok(c) => return Ok(c),
                    Err(e) => {
                        last = e;
                        continue;
                    }
                }
            }
            if let Some(p) = plan.sts.as_ref().filter(|p| !p.allows_mx(&host)) {
                let why = format!("{host} is not an MX host of {domain}'s MTA-STS policy");
                self.count(
                    domain,
                    Some(p.as_ref()),
                    Some(&host),
                    None,
                    ResultType::ValidationFailure,
                    Some(why.clone()),
                )
                .await;
                if enforce {
                    // RFC 8461 section 4.1: never to an MX the policy does not name.
                    last = temporary(format!("MTA-STS (enforce): {why}"));
                    continue;
                }
            }
            let ips = match crate::dns::addresses(&self.resolver, &host).await {
                Ok(ips) => ips,
                Err((_, e)) => {
                    last = temporary(e);
                    continue;
                }
            };
            for ip in ips {
                match self.open(domain, &plan, &host, ip, helo, timeout).await {
                    Ok(c) => return Ok(c),
                    Err(e) => last = e,
                }
            }
        }
        Err(last)
    }

    /// One connection under `plan`; its TLS outcome counted.
    async fn open(
        &self,
        domain: &str,
        plan: &Plan,
        host: &str,
        ip: IpAddr,
        helo: &str,
        timeout: Duration,
    ) -> Result<(Connection, Security), RecipientStatus> {
        let enforce = plan.sts.as_ref().is_some_and(|p| p.mode == Mode::Enforce);
        let (tls, verifier) = match &plan.configured {
            Some((config, required)) => (
                TlsMode {
                    required: *required,
                    config: config.clone(),
                    implicit: false,
                },
                None,
            ),
            None => {
                let verifier = Verifier::new(self.roots.clone(), enforce).ok();
                if enforce && verifier.is_none() {
                    return Err(temporary(
                        "MTA-STS (enforce): no trusted CA certificate to check the MX with".into(),
                    ));
                }
                let config = verifier
                    .as_ref()
                    .map_or_else(opportunistic_config, |v| v.config());
                // STARTTLS is checked below, so that its absence is counted as such.
                let mode = TlsMode {
                    required: false,
                    config,
                    implicit: false,
                };
                (mode, verifier)
            }
        };
        let sts = plan.sts.as_deref();
        let addr = SocketAddr::new(ip, self.config.delivery.port);
        match Connection::open(addr, host, helo, &tls, timeout).await {
            Ok(c) => {
                let problem = verifier.as_ref().and_then(|v| v.problem());
                let (result, reason) = match (&c.tls, problem) {
                    (None, _) => (
                        ResultType::StartTlsNotSupported,
                        Some(format!("{host} does not offer STARTTLS")),
                    ),
                    (Some(_), Some((r, why))) => (r, Some(why)),
                    (Some(_), None) => (ResultType::Success, None),
                };
                self.count(domain, sts, Some(host), Some(ip), result, reason)
                    .await;
                if enforce && c.tls.is_none() {
                    c.quit().await;
                    return Err(temporary(format!(
                        "MTA-STS (enforce): {host} does not offer STARTTLS, and {domain}'s policy requires TLS"
                    )));
                }
                let verified = match &verifier {
                    Some(v) => v.verified(),
                    // A configured policy that verifies got this far with a valid certificate.
                    None => plan.configured.is_some() && c.tls.is_some() && self.verifies(domain),
                };
                let security = Security {
                    tls: c.tls.clone(),
                    verified,
                    policy: plan.kind,
                };
                Ok((c, security))
            }
            Err(e) => {
                if let Some((result, why)) = verifier.as_ref().and_then(|v| v.problem()) {
                    self.count(domain, sts, Some(host), Some(ip), result, Some(why.clone()))
                        .await;
                    if enforce {
                        return Err(temporary(format!(
                            "MTA-STS (enforce): the certificate of {host} is not valid ({}): {why}",
                            result.as_str()
                        )));
                    }
                }
                tracing::debug!(host = %host, address = %ip, error = %e, "connection failed");
                Err(classify(e, host))
            }
        }
    }

    /// A connection to `host` whose secure TLSA records bind its certificate (RFC 7672): TLS
    /// required, the certificate checked against the records; each outcome counted for the
    /// TLS report with policy type `tlsa`.
    async fn open_dane(
        &self,
        domain: &str,
        host: &str,
        tls: &TlsMode,
        helo: &str,
        timeout: Duration,
    ) -> Result<(Connection, Security), RecipientStatus> {
        let ips = crate::dns::addresses(&self.resolver, host)
            .await
            .map_err(|(_, e)| temporary(e))?;
        let mut last = temporary(format!("DANE: no address for {host}"));
        for ip in ips {
            let addr = SocketAddr::new(ip, self.config.delivery.port);
            match Connection::open(addr, host, helo, tls, timeout).await {
                Ok(c) => {
                    self.count_dane(domain, host, Some(ip), ResultType::Success, None)
                        .await;
                    let security = Security {
                        tls: c.tls.clone(),
                        verified: true,
                        policy: PolicyKind::Dane,
                    };
                    return Ok((c, security));
                }
                Err(e) => {
                    let e = crate::dane::explain(true, e);
                    let result = match &e {
                        crate::client::ClientError::Transport(t) if t.contains("STARTTLS") => {
                            ResultType::DaneRequired
                        }
                        _ => ResultType::TlsaInvalid,
                    };
                    self.count_dane(domain, host, Some(ip), result, Some(format!("{e:?}")))
                        .await;
                    tracing::debug!(host = %host, address = %ip, error = ?e, "DANE connection failed");
                    last = classify(e, host);
                }
            }
        }
        Err(last)
    }

    /// Counts one DANE outcome for `domain`'s report (RFC 8460 policy type `tlsa`).
    async fn count_dane(
        &self,
        domain: &str,
        host: &str,
        ip: Option<IpAddr>,
        result: ResultType,
        reason: Option<String>,
    ) {
        let outcome = TlsOutcome {
            policy_domain: domain.to_ascii_lowercase(),
            policy_type: PolicyType::Tlsa,
            policy_strings: Vec::new(),
            mx_host: Some(host.to_string()),
            receiving_ip: ip,
            result,
            reason,
        };
        tls_report::record(&self.store, &outcome).await;
    }

    /// Sends the TLS reports that are due (RFC 8460; see [`tls_report::send::When`]); how
    /// many went.
    pub async fn send_tls_reports(&self, when: tls_report::send::When) -> usize {
        let n = tls_report::send::send_due(
            &self.store,
            &self.resolver,
            &self.config,
            self.roots.clone(),
            when,
        )
        .await;
        if n > 0 {
            self.notify.notify_one();
        }
        n
    }

    fn verifies(&self, domain: &str) -> bool {
        self.config
            .delivery
            .policies
            .iter()
            .any(|p| p.domain.eq_ignore_ascii_case(domain) && p.verify)
    }

    /// Counts one outcome for `domain`'s report.
    async fn count(
        &self,
        domain: &str,
        sts: Option<&Policy>,
        host: Option<&str>,
        ip: Option<IpAddr>,
        result: ResultType,
        reason: Option<String>,
    ) {
        let policy_type = if sts.is_some() || is_sts_failure(result) {
            PolicyType::Sts
        } else {
            PolicyType::NoPolicyFound
        };
        let outcome = TlsOutcome {
            policy_domain: domain.to_ascii_lowercase(),
            policy_type,
            policy_strings: sts.map(|p| p.lines.clone()).unwrap_or_default(),
            mx_host: host.map(str::to_string),
            receiving_ip: ip,
            result,
            reason,
        };
        tls_report::record(&self.store, &outcome).await;
    }
}

fn is_sts_failure(r: ResultType) -> bool {
    matches!(
        r,
        ResultType::StsPolicyFetchError
            | ResultType::StsPolicyInvalid
            | ResultType::StsWebpkiInvalid
    )
}

fn opportunistic() -> Plan {
    Plan {
        kind: PolicyKind::Opportunistic,
        configured: None,
        sts: None,
    }
}

/// The client configuration of a `[[delivery.policy]]`.
fn configured_tls(p: &TlsPolicy) -> Result<Arc<rustls::ClientConfig>, RecipientStatus> {
    if !p.verify {
        return Ok(opportunistic_config());
    }
    let ca = p
        .ca_file
        .as_deref()
        .unwrap_or(std::path::Path::new("/etc/ssl/certs/ca-certificates.crt"));
    verifying_config(ca, None).map_err(temporary)
}
