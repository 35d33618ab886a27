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
        if let Some(e) = body.failed.take() {
            body.spool.discard();
            let tx = self.tx.take().expect("a transaction is open");
            return self
                .storage_failed(&tx, e.is_full(), format!("writing the message: {e}"))
                .await;
        }
        // The message is read once: the loop count, the submission policy, every check and the
        // trace all read this one reading (see rampart_checks::message). A checked message is
        // still in memory; one that went to disk as it arrived is read back, off the runtime.
        let read_back = if body.spool.in_memory().is_some() {
            None
        } else {
            let read = tokio::task::spawn_blocking(move || {
                let bytes = body.spool.read_back();
                (body, bytes)
            })
            .await;
            match read {
                Ok((b, Ok(bytes))) => {
                    body = b;
                    Some(bytes)
                }
                // The spool is dropped with its file.
                Ok((_, Err(e))) => return self.read_back_failed(e.is_full(), e.to_string()).await,
                Err(e) => return self.read_back_failed(false, e.to_string()).await,
            }
        };
        // Header bytes that are not UTF-8 are written as U+FFFD before anything reads them
        // (rampart_checks::message::repair); the repaired bytes are what is stored.
        let repaired;
        let (tx, message_id, checked) = {
            let all: &[u8] = match &read_back {
                Some(bytes) => bytes,
                None => body.spool.in_memory().unwrap_or_default(),
            };
            let raw = &all[body.prefix_len.min(all.len())..];
            repaired = rampart_checks::message::repair(raw);
            let raw = match &repaired {
                Some(r) => {
                    self.trace(
                        "data",
                        format!(
                            "header bytes that are not UTF-8 (RFC 6532) replaced with U+FFFD on {} line(s)",
                            r.lines
                        ),
                        None,
                    )
                    .await;
                    &r.bytes[..]
                }
                None => raw,
            };
            let refusal = match rampart_checks::message::read(raw) {
                Err(r) => Err(Reply::from(&r)),
                Ok(message) => {
                    let policy = if message.headers.count("Received") >= MAX_RECEIVED {
                        Some(reply::mail_loop())
                    } else if self.may_relay() {
                        self.header_policy(&message).await
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
                    // Refused: the spool (and any file) goes with `body` on return.
                    self.trace("data", format!("message refused: {}", r.line()), None)
                        .await;
                    self.discard_transaction();
                    return self.error(r);
                }
            };
            let tx = self.tx.take().expect("a transaction is open");
            let checked = self.content(&tx, &message).await;
            let facts = super::vacation::Facts::read(&message);
            (tx, message.headers.message_id(), (checked, facts))
        };
        let (checked, facts) = checked;
        let passed = match checked {
            Ok(p) => p,
            // A refusal by a check is an answer about the message, not a protocol error.
            Err(r) => {
                body.spool.discard();
                self.respond(r);
                return Flow::Continue;
            }
        };
        // The copy read back, if any, has served: it goes before the changed message is stored.
        drop(read_back);
        if let Some(changed) = passed
            .changed
            .as_deref()
            .or(repaired.as_ref().map(|r| &r.bytes[..]))
        {
            // Our Return-Path and Received lines stay; the message after them is as checked.
            body.spool.replace_after(body.prefix_len, changed);
        }
        let (quarantine, notices, junk) = (passed.quarantine, passed.notices, passed.junk);
        let authenticated_from = passed.authenticated_from;
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
            Ok(Err(e)) => return self.storage_failed(&tx, e.is_full(), e.to_string()).await,
            Err(e) => return self.storage_failed(&tx, false, e.to_string()).await,
        };
        let size = spooled.size;
        let mut queued = TraceEvent::new(
            "queued",
            format!(
                "{} bytes for {} recipient(s) ({} to deliver){}; 250 2.0.0 Ok: queued as {}",
                size,
                tx.rcpts.len(),
                tx.recipients.len(),
                self.identity()
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
            junk,
            authenticated_from,
        };
        // The 250 waits for the commit: file, directory and rows are durable when it is sent.
        // The recipients' vacation settings are read meanwhile, on the blocking pool, rather than
        // after the commit on the way to the 250 (issue 23: one session waits for every step).
        let (stored, vacations) =
            tokio::join!(self.ctx.store.enqueue(msg), self.vacation_settings(&tx));
        match stored {
            Ok(()) => {
                self.messages += 1;
                if !held && !all_delivered {
                    self.ctx.queue_notify.notify_one();
                }
                if !notices.is_empty() {
                    self.notify(&tx, &notices).await;
                }
                // RFC 8621 §8 / AL-4.2: vacation responses, decided before the 250 goes out.
                self.vacation(&tx, &facts, junk, held, vacations).await;
                self.respond(reply::queued(&tx.id.0));
                tracing::info!(session = %self.id, queue_id = %tx.id, size, rcpts = tx.rcpts.len(), "queued");
                Flow::Continue
            }
            // The store removed the message's file, if it had one.
            Err(e) => self.storage_failed(&tx, e.is_full(), e.to_string()).await,
        }
    }

    /// The message that went to disk as it arrived could not be read back for the checks.
    async fn read_back_failed(&mut self, full: bool, why: String) -> Flow {
        let tx = self.tx.take().expect("a transaction is open");
        self.storage_failed(&tx, full, format!("reading the message back: {why}"))
            .await
    }

    /// The message could not be made durable: nothing of it is kept, and the client hears a
    /// temporary failure, `452 4.3.1` when the storage was full, else `451 4.3.0`.
    pub(super) async fn storage_failed(
        &mut self,
        tx: &Transaction,
        full: bool,
        why: String,
    ) -> Flow {
        tracing::error!(queue_id = %tx.id, error = %why, "message not stored");
        let r = if full {
            reply::insufficient_storage()
        } else {
            reply::storage_failure()
        };
        let mut e = TraceEvent::new("data", format!("not stored ({why}): {}", r.line()));
        e.session = Some(self.id.clone());
        e.queue_id = Some(tx.id.0.clone());
        e.client = Some(self.peer.ip().to_string());
        self.ctx.store.record(e).await;
        self.respond(r);
        Flow::Continue
    }
}
