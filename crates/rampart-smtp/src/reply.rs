//! SMTP replies as values: code, enhanced status code (RFC 3463) and a plain sentence.
//!
//! Every reply carries an enhanced status code, except where RFC 2034 section 3 exempts it (the
//! greeting and the HELO/EHLO replies) and the intermediate 354, whose class 3 has no enhanced code.
//! NC-2.1.3: no reply names software, version or operating system.

pub use rampart_checks::EnhancedStatus;
use rampart_checks::Refusal;
use std::fmt::Write;

/// One SMTP outcome: every answer the server gives, a check's refusal included, is one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// Enhanced status code, its class taken from `code`; None where RFC 2034 exempts it.
    pub status: Option<EnhancedStatus>,
    pub text: String,
}

impl Reply {
    pub fn new(code: u16, status: EnhancedStatus, text: impl Into<String>) -> Reply {
        Reply {
            code,
            status: Some(status),
            text: text.into(),
        }
    }

    /// A reply without an enhanced status code: the greeting, HELO/EHLO, 334 and 354 (RFC 2034
    /// section 3; class 3 has no enhanced code).
    pub fn bare(code: u16, text: impl Into<String>) -> Reply {
        Reply {
            code,
            status: None,
            text: text.into(),
        }
    }

    /// A 4xx reply: the client should try again later.
    pub fn is_temporary(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// Appends the reply, CRLF-terminated, to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let mut s = String::with_capacity(16 + self.text.len());
        let _ = write!(s, "{}\r\n", self.line());
        out.extend_from_slice(s.as_bytes());
    }

    /// The reply as one line without CRLF, for the trace.
    pub fn line(&self) -> String {
        match self.status {
            None => format!("{} {}", self.code, self.text),
            Some(st) => format!("{} {} {}", self.code, st.with_class(self.code), self.text),
        }
    }
}

impl From<&Refusal> for Reply {
    /// A check's refusal is answered as it stands: code, status and text.
    fn from(r: &Refusal) -> Reply {
        Reply::new(r.code, r.status, r.text.clone())
    }
}

/// Writes a multi-line reply (EHLO): `code-line` for all but the last.
pub fn write_multiline(out: &mut Vec<u8>, code: u16, lines: &[String]) {
    for (i, l) in lines.iter().enumerate() {
        let sep = if i + 1 == lines.len() { ' ' } else { '-' };
        out.extend_from_slice(format!("{code}{sep}{l}\r\n").as_bytes());
    }
}

