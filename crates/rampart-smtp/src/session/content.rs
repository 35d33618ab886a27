//! The content step of a session: the message, complete, goes through the gateway's checks
//! once; the decision refuses it, holds it in quarantine, or lets it through with the checks'
//! changes (the `[External]` tag, Authentication-Results, an ARC set).

use super::{Body, Session, Transaction};
use crate::gateway::{summary, Envelope};
use crate::reply::Reply;
use rampart_checks::{Action, Direction};
use rampart_store::SpoolFile;

/// What the content step allows.
pub(super) struct Passed {
    pub body: Body,
    /// Hold in quarantine: (reason, every verdict).
    pub quarantine: Option<(String, String)>,
}

impl Session {
    pub(super) async fn content(
        &mut self,
        mut body: Body,
        tx: &Transaction,
    ) -> Result<Passed, Reply> {
        let Some(gateway) = self.ctx.gateway.clone() else {
            return Ok(Passed {
                body,
                quarantine: None,
            });
        };
        let all = match body.spool.contents() {
            Ok(b) => b,
            Err(e) => {
                body.spool.discard();
                tracing::error!(error = %e, "reading the message back failed");
                return Err(crate::reply::storage_failure());
            }
        };
        let (prefix, raw) = all.split_at(body.prefix_len.min(all.len()));
        let direction = if self.may_relay() {
            Direction::Outbound
        } else {
            Direction::Inbound
        };
        let domains = self.ctx.store.domains().unwrap_or_default();
        let env = Envelope {
            direction,
            client_ip: self.peer.ip(),
            helo: self.helo.as_deref().unwrap_or(""),
            mail_from: &tx.sender,
            rcpts: &tx.rcpts,
            authenticated: self.auth.as_deref(),
        };
        let (decision, verdicts, auth) = gateway.run(&env, &domains, raw).await;
        let verdict_text = summary(&verdicts);
        let decided = decision.decided_by.unwrap_or("none");
        match &decision.action {
            Action::Reject(r) | Action::TempFail(r) => {
                body.spool.discard();
                let reply = Reply::new(r.code, static_status(&r.status, r.code), r.text.clone());
                self.trace(
                    "checks",
                    format!(
                        "refused by {decided}: {}; verdicts: {verdict_text}",
                        reply.line()
                    ),
                    None,
                )
                .await;
                return Err(reply);
            }
            Action::Quarantine => {
                self.trace(
                    "checks",
                    format!("quarantined by {decided}; verdicts: {verdict_text}"),
                    None,
                )
                .await;
            }
            Action::Tag | Action::Accept => {
                self.trace(
                    "checks",
                    format!("accepted; verdicts: {verdict_text}"),
                    None,
                )
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
        let banner = gateway.banner(direction);
        if decision.modifications.is_empty() && banner.is_none() {
            return Ok(Passed { body, quarantine });
        }
        // The checks changed the message: write it anew, once, as it will be delivered.
        let mut changed = rampart_checks::modify::apply_modifications(raw, &decision.modifications);
        if let Some(b) = banner {
            if let Ok(with) = rampart_checks::modify::apply_banner(&changed, b) {
                changed = with;
            }
        }
        if let Some(seal) = auth.as_ref().and_then(|a| gateway.seal(&changed, a)) {
            let mut sealed = seal.into_bytes();
            sealed.extend_from_slice(&changed);
            changed = sealed;
        }
        let id = tx.id.clone();
        body.spool.discard();
        let mut spool = SpoolFile::new(&self.ctx.store, &id);
        spool.push(prefix);
        spool.push(&changed);
        Ok(Passed {
            body: Body {
                spool,
                prefix_len: prefix.len(),
                return_path_len: body.return_path_len,
                size: changed.len() as u64,
                head: None,
                too_big: false,
            },
            quarantine,
        })
    }
}

/// Refusals come from the checks as owned strings; replies carry static status codes.
fn static_status(s: &str, code: u16) -> &'static str {
    const KNOWN: &[&str] = &[
        "5.7.1", "5.7.0", "5.6.0", "5.7.26", "5.7.27", "5.7.23", "5.7.25", "4.7.1", "4.7.0",
        "4.7.24", "4.7.5", "4.3.0",
    ];
    KNOWN
        .iter()
        .find(|k| **k == s)
        .copied()
        .unwrap_or(if code >= 500 { "5.7.1" } else { "4.7.1" })
}
