//! Recipient verification for relay domains (AL-1, issue 14 item 2): does an address exist on
//! the next hop? The gateway never accepts mail for someone who does not (no backscatter, no
//! directory harvest). This body answers the static list only; the other methods are not
//! answered here yet and give [`Recipient::Unavailable`] (451), never a 250.

use rampart_config::{RecipientVerify, RelayDomain};

/// What verification says about one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recipient {
    /// It exists on the next hop: accept.
    Known,
    /// It does not: `550 5.1.1`.
    Unknown,
    /// The lookup could not be answered: `451 4.4.3`.
    Unavailable,
}

/// Looks `address` up for the relay domain `domain`.
pub(crate) async fn verify_recipient(domain: &RelayDomain, address: &str) -> Recipient {
    match &domain.verify {
        RecipientVerify::Static { addresses, .. } => {
            if addresses.iter().any(|a| same_address(a, address)) {
                Recipient::Known
            } else {
                Recipient::Unknown
            }
        }
        _ => Recipient::Unavailable,
    }
}

/// The local part exactly (RFC 5321 section 2.4: it may be case-sensitive), the domain without
/// regard to case.
fn same_address(a: &str, b: &str) -> bool {
    match (a.trim().rsplit_once('@'), b.rsplit_once('@')) {
        (Some((la, da)), Some((lb, db))) => la == lb && da.eq_ignore_ascii_case(db),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(addresses: &[&str]) -> RelayDomain {
        RelayDomain {
            domains: vec!["agency.example".into()],
            hosts: vec!["mail.agency.example".into()],
            port: 25,
            tls: Default::default(),
            ca_file: "/nonexistent".into(),
            client_cert: None,
            client_key: None,
            username: None,
            password_file: None,
            verify: RecipientVerify::Static {
                addresses: addresses.iter().map(|a| a.to_string()).collect(),
                file: None,
            },
        }
    }

    #[tokio::test]
    async fn al_1_static_list_exact_local_part_any_case_domain() {
        let d = domain(&["Jane.Doe@agency.example"]);
        assert_eq!(
            verify_recipient(&d, "Jane.Doe@AGENCY.example").await,
            Recipient::Known
        );
        assert_eq!(
            verify_recipient(&d, "jane.doe@agency.example").await,
            Recipient::Unknown
        );
        assert_eq!(
            verify_recipient(&d, "nobody@agency.example").await,
            Recipient::Unknown
        );
    }
}