// The fixed replies, named for what they answer.
pub fn ok() -> Reply {
    Reply::new(250, EnhancedStatus::OTHER, "Ok")
}
pub fn sender_ok() -> Reply {
    Reply::new(250, EnhancedStatus::ADDRESS_OTHER, "Sender ok")
}
pub fn recipient_ok() -> Reply {
    Reply::new(250, EnhancedStatus::RECIPIENT_VALID, "Recipient ok")
}
pub fn bye() -> Reply {
    Reply::new(221, EnhancedStatus::OTHER, "Bye")
}
pub fn start_data() -> Reply {
    Reply::bare(354, "End data with <CR><LF>.<CR><LF>")
}
pub fn start_tls() -> Reply {
    Reply::new(220, EnhancedStatus::OTHER, "Ready to start TLS")
}
pub fn queued(id: &str) -> Reply {
    Reply::new(250, EnhancedStatus::OTHER, format!("Ok: queued as {id}"))
}
pub fn unknown_command() -> Reply {
    Reply::new(500, EnhancedStatus::SYNTAX_ERROR, "Command not recognized")
}
/// NC-2.2: VRFY, EXPN, ETRN and TURN give no information.
pub fn not_implemented() -> Reply {
    Reply::new(
        502,
        EnhancedStatus::INVALID_COMMAND,
        "Command not implemented",
    )
}
pub fn syntax(usage: &str) -> Reply {
    Reply::new(
        501,
        EnhancedStatus::INVALID_ARGUMENTS,
        format!("Syntax error; use {usage}"),
    )
}
pub fn bad_sequence(why: &str) -> Reply {
    Reply::new(503, EnhancedStatus::INVALID_COMMAND, why.to_string())
}
pub fn line_too_long() -> Reply {
    Reply::new(500, EnhancedStatus::SYNTAX_ERROR, "Line too long")
}
/// Anti-smuggling: a line that does not end in CRLF, or holds a CR or LF of its own.
pub fn bare_line_ending_command() -> Reply {
    Reply::new(
        554,
        EnhancedStatus::SYNTAX_ERROR,
        "Bare CR or LF in a command; lines must end with CRLF. Closing connection",
    )
}
pub fn bare_line_ending_data() -> Reply {
    Reply::new(
        554,
        EnhancedStatus::MEDIA_OTHER,
        "Message refused: bare CR or LF in the message; lines must end with CRLF",
    )
}
pub fn too_big() -> Reply {
    Reply::new(
        552,
        EnhancedStatus::MESSAGE_TOO_BIG,
        "Message size exceeds fixed maximum message size",
    )
}
pub fn too_many_recipients() -> Reply {
    Reply::new(
        452,
        EnhancedStatus::TOO_MANY_RECIPIENTS,
        "Too many recipients",
    )
}
/// NC-2.1.6: relay attempts are refused permanently, never with a 4xx that invites retries.
pub fn relay_denied(why: &str) -> Reply {
    Reply::new(
        550,
        EnhancedStatus::NOT_AUTHORIZED,
        format!("Relaying denied: {why}"),
    )
}
pub fn no_such_user() -> Reply {
    Reply::new(550, EnhancedStatus::BAD_MAILBOX, "No such user here")
}
pub fn no_valid_recipients() -> Reply {
    Reply::new(554, EnhancedStatus::INVALID_COMMAND, "No valid recipients")
}
pub fn needs_smtputf8() -> Reply {
    Reply::new(
        553,
        EnhancedStatus::NON_ASCII_ADDRESS,
        "Address is not ASCII; send SMTPUTF8 in MAIL FROM",
    )
}
/// RFC 6531 section 3.3: with SMTPUTF8 an address is UTF-8; bytes that are not are refused, not
/// guessed at.
pub fn not_utf8() -> Reply {
    Reply::new(
        553,
        EnhancedStatus::NON_ASCII_ADDRESS,
        "Address is not valid UTF-8",
    )
}
/// An EHLO or HELO argument that is neither a host name nor an address literal.
pub fn bad_helo(why: &str) -> Reply {
    Reply::new(501, EnhancedStatus::SYNTAX_ERROR, why.to_string())
}
pub fn must_starttls() -> Reply {
    Reply::new(
        530,
        EnhancedStatus::SECURITY_OTHER,
        "Must issue a STARTTLS command first",
    )
}
pub fn storage_failure() -> Reply {
    Reply::new(
        451,
        EnhancedStatus::SYSTEM_OTHER,
        "Temporary failure storing the message; try again later",
    )
}
/// The checks could not run because what they read of the store (the local domains) could not
/// be read: temporary, as a check whose service is down answers when it fails closed.
pub fn checks_unavailable() -> Reply {
    Reply::new(
        451,
        EnhancedStatus::SYSTEM_OTHER,
        "The message could not be checked just now; try again later",
    )
}
/// The data directory has no room for the message (RFC 5321 section 4.5.3.1.10, RFC 3463 X.3.1):
/// at MAIL when the free space is under `limits.min_free_space`, after the data when a write
/// found the disk full. Temporary: the client keeps the message and tries again.
pub fn insufficient_storage() -> Reply {
    Reply::new(
        452,
        EnhancedStatus::SYSTEM_FULL,
        "Insufficient system storage; try again later",
    )
}
pub fn mail_loop() -> Reply {
    Reply::new(
        554,
        EnhancedStatus::ROUTING_LOOP,
        "Too many Received headers: mail loop",
    )
}
pub fn timeout(host: &str) -> Reply {
    Reply::new(
        421,
        EnhancedStatus::BAD_CONNECTION,
        format!("{host} Timeout; closing connection"),
    )
}
pub fn too_many_errors(host: &str) -> Reply {
    Reply::new(
        421,
        EnhancedStatus::SECURITY_OTHER,
        format!("{host} Too many errors; closing connection"),
    )
}
pub fn too_many_messages(host: &str) -> Reply {
    Reply::new(
        421,
        EnhancedStatus::SECURITY_OTHER,
        format!("{host} Too many messages in one session; reconnect to send more"),
    )
}
pub fn too_many_connections(host: &str) -> Reply {
    Reply::new(
        421,
        EnhancedStatus::SECURITY_OTHER,
        format!("{host} Too many connections; try again later"),
    )
}
pub fn too_many_connections_from_you(host: &str) -> Reply {
    Reply::new(
        421,
        EnhancedStatus::SECURITY_OTHER,
        format!("{host} Too many connections from your address; try again later"),
    )
}
pub fn shutting_down(host: &str) -> Reply {
    Reply::new(
        421,
        EnhancedStatus::SYSTEM_NOT_ACCEPTING,
        format!("{host} Service shutting down; try again later"),
    )
}
/// NC-2.4.2: the answer to a banned address, in place of the greeting: 554 5.7.1.
pub fn banned(host: &str) -> Reply {
    Reply::new(
        554,
        EnhancedStatus::NOT_AUTHORIZED,
        format!("{host} Your address is blocked after abuse; closing connection"),
    )
}
pub fn early_talker(host: &str) -> Reply {
    Reply::new(
        554,
        EnhancedStatus::PROTOCOL_OTHER,
        format!("{host} Commands were sent before the greeting; closing connection"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checks_refusal_is_answered_as_it_stands() {
        // The old mapping rewrote any status it did not list to 5.7.1 or 4.7.1: a check's
        // 5.7.8 or 4.3.0 reached the client as something else.
        let r = Reply::from(&Refusal::new(550, EnhancedStatus::BAD_CREDENTIALS, "no"));
        assert_eq!(r.line(), "550 5.7.8 no");
        let r = Reply::from(&Refusal::new(451, EnhancedStatus::SYSTEM_OTHER, "later"));
        assert_eq!(r.line(), "451 4.3.0 later");
        assert!(r.is_temporary());
    }

    #[test]
    fn exempt_replies_carry_no_status() {
        let mut out = Vec::new();
        start_data().write_to(&mut out);
        assert_eq!(out, b"354 End data with <CR><LF>.<CR><LF>\r\n");
        assert_eq!(ok().line(), "250 2.0.0 Ok");
        assert_eq!(
            too_many_recipients().line(),
            "452 4.5.3 Too many recipients"
        );
    }
}
