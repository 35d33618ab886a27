//! The gateway role (AL-1, NC-2.3.4): mail for a `[[relay_domain]]` goes to that domain's
//! internal next hops, in order, over verified TLS (AL-1.1), never by MX. The connection is the
//! smarthost's ([`crate::outbound`]); this module names the hops and reads the next hop's
//! queue id from its reply, so the trace follows the message there.

use rampart_config::{RelayDomain, Smarthost};

/// The next hops of `rd` as smarthosts, in the order they are tried (the next one on a
/// connection failure, or a 4xx/5xx greeting or EHLO): each verified against `ca_file`, with the
/// client certificate and AUTH of the relay domain.
pub fn next_hops(rd: &RelayDomain) -> Vec<Smarthost> {
    rd.hosts
        .iter()
        .map(|h| Smarthost {
            host: h.clone(),
            port: rd.port,
            tls: rd.tls,
            ca_file: Some(rd.ca_file.clone()),
            username: rd.username.clone(),
            password_file: rd.password_file.clone(),
            client_cert: rd.client_cert.clone(),
            client_key: rd.client_key.clone(),
        })
        .collect()
}

/// The queue id a next hop gave in its reply to the message data, best effort: Postfix's and
/// Rampart's "queued as X", Exim's "id=X", Exchange's "InternalId=X", Sendmail's
/// "X Message accepted for delivery", else a last word that looks like an id. The full reply is
/// kept in the trace whatever this finds.
pub fn next_hop_queue_id(reply: &str) -> Option<String> {
    let clean = |s: &str| {
        let id: String = s
            .trim_matches(|c: char| !c.is_ascii_alphanumeric())
            .chars()
            .take(64)
            .collect();
        (!id.is_empty()).then_some(id)
    };
    let lower = reply.to_ascii_lowercase();
    for marker in ["queued as ", "internalid=", "id="] {
        if let Some(at) = lower.find(marker) {
            let rest = &reply[at + marker.len()..];
            if let Some(id) = rest.split_whitespace().next().and_then(clean) {
                return Some(id);
            }
        }
    }
    let words: Vec<&str> = reply.split_whitespace().collect();
    if let Some(at) = lower
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .position(|w| w == ["message", "accepted"])
    {
        if at > 0 {
            return clean(words[at - 1]);
        }
    }
    // A last word with a digit, of six characters or more, that is not the enhanced code.
    words
        .last()
        .and_then(|w| clean(w))
        .filter(|w| w.len() >= 6 && w.chars().any(|c| c.is_ascii_digit()) && !w.contains('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn al_1_next_hop_queue_id_from_common_replies() {
        let cases = [
            (
                "mail.agency.example said: 250 2.0.0 Ok: queued as 4ABC12DEF",
                Some("4ABC12DEF"),
            ),
            (
                "250 2.0.0 Ok: queued as 7f3a9c21e0b4d5a6",
                Some("7f3a9c21e0b4d5a6"),
            ),
            ("250 OK id=1tX9aB-000Abc-7Q", Some("1tX9aB-000Abc-7Q")),
            (
                "250 2.0.0 5B3HxKq1012345 Message accepted for delivery",
                Some("5B3HxKq1012345"),
            ),
            (
                "250 2.6.0 <a@b> [InternalId=12345678, Hostname=EX1] Queued mail for delivery",
                Some("12345678"),
            ),
            ("250 2.0.0 Ok", None),
            ("250 2.0.0 Ok 20260101abc", Some("20260101abc")),
        ];
        for (reply, want) in cases {
            assert_eq!(next_hop_queue_id(reply).as_deref(), want, "{reply}");
        }
    }
}
