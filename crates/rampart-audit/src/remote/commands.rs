//! NC-2.2: VRFY and EXPN must not tell who exists. Each is asked about postmaster (which RFC 5321
//! section 4.5.1 requires to exist) and about a name that cannot exist; a server that answers the
//! two differently, or confirms either, leaks its users.

use super::session::Reply;
use super::Probe;
use crate::Finding;

/// A local part no one has.
const NOBODY: &str = "rampart-audit-no-such-user-7f3a9c";

/// The verdict on one command from its answers about an existing and a missing user.
pub(crate) fn judge(verb: &str, existing: &Reply, missing: &Reply) -> Finding {
    let check = format!("{verb} answers");
    let seen = format!(
        "{verb} postmaster: {}; {verb} {NOBODY}: {}",
        existing.show(),
        missing.show()
    );
    let confirms = |r: &Reply| matches!(r.code, 250 | 251);
    // NC-2.2: a confirmation, or a different answer for a missing user, enumerates accounts.
    if confirms(existing) || confirms(missing) || existing.code != missing.code {
        Finding::fail(
            "NC-2.2-commands",
            check,
            seen,
            format!(
                "disable {verb} (Postfix: disable_vrfy_command = yes; Rampart refuses it always)"
            ),
        )
    } else {
        Finding::pass("NC-2.2-commands", check, seen)
    }
}

pub(crate) async fn probe(p: &mut Probe<'_>) -> Vec<Finding> {
    let (mut s, _) = match p.open(p.target.port).await {
        Ok(x) => x,
        Err(e) => return vec![super::untested("NC-2.2-commands", "VRFY and EXPN", &e)],
    };
    let mut out = Vec::new();
    for verb in ["VRFY", "EXPN"] {
        let a = s.command(&format!("{verb} postmaster")).await;
        let b = match &a {
            Ok(_) => s.command(&format!("{verb} {NOBODY}")).await,
            Err(e) => Err(e.clone()),
        };
        match (a, b) {
            (Ok(a), Ok(b)) => out.push(judge(verb, &a, &b)),
            (Err(e), _) | (_, Err(e)) => {
                out.push(super::untested(
                    "NC-2.2-commands",
                    &format!("{verb} answers"),
                    &e,
                ));
                return out;
            }
        }
    }
    let _ = s.command("QUIT").await;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    fn r(code: u16, text: &str) -> Reply {
        Reply {
            code,
            lines: vec![text.into()],
        }
    }

    #[test]
    fn nc_2_2_vrfy_that_tells_users_apart_fails() {
        // Postfix's defaults: 252 for a user, 550 for no one.
        let f = judge(
            "VRFY",
            &r(252, "2.0.0 postmaster"),
            &r(550, "5.1.1 User unknown"),
        );
        assert_eq!(f.status, Status::Fail, "{f:?}");
        assert_eq!(
            judge("EXPN", &r(250, "x"), &r(250, "y")).status,
            Status::Fail
        );
    }

    #[test]
    fn nc_2_2_refused_or_noncommittal_passes() {
        let off = r(502, "5.5.1 VRFY command is disabled");
        assert_eq!(judge("VRFY", &off, &off).status, Status::Pass);
        let vague = r(252, "2.5.2 Cannot VRFY user");
        assert_eq!(judge("VRFY", &vague, &vague).status, Status::Pass);
    }
}
