//! Recipient verification for relay domains (issue 14; NC-2.1.6, AL-1): at RCPT the gateway
//! asks whether the recipient exists on the next hop, and accepts the mail only if it does. So
//! nothing is accepted that would later bounce (no backscatter), and an unknown address gets a
//! 550 at once.
//!
//! ```text
//! RCPT TO (relay domain) ─▶ RecipientVerifier::verify ─▶ Known        → continue (250 after checks)
//!                             │ static_list (config/file)  Unknown      → 550 5.1.1
//!                             │ ldap (LDAPS/StartTLS)      Unavailable  → 451 4.4.3, never a 250
//!                             └ callout (RCPT probe at the next hop)
//! ```
//!
//! Harvest resistance (NC-2.1.6): every "no" is the same reply, [`Verification::refusal`]:
//! the text local users get for an unknown mailbox, whatever the directory or the next hop said
//! (a callout's "user disabled" or "mailbox full" is never passed on). The directory and the
//! next hop are asked the same way for a known and an unknown address, and both answers are
//! cached, so the time taken tells whether an address was asked about recently, not whether it
//! exists. The session's limits on failed recipients apply on top.
//!
//! One verifier is built per relay domain at start-up and shared by every session.

pub mod cache;
pub mod callout;
pub mod ldap;
pub mod static_list;

use crate::reply::{EnhancedStatus, Reply};
use rampart_config::{RecipientVerify, RelayDomain};
use std::sync::Arc;

/// What is known of a recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// It exists on the next hop.
    Known,
    /// It does not: refuse permanently.
    Unknown,
    /// The question could not be answered now (directory or next hop unreachable, slow, or
    /// answering 4xx): refuse temporarily, never accept. The reason is for the log only.
    Unavailable(String),
}

impl Verification {
    /// The RCPT reply for a recipient that is not accepted; None for [`Verification::Known`].
    pub fn refusal(&self) -> Option<Reply> {
        match self {
            Verification::Known => None,
            // NC-2.1.6: one reply for every unknown address, the same as for an unknown local
            // mailbox, so nothing about the next hop or the directory leaks.
            Verification::Unknown => Some(crate::reply::no_such_user()),
            // RFC 3463 4.4.3: directory server failure; the sender retries.
            Verification::Unavailable(_) => Some(Reply::new(
                451,
                EnhancedStatus::DIRECTORY_FAILURE,
                "Recipient cannot be verified now, try again later",
            )),
        }
    }
}

enum Method {
    Static(static_list::StaticList),
    Ldap(ldap::LdapVerifier),
    Callout(callout::Callout),
}

/// The verifier of one relay domain, built once at start-up.
pub struct RecipientVerifier {
    method: Method,
}

impl RecipientVerifier {
    /// Builds the verifier `rd.verify` names. `hostname` is this server's name (the callout's
    /// EHLO). Err: a file, certificate or setting that cannot be used, in words.
    pub fn new(rd: &RelayDomain, hostname: &str) -> Result<RecipientVerifier, String> {
        let method = match &rd.verify {
            RecipientVerify::Static {
                addresses,
                file,
                allow_catch_all,
            } => Method::Static(static_list::StaticList::new(
                addresses,
                file.clone(),
                *allow_catch_all,
            )?),
            RecipientVerify::Ldap { .. } => Method::Ldap(ldap::LdapVerifier::new(&rd.verify)?),
            RecipientVerify::Callout { .. } => {
                Method::Callout(callout::Callout::new(rd, hostname)?)
            }
        };
        Ok(RecipientVerifier { method })
    }

    /// Whether `address` (a bare address, as in RCPT TO without the brackets) exists.
    pub async fn verify(&self, address: &str) -> Verification {
        if !plausible(address) {
            return Verification::Unknown;
        }
        let v = match &self.method {
            Method::Static(s) => s.lookup(address),
            Method::Ldap(l) => l.lookup(address).await,
            Method::Callout(c) => c.lookup(address).await,
        };
        if let Verification::Unavailable(why) = &v {
            tracing::warn!(recipient = %address, reason = %why, "recipient verification unavailable");
        }
        v
    }
}

/// The verifiers of every relay domain, looked up by the recipient's domain.
#[derive(Default, Clone)]
pub struct Verifiers(Vec<(Vec<String>, Arc<RecipientVerifier>)>);

impl Verifiers {
    /// One verifier per `[[relay_domain]]`. Err names the relay domain that failed.
    pub fn from_config(relay_domains: &[RelayDomain], hostname: &str) -> Result<Verifiers, String> {
        let mut v = Vec::new();
        for rd in relay_domains {
            let verifier = RecipientVerifier::new(rd, hostname)
                .map_err(|e| format!("relay domain {}: {e}", rd.domains.join(", ")))?;
            let domains = rd.domains.iter().map(|d| d.to_ascii_lowercase()).collect();
            v.push((domains, Arc::new(verifier)));
        }
        Ok(Verifiers(v))
    }

    /// The verifier for `address`'s domain, if it is a relay domain.
    pub fn for_address(&self, address: &str) -> Option<&Arc<RecipientVerifier>> {
        let domain = normalize(address)?.rsplit_once('@')?.1.to_string();
        self.0
            .iter()
            .find(|(ds, _)| ds.contains(&domain))
            .map(|(_, v)| v)
    }
}

/// The address as the lists and caches key it: the domain in lower case without a trailing
/// dot, the local part exactly as written except `postmaster` (RFC 5321 §4.5.1).
pub(crate) fn normalize(address: &str) -> Option<String> {
    let (local, domain) = address.rsplit_once('@')?;
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    if local.is_empty() || domain.is_empty() {
        return None;
    }
    let local = if local.eq_ignore_ascii_case("postmaster") {
        "postmaster"
    } else {
        local
    };
    Some(format!("{local}@{}", domain.to_ascii_lowercase()))
}

/// An address that could be a mailbox: anything with control characters, white space or angle
/// brackets is refused before it reaches a directory filter or an SMTP command line.
fn plausible(address: &str) -> bool {
    address.len() <= 320
        && normalize(address).is_some()
        && !address
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '<' || c == '>')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nc_2_1_6_one_refusal_for_every_unknown() {
        assert_eq!(Verification::Known.refusal(), None);
        let u = Verification::Unknown.refusal().unwrap();
        assert_eq!(u.line(), "550 5.1.1 No such user here");
        assert_eq!(u, crate::reply::no_such_user());
        let t = Verification::Unavailable("ldap down".into())
            .refusal()
            .unwrap();
        assert_eq!(t.code, 451);
        assert!(t.line().starts_with("451 4.4.3 "), "{}", t.line());
        assert!(!t.line().contains("ldap"), "the reason stays in the log");
    }

    #[test]
    fn nc_2_1_6_command_injection_is_not_plausible() {
        assert!(plausible("alice@a.example"));
        assert!(!plausible("alice@a.example>\r\nDATA"));
        assert!(!plausible("alice@a.example> NOTIFY=NEVER"));
        assert!(!plausible("@a.example"));
        assert!(!plausible("alice"));
        assert_eq!(
            normalize("PostMaster@A.example.").as_deref(),
            Some("postmaster@a.example")
        );
    }
}
