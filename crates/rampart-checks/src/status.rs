//! Enhanced mail system status codes (RFC 3463, registry of RFC 5248) as values.
//!
//! An [`EnhancedStatus`] holds the subject and detail of a code; its class (2, 4 or 5) is the
//! first digit of the reply code it goes with, so a `451` can never be sent with a `5.x.x` status.
//! A check's refusal and an SMTP reply carry the same type: nothing maps one onto the other and
//! nothing compares status text.

use std::fmt;

/// `class.subject.detail` without the class, which the reply code supplies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnhancedStatus {
    subject: u8,
    detail: u16,
}

impl EnhancedStatus {
    const fn new(subject: u8, detail: u16) -> EnhancedStatus {
        EnhancedStatus { subject, detail }
    }

    /// X.0.0 Other undefined status.
    pub const OTHER: EnhancedStatus = EnhancedStatus::new(0, 0);
    /// X.1.0 Other address status (a sender accepted).
    pub const ADDRESS_OTHER: EnhancedStatus = EnhancedStatus::new(1, 0);
    /// X.1.1 Bad destination mailbox address.
    pub const BAD_MAILBOX: EnhancedStatus = EnhancedStatus::new(1, 1);
    /// X.1.3 Bad destination mailbox address syntax.
    pub const BAD_RECIPIENT_SYNTAX: EnhancedStatus = EnhancedStatus::new(1, 3);
    /// X.1.5 Destination address valid.
    pub const RECIPIENT_VALID: EnhancedStatus = EnhancedStatus::new(1, 5);
    /// X.1.7 Bad sender's mailbox address syntax.
    pub const BAD_SENDER_SYNTAX: EnhancedStatus = EnhancedStatus::new(1, 7);
    /// X.3.0 Other or undefined mail system status.
    pub const SYSTEM_OTHER: EnhancedStatus = EnhancedStatus::new(3, 0);
    /// X.3.1 Mail system full: no room to store the message.
    pub const SYSTEM_FULL: EnhancedStatus = EnhancedStatus::new(3, 1);
    /// X.3.2 System not accepting network messages.
    pub const SYSTEM_NOT_ACCEPTING: EnhancedStatus = EnhancedStatus::new(3, 2);
    /// X.3.4 Message too big for system.
    pub const MESSAGE_TOO_BIG: EnhancedStatus = EnhancedStatus::new(3, 4);
    /// X.4.2 Bad connection.
    pub const BAD_CONNECTION: EnhancedStatus = EnhancedStatus::new(4, 2);
    /// X.4.3 Directory server failure: a recipient lookup that could not be answered.
    pub const DIRECTORY_FAILURE: EnhancedStatus = EnhancedStatus::new(4, 3);
    /// X.4.6 Routing loop detected.
    pub const ROUTING_LOOP: EnhancedStatus = EnhancedStatus::new(4, 6);
    /// X.5.0 Other or undefined protocol status.
    pub const PROTOCOL_OTHER: EnhancedStatus = EnhancedStatus::new(5, 0);
    /// X.5.1 Invalid command.
    pub const INVALID_COMMAND: EnhancedStatus = EnhancedStatus::new(5, 1);
    /// X.5.2 Syntax error.
    pub const SYNTAX_ERROR: EnhancedStatus = EnhancedStatus::new(5, 2);
    /// X.5.3 Too many recipients.
    pub const TOO_MANY_RECIPIENTS: EnhancedStatus = EnhancedStatus::new(5, 3);
    /// X.5.4 Invalid command arguments.
    pub const INVALID_ARGUMENTS: EnhancedStatus = EnhancedStatus::new(5, 4);
    /// X.6.0 Other or undefined media error.
    pub const MEDIA_OTHER: EnhancedStatus = EnhancedStatus::new(6, 0);
    /// X.6.7 Non-ASCII addresses not permitted for that sender/recipient (RFC 6531).
    pub const NON_ASCII_ADDRESS: EnhancedStatus = EnhancedStatus::new(6, 7);
    /// X.7.0 Other or undefined security status.
    pub const SECURITY_OTHER: EnhancedStatus = EnhancedStatus::new(7, 0);
    /// X.7.1 Delivery not authorized, message refused.
    pub const NOT_AUTHORIZED: EnhancedStatus = EnhancedStatus::new(7, 1);
    /// X.7.8 Authentication credentials invalid (RFC 4954).
    pub const BAD_CREDENTIALS: EnhancedStatus = EnhancedStatus::new(7, 8);
    /// X.7.24 SPF validation error (RFC 7372).
    pub const SPF_ERROR: EnhancedStatus = EnhancedStatus::new(7, 24);

    /// The subject digit: 7 for security or policy, 5 for protocol, and so on.
    pub fn subject(self) -> u8 {
        self.subject
    }

    /// The whole code for a reply with `code`, e.g. `5.7.1` for 550 and [`Self::NOT_AUTHORIZED`].
    pub fn with_class(self, code: u16) -> Coded {
        Coded {
            class: (code / 100) as u8,
            status: self,
        }
    }
}

/// An enhanced status code with its class, for writing out: see [`EnhancedStatus::with_class`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coded {
    class: u8,
    status: EnhancedStatus,
}

impl fmt::Display for Coded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}.{}",
            self.class, self.status.subject, self.status.detail
        )
    }
}

#[cfg(test)]
mod tests {
    use super::EnhancedStatus;

    #[test]
    fn class_comes_from_the_reply_code() {
        let s = EnhancedStatus::NOT_AUTHORIZED;
        assert_eq!(s.with_class(550).to_string(), "5.7.1");
        assert_eq!(s.with_class(451).to_string(), "4.7.1");
        assert_eq!(
            EnhancedStatus::SPF_ERROR.with_class(451).to_string(),
            "4.7.24"
        );
        assert_eq!(EnhancedStatus::OTHER.with_class(250).to_string(), "2.0.0");
    }
}
