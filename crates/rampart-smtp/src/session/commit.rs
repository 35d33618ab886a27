//! The commit: a complete message is checked, made durable and only then acknowledged.

use super::{Body, Flow, Session, Transaction, MAX_RECEIVED};
use crate::reply::{self, Reply};
use rampart_store::{Enqueue, TraceEvent};

impl Session {
    /// Checks, makes durable and acknowledges a complete message.
    pub(super) async fn finish_message(&mut self, mut body: Body) -> Flow {
        if body.too_big {
            body.spool.discard();
            let r = reply::too_big();
            self.trace(
                "data",
                format!("message refused: {} ({} bytes)", r.line(), body.size),
                None,
            )
            .await;
            self.discard_transaction();
            return self.error(r);
        }
        // The message is read back once, and read once: the loop count, the submission policy,
        // every check and the trace all read this one reading (see rampart_checks::message).
        let all = match body.spool.contents() {
            Ok(b) => b,
            Err(e) => {
                body.spool.discard();
                let tx = self.tx.take().expect("a transaction is open");
                return self
                    .storage_failed(&tx, format!("reading the message back: {e}"))
                    .await;
            }
        };
        let raw = &all[body.prefix_len.min(all.len())..];
        let refusal = match rampart_checks::message::read(raw) {
            Err(r) => Err(Reply::from(&r)),
            Ok(message) => {
                let policy = if message.headers.count("Received") >= MAX_RECEIVED {
                    Some(reply::mail_loop())
                } else if self.may_relay() {
                    self.header_policy(&message)
                } else {
                    None
                };
                match policy {
                    Some(r) => Err(r),
                    None => Ok(message),
                }
            }
        };
        let message = match refusal {
            Ok(m) => m,
            Err(r) => {
                body.spool.discard();
                self.trace("data", format!("message refused: {}", r.line()), None)
                    .await;
                self.discard_transaction();
                return self.error(r);
            }
        };
        let message_id = message.headers.message_id();
        let tx = self.tx.take().expect("a transaction is open");
        let passed = match self.content(body, &tx, &all, &message).await {
            Ok(p) => p,
            // A refusal by a check is an answer about the message, not a protocol error.
            Err(r) => {
                self.respond(r);
                return Flow::Continue;
            }
        };
        let (body, quarantine, notices) = (passed.body, passed.quarantine, passed.notices);
        let held = quarantine.is_some();
        // Delivered in the same commit, a message for local mailboxes only leaves the queue
        // manager nothing to do.
        let all_delivered = self.ctx.deliver_local_now && tx.recipients.iter().all(|r| r.local);
        let finished = if body.spool.stays_inline() {
            // No I/O: the message goes into the database with its rows.
            Ok(body.spool.finish())
        } else {
            tokio::task::spawn_blocking(move || body.spool.finish()).await
        };
        let spooled = match finished {
            Ok(Ok(spooled)) => spooled,
            Ok(Err(e)) => return self.storage_failed(&tx, e.to_string()).await,
            Err(e) => return self.storage_failed(&tx, e.to_string()).await,
        };
        let size = spooled.size;
        let mut queued = TraceEvent::new(
            "queued",
            format!(
                "{} bytes for {} recipient(s) ({} to deliver){}; 250 2.0.0 Ok: queued as {}",
                size,
                tx.rcpts.len(),
                tx.recipients.len(),
                self.auth
                    .as_ref()
                    .map(|u| format!(", authenticated as {u}"))
                    .unwrap_or_default(),
                tx.id
            ),
        );
        queued.session = Some(self.id.clone());
        queued.queue_id = Some(tx.id.0.clone());
        queued.message_id = message_id.clone();
        queued.client = Some(self.peer.ip().to_string());
        queued.sender = Some(tx.sender.clone());
        let msg = Enqueue {
            id: tx.id.clone(),
            sender: tx.sender.clone(),
            size,
            message_id,
            return_path_len: body.return_path_len,
            client: Some(self.peer.ip().to_string()),
            recipients: tx.recipients.clone(),
            events: vec![queued],
            quarantine,
            inline: spooled.inline,
            deliver_local_now: self.ctx.deliver_local_now,
            // Set from the spam verdict (Action::Tag) once the pipeline's outcome carries it.
            junk: false,
        };
        // The 250 waits for the commit: file, directory and rows are durable when it is sent.
        match self.ctx.store.enqueue(&self.ctx.writer, msg).await {
            Ok(()) => {
                self.messages += 1;
                if !held && !all_delivered {
                    self.ctx.queue_notify.notify_one();
                }
                if !notices.is_empty() {
                    self.notify(&tx, &notices).await;
                }
                self.respond(reply::queued(&tx.id.0));
                tracing::info!(session = %self.id, queue_id = %tx.id, size, rcpts = tx.rcpts.len(), "queued");
                Flow::Continue
            }
            Err(e) => {
                let _ = std::fs::remove_file(self.ctx.store.message_path(&tx.id));
                self.storage_failed(&tx, e.to_string()).await
            }
        }
    }

    pub(super) async fn storage_failed(&mut self, tx: &Transaction, why: String) -> Flow {
        tracing::error!(queue_id = %tx.id, error = %why, "message not stored");
        let r = reply::storage_failure();
        let mut e = TraceEvent::new("data", format!("not stored ({why}): {}", r.line()));
        e.session = Some(self.id.clone());
        e.queue_id = Some(tx.id.0.clone());
        e.client = Some(self.peer.ip().to_string());
        self.ctx.writer.trace(e).await;
        self.respond(r);
        Flow::Continue
    }
}
