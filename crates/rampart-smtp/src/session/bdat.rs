//! BDAT (RFC 3030 CHUNKING): chunks of exact size, read in full whatever the answer.

use super::data::flush_body;
use super::{Flow, Session};
use crate::reply::{self, EnhancedStatus, Reply};
use tokio::io::{AsyncRead, AsyncWrite};

impl Session {
    pub(super) async fn bdat<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
        chunk: usize,
        last: bool,
    ) -> std::io::Result<Flow> {
        let refusal = match &self.tx {
            None => Some(reply::bad_sequence("Send MAIL FROM first")),
            Some(tx) if tx.recipients.is_empty() => Some(reply::no_valid_recipients()),
            _ => None,
        };
        let limit = u64::from(self.ctx.config.limits.max_message_size.get());
        let mut body = match (&refusal, self.tx.as_mut().and_then(|t| t.bdat.take())) {
            (None, Some(b)) => Some(b),
            (None, None) => Some(self.start_body()),
            _ => None,
        };
        // The chunk is read in full whatever the answer, so the next command is found where it is.
        let mut left = chunk;
        let mut budget = self.data_budget();
        loop {
            let avail = (self.buf.len() - self.pos).min(left);
            if let Some(b) = body.as_mut() {
                let room = limit.saturating_sub(b.size) as usize;
                let keep = avail.min(room);
                b.spool.push(&self.buf[self.pos..self.pos + keep]);
                b.size += avail as u64;
                if b.size > limit {
                    b.too_big = true;
                }
            }
            self.pos += avail;
            left -= avail;
            if left == 0 {
                break;
            }
            if let Some(mut b) = body.take() {
                body = Some(if !b.too_big && b.spool.should_flush() {
                    flush_body(b).await?
                } else {
                    b
                });
            }
            if !self.read_within(io, &mut budget, false).await? {
                if let Some(b) = body {
                    b.spool.discard();
                }
                return Ok(Flow::Close);
            }
        }
        if let Some(r) = refusal {
            return Ok(self.error(r));
        }
        let body = body.expect("a body when not refused");
        if !last {
            if body.too_big {
                body.spool.discard();
                self.discard_transaction();
                return Ok(self.error(reply::too_big()));
            }
            let size = body.size;
            if let Some(tx) = self.tx.as_mut() {
                tx.bdat = Some(body);
            }
            self.respond(Reply::new(
                250,
                EnhancedStatus::OTHER,
                format!("Ok: {chunk} octets received, {size} in all"),
            ));
            return Ok(Flow::Continue);
        }
        Ok(self.finish_message(body).await)
    }
}
