//! MTA-STS for outbound delivery (RFC 8461): what a recipient domain's policy is, from its
//! `_mta-sts` TXT record, the policy file fetched over HTTPS ([`fetch`]) and the durable cache
//! in the store.
//!
//! Discovery (section 3, 5.1): the TXT record's `id` says which policy is current. A cached
//! policy within its `max_age` and with that id is used as it is, fetched again when a quarter
//! of its `max_age` is left; a new id, or none cached, means a fetch. When a fetch fails, an unexpired cached
//! policy still applies (section 5.1); without one the domain is treated as having no policy,
//! and the failure is reported (RFC 8460 `sts-policy-fetch-error` and its kin).
//!
//! What the policy then demands of each MX is decided in `outbound` with [`Policy::allows_mx`]
//! and the certificate check of `transport_security`.

pub mod fetch;
pub mod policy;

pub use policy::{Mode, Policy};

use crate::tls_report::ResultType;
use hickory_resolver::TokioResolver;
use rampart_store::{AnyStore, CachedStsPolicy};
use rustls::RootCertStore;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// A cached policy is fetched again when less than this part of its max_age is left.
const REFRESH_WHEN_LEFT: i64 = 4;
/// Time for one policy fetch.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// What MTA-STS says about a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// No policy (no record and nothing cached, or `mode: none`).
    NoPolicy,
    /// This policy applies (`enforce` or `testing`).
    Policy(Arc<Policy>),
    /// The domain publishes a record but no policy could be had: delivery goes on as without
    /// one, and this is reported.
    Failed { result: ResultType, reason: String },
}

/// The MTA-STS resolver of the outbound side.
pub struct MtaSts {
    store: AnyStore,
    resolver: TokioResolver,
    roots: Arc<RootCertStore>,
    /// 443 but in tests (`[delivery] mta_sts_port`).
    port: u16,
}

impl MtaSts {
    pub fn new(
        store: AnyStore,
        resolver: TokioResolver,
        roots: Arc<RootCertStore>,
        port: u16,
    ) -> MtaSts {
        MtaSts {
            store,
            resolver,
            roots,
            port,
        }
    }

    /// The policy for mail to `domain`, now.
    pub async fn lookup(&self, domain: &str) -> Lookup {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let now = rampart_store::now_micros();
        let txt = self.txt_id(&domain).await;
        let cached = match self.store.sts_policy(&domain).await {
            Ok(c) => c.filter(|c| c.expires > now),
            Err(e) => {
                tracing::error!(error = %e, %domain, "reading the MTA-STS cache failed");
                None
            }
        };
        let fresh =
            |c: &CachedStsPolicy| c.expires - now > (c.expires - c.fetched) / REFRESH_WHEN_LEFT;
        let id = match (&txt, &cached) {
            // Current and not about to expire: no fetch.
            (Ok(Some(id)), Some(c)) if *id == c.id && fresh(c) => return from_cache(c),
            // Section 5.1: without a record (or with DNS failing) a cached policy still holds.
            (Ok(None) | Err(_), Some(c)) => return from_cache(c),
            (Ok(None) | Err(_), None) => return Lookup::NoPolicy,
            (Ok(Some(id)), _) => id.clone(),
        };
        match self.fetch(&domain).await {
            Ok(text) => match Policy::parse(&text) {
                Ok(p) => {
                    let entry = CachedStsPolicy {
                        domain: domain.clone(),
                        id,
                        policy: text,
                        fetched: now,
                        expires: now.saturating_add(p.max_age as i64 * 1_000_000),
                    };
                    if let Err(e) = self.store.sts_policy_put(entry).await {
                        tracing::error!(error = %e, %domain, "caching the MTA-STS policy failed");
                    }
                    tracing::debug!(%domain, mode = p.mode.as_str(), "MTA-STS policy fetched");
                    applies(p)
                }
                Err(e) => self.failed(
                    &domain,
                    cached,
                    ResultType::StsPolicyInvalid,
                    format!("invalid policy: {e}"),
                ),
            },
            Err(e) => self.failed(&domain, cached, e.result, e.reason),
        }
    }

    /// A fetch failed: an unexpired cached policy holds (section 5.1), else the failure.
    fn failed(
        &self,
        domain: &str,
        cached: Option<CachedStsPolicy>,
        result: ResultType,
        reason: String,
    ) -> Lookup {
        tracing::warn!(%domain, %reason, cached = cached.is_some(), "MTA-STS policy fetch failed");
        match cached {
            Some(c) => from_cache(&c),
            None => Lookup::Failed { result, reason },
        }
    }

    /// The `id` of `_mta-sts.<domain>`. Ok(None): no (valid) record; Err: DNS failed.
    async fn txt_id(&self, domain: &str) -> Result<Option<String>, String> {
        match self
            .resolver
            .txt_lookup(format!("_mta-sts.{domain}."))
            .await
        {
            Ok(lookup) => {
                let ids: Vec<String> = lookup
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        hickory_resolver::proto::rr::RData::TXT(t) => {
                            let s: String = t
                                .txt_data
                                .iter()
                                .map(|p| String::from_utf8_lossy(p).into_owned())
                                .collect();
                            policy::parse_txt(&s)
                        }
                        _ => None,
                    })
                    .collect();
                // Section 3.1: more than one STSv1 record is as none.
                Ok(if ids.len() == 1 {
                    ids.into_iter().next()
                } else {
                    None
                })
            }
            Err(e) if e.is_nx_domain() || e.is_no_records_found() => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn fetch(&self, domain: &str) -> Result<String, fetch::FetchError> {
        let host = format!("mta-sts.{domain}");
        let ips = crate::dns::addresses(&self.resolver, &host)
            .await
            .map_err(|(_, e)| fetch::FetchError {
                result: ResultType::StsPolicyFetchError,
                reason: e,
            })?;
        let addrs: Vec<SocketAddr> = ips
            .into_iter()
            .map(|ip| SocketAddr::new(ip, self.port))
            .collect();
        fetch::fetch(domain, &addrs, self.roots.clone(), FETCH_TIMEOUT).await
    }
}

fn from_cache(c: &CachedStsPolicy) -> Lookup {
    match Policy::parse(&c.policy) {
        Ok(p) => applies(p),
        // Stored only after parsing: cannot happen but by an edited database.
        Err(e) => Lookup::Failed {
            result: ResultType::StsPolicyInvalid,
            reason: format!("cached policy: {e}"),
        },
    }
}

fn applies(p: Policy) -> Lookup {
    if p.mode == Mode::None {
        Lookup::NoPolicy
    } else {
        Lookup::Policy(Arc::new(p))
    }
}
