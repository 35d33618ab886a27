//! DATA: the message read through the dot-stuffing decoder into the spool.

use super::{Body, Flow, Session};
use crate::codec::DataDecoder;
use crate::received::{self, ReceivedInfo};
use crate::reply::{self, Reply};
use tokio::io::{AsyncRead, AsyncWrite};

impl Session {
    pub(super) fn start_body(&self) -> Body {
        let tx = self.tx.as_ref().expect("a transaction is open");
        let rp = received::return_path(&tx.sender);
        // RFC 3848 / RFC 6531 protocol names.
        let protocol = match (
            self.esmtp,
            self.tls.is_some(),
            tx.smtputf8,
            self.auth.is_some(),
        ) {
            (_, true, true, true) => "UTF8SMTPSA",
            (_, true, true, false) => "UTF8SMTPS",
            (_, false, true, _) => "UTF8SMTP",
            (true, true, _, true) => "ESMTPSA",
            (true, true, _, false) => "ESMTPS",
            (true, false, _, _) => "ESMTP",
            (false, true, _, _) => "SMTPS",
            (false, false, _, _) => "SMTP",
        };
        let single = (tx.rcpts.len() == 1).then(|| tx.rcpts[0].as_str());
        let rcvd = received::received(&ReceivedInfo {
            helo: self.helo.as_deref().unwrap_or("unknown"),
            client_ip: self.peer.ip(),
            hostname: self.hostname(),
            protocol,
            tls: self.tls.as_deref(),
            queue_id: &tx.id.0,
            single_recipient: single,
            unix_time: rampart_store::now_micros() / 1_000_000,
        });
        // Checked messages are held whole in memory, within the server's budget: the checks read
        // them there and their changes are made there, so the file is written once.
        let hold = self
            .ctx
            .pipeline
            .is_some()
            .then_some(&self.ctx.message_memory);
        let mut spool = self.ctx.store.spool(&tx.id, hold);
        spool.push(rp.as_bytes());
        spool.push(rcvd.as_bytes());
        Body {
            spool,
            prefix_len: rp.len() + rcvd.len(),
            return_path_len: rp.len(),
            size: 0,
            too_big: false,
            failed: None,
        }
    }

    pub(super) fn check_data_allowed(&mut self) -> Option<Reply> {
        match &self.tx {
            None => Some(reply::bad_sequence("Send MAIL FROM first")),
            Some(tx) if tx.bdat.is_some() => {
                Some(reply::bad_sequence("BDAT in progress; DATA is not allowed"))
            }
            Some(tx) if tx.recipients.is_empty() => Some(reply::no_valid_recipients()),
            _ => None,
        }
    }

    pub(super) async fn data<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
    ) -> std::io::Result<Flow> {
        if let Some(r) = self.check_data_allowed() {
            return Ok(self.error(r));
        }
        self.respond(reply::start_data());
        let limit = u64::from(self.ctx.config.limits.max_message_size.get());
        let mut decoder = DataDecoder::new(limit);
        let mut body = self.start_body();
        // NC-2.1.8: the message must keep up a minimum rate, not merely trickle in.
        let mut budget = self.data_budget();
        loop {
            let end = decoder.feed(&self.buf[self.pos..], body.spool.buffer_mut());
            match end {
                Some(n) => {
                    self.pos += n;
                    break;
                }
                None => self.pos = self.buf.len(),
            }
            if !decoder.too_big() && body.spool.should_flush() {
                body = flush_body(body).await?;
            }
            if !self.read_within(io, &mut budget, false).await? {
                body.spool.discard();
                return Ok(Flow::Close);
            }
        }
        body.size = decoder.size;
        body.too_big = decoder.too_big();
        if decoder.bare_line_ending {
            // NC-2.4.1: a bare CR or LF in the data, the shape of a smuggling attempt.
            self.report(rampart_ids::detectors::protocol::abuse(
                self.peer.ip(),
                "bare CR or LF in message data (smuggling attempt)",
            ));
            body.spool.discard();
            let r = reply::bare_line_ending_data();
            self.trace("data", format!("message refused: {}", r.line()), None)
                .await;
            self.discard_transaction();
            return Ok(self.error(r));
        }
        Ok(self.finish_message(body).await)
    }
}

/// Writes a body's buffer out on the blocking pool. A write that fails (a full disk) is kept
/// in the body and what arrives after it is dropped: the session reads the data to its end and
/// answers it then, rather than leaving the client mid-message.
pub(super) async fn flush_body(mut body: Body) -> std::io::Result<Body> {
    if body.failed.is_some() {
        body.spool.buffer_mut().clear();
        return Ok(body);
    }
    tokio::task::spawn_blocking(move || {
        if let Err(e) = body.spool.flush() {
            body.failed = Some(e);
            body.spool.buffer_mut().clear();
        }
        body
    })
    .await
    .map_err(std::io::Error::other)
}
