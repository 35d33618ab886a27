//! NC-2.1.4: no AUTH before STARTTLS, on the MX port (from the banner probe's EHLO) and on the
//! submission port when one is given; a submission port must offer STARTTLS (AL-1.1).

use super::session::Reply;
use super::{advertises, Probe};
use crate::Finding;

/// The verdict on one port's EHLO reply before TLS.
pub(crate) fn judge(port_name: &str, ehlo: &Reply) -> Finding {
    let check = format!("AUTH before STARTTLS ({port_name})");
    match advertises(ehlo, "AUTH") {
        // NC-2.1.4: a password offered before TLS crosses the network in the clear.
        Some(line) => Finding::fail(
            "NC-2.1.4",
            check,
            format!("EHLO before TLS advertises `{line}`"),
            "offer AUTH only inside TLS (Postfix: smtpd_tls_auth_only = yes)",
        ),
        None => Finding::pass(
            "NC-2.1.4",
            check,
            "EHLO before TLS advertises no AUTH".to_string(),
        ),
    }
}

pub(crate) async fn probe(p: &mut Probe<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    match &p.ehlo {
        Some(ehlo) => out.push(judge(&format!("port {}", p.target.port), ehlo)),
        None => out.push(Finding::warn(
            "NC-2.1.4",
            format!("AUTH before STARTTLS (port {})", p.target.port),
            "the server answered no EHLO in the banner probe",
            "test by hand: EHLO before STARTTLS must not list AUTH",
        )),
    }
    let Some(port) = p.target.submission_port else {
        return out;
    };
    let name = format!("submission port {port}");
    match p.open(port).await {
        Ok((mut s, ehlo)) => {
            out.push(judge(&name, &ehlo));
            // AL-1.1: users' passwords and mail need TLS on submission.
            out.push(match advertises(&ehlo, "STARTTLS") {
                Some(_) => Finding::pass(
                    "AL-1.1",
                    format!("STARTTLS ({name})"),
                    "EHLO advertises STARTTLS",
                ),
                None => Finding::fail(
                    "AL-1.1",
                    format!("STARTTLS ({name})"),
                    "EHLO does not advertise STARTTLS",
                    "require TLS on submission (Postfix: -o smtpd_tls_security_level=encrypt)",
                ),
            });
            let _ = s.command("QUIT").await;
        }
        Err(e) => out.push(super::untested(
            "NC-2.1.4",
            &format!("AUTH before STARTTLS ({name})"),
            &e,
        )),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    fn ehlo(lines: &[&str]) -> Reply {
        Reply {
            code: 250,
            lines: lines.iter().map(|l| l.to_string()).collect(),
        }
    }

    #[test]
    fn nc_2_1_4_auth_before_tls_fails() {
        let e = ehlo(&["mx.example", "PIPELINING", "AUTH PLAIN LOGIN", "STARTTLS"]);
        assert_eq!(judge("587", &e).status, Status::Fail);
        let e = ehlo(&["mx.example", "PIPELINING", "STARTTLS"]);
        assert_eq!(judge("587", &e).status, Status::Pass);
        // The host name line is not a keyword.
        let e = ehlo(&["auth.example", "STARTTLS"]);
        assert_eq!(judge("25", &e).status, Status::Pass);
    }
}
