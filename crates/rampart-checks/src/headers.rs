//! Checks on the header fields a reader sees first: a From that exists (RFC 5322 section 3.6),
//! and a display name that does not show an address other than the real one.
//!
//! `"ceo@agency.example.gov" <someone@elsewhere.example>` shows the reader the CEO's address
//! while the message comes from another. On submission it is refused (NC-2.1.7: a user may send
//! only as addresses they hold, and that includes what the display name claims); inbound it is
//! marked with a header field and the verdict says why.

use crate::{Action, Context, Direction, EnhancedStatus, Modification, Refusal, Verdict};
use mail_parser::{Address, HeaderValue};

pub const CHECK: &str = "headers";

/// The header field that marks an inbound message whose display name shows another address.
pub const WARNING_FIELD: &str = "X-Sender-Warning";

pub fn check(ctx: &Context<'_>) -> Verdict {
    let inbound = ctx.envelope.direction == Direction::Inbound;
    if ctx.headers.get("From").is_none() {
        // Submission answers a missing From with its own sender-alignment reply.
        if inbound {
            return refuse(
                554,
                EnhancedStatus::MEDIA_OTHER,
                "Message refused: it has no From header field (RFC 5322 section 3.6 requires one)",
            );
        }
        return Verdict::accept(CHECK, "no From (submission policy decides)");
    }
    let from = addresses(ctx.parsed.header("From"));
    if inbound && from.iter().all(|(_, a)| a.is_none()) {
        return refuse(
            554,
            EnhancedStatus::MEDIA_OTHER,
            "Message refused: its From header field holds no address",
        );
    }
    for field in ["From", "Sender", "Reply-To"] {
        let list = addresses(ctx.parsed.header(field));
        for (name, addr) in &list {
            let Some(shown) = name.as_deref().and_then(address_in) else {
                continue;
            };
            let real = addr.as_deref().unwrap_or("").to_ascii_lowercase();
            if shown == real {
                continue;
            }
            let what = format!(
                "the display name of {field} shows the address {shown}, but the address is <{real}>"
            );
            if !inbound {
                // NC-2.1.7: what the reader sees as the sender must be an address the user holds.
                return refuse(
                    550,
                    EnhancedStatus::NOT_AUTHORIZED,
                    format!("Message refused: {what}"),
                );
            }
            let mut v = Verdict::with(CHECK, Action::Tag, format!("marked: {what}"));
            v.modifications.push(Modification::AddHeader {
                name: WARNING_FIELD.to_string(),
                value: format!("{field} display name shows another address than the sender's"),
            });
            return v;
        }
    }
    Verdict::accept(CHECK, "From present; display names show no other address")
}

fn refuse(code: u16, status: EnhancedStatus, text: impl Into<String>) -> Verdict {
    let r = Refusal::new(code, status, text);
    let reason = r.text.clone();
    Verdict::with(CHECK, Action::Reject(r), reason)
}

/// (display name, address) of every mailbox in an address header, groups included.
fn addresses(value: Option<&HeaderValue<'_>>) -> Vec<(Option<String>, Option<String>)> {
    let Some(HeaderValue::Address(a)) = value else {
        return Vec::new();
    };
    let list: Vec<_> = match a {
        Address::List(l) => l.iter().collect(),
        Address::Group(g) => g.iter().flat_map(|g| g.addresses.iter()).collect(),
    };
    list.into_iter()
        .map(|a| {
            (
                a.name().map(str::to_string),
                a.address().map(str::to_string),
            )
        })
        .collect()
}

/// An address a display name shows, lower case: `local@domain.tld`, with full-width and small
/// commercial-at signs read as `@` (a reader sees them as one).
fn address_in(name: &str) -> Option<String> {
    let folded: String = name
        .chars()
        .map(|c| match c {
            '\u{FF20}' | '\u{FE6B}' => '@',
            c => c,
        })
        .collect();
    let at = folded.find('@')?;
    let is_part = |c: char| c.is_alphanumeric() || "._%+-'".contains(c);
    let local: String = folded[..at]
        .chars()
        .rev()
        .take_while(|c| is_part(*c))
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let domain: String = folded[at + 1..]
        .chars()
        .take_while(|c| c.is_alphanumeric() || ".-".contains(*c))
        .collect();
    let domain = domain.trim_end_matches('.');
    (!local.is_empty() && domain.contains('.')).then(|| format!("{local}@{domain}").to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::ctx;

    fn verdict(raw: &str, direction: Direction) -> Verdict {
        let m = crate::message::read(raw.as_bytes()).unwrap();
        check(&ctx(m.raw, &m.parsed, direction))
    }

    #[test]
    fn inbound_without_from_is_refused() {
        let v = verdict(
            "To: a@agency.example.gov\r\nSubject: x\r\n\r\nb\r\n",
            Direction::Inbound,
        );
        assert!(
            matches!(&v.action, Action::Reject(r) if r.code == 554 && r.status == EnhancedStatus::MEDIA_OTHER),
            "{v:?}"
        );
        let v = verdict("From: undisclosed\r\n\r\nb\r\n", Direction::Inbound);
        assert!(matches!(v.action, Action::Reject(_)), "{v:?}");
    }

    #[test]
    fn nc_2_1_7_display_name_address_refused_on_submission() {
        for from in [
            "\"ceo@agency.example.gov\" <user@agency.example.gov>",
            "=?utf-8?b?Y2VvQGFnZW5jeS5leGFtcGxlLmdvdg==?= <user@agency.example.gov>",
            "\"CEO (ceo\u{FF20}agency.example.gov)\" <user@agency.example.gov>",
        ] {
            let v = verdict(&format!("From: {from}\r\n\r\nb\r\n"), Direction::Outbound);
            assert!(
                matches!(&v.action, Action::Reject(r) if r.code == 550 && r.status == EnhancedStatus::NOT_AUTHORIZED),
                "{from}: {v:?}"
            );
        }
        // The same address in the name, in another case, is what many clients write.
        let v = verdict(
            "From: \"User@Agency.example.gov\" <user@agency.example.gov>\r\n\r\nb\r\n",
            Direction::Outbound,
        );
        assert_eq!(v.action, Action::Accept, "{v:?}");
    }

    #[test]
    fn display_name_address_marked_inbound() {
        let v = verdict(
            "From: \"ceo@agency.example.gov\" <x@sender.example>\r\n\r\nb\r\n",
            Direction::Inbound,
        );
        assert_eq!(v.action, Action::Tag);
        assert!(
            matches!(&v.modifications[0], Modification::AddHeader { name, .. } if name == WARNING_FIELD)
        );
        let v = verdict(
            "From: \"Alice\" <x@sender.example>\r\n\r\nb\r\n",
            Direction::Inbound,
        );
        assert_eq!(v.action, Action::Accept);
    }
}
