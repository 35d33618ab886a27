//! NC-2.1.6: no relay for strangers, however the address is dressed. Each classic trick is one
//! RCPT after a MAIL from a foreign sender; a 5xx is a pass, 4xx a warning (a temporary refusal
//! proves nothing), 2xx a fail. Every transaction ends in RSET: nothing reaches DATA.

use super::session::Session;
use super::{Probe, FOREIGN};
use crate::Finding;

/// RCPTs per connection: few enough that a server counting errors (Postfix's
/// smtpd_soft_error_limit is 10) does not slow the probe down or hang up.
const PER_CONNECTION: usize = 5;

/// The relay tricks as (name, forward path) for local domain `us`; each names a mailbox at
/// [`FOREIGN`].
pub(crate) fn tricks(us: &str) -> Vec<(&'static str, String)> {
    let f = FOREIGN;
    vec![
        ("plain foreign recipient", format!("<audit@{f}>")),
        ("percent hack", format!("<audit%{f}@{us}>")),
        ("source route", format!("<@{us}:audit@{f}>")),
        ("source route, two hops", format!("<@{us},@{f}:audit@{f}>")),
        ("quoted local part", format!("<\"audit@{f}\"@{us}>")),
        ("bang path", format!("<{f}!audit@{us}>")),
        ("bang path, unqualified", format!("<{f}!audit>")),
        ("address literal", "<audit@[192.0.2.1]>".to_string()),
        ("trailing dot", format!("<audit@{f}.>")),
        ("case", format!("<audit@{}>", f.to_ascii_uppercase())),
    ]
}

/// The verdict on one trick from the RCPT reply code.
pub(crate) fn judge(name: &str, path: &str, code: u16, shown: &str) -> Finding {
    let check = format!("relay: {name}");
    let seen = format!("RCPT TO:{path} → {shown}");
    match code {
        // NC-2.1.6: only a permanent refusal shows the server will never relay this.
        500..=599 => Finding::pass("NC-2.1.6", check, seen),
        400..=499 => Finding::warn(
            "NC-2.1.6",
            check,
            seen,
            "refuse recipients outside the represented domains with 5xx (Postfix: reject_unauth_destination)",
        ),
        _ => Finding::fail(
            "NC-2.1.6",
            check,
            seen,
            "relay only for authenticated users and listed networks (Postfix: smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination)",
        ),
    }
}

async fn batch(s: &mut Session, tricks: &[(&'static str, String)], out: &mut Vec<Finding>) -> bool {
    for (name, path) in tricks {
        match s.command(&format!("MAIL FROM:<audit@{FOREIGN}>")).await {
            Ok(r) if r.positive() => {}
            Ok(r) => {
                out.push(super::untested(
                    "NC-2.1.6",
                    &format!("relay: {name}"),
                    &super::session::ProbeError::Refused(format!("MAIL: {}", r.show())),
                ));
                return false;
            }
            Err(e) => {
                out.push(super::untested("NC-2.1.6", &format!("relay: {name}"), &e));
                return false;
            }
        }
        match s.command(&format!("RCPT TO:{path}")).await {
            Ok(r) => out.push(judge(name, path, r.code, &r.show())),
            Err(e) => {
                out.push(super::untested("NC-2.1.6", &format!("relay: {name}"), &e));
                return false;
            }
        }
        // Never DATA: the transaction is dropped whatever the answer.
        if s.command("RSET").await.is_err() {
            return false;
        }
    }
    true
}

pub(crate) async fn probe(p: &mut Probe<'_>) -> Vec<Finding> {
    let all = tricks(&p.domain());
    let mut out = Vec::new();
    for chunk in all.chunks(PER_CONNECTION) {
        let mut s = match p.open(p.target.port).await {
            Ok((s, _)) => s,
            Err(e) => {
                out.push(super::untested("NC-2.1.6", "relay", &e));
                continue;
            }
        };
        if batch(&mut s, chunk, &mut out).await {
            let _ = s.command("QUIT").await;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    #[test]
    fn nc_2_1_6_every_trick_is_tried() {
        let t = tricks("example.test");
        let paths: Vec<&str> = t.iter().map(|(_, p)| p.as_str()).collect();
        for want in [
            "<audit%example.net@example.test>",
            "<@example.test,@example.net:audit@example.net>",
            "<\"audit@example.net\"@example.test>",
            "<example.net!audit@example.test>",
            "<audit@[192.0.2.1]>",
            "<audit@example.net.>",
            "<audit@EXAMPLE.NET>",
        ] {
            assert!(paths.contains(&want), "{want} missing from {paths:?}");
        }
    }

    #[test]
    fn nc_2_1_6_only_5xx_passes() {
        assert_eq!(judge("x", "<a>", 554, "554").status, Status::Pass);
        assert_eq!(judge("x", "<a>", 450, "450").status, Status::Warn);
        assert_eq!(judge("x", "<a>", 250, "250").status, Status::Fail);
    }
}
