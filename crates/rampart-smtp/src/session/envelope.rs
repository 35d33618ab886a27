//! Envelope policy: who may send as whom, rate limits and where a recipient goes. No I/O to the
//! client: each decision is a value, a refusal a [`Reply`].

use super::Session;
use crate::reply::{self, EnhancedStatus, Reply};
use rampart_config::{RateScope, RateWhat};
use rampart_store::QueuedRecipient;

impl Session {
    /// NC-2.1.7: the envelope sender of relayed mail must be one the identity may use.
    pub(super) async fn check_sender(&self, sender: &str) -> Result<(), Reply> {
        if let Some(nc) = self.null_client() {
            return Session::null_client_sender(nc, sender);
        }
        if !self.may_relay() || self.may_use_address(sender).await? {
            return Ok(());
        }
        Err(Reply::new(
            553,
            EnhancedStatus::NOT_AUTHORIZED,
            format!("Sender address <{sender}> is not one you may send as"),
        ))
    }

    /// An authenticated user may use its own address, its aliases and granted addresses; a relay
    /// network may use addresses of the represented domains.
    pub(super) async fn may_use_address(&self, address: &str) -> Result<bool, Reply> {
        let temp = |e: rampart_store::StoreError| {
            tracing::error!(error = %e, "sender lookup failed");
            Reply::new(
                451,
                EnhancedStatus::SYSTEM_OTHER,
                "Temporary failure checking the sender; try again later",
            )
        };
        if address.is_empty() {
            return Ok(false);
        }
        // NC-2.1.7: a null client's applications send as the domains it represents.
        if let Some(nc) = self.null_client() {
            return Ok(nc.represents(address));
        }
        match &self.auth {
            Some(user) => self
                .ctx
                .store
                .may_send_as(user, address)
                .await
                .map_err(temp),
            None => {
                let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
                // AL-1: the internal server behind the gateway sends as its relay domains.
                if self.ctx.config.relay_domain(domain).is_some() {
                    return Ok(true);
                }
                self.ctx.store.is_local_domain(domain).await.map_err(temp)
            }
        }
    }

    /// NC-2.1.8: counts a message or recipient of relayed mail against the rate limits: this
    /// node's, and on a shared store every node's together.
    pub(super) async fn rate_limit(
        &self,
        what: RateWhat,
        sender: &str,
        n: u32,
    ) -> Result<(), Reply> {
        if !self.may_relay() {
            return Ok(());
        }
        let ip = self.peer.ip().to_string();
        let domain = sender.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        // AL-1: a relay_from host is counted as a user, as authenticated submission is.
        let identity = self.identity();
        let mut keys = vec![(RateScope::Ip, ip.as_str()), (RateScope::Domain, domain)];
        if let Some(u) = &identity {
            keys.push((RateScope::User, u.as_str()));
        }
        let reached = |text: &str| {
            Reply::new(
                451,
                EnhancedStatus::NOT_AUTHORIZED,
                format!("Rate limit reached ({text}); try again later"),
            )
        };
        self.ctx
            .limiter
            .hit(what, &keys, n)
            .map_err(|e| reached(&e.0))?;
        if !self.ctx.shared_counts {
            return Ok(());
        }
        let now = rampart_store::now_micros();
        for c in self.ctx.limiter.shared_counts(what, &keys) {
            let window = i64::try_from(c.window_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
            let count = self
                .ctx
                .store
                .count_in_window(&c.key, now, window, u64::from(n))
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "shared rate limit not counted");
                    Reply::new(
                        451,
                        EnhancedStatus::SYSTEM_OTHER,
                        "Temporary failure checking the rate limits; try again later",
                    )
                })?;
            if count > u64::from(c.limit) {
                return Err(reached(&c.text));
            }
        }
        Ok(())
    }

    /// NC-2.1.6: only addresses in domains we represent, and only those that exist; sessions that
    /// may relay also reach other domains.
    pub(super) async fn lookup(&self, address: &str) -> Result<Vec<QueuedRecipient>, Reply> {
        if self.null_client().is_some() {
            return Session::null_client_recipient(address);
        }
        if let Some(r) = self.relay_domain_recipient(address).await {
            return r;
        }
        match self.lookup_local(address).await? {
            Ok(m) => Ok(m
                .into_iter()
                .map(|a| QueuedRecipient {
                    address: a,
                    local: true,
                })
                .collect()),
            Err(Foreign) if self.may_relay() && !address.is_empty() => Ok(vec![QueuedRecipient {
                address: address.to_string(),
                local: false,
            }]),
            Err(Foreign) => Err(reply::relay_denied(
                "this server does not accept mail for that domain",
            )),
        }
    }

    /// AL-1: a recipient in a relay domain is accepted, from anyone, only when verification
    /// knows it on the next hop; it is queued for the next hop (a remote recipient, which the
    /// queue routes to the relay domain's hosts). None: not a relay domain.
    async fn relay_domain_recipient(
        &self,
        address: &str,
    ) -> Option<Result<Vec<QueuedRecipient>, Reply>> {
        let domain = address.rsplit_once('@').map(|(_, d)| d)?;
        self.ctx.config.relay_domain(domain)?;
        // A relay domain without a verifier (it could not be built) is never a 250.
        let verdict = match self.ctx.verifiers.for_address(address) {
            Some(v) => v.verify(address).await,
            None => crate::verify::Verification::Unavailable("no verifier".into()),
        };
        // No backscatter, no harvest: an unknown address is refused here, never bounced; one
        // reply for every unknown (550 5.1.1) and 451 4.4.3 when the lookup cannot be answered.
        Some(match verdict.refusal() {
            None => Ok(vec![QueuedRecipient {
                address: address.to_string(),
                local: false,
            }]),
            Some(reply) => Err(reply),
        })
    }

    /// The local mailboxes for `address`, or `Foreign` when its domain is not ours.
    pub(super) async fn lookup_local(
        &self,
        address: &str,
    ) -> Result<Result<Vec<String>, Foreign>, Reply> {
        let address = if address.is_empty() {
            // RFC 5321 4.5.1: <postmaster> without a domain reaches this host's postmaster.
            match self.postmaster().await {
                Some(a) => a,
                None => return Err(reply::no_such_user()),
            }
        } else {
            address.to_string()
        };
        match self.ctx.store.resolve_recipient(&address).await {
            Ok(Ok(r)) => Ok(Ok(r.mailboxes)),
            Ok(Err(rampart_store::RecipientError::ForeignDomain)) => Ok(Err(Foreign)),
            Ok(Err(rampart_store::RecipientError::NoSuchUser)) => Err(reply::no_such_user()),
            Err(e) => {
                tracing::error!(error = %e, "recipient lookup failed");
                Err(Reply::new(
                    451,
                    EnhancedStatus::SYSTEM_OTHER,
                    "Temporary failure looking up the recipient; try again later",
                ))
            }
        }
    }

    pub(super) async fn postmaster(&self) -> Option<String> {
        let host = self.hostname();
        let parent = host.split_once('.').map(|(_, p)| p).unwrap_or(host);
        for d in [host, parent] {
            let a = format!("postmaster@{d}");
            if matches!(self.ctx.store.resolve_recipient(&a).await, Ok(Ok(_))) {
                return Some(a);
            }
        }
        None
    }
}

/// A recipient in a domain this server does not represent.
pub(super) struct Foreign;
