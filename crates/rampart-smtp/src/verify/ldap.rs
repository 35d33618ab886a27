//! Recipients looked up in an LDAP directory or Active Directory (the `ldap3` crate).
//!
//! Only over TLS, with the server's certificate verified (AL-1.1): `ldaps://`, or `ldap://`
//! upgraded with StartTLS before anything else is sent. The bind password is read from its file
//! at each connection, so it can be rotated without a restart. One connection is kept and
//! shared (LDAP multiplexes operations on it); when an operation fails on it, it is dropped and
//! the lookup is tried once on a new one. The address goes into the filter escaped as RFC 4515
//! §3 requires, so `*)(mail=*` is a literal string, not a wildcard.
//!
//! Found → Known; not found → Unknown; unreachable, timeout, bind refused or any other result
//! code → Unavailable (451), never Known.

use super::cache::Cache;
use super::{normalize, Verification};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchOptions};
use rampart_config::RecipientVerify;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Result codes (RFC 4511 §4.1.9) read here.
const SUCCESS: u32 = 0;
const SIZE_LIMIT_EXCEEDED: u32 = 4;

pub struct LdapVerifier {
    url: String,
    settings: LdapConnSettings,
    bind: Option<(String, PathBuf)>,
    base_dn: String,
    filter: String,
    timeout: Duration,
    cache: Cache,
    conn: tokio::sync::Mutex<Option<Ldap>>,
}

impl LdapVerifier {
    pub fn new(verify: &RecipientVerify) -> Result<LdapVerifier, String> {
        let RecipientVerify::Ldap {
            url,
            ca_file,
            bind_dn,
            bind_password_file,
            base_dn,
            filter,
            timeout_secs,
            positive_cache_secs,
            negative_cache_secs,
        } = verify
        else {
            return Err("not an LDAP verifier".into());
        };
        rampart_config::recipient_verify::ldap_url(url)?;
        let ca = ca_file
            .clone()
            .unwrap_or_else(|| PathBuf::from("/etc/ssl/certs/ca-certificates.crt"));
        // The queue's verifying configuration: TLS 1.2 and 1.3 only, ring, the given roots.
        let tls = rampart_queue::client::verifying_config(&ca, None)?;
        let timeout = Duration::from_secs((*timeout_secs).max(1));
        let settings = LdapConnSettings::new()
            .set_conn_timeout(timeout)
            .set_config(tls)
            // AL-1.1: ldap:// is always upgraded; ldaps:// is TLS from the first byte.
            .set_starttls(url.starts_with("ldap://"));
        let bind = match (bind_dn, bind_password_file) {
            (Some(dn), Some(pf)) => Some((dn.clone(), pf.clone())),
            (None, None) => None,
            _ => return Err("bind_dn and bind_password_file go together".into()),
        };
        Ok(LdapVerifier {
            url: url.clone(),
            settings,
            bind,
            base_dn: base_dn.clone(),
            filter: filter.clone(),
            timeout,
            cache: Cache::new(
                Duration::from_secs(*positive_cache_secs),
                Duration::from_secs(*negative_cache_secs),
            ),
            conn: tokio::sync::Mutex::new(None),
        })
    }

    pub async fn lookup(&self, address: &str) -> Verification {
        let Some(key) = normalize(address) else {
            return Verification::Unknown;
        };
        if let Some(known) = self.cache.get(&key, Instant::now()) {
            return known_or_unknown(known);
        }
        let filter = filter_for(&self.filter, &key);
        let found = match self.search(&filter, true).await {
            Err(e) if e.retry => self.search(&filter, false).await,
            r => r,
        };
        match found {
            Ok(known) => {
                self.cache.put(&key, known, Instant::now());
                known_or_unknown(known)
            }
            Err(e) => Verification::Unavailable(format!("{}: {}", self.url, e.why)),
        }
    }

