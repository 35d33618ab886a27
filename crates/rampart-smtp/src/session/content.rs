//! The content step of a session: the message, complete and read once, goes through the check
//! pipeline; the decision refuses it, holds it in quarantine, or lets it through with the checks'
//! changes (the `[External]` tag, Authentication-Results, an ARC set).

use super::{Session, Transaction};
use crate::reply::Reply;
use rampart_checks::message::Message;
use rampart_checks::pipeline::summary;
use rampart_checks::{Action, Direction, Envelope};

/// What the content step allows.
pub(super) struct Passed {
    /// The message as the checks changed it, to be stored in place of the one received (after
    /// our Return-Path and Received lines); None when unchanged.
    pub changed: Option<Vec<u8>>,
    /// Hold in quarantine: (reason, every verdict).
    pub quarantine: Option<(String, String)>,
    /// Rules whose action is to notify an administrator (AL-1.5), in words.
    pub notices: Vec<String>,
    /// AL-1.2: the spam check tagged it; local delivery files it in Junk.
    pub junk: bool,
    /// AL-1.2: the From address when its domain was authenticated, for the recipients' trusted
    /// senders.
    pub authenticated_from: Option<String>,
}

impl Session {
    /// Runs the check pipeline on `message`, the one reading of the bytes received (after our
    /// Return-Path and Received lines). Changes nothing stored: the caller writes what it allows.
    pub(super) async fn content(
        &mut self,
        tx: &Transaction,
        message: &Message<'_>,
    ) -> Result<Passed, Reply> {
        let raw = message.raw;
        // NC-2.3.4: Authentication-Results from anyone but the trusted authserv-ids go.
        let untrusted = self.untrusted_results(message);
        let strip = |m: &Option<rampart_checks::Modification>| {
            m.as_ref().map(|m| {
                rampart_checks::modify::apply_modifications(
                    raw,
                    &message.headers,
                    std::slice::from_ref(m),
                )
            })
        };
        if self.trusted_gateway() {
            return Ok(self.gateway_checked(message, strip(&untrusted)).await);
        }
        let Some(pipeline) = self.ctx.pipeline.clone() else {
            return Ok(Passed {
                changed: strip(&untrusted),
                quarantine: None,
                notices: Vec::new(),
                junk: false,
                authenticated_from: None,
            });
        };
        let direction = if self.may_relay() {
            Direction::Outbound
        } else {
            Direction::Inbound
        };
        // Without the list of our domains the checks would take a spoof of them for mail from
        // anyone (NC-2.1.7) and leave outside mail untagged (AL-1.6): the message is refused
        // for now instead, and its sender tries again.
        let mut domains = match self.ctx.store.domains().await {
            Ok(domains) => domains,
            Err(e) => {
                let reply = crate::reply::checks_unavailable();
                self.trace_message(
                    tx,
                    "checks",
                    format!(
                        "not checked: the local domains could not be read ({e}); {}",
                        reply.line()
                    ),
                )
                .await;
                return Err(reply);
            }
        };
        // AL-1: the relay domains are the agency's too (spoofing of them, the External tag).
        domains.extend(
            self.ctx
                .config
                .relay_domains
                .iter()
                .flat_map(|r| r.domains.iter().map(|d| d.to_ascii_lowercase())),
        );
        let env = Envelope {
            direction,
            client_ip: self.peer.ip(),
            helo: self.helo.as_deref().unwrap_or(""),
            mail_from: &tx.sender,
            rcpts: &tx.rcpts,
            authenticated: self.auth.as_deref(),
        };
        let outcome = pipeline.run(&env, &domains, message).await;
        if let Some(auth) = &outcome.auth {
            // AL-2.3: every DMARC evaluation of inbound mail, for the daily aggregate reports.
            rampart_queue::dmarc_report::record(&self.ctx.store, auth, &env).await;
        }
        let (decision, verdicts) = (&outcome.decision, &outcome.verdicts);
        let verdict_text = summary(verdicts);
        let decided = decision.decided_by.unwrap_or("none");
        match &decision.action {
            Action::Reject(r) | Action::TempFail(r) => {
                let reply = Reply::from(r);
                self.trace_message(
                    tx,
                    "checks",
                    format!(
                        "refused by {decided}: {}; verdicts: {verdict_text}",
                        reply.line()
                    ),
                )
                .await;
                return Err(reply);
            }
            Action::Quarantine => {
                self.trace_message(
                    tx,
                    "checks",
                    format!("quarantined by {decided}; verdicts: {verdict_text}"),
                )
                .await;
            }
            Action::Tag | Action::Accept => {
                self.trace_message(tx, "checks", format!("accepted; verdicts: {verdict_text}"))
                    .await;
            }
        }
        let quarantine = matches!(decision.action, Action::Quarantine).then(|| {
            let reason = verdicts
                .iter()
                .find(|v| v.check == decided)
                .map(|v| format!("{}: {}", v.check, v.reason))
                .unwrap_or_default();
            (reason, verdict_text.clone())
        });
        let notices = outcome.notices();
        // AL-1.2: tagged as spam, it is delivered to the Junk mailbox rather than the Inbox.
        let junk = verdicts
            .iter()
            .any(|v| v.check == rampart_checks::spam::CHECK && v.action == Action::Tag);
        // AL-1.2: one From address whose domain the authentication check found authenticated.
        let authenticated_from = outcome
            .auth
            .as_ref()
            .filter(|a| direction == Direction::Inbound && a.from_aligned())
            .and_then(|_| single_from(message));
        let banner = pipeline.banner(direction);
        let mut modifications = decision.modifications.clone();
        modifications.extend(untrusted);
        if modifications.is_empty() && banner.is_none() {
            return Ok(Passed {
                changed: None,
                quarantine,
                notices,
                junk,
                authenticated_from,
            });
        }
        // The checks changed the message: it is stored as it will be delivered.
        let mut changed =
            rampart_checks::modify::apply_modifications(raw, &message.headers, &modifications);
        if let Some(b) = banner {
            if let Ok(with) = rampart_checks::modify::apply_banner(&changed, b) {
                changed = with;
            }
        }
        if let Some(seal) = outcome
            .auth
            .as_ref()
            .and_then(|a| pipeline.seal(&changed, a))
        {
            let mut sealed = seal.into_bytes();
            sealed.extend_from_slice(&changed);
            changed = sealed;
        }
        Ok(Passed {
            changed: Some(changed),
            quarantine,
            notices,
            junk,
            authenticated_from,
        })
    }

