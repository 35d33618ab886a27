//! The vacation response (RFC 8621 §8) at local delivery: once a message for a local mailbox is
//! durable, each recipient whose vacation response is active answers its envelope sender, at
//! most once per sender per period (RFC 3834 section 2), and never to mail that is itself
//! automatic, from a list, bulk, or addressed from the recipient itself.
//!
//! AL-4.2: this is an automatic *reply*, never a forward: it goes only to the envelope sender
//! and carries the vacation text, nothing of the original message but its identifiers.

use super::{Session, Transaction};
use base64::Engine;
use rampart_checks::message::Message;
use rampart_store::{now_micros, rfc5322_date};

/// RFC 3834 section 2 recommends at most one reply per sender in a period of days; 7.
const PERIOD_SECS: i64 = 7 * 86_400;

/// What a reply needs of the message answered, read while it is parsed.
pub(super) struct Facts {
    /// Why no message may answer this one (RFC 3834 section 2), if any.
    no_reply: Option<&'static str>,
    subject: String,
    message_id: Option<String>,
    references: String,
    /// The addresses in To and Cc, lower case.
    addressed: Vec<String>,
}

impl Facts {
    pub(super) fn read(message: &Message<'_>) -> Facts {
        let h = &message.headers;
        let value = |n: &str| h.get(n).map(|f| f.unfolded()).unwrap_or_default();
        let auto = value("Auto-Submitted").to_ascii_lowercase();
        let precedence = value("Precedence").to_ascii_lowercase();
        let no_reply = if !auto.is_empty() && auto.split(';').next().map(str::trim) != Some("no") {
            Some("Auto-Submitted")
        } else if h.fields.iter().any(|f| {
            f.name.len() > 5
                && f.name
                    .get(..5)
                    .is_some_and(|p| p.eq_ignore_ascii_case("list-"))
        }) {
            Some("List-* header")
        } else if ["bulk", "list", "junk"].contains(&precedence.trim()) {
            Some("Precedence")
        } else {
            None
        };
        let msg = &message.parsed;
        let addressed = [msg.to(), msg.cc()]
            .into_iter()
            .flatten()
            .flat_map(|a| a.iter())
            .filter_map(|a| a.address())
            .map(|a| a.to_ascii_lowercase())
            .collect();
        Facts {
            addressed,
            no_reply,
            subject: value("Subject"),
            message_id: h.message_id(),
            references: value("References"),
        }
    }
}

/// A sender no automatic reply goes to (RFC 3834 section 2: list and system addresses).
fn system_sender(sender: &str) -> bool {
    let local = sender
        .rsplit_once('@')
        .map(|(l, _)| l)
        .unwrap_or(sender)
        .to_ascii_lowercase();
    local == "mailer-daemon"
        || local == "postmaster"
        || local.starts_with("owner-")
        || local.ends_with("-request")
        || local.starts_with("bounce")
}

/// A header value without line breaks or other controls (the user's subject, the original's).
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .chars()
        .take(200)
        .collect()
}

/// RFC 2047 for a header text that is not ASCII.
fn encoded_word(s: &str) -> String {
    if s.is_ascii() {
        return s.to_owned();
    }
    format!(
        "=?utf-8?b?{}?=",
        base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
    )
}

/// A base64 body, in lines of 76 (RFC 2045 section 6.8).
fn base64_lines(text: &str) -> String {
    let b = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    b.as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("\r\n")
}

impl Session {
    /// The vacation settings of each local recipient of `tx` (lower case), read while the
    /// message is being committed; one that cannot be read is logged and left out.
    pub(super) async fn vacation_settings(
        &self,
        tx: &Transaction,
    ) -> Vec<(String, rampart_store::submission::Vacation)> {
        let mut settings = Vec::new();
        for r in tx.recipients.iter().filter(|r| r.local) {
            let account = r.address.to_ascii_lowercase();
            match self.ctx.store.vacation_get(&account).await {
                Ok(v) => settings.push((account, v)),
                Err(e) => tracing::error!(error = %e, "vacation response lookup failed"),
            }
        }
        settings
    }