    /// One search. `reuse`: use the kept connection if there is one.
    async fn search(&self, filter: &str, reuse: bool) -> Result<bool, SearchError> {
        let (mut ldap, reused) = {
            let mut kept = self.conn.lock().await;
            let live = match kept.as_mut() {
                Some(l) if reuse => (!l.is_closed()).then(|| l.clone()),
                _ => None,
            };
            match live {
                Some(l) => (l, true),
                None => {
                    *kept = None;
                    let l = self.connect().await.map_err(SearchError::fatal)?;
                    *kept = Some(l.clone());
                    (l, false)
                }
            }
        };
        let result = ldap
            .with_timeout(self.timeout)
            .with_search_options(SearchOptions::new().sizelimit(2))
            // "1.1": no attributes wanted, only whether an entry matches (RFC 4511 §4.5.1.8).
            .search(&self.base_dn, Scope::Subtree, filter, vec!["1.1"])
            .await;
        let failed = |why: String| {
            // A kept connection may have gone stale (idle timeout at the server): one more try.
            SearchError { why, retry: reused }
        };
        match result {
            Ok(ldap3::SearchResult(entries, res)) => match res.rc {
                SUCCESS | SIZE_LIMIT_EXCEEDED => Ok(entries.iter().any(|e| !e.is_ref())),
                rc => {
                    self.forget().await;
                    Err(SearchError::fatal(format!(
                        "search failed: result code {rc} {}",
                        res.text
                    )))
                }
            },
            Err(e) => {
                self.forget().await;
                Err(failed(format!("search failed: {e}")))
            }
        }
    }

    async fn forget(&self) {
        *self.conn.lock().await = None;
    }

    async fn connect(&self) -> Result<Ldap, String> {
        let (conn, mut ldap) = LdapConnAsync::with_settings(self.settings.clone(), &self.url)
            .await
            .map_err(|e| format!("connecting: {e}"))?;
        ldap3::drive!(conn);
        if let Some((dn, pf)) = &self.bind {
            let password =
                std::fs::read_to_string(pf).map_err(|e| format!("{}: {e}", pf.display()))?;
            let password = password.lines().next().unwrap_or_default();
            let r = ldap
                .with_timeout(self.timeout)
                .simple_bind(dn, password)
                .await
                .map_err(|e| format!("bind as {dn}: {e}"))?;
            if r.rc != SUCCESS {
                return Err(format!(
                    "bind as {dn} refused: result code {} {}",
                    r.rc, r.text
                ));
            }
        }
        Ok(ldap)
    }
}

struct SearchError {
    why: String,
    retry: bool,
}

impl SearchError {
    fn fatal(why: String) -> SearchError {
        SearchError { why, retry: false }
    }
}

fn known_or_unknown(known: bool) -> Verification {
    if known {
        Verification::Known
    } else {
        Verification::Unknown
    }
}

/// The configured filter with every `%s` replaced by the escaped address.
pub fn filter_for(template: &str, address: &str) -> String {
    template.replace("%s", &escape(address))
}

/// RFC 4515 §3: in an assertion value `*`, `(`, `)`, `\` and NUL are written as `\` and two hex
/// digits. Other control characters are escaped too, so nothing unprintable reaches the
/// directory's log. UTF-8 passes as it is (the RFC allows it).
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '*' | '(' | ')' | '\\' => out.push_str(&format!("\\{:02x}", c as u32)),
            c if c.is_ascii_control() => out.push_str(&format!("\\{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nc_2_1_6_rfc4515_escaping_defeats_filter_injection() {
        assert_eq!(escape("alice@a.example"), "alice@a.example");
        assert_eq!(escape("*)(mail=*"), "\\2a\\29\\28mail=\\2a");
        assert_eq!(escape("a\\b\0c"), "a\\5cb\\00c");
        let f = filter_for(
            rampart_config::recipient_verify::DEFAULT_LDAP_FILTER,
            "*)(mail=*@a.example",
        );
        assert_eq!(
            f,
            "(|(mail=\\2a\\29\\28mail=\\2a@a.example)(proxyAddresses=smtp:\\2a\\29\\28mail=\\2a@a.example))"
        );
        // The escaped filter is still one well-formed filter for the directory.
        assert!(ldap3::parse_filter(&f).is_ok());
    }

    #[test]
    fn nc_2_1_6_plain_ldap_url_refused() {
        let v = RecipientVerify::Ldap {
            url: "ldapi:///".into(),
            ca_file: None,
            bind_dn: None,
            bind_password_file: None,
            base_dn: "dc=a,dc=example".into(),
            filter: "(mail=%s)".into(),
            timeout_secs: 5,
            positive_cache_secs: 60,
            negative_cache_secs: 60,
        };
        assert!(LdapVerifier::new(&v).is_err());
    }
}
