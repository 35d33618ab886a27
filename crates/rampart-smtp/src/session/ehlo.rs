//! EHLO and HELO: the greeting exchange and what is advertised.

use super::{Flow, Session};
use crate::reply::Reply;

impl Session {
    pub(super) async fn ehlo(&mut self, host: String, esmtp: bool) -> Flow {
        self.discard_transaction();
        self.trace(
            "ehlo",
            format!("{} {host}", if esmtp { "EHLO" } else { "HELO" }),
            None,
        )
        .await;
        self.helo = Some(host);
        self.esmtp = esmtp;
        let h = self.hostname().to_string();
        if !esmtp {
            self.respond(Reply::bare(250, h));
            return Flow::Continue;
        }
        // NC-2.2: VRFY, EXPN, ETRN are not advertised. NC-2.1.3: nothing names the software.
        let mut lines = vec![
            h,
            "PIPELINING".to_string(),
            format!("SIZE {}", self.ctx.config.limits.max_message_size),
            "8BITMIME".to_string(),
            "SMTPUTF8".to_string(),
            "ENHANCEDSTATUSCODES".to_string(),
            "CHUNKING".to_string(),
        ];
        if self.tls.is_none() && self.ctx.tls.is_some() {
            lines.push("STARTTLS".to_string());
        }
        // NC-2.1.4: AUTH only inside TLS, and only where users submit.
        if self.tls.is_some() && self.listener.role.is_submission() {
            lines.push("AUTH PLAIN LOGIN".to_string());
        }
        crate::reply::write_multiline(&mut self.out, 250, &lines);
        Flow::Continue
    }
}
