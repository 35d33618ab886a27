//! STARTTLS (RFC 3207): 220, then the caller wraps the stream and runs the session again.

use super::{Flow, Session};
use crate::reply;

impl Session {
    pub(super) fn starttls(&mut self) -> Flow {
        if self.tls.is_some() {
            return self.error(reply::bad_sequence("TLS is already active"));
        }
        if self.ctx.tls.is_none() {
            return self.error(reply::not_implemented());
        }
        self.respond(reply::start_tls());
        Flow::StartTls
    }
}
