//! RCPT TO: each recipient checked against relay tricks, limits and the envelope policy.

use super::{Flow, Session};
use crate::address::{check_forward_path, raw_path};
use crate::reply::{self, Reply};
use rampart_config::RateWhat;
use rampart_store::QueuedRecipient;

impl Session {
    pub(super) async fn rcpt(
        &mut self,
        to: smtp_proto::RcptTo<std::borrow::Cow<'_, str>>,
        line: &[u8],
    ) -> Flow {
        let Some(tx) = &self.tx else {
            return self.error(reply::bad_sequence("Send MAIL FROM first"));
        };
        let raw_line = String::from_utf8_lossy(line);
        let raw = raw_path(&raw_line).unwrap_or_default().to_string();
        let address = to.address.to_string();
        let decision: Result<Vec<QueuedRecipient>, Reply> = if std::str::from_utf8(line).is_err() {
            // RFC 6531 section 3.3: the parser read bytes that are not UTF-8 as U+FFFD.
            Err(if tx.smtputf8 {
                reply::not_utf8()
            } else {
                reply::needs_smtputf8()
            })
        } else if let Err(r) = check_forward_path(&raw) {
            Err(r)
        } else if tx.rcpts.len() >= self.ctx.config.limits.max_recipients.get() as usize {
            Err(reply::too_many_recipients())
        } else if !tx.smtputf8 && !address.is_ascii() {
            Err(reply::needs_smtputf8())
        } else {
            self.lookup(&address).await
        };
        let sender = tx.sender.clone();
        let decision = match decision {
            Ok(r) => self
                .rate_limit(RateWhat::Recipients, &sender, 1)
                .await
                .map(|()| r),
            Err(e) => Err(e),
        };
        match decision {
            Ok(targets) => {
                let r = reply::recipient_ok();
                let remote = targets.iter().any(|t| !t.local);
                let note = if remote { " (relayed)" } else { "" };
                self.trace(
                    "rcpt",
                    format!("RCPT TO:<{raw}> {}{note}", r.line()),
                    Some(&address),
                )
                .await;
                let tx = self.tx.as_mut().expect("checked above");
                tx.rcpts.push(address.clone());
                for t in targets {
                    if !tx.recipients.contains(&t) {
                        tx.recipients.push(t);
                    }
                }
                self.respond(r);
                Flow::Continue
            }
            Err(r) => {
                // NC-2.4.1: unknown local recipients (harvest) and refused relays (probing).
                if r.code == 550 && r.status == Some(crate::reply::EnhancedStatus::BAD_MAILBOX) {
                    self.report(rampart_ids::detectors::harvest::unknown_recipient(
                        self.peer.ip(),
                        &raw,
                    ));
                } else if r.code == 550 && r.text.starts_with("Relaying denied") {
                    self.report(rampart_ids::detectors::relay::refused_relay(
                        self.peer.ip(),
                        &raw,
                    ));
                }
                self.trace(
                    "rcpt",
                    format!("RCPT TO:<{raw}> refused: {}", r.line()),
                    Some(&raw),
                )
                .await;
                // A temporary refusal (a lookup failure, too many recipients) is not counted.
                self.error(r)
            }
        }
    }
}
