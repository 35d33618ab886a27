//! SMTP callout: the next hop itself is asked whether a recipient exists. The probe is
//! `MAIL FROM:<>` and `RCPT TO:<address>` and then `QUIT`: never `DATA`, so nothing is
//! delivered, and the null sender means no bounce can come of it. It goes over the same
//! connection the relay uses (the relay domain's hosts in order, its port, TLS required with
//! the certificate verified against its CA (AL-1.1), its client certificate and AUTH), with the
//! queue's SMTP client.
//!
//! RCPT 2xx → Known, cached for `positive_cache_secs`; RCPT 5xx → Unknown, cached for
//! `negative_cache_secs`; a 4xx anywhere, a 5xx before RCPT, a connection or TLS failure or a
//! timeout → Unavailable, not cached. At most `max_concurrent` probes run at once, so a flood of
//! RCPTs cannot turn the gateway into a connection flood at the mailbox server.

use super::cache::Cache;
use super::{normalize, Verification};
use rampart_config::{RecipientVerify, RelayDomain, SmarthostTls};
use rampart_queue::client::{ClientError, Connection, TlsMode};

use rustls::ClientConfig;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

pub struct Callout {
    hosts: Vec<String>,
    port: u16,
    tls: TlsMode,
    auth: Option<(String, PathBuf)>,
    helo: String,
    timeout: Duration,
    cache: Cache,
    permits: Semaphore,
}

impl Callout {
    pub fn new(rd: &RelayDomain, helo: &str) -> Result<Callout, String> {
        let RecipientVerify::Callout {
            positive_cache_secs,
            negative_cache_secs,
            timeout_secs,
            max_concurrent,
        } = &rd.verify
        else {
            return Err("not a callout verifier".into());
        };
        if rd.hosts.is_empty() {
            return Err("a callout needs the relay domain's hosts".into());
        }
        let auth = match (&rd.username, &rd.password_file) {
            (Some(u), Some(p)) => Some((u.clone(), p.clone())),
            _ => None,
        };
        Ok(Callout {
            hosts: rd.hosts.clone(),
            port: rd.port,
            tls: TlsMode {
                required: true,
                config: client_config(rd)?,
                implicit: rd.tls == SmarthostTls::Implicit,
            },
            auth,
            helo: helo.to_string(),
            timeout: Duration::from_secs((*timeout_secs).max(1)),
            cache: Cache::new(
                Duration::from_secs(*positive_cache_secs),
                Duration::from_secs(*negative_cache_secs),
            ),
            permits: Semaphore::new((*max_concurrent).max(1)),
        })
    }

    pub async fn lookup(&self, address: &str) -> Verification {
        let Some(key) = normalize(address) else {
            return Verification::Unknown;
        };
        if let Some(known) = self.cache.get(&key, Instant::now()) {
            return if known {
                Verification::Known
            } else {
                Verification::Unknown
            };
        }
        let Ok(Ok(_permit)) = tokio::time::timeout(self.timeout, self.permits.acquire()).await
        else {
            return Verification::Unavailable("too many callouts under way".into());
        };
        match self.probe(address).await {
            Ok(known) => {
                self.cache.put(&key, known, Instant::now());
                if known {
                    Verification::Known
                } else {
                    Verification::Unknown
                }
            }
            Err(why) => Verification::Unavailable(format!("callout: {why}")),
        }
    }

    /// One probe. Ok(true) accepted, Ok(false) refused permanently at RCPT.
    async fn probe(&self, address: &str) -> Result<bool, String> {
        let mut conn = self.connect().await?;
        let outcome = async {
            let r = conn
                .command("MAIL FROM:<>")
                .await
                .map_err(|e| e.to_string())?;
            if !r.is_ok() {
                return Err(format!("MAIL FROM:<> answered {}", r.line()));
            }
            let r = conn
                .command(&format!("RCPT TO:<{address}>"))
                .await
                .map_err(|e| e.to_string())?;
            match r.code {
                200..=299 => Ok(true),
                500..=599 => Ok(false),
                _ => Err(format!("RCPT answered {}", r.line())),
            }
        }
        .await;
        conn.quit().await;
        outcome
    }

    /// The first host that answers, in the configured order.
    async fn connect(&self) -> Result<Connection, String> {
        let mut last = String::from("no next hop");
        for host in &self.hosts {
            let addrs = match tokio::time::timeout(
                self.timeout,
                tokio::net::lookup_host((host.as_str(), self.port)),
            )
            .await
            {
                Ok(Ok(a)) => a.collect::<Vec<_>>(),
                Ok(Err(e)) => {
                    last = format!("{host}: {e}");
                    continue;
                }
                Err(_) => {
                    last = format!("{host}: name lookup timed out");
                    continue;
                }
            };
            for addr in addrs {
                match Connection::open(addr, host, &self.helo, &self.tls, self.timeout).await {
                    Ok(mut c) => {
                        if let Some((user, pf)) = &self.auth {
                            let pw = std::fs::read_to_string(pf)
                                .map_err(|e| format!("{}: {e}", pf.display()))?;
                            let pw = pw.lines().next().unwrap_or_default();
                            if let Err(e) = c.auth_plain(user, pw).await {
                                c.quit().await;
                                return Err(format!("AUTH at {host}: {e}"));
                            }
                        }
                        return Ok(c);
                    }
                    Err(ClientError::Refused(r)) => last = format!("{host}: {}", r.line()),
                    Err(ClientError::Transport(e)) => last = e,
                }
            }
        }
        Err(last)
    }
}

/// TLS 1.2+ verified against the relay domain's CA (AL-1.1), with its client certificate for
/// mutual TLS when one is configured.
pub fn client_config(rd: &RelayDomain) -> Result<Arc<ClientConfig>, String> {
    let client = match (&rd.client_cert, &rd.client_key) {
        (Some(cert), Some(key)) => Some((cert.as_path(), key.as_path())),
        (None, None) => None,
        _ => return Err("client_cert and client_key go together".into()),
    };
    rampart_queue::client::verifying_config(&rd.ca_file, client)
}
