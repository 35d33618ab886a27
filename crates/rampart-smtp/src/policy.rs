//! Submission policy on headers: sender alignment of From and Sender (NC-2.1.7) and refusing
//! automatically forwarded mail to outside recipients (AL-4.2).

use rampart_checks::message::Message;

/// Header facts needed for submission policy.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SubmissionHeaders {
    /// Addresses in From (lower case).
    pub from: Vec<String>,
    /// Address in Sender, if any.
    pub sender: Option<String>,
    /// The header that marks the message as automatically forwarded, if one does.
    pub auto_forward_mark: Option<String>,
}

/// Headers that mailbox rules and clients set when they forward automatically.
const FORWARD_MARKS: &[(&str, Option<&str>)] = &[
    ("auto-submitted", Some("auto-forwarded")),
    ("x-ms-exchange-organization-autoforwarded", Some("true")),
    ("x-ms-exchange-inbox-rules-loop", None),
    (
        "x-ms-exchange-generated-message-source",
        Some("mailbox rules agent"),
    ),
    ("x-autoforwarded", Some("true")),
    ("x-forwarded-to", None),
    ("x-forwarded-for", None),
    ("resent-from", None),
    ("resent-sender", None),
    ("resent-to", None),
    ("resent-date", None),
    ("resent-message-id", None),
];

/// Reads the facts from the one reading of the message: the header section was read strictly,
/// so there is one From and one Sender at most, and the whole section is read, however long.
pub fn submission_headers(message: &Message<'_>) -> SubmissionHeaders {
    let mut out = SubmissionHeaders::default();
    let msg = &message.parsed;
    if let Some(from) = msg.from() {
        out.from = from
            .iter()
            .filter_map(|a| a.address())
            .map(|a| a.to_ascii_lowercase())
            .collect();
    }
    out.sender = msg
        .sender()
        .and_then(|s| s.first())
        .and_then(|a| a.address())
        .map(|a| a.to_ascii_lowercase());
    for f in &message.headers.fields {
        let name = f.name.to_ascii_lowercase();
        if let Some((_, want)) = FORWARD_MARKS.iter().find(|(n, _)| *n == name) {
            let value = f.unfolded().to_ascii_lowercase();
            if want.is_none_or(|w| value == w) {
                out.auto_forward_mark = Some(f.name.to_string());
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(raw: &[u8]) -> SubmissionHeaders {
        submission_headers(&rampart_checks::message::read(raw).unwrap())
    }

    #[test]
    fn reads_from_sender_and_marks() {
        let h = facts(b"From: \"Alice\" <Alice@Example.test>, bob@example.test\r\nSender: <sec@example.test>\r\nSubject: x\r\n\r\n");
        assert_eq!(h.from, vec!["alice@example.test", "bob@example.test"]);
        assert_eq!(h.sender.as_deref(), Some("sec@example.test"));
        assert_eq!(h.auto_forward_mark, None);
        let h = facts(b"From: a@example.test\r\nAuto-Submitted: auto-forwarded\r\n\r\n");
        assert_eq!(h.auto_forward_mark.as_deref(), Some("Auto-Submitted"));
        let h = facts(b"From: a@example.test\r\nAuto-Submitted: auto-replied\r\n\r\n");
        assert_eq!(h.auto_forward_mark, None);
        let h = facts(b"From: a@example.test\r\nResent-From: a@example.test\r\n\r\n");
        assert_eq!(h.auto_forward_mark.as_deref(), Some("Resent-From"));
        let h = facts(
            b"From: a@example.test\r\nX-MS-Exchange-Inbox-Rules-Loop: a@example.test\r\n\r\n",
        );
        assert!(h.auto_forward_mark.is_some());
    }
}