    /// Sends the vacation responses a delivered message calls for, from the recipients'
    /// `settings` ([`Session::vacation_settings`]). `junk` and `held` messages never reach the
    /// Inbox, so they get none.
    pub(super) async fn vacation(
        &self,
        tx: &Transaction,
        facts: &Facts,
        junk: bool,
        held: bool,
        settings: Vec<(String, rampart_store::submission::Vacation)>,
    ) {
        let sender = tx.sender.to_ascii_lowercase();
        for (account, v) in settings {
            let now = now_micros() / 1_000_000;
            if !v.active_at(now) {
                continue;
            }
            let why_not = if sender.is_empty() {
                Some("null sender")
            } else if sender == account {
                Some("own address")
            } else if junk {
                Some("tagged as spam")
            } else if held {
                Some("held in quarantine")
            } else if system_sender(&sender) {
                Some("list or system sender")
            } else if !self.addressed_to(tx, facts, &account) {
                // RFC 3834 section 2: a personal responder answers mail addressed to the user,
                // not mail it received as a blind copy or through a list it is on.
                Some("not addressed in To or Cc")
            } else {
                facts.no_reply
            };
            if let Some(why) = why_not {
                self.trace(
                    "vacation",
                    format!("no automatic reply to <{sender}> for {}: {why}", tx.id),
                    Some(&account),
                )
                .await;
                continue;
            }
            match self
                .ctx
                .store
                .vacation_claim_reply(&account, &sender, now, PERIOD_SECS)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    self.trace(
                        "vacation",
                        format!(
                            "no automatic reply to <{sender}> for {}: already answered within 7 days",
                            tx.id
                        ),
                        Some(&account),
                    )
                    .await;
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "vacation response bookkeeping failed");
                    continue;
                }
            }
            self.send_vacation_reply(tx, facts, &account, &sender, &v)
                .await;
        }
    }

    /// Whether To or Cc names `account` or an address the sender gave in RCPT TO for this
    /// message (an alias that reaches it).
    fn addressed_to(&self, tx: &Transaction, facts: &Facts, account: &str) -> bool {
        facts
            .addressed
            .iter()
            .any(|a| a == account || tx.rcpts.iter().any(|r| r.eq_ignore_ascii_case(a)))
    }

    async fn send_vacation_reply(
        &self,
        tx: &Transaction,
        facts: &Facts,
        account: &str,
        sender: &str,
        v: &rampart_store::submission::Vacation,
    ) {
        let host = self.hostname().to_string();
        let id = format!(
            "{}.vacation.{}@{host}",
            tx.id,
            hex(&rampart_store::random_bytes::<4>())
        );
        let subject = match v.subject.as_deref().map(clean).filter(|s| !s.is_empty()) {
            Some(s) => s,
            // RFC 3834 section 3.1.5: "Auto:" and the subject of the message answered.
            None => format!("Auto: {}", clean(&facts.subject)),
        };
        let mut head = format!(
            "From: <{account}>\r\nTo: <{sender}>\r\nSubject: {}\r\nDate: {}\r\nMessage-ID: <{id}>\r\n",
            encoded_word(&subject),
            rfc5322_date(now_micros() / 1_000_000),
        );
        // RFC 3834 section 3.1.5: the reply names the message it answers.
        if let Some(mid) = &facts.message_id {
            let refs = clean(&facts.references);
            head.push_str(&format!("In-Reply-To: <{mid}>\r\n"));
            let refs = if refs.is_empty() {
                format!("<{mid}>")
            } else {
                format!("{refs} <{mid}>")
            };
            head.push_str(&format!("References: {refs}\r\n"));
        }
        // RFC 3834 section 5: marks the reply so that it is not answered in turn.
        head.push_str("Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n");
        let text = v.text_body.clone().unwrap_or_else(|| {
            if v.html_body.is_some() {
                String::new()
            } else {
                "I am away and will read your message when I return.".into()
            }
        });
        let body = match &v.html_body {
            None => format!(
                "{head}Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
                base64_lines(&text)
            ),
            Some(html) => {
                let b = format!("=_vacation_{}", hex(&rampart_store::random_bytes::<8>()));
                format!(
                    "{head}Content-Type: multipart/alternative; boundary=\"{b}\"\r\n\r\n\
                     --{b}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n\
                     --{b}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n\
                     --{b}--\r\n",
                    base64_lines(&text),
                    base64_lines(html)
                )
            }
        };
        let what = format!("vacation response of {account} to {}", tx.id);
        // AL-4.2: queued to the envelope sender only, from the null sender (RFC 3834 3.3).
        match self
            .ctx
            .store
            .enqueue_generated(sender, body.into_bytes(), id, &what)
            .await
        {
            Ok(q) => {
                self.ctx.queue_notify.notify_one();
                self.trace(
                    "vacation",
                    format!("automatic reply to <{sender}> for {} queued as {q}", tx.id),
                    Some(account),
                )
                .await;
            }
            Err(e) => tracing::error!(error = %e, "the vacation response could not be queued"),
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(headers: &str) -> Facts {
        let raw = format!("{headers}From: a@x.test\r\nSubject: hi\r\n\r\nbody\r\n");
        let m = rampart_checks::message::read(raw.as_bytes()).expect("parses");
        Facts::read(&m)
    }

    #[test]
    fn al_4_2_rfc_3834_mail_that_gets_no_reply() {
        assert_eq!(facts("").no_reply, None);
        assert_eq!(facts("Auto-Submitted: no\r\n").no_reply, None);
        assert_eq!(
            facts("Auto-Submitted: auto-replied\r\n").no_reply,
            Some("Auto-Submitted")
        );
        assert_eq!(
            facts("List-Id: <l.x.test>\r\n").no_reply,
            Some("List-* header")
        );
        assert_eq!(
            facts("List-Unsubscribe: <mailto:u@x.test>\r\n").no_reply,
            Some("List-* header")
        );
        assert_eq!(facts("Precedence: bulk\r\n").no_reply, Some("Precedence"));
        assert!(system_sender("MAILER-DAEMON@x.test"));
        assert!(system_sender("list-request@x.test"));
        assert!(!system_sender("carol@x.test"));
        assert_eq!(clean("a\r\nBcc: x"), "a  Bcc: x");
        assert_eq!(encoded_word("Ferien"), "Ferien");
        assert!(encoded_word("Ün").starts_with("=?utf-8?b?"));
    }
}
