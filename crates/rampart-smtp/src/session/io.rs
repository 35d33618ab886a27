//! I/O plumbing: the command loop, buffered replies, reads within a time budget, timeouts.

use super::{Flow, Session, CLOSE_WITHIN, READ_CHUNK};
use crate::codec::{take_line, Line};
use crate::limits::ReadBudget;
use crate::reply::{self, Reply};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

impl Session {
    /// Reads and answers commands until the client quits, the session is closed, or STARTTLS.
    pub async fn run<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
    ) -> std::io::Result<Flow> {
        let max_line = self.ctx.config.limits.max_line_length.get() as usize;
        loop {
            match take_line(&self.buf[self.pos..], max_line) {
                Line::Complete(n) => {
                    let line = self.buf[self.pos..self.pos + n - 2].to_vec();
                    self.pos += n;
                    match self.command(&line, io).await? {
                        Flow::Continue => {}
                        Flow::Close => return self.close(io).await.map(|_| Flow::Close),
                        Flow::StartTls => {
                            // RFC 3207 section 5: anything pipelined after STARTTLS is discarded.
                            self.buf.clear();
                            self.pos = 0;
                            self.flush(io).await?;
                            return Ok(Flow::StartTls);
                        }
                    }
                }
                Line::Incomplete => {
                    let timeout = self.ctx.config.timeouts.command_secs.get();
                    if !self.fill(io, timeout, true).await? {
                        return self.close(io).await.map(|_| Flow::Close);
                    }
                }
                Line::TooLong => {
                    // NC-2.4.1: protocol abuse.
                    self.report(rampart_ids::detectors::protocol::abuse(
                        self.peer.ip(),
                        "command line too long",
                    ));
                    self.respond(reply::line_too_long());
                    self.trace("protocol", "command line too long; connection closed", None)
                        .await;
                    return self.close(io).await.map(|_| Flow::Close);
                }
                Line::BareLineEnding => {
                    // NC-2.4.1: protocol abuse (a smuggling attempt or a broken client).
                    self.report(rampart_ids::detectors::protocol::abuse(
                        self.peer.ip(),
                        "bare CR or LF in a command",
                    ));
                    self.respond(reply::bare_line_ending_command());
                    self.trace(
                        "protocol",
                        "bare CR or LF in a command; connection closed",
                        None,
                    )
                    .await;
                    return self.close(io).await.map(|_| Flow::Close);
                }
            }
        }
    }

    pub(super) async fn close<S: AsyncWrite + Unpin>(&mut self, io: &mut S) -> std::io::Result<()> {
        self.discard_transaction();
        let farewell = async {
            let r = self.flush(io).await;
            let _ = io.shutdown().await;
            r
        };
        let r = tokio::time::timeout(CLOSE_WITHIN, farewell)
            .await
            .unwrap_or(Ok(()));
        self.trace(
            "disconnect",
            format!("messages: {}, errors: {}", self.messages, self.errors),
            None,
        )
        .await;
        r
    }

    pub(super) async fn flush<S: AsyncWrite + Unpin>(&mut self, io: &mut S) -> std::io::Result<()> {
        if !self.out.is_empty() {
            io.write_all(&self.out).await?;
            io.flush().await?;
            self.out.clear();
        }
        Ok(())
    }

    pub(super) fn respond(&mut self, r: Reply) {
        r.write_to(&mut self.out);
    }

    /// Flushes replies, then reads more of a command line (or an AUTH response) within the
    /// command timeout. Returns false when the session must end (EOF, timeout, or shutdown while
    /// idle); the reply saying why has been queued.
    ///
    /// NC-2.1.8: `timeout_secs` bounds the whole line, counted from when the server starts waiting
    /// for it (after its last reply), not each read: a client that trickles a byte at a time is cut
    /// off like a silent one.
    pub(super) async fn fill<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
        timeout_secs: u32,
        idle: bool,
    ) -> std::io::Result<bool> {
        // Replies waiting to go out answer the last line: what comes next is a new one.
        if !self.out.is_empty() || self.line_budget.is_none() {
            let limit = Duration::from_secs(u64::from(timeout_secs));
            self.line_budget = Some(ReadBudget::fixed(limit));
        }
        let mut budget = self.line_budget.expect("set above");
        let more = self.read_within(io, &mut budget, idle).await;
        self.line_budget = Some(budget);
        more
    }

    /// A budget for message data (DATA, or one BDAT chunk): `data_secs`, earning more at
    /// `data_min_bytes_per_sec` (NC-2.1.8).
    pub(super) fn data_budget(&self) -> ReadBudget {
        let t = &self.ctx.config.timeouts;
        ReadBudget::earning(
            Duration::from_secs(u64::from(t.data_secs.get())),
            t.data_min_bytes_per_sec.get(),
        )
    }

    /// Flushes replies, then reads more input, both within `budget`: a client that takes its
    /// replies too slowly runs out like one that sends too slowly. Returns false when the session
    /// must end (EOF, the budget spent, or shutdown while idle); the reply saying why has been
    /// queued.
    pub(super) async fn read_within<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
        budget: &mut ReadBudget,
        idle: bool,
    ) -> std::io::Result<bool> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        if self.buf.capacity() - self.buf.len() < 1024 {
            self.buf.reserve(READ_CHUNK);
        }
        let draining = idle && self.tx.is_none();
        if draining && *self.shutdown.borrow() {
            let h = self.hostname().to_string();
            self.respond(reply::shutting_down(&h));
            return Ok(false);
        }
        let started = Instant::now();
        match tokio::time::timeout(budget.left(), self.flush(io)).await {
            Ok(r) => r?,
            Err(_) => {
                // Part of it may have gone out: what follows must not repeat it.
                self.out.clear();
                budget.spent(started.elapsed(), 0);
                self.timed_out(budget, true).await;
                return Ok(false);
            }
        }
        let left = budget.left().saturating_sub(started.elapsed());
        let read = tokio::select! {
            r = tokio::time::timeout(left, io.read_buf(&mut self.buf)) => r,
            _ = self.shutdown.changed(), if draining => {
                let h = self.hostname().to_string();
                self.respond(reply::shutting_down(&h));
                return Ok(false);
            }
        };
        match read {
            Err(_) => {
                budget.spent(started.elapsed(), 0);
                self.timed_out(budget, false).await;
                Ok(false)
            }
            Ok(Ok(0)) => Ok(false),
            Ok(Ok(n)) => {
                budget.spent(started.elapsed(), n);
                Ok(true)
            }
            Ok(Err(e)) => Err(e),
        }
    }

    /// A budget ran out (`unread`: while our replies were not being read): `421 4.4.2` is queued
    /// and the trace says what was too slow.
    pub(super) async fn timed_out(&mut self, budget: &ReadBudget, unread: bool) {
        let h = self.hostname().to_string();
        self.respond(reply::timeout(&h));
        let limit = budget.limit().as_secs();
        let detail = if unread {
            format!("replies not read within {limit} s")
        } else if budget.min_rate() > 0 {
            format!(
                "message data too slow: {} bytes in {:.1} s (at least {} bytes/s, no pause over {limit} s)",
                budget.received(),
                budget.waited().as_secs_f64(),
                budget.min_rate()
            )
        } else if self.buf.is_empty() {
            format!("no input for {limit} s")
        } else {
            format!(
                "command line not complete within {limit} s ({} bytes of it received)",
                self.buf.len()
            )
        };
        self.trace("timeout", detail, None).await;
    }
}
