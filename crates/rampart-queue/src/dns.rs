//! DNS for outbound delivery: MX (RFC 5321 section 5.1, null MX RFC 7505) and addresses.

use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;
use rampart_config::DnsConfig;
use std::net::IpAddr;

/// Builds the resolver: the configured servers, or the system's.
pub fn resolver(cfg: &DnsConfig) -> Result<TokioResolver, String> {
    rampart_checks::dnsbl::resolver(&cfg.servers, cfg.timeout_secs)
}

/// Where mail for a domain goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Hosts in order of preference.
    Hosts(Vec<String>),
    /// RFC 7505 null MX: the domain accepts no mail.
    NullMx,
    /// The domain does not exist or has no MX and no address.
    NoSuchDomain,
    /// DNS did not answer; try again later.
    TempFail(String),
}

fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

/// Resolves the MX hosts of `domain`, falling back to the domain itself (implicit MX).
pub async fn route(resolver: &TokioResolver, domain: &str) -> Route {
    match resolver.mx_lookup(fqdn(domain)).await {
        Ok(lookup) => {
            let mut mx: Vec<(u16, String)> = lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::MX(mx) => Some((mx.preference, mx.exchange.to_ascii())),
                    _ => None,
                })
                .collect();
            if mx.is_empty() {
                return implicit(resolver, domain).await;
            }
            // RFC 7505: a single MX of "." means no mail.
            if mx.len() == 1 && (mx[0].1 == "." || mx[0].1.is_empty()) {
                return Route::NullMx;
            }
            mx.sort();
            Route::Hosts(
                mx.into_iter()
                    .map(|(_, h)| h.trim_end_matches('.').to_string())
                    .filter(|h| !h.is_empty())
                    .collect(),
            )
        }
        Err(e) if e.is_nx_domain() => Route::NoSuchDomain,
        Err(e) if e.is_no_records_found() => implicit(resolver, domain).await,
        Err(e) => Route::TempFail(format!("MX lookup for {domain} failed: {e}")),
    }
}

async fn implicit(resolver: &TokioResolver, domain: &str) -> Route {
    match addresses(resolver, domain).await {
        Ok(a) if !a.is_empty() => Route::Hosts(vec![domain.to_string()]),
        Ok(_) => Route::NoSuchDomain,
        Err((true, e)) => Route::TempFail(e),
        Err((false, _)) => Route::NoSuchDomain,
    }
}

/// A and AAAA addresses of a host. The error says whether it is temporary.
pub async fn addresses(
    resolver: &TokioResolver,
    host: &str,
) -> Result<Vec<IpAddr>, (bool, String)> {
    match resolver.lookup_ip(fqdn(host)).await {
        Ok(ips) => Ok(ips.iter().collect()),
        Err(e) if e.is_nx_domain() || e.is_no_records_found() => {
            Err((false, format!("{host} has no address")))
        }
        Err(e) => Err((true, format!("address lookup for {host} failed: {e}"))),
    }
}

/// The TXT records at `name`, each one's strings joined. Ok(empty): the name has none.
/// Err: DNS did not answer.
pub async fn txt(resolver: &TokioResolver, name: &str) -> Result<Vec<String>, String> {
    match resolver.txt_lookup(fqdn(name)).await {
        Ok(lookup) => Ok(lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(t) => Some(
                    t.txt_data
                        .iter()
                        .map(|p| String::from_utf8_lossy(p).into_owned())
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect()),
        Err(e) if e.is_nx_domain() || e.is_no_records_found() => Ok(Vec::new()),
        Err(e) => Err(e.to_string()),
    }
}
