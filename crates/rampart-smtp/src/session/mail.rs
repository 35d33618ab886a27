//! MAIL FROM: opens a transaction once the sender passes the envelope policy.

use super::{Flow, Session, Transaction};
use crate::reply::{self, EnhancedStatus, Reply};
use rampart_config::RateWhat;
use rampart_store::QueueId;

impl Session {
    pub(super) async fn mail(
        &mut self,
        from: smtp_proto::MailFrom<std::borrow::Cow<'_, str>>,
        line: &[u8],
    ) -> Flow {
        if self.helo.is_none() {
            return self.error(reply::bad_sequence("Send EHLO or HELO first"));
        }
        let submission = self.listener.role.is_submission();
        // NC-2.1.9: a null client's clients are on this host (loopback only): no TLS, no AUTH.
        let local_app = self.null_client().is_some();
        if (self.listener.require_tls || submission) && self.tls.is_none() && !local_app {
            return self.error(reply::must_starttls());
        }
        // NC-2.3.4: the store takes mail only from a client that proved it is the gateway.
        if let Some(r) = self.check_client_cert() {
            self.trace("mail", format!("MAIL refused: {}", r.line()), None)
                .await;
            return self.error(r);
        }
        // NC-2.1.5: submission relays only for an authenticated user or a listed network.
        if submission && !self.may_relay() {
            return self.error(Reply::new(
                530,
                EnhancedStatus::SECURITY_OTHER,
                "Authentication required",
            ));
        }
        if self.tx.is_some() {
            return self.error(reply::bad_sequence(
                "Sender already given; send RSET to start over",
            ));
        }
        if self.messages >= self.ctx.config.limits.max_messages_per_session.get() {
            let h = self.hostname().to_string();
            self.respond(reply::too_many_messages(&h));
            return Flow::Close;
        }
        let sender = from.address.to_string();
        let smtputf8 = from.flags & smtp_proto::MAIL_SMTPUTF8 != 0;
        // RFC 6531 section 3.3: the parser replaced bytes that are not UTF-8 with U+FFFD; the raw
        // line tells whether the client sent any.
        let r = if std::str::from_utf8(line).is_err() {
            Some(if smtputf8 {
                reply::not_utf8()
            } else {
                reply::needs_smtputf8()
            })
        } else if !smtputf8 && !sender.is_ascii() {
            Some(reply::needs_smtputf8())
        } else if sender.chars().any(char::is_control) {
            // Quoted local parts may hold anything but CR and LF to the parser; RFC 5321's
            // qtextSMTP allows no control characters, and they must not reach the Return-Path.
            Some(Reply::new(
                501,
                EnhancedStatus::BAD_SENDER_SYNTAX,
                "Bad sender address syntax",
            ))
        } else if let Err(r) = self.check_sender(&sender).await {
            Some(r)
        } else if from.flags & smtp_proto::MAIL_BODY_BINARYMIME != 0 {
            Some(Reply::new(
                555,
                EnhancedStatus::INVALID_ARGUMENTS,
                "BODY=BINARYMIME is not supported",
            ))
        } else if from.size > self.ctx.config.limits.max_message_size.get() as usize {
            Some(reply::too_big())
        } else if self.ctx.room.admit(from.size as u64).is_err() {
            Some(reply::insufficient_storage())
        } else {
            None
        };
        let r = match r {
            Some(r) => Some(r),
            None => self.rate_limit(RateWhat::Messages, &sender, 1).await.err(),
        };
        // NC-2.1.9: every envelope sender becomes the bounce address; the original is traced.
        let (sender, rewritten) = match self.null_client() {
            Some(nc) if r.is_none() => (nc.bounce().to_string(), Some(sender)),
            _ => (sender, None),
        };
        if let Some(r) = r {
            self.trace(
                "mail",
                format!("MAIL FROM:<{sender}> refused: {}", r.line()),
                None,
            )
            .await;
            return self.error(r);
        }
        self.tx = Some(Transaction {
            id: QueueId::generate(),
            sender: sender.clone(),
            smtputf8,
            rcpts: Vec::new(),
            recipients: Vec::new(),
            bdat: None,
        });
        let r = reply::sender_ok();
        let detail = match rewritten {
            Some(original) => format!(
                "MAIL FROM:<{original}> {}; envelope sender rewritten to <{sender}> (null client, NC-2.1.9)",
                r.line()
            ),
            None => format!("MAIL FROM:<{sender}> {}", r.line()),
        };
        self.trace("mail", detail, None).await;
        self.respond(r);
        Flow::Continue
    }
}
