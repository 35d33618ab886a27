//! The SMTP envelope of a submission (RFC 8621 §7): as the client gives it, or made from the
//! identity and the email's To, Cc and Bcc; and the message as it is sent, without Bcc.

use rampart_jmap::SetError;
use rampart_store::mail::EmailRecord;
use serde_json::{json, Map, Value};

/// The envelope to send with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Envelope {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
}

impl Envelope {
    pub fn to_json(&self) -> Value {
        json!({
            "mailFrom": {"email": self.mail_from, "parameters": null},
            "rcptTo": self.rcpt_to.iter().map(|r| json!({"email": r, "parameters": null})).collect::<Vec<_>>(),
        })
    }

    /// §7: with no envelope given, MAIL FROM is the identity's address and RCPT TO every
    /// address of the To, Cc and Bcc header fields, each once.
    pub fn default_for(identity_email: &str, email: &EmailRecord) -> Envelope {
        let mut rcpt_to: Vec<String> = Vec::new();
        for a in email.to.iter().chain(&email.cc).chain(&email.bcc) {
            let addr = a.email.trim().to_ascii_lowercase();
            if !addr.is_empty() && !rcpt_to.contains(&addr) {
                rcpt_to.push(addr);
            }
        }
        Envelope {
            mail_from: identity_email.to_owned(),
            rcpt_to,
        }
    }
}

/// One `Address` object (§7): `email` and `parameters`, which must be null or empty (no SMTP
/// extension parameters are passed on).
fn address(v: &Value) -> Option<String> {
    let o = v.as_object()?;
    let email = o.get("email")?.as_str()?.to_owned();
    let params_ok = match o.get("parameters") {
        None | Some(Value::Null) => true,
        Some(Value::Object(p)) => p.is_empty(),
        _ => false,
    };
    let keys_ok = o.keys().all(|k| k == "email" || k == "parameters");
    (params_ok && keys_ok).then_some(email)
}

/// The `envelope` property of a create: None when absent or null.
pub(super) fn parse(o: &Map<String, Value>) -> Result<Option<Envelope>, SetError> {
    let v = match o.get("envelope") {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v,
    };
    let bad = || SetError::invalid_properties(["envelope"]);
    let e = v.as_object().ok_or_else(bad)?;
    if e.keys().any(|k| k != "mailFrom" && k != "rcptTo") {
        return Err(bad());
    }
    let mail_from = address(e.get("mailFrom").ok_or_else(bad)?).ok_or_else(bad)?;
    let rcpt_to = match e.get("rcptTo") {
        Some(Value::Array(items)) => items
            .iter()
            .map(address)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    Ok(Some(Envelope { mail_from, rcpt_to }))
}

/// Every line ending as CRLF (RFC 5322 section 2.1): a stored message may have bare LF or CR,
/// which SMTP does not carry.
fn crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 32);
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'\r' if raw.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            b'\r' | b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// The message as it is sent: CRLF line endings, without the header fields that must not
/// leave: Bcc (RFC 8621 §7.5: the server removes it before sending) and any Return-Path, which
/// the receiving session writes itself.
pub(super) fn strip_for_sending(raw: &[u8]) -> Vec<u8> {
    let raw = crlf(raw);
    let raw = raw.as_slice();
    let mut out = Vec::with_capacity(raw.len());
    let mut skipping = false;
    let mut rest = raw;
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|b| *b == b'\n')
            .map(|i| i + 1)
            .unwrap_or(rest.len());
        let (line, tail) = rest.split_at(end);
        rest = tail;
        if line == b"\r\n" || line == b"\n" {
            // The end of the header section: the body goes as it is.
            out.extend_from_slice(line);
            out.extend_from_slice(rest);
            break;
        }
        let continuation = matches!(line.first(), Some(b' ' | b'\t'));
        if !continuation {
            let name = line.split(|b| *b == b':').next().unwrap_or_default();
            let name = String::from_utf8_lossy(name).trim().to_ascii_lowercase();
            skipping = name == "bcc" || name == "return-path";
        }
        if !skipping {
            out.extend_from_slice(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcc_and_return_path_are_removed_folded_lines_with_them() {
        let raw = b"Return-Path: <a@x>\r\nFrom: a@x\r\nBcc: secret@y,\r\n  other@z\r\nTo: b@y\r\n\r\nBcc: stays in the body\r\n";
        let out = String::from_utf8(strip_for_sending(raw)).unwrap();
        assert_eq!(
            out,
            "From: a@x\r\nTo: b@y\r\n\r\nBcc: stays in the body\r\n"
        );
    }

    #[test]
    fn bare_line_endings_become_crlf() {
        let out = strip_for_sending(b"From: a@x\nBcc: b@y\nTo: c@z\r\n\nline\rnext\n");
        assert_eq!(out, b"From: a@x\r\nTo: c@z\r\n\r\nline\r\nnext\r\n");
    }

    #[test]
    fn envelope_parameters_are_refused() {
        let o = json!({"envelope": {"mailFrom": {"email": "a@x", "parameters": {"HOLDFOR": "1"}}, "rcptTo": []}});
        assert!(parse(o.as_object().unwrap()).is_err());
        let o = json!({"envelope": {"mailFrom": {"email": "a@x"}, "rcptTo": [{"email": "b@y", "parameters": null}]}});
        let e = parse(o.as_object().unwrap()).unwrap().unwrap();
        assert_eq!((e.mail_from.as_str(), e.rcpt_to.len()), ("a@x", 1));
    }
}