    /// NC-2.3.4: mail from the gateway, which proved itself with its certificate, was checked
    /// there (antivirus, attachments, URLs, spam, authentication, the `[External]` tag): those
    /// verdicts stand and the checks are not run again. The gateway's spam tag still files the
    /// message in Junk (its own `X-Spam-Flag`: it removes any the sender wrote).
    async fn gateway_checked(&self, message: &Message<'_>, changed: Option<Vec<u8>>) -> Passed {
        let junk = message
            .headers
            .get("X-Spam-Flag")
            .is_some_and(|f| f.value.trim().eq_ignore_ascii_case("YES"));
        let gateway = self.client_cert.clone().unwrap_or_default();
        let authenticated_from = self.authenticated_by_gateway(message);
        self.trace(
            "checks",
            format!(
                "not run again: checked by the gateway {gateway} (trust_gateway_verdicts){}{}",
                if changed.is_some() {
                    "; Authentication-Results of other authserv-ids removed"
                } else {
                    ""
                },
                match &authenticated_from {
                    Some(a) => format!("; From {a} authenticated by the gateway's results"),
                    None => String::new(),
                }
            ),
            None,
        )
        .await;
        Passed {
            changed,
            quarantine: None,
            notices: Vec::new(),
            junk,
            authenticated_from,
        }
    }

    /// Sends the administrator a notice that an accepted message matched `notices` (AL-1.5):
    /// which rules, who sent it to whom, the queue id; never the matched values.
    pub(super) async fn notify(&self, tx: &Transaction, notices: &[String]) {
        let host = self.hostname().to_string();
        let to = self.ctx.config.checks.notify.clone().unwrap_or_else(|| {
            let domain = tx.sender.rsplit_once('@').map(|(_, d)| d).unwrap_or(&host);
            format!("postmaster@{domain}")
        });
        let body = format!(
            "From: \"Mail Gateway\" <postmaster@{host}>\r\nTo: <{to}>\r\nSubject: DLP notice for message {id}\r\n\
             Date: {date}\r\nMessage-ID: <{id}.notice@{host}>\r\nAuto-Submitted: auto-generated\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
             A message matched data loss prevention rules whose action is to notify (AL-1.5).\r\n\
             It was accepted and delivered.\r\n\r\nQueue ID: {id}\r\nSender: <{sender}>\r\nRecipients: {rcpts}\r\nRules:\r\n{rules}\r\n",
            id = tx.id,
            date = rampart_store::rfc5322_date(rampart_store::now_micros() / 1_000_000),
            sender = tx.sender,
            rcpts = tx.rcpts.join(", "),
            rules = notices.iter().map(|n| format!("  {n}")).collect::<Vec<_>>().join("\r\n"),
        );
        let what = format!("DLP notice for {}", tx.id);
        match self
            .ctx
            .store
            .enqueue_generated(
                &to,
                body.into_bytes(),
                format!("{}.notice@{host}", tx.id),
                &what,
            )
            .await
        {
            Ok(_) => self.ctx.queue_notify.notify_one(),
            Err(e) => {
                tracing::error!(error = %e, queue_id = %tx.id, "the DLP notice could not be queued")
            }
        }
    }
}

/// AL-1.2: the message's one From address (one field naming one address), trimmed and lower
/// case: the address an authenticated From domain vouches for.
pub(super) fn single_from(message: &Message<'_>) -> Option<String> {
    message
        .parsed
        .from()
        .filter(|f| f.iter().count() == 1)
        .and_then(|f| f.first())
        .and_then(|a| a.address())
        .map(|a| a.trim().to_lowercase())
        .filter(|a| !a.is_empty())
}
