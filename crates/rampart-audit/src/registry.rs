//! Every control of both standards, in one place: its id, the requirement in a sentence of our
//! own, how Rampart carries it, the settings that weaken it, and the function that gathers its
//! evidence. A test below fails if a control of the standards is missing.

use crate::evidence::{al, nc};
use crate::facts::Facts;
use crate::Finding;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Standard {
    /// North Carolina, Electronic Mail Server Security Standard (2008).
    #[serde(rename = "NC")]
    Nc,
    /// Alabama, Standard 540S1 Email Security Configuration (2021).
    #[serde(rename = "AL")]
    Al,
}

impl Standard {
    pub fn name(self) -> &'static str {
        match self {
            Standard::Nc => "North Carolina Electronic Mail Server Security Standard",
            Standard::Al => "Alabama Standard 540S1 Email Security Configuration",
        }
    }
}

/// Whether software can carry a control, or only people can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Software,
    Organisational,
}

#[derive(Serialize)]
pub struct Control {
    pub id: &'static str,
    pub standard: Standard,
    pub title: &'static str,
    /// The requirement, in our words.
    pub requirement: &'static str,
    /// How Rampart carries it.
    pub carried_by: &'static str,
    /// Configuration keys that weaken it.
    pub weakened_by: &'static [&'static str],
    pub kind: Kind,
    #[serde(skip)]
    pub evidence: fn(&Facts) -> Vec<Finding>,
}

use Kind::{Organisational as Org, Software as Sw};
use Standard::{Al, Nc};

pub static CONTROLS: &[Control] = &[
    Control { id: "NC-2.1.1", standard: Nc, kind: Sw, title: "Only expressly permitted services",
        requirement: "Everything not expressly permitted is off, and only the minimal Internet services are installed.",
        carried_by: "Nothing listens unless a [[listener]] names it; the audit lists every socket on the host.",
        weakened_by: &["listener"], evidence: nc::nc_2_1_1 },
    Control { id: "NC-2.1.2", standard: Nc, kind: Sw, title: "No default accounts",
        requirement: "Default accounts and groups are disabled or removed.",
        carried_by: "No account ships; every account is created by the administrator; the demo's user has a random password shown once.",
        weakened_by: &[], evidence: nc::nc_2_1_2 },
    Control { id: "NC-2.1.3", standard: Nc, kind: Sw, title: "Banner hides software and version",
        requirement: "The service banner reports neither the mail software nor the operating system, nor their versions.",
        carried_by: "Greeting, EHLO, HELP, errors, Received headers, bounces and HTTP headers name no software; the self-test reads them.",
        weakened_by: &[], evidence: nc::nc_2_1_3 },
    Control { id: "NC-2.1.4", standard: Nc, kind: Sw, title: "Encrypted authentication",
        requirement: "Passwords and other authentication data travel only encrypted.",
        carried_by: "AUTH only inside TLS; HTTPS only for the API and webmail; Argon2id hashes at rest.",
        weakened_by: &[], evidence: nc::nc_2_1_4 },
    Control { id: "NC-2.1.5", standard: Nc, kind: Sw, title: "Relay only for authenticated sources",
        requirement: "A server that relays mail accepts it only from authenticated sources (credentials over encryption, or listed addresses).",
        carried_by: "Authenticated users relay; unauthenticated only from [relay] networks or a listener's relay_from.",
        weakened_by: &["relay.networks", "listener.relay_from"], evidence: nc::nc_2_1_5 },
    Control { id: "NC-2.1.6", standard: Nc, kind: Sw, title: "Inbound only for own domains",
        requirement: "A receiving server accepts incoming mail only for the domains it represents.",
        carried_by: "RCPT for any other domain is refused with 5.7.1, relay tricks included; the self-test tries them.",
        weakened_by: &["relay_domain"], evidence: nc::nc_2_1_6 },
    Control { id: "NC-2.1.7", standard: Nc, kind: Sw, title: "No From of foreign domains",
        requirement: "Where possible, mail does not carry a From (or return) address of a domain the server does not represent.",
        carried_by: "Submission: envelope, From and Sender must be the user's own; inbound: our domains without DMARC alignment are refused.",
        weakened_by: &["checks.disabled", "checks.authentication.trusted_forwarders.override_own_domain"], evidence: nc::nc_2_1_7 },
    Control { id: "NC-2.1.8", standard: Nc, kind: Sw, title: "Rate limits against denial of service",
        requirement: "Relaying servers limit the rate of message delivery to resist denial of service.",
        carried_by: "Limits per connection, address, user, domain and in total, answered with 421/451.",
        weakened_by: &["limits", "rate_limit"], evidence: nc::nc_2_1_8 },
    Control { id: "NC-2.1.9", standard: Nc, kind: Sw, title: "Null client for local applications",
        requirement: "A mail program installed only so local applications can send is send-only, sends only to the primary server, listens only locally, has a bounce address and sends only for its domains.",
        carried_by: "`rampart sendmail` and the [null_client] mode.",
        weakened_by: &["null_client"], evidence: nc::nc_2_1_9 },
    Control { id: "NC-2.2-host", standard: Nc, kind: Org, title: "Dedicated host",
        requirement: "The mail server runs on a dedicated, single-purpose host, physical or virtual.",
        carried_by: "The administrator attests it; the audit lists other services found listening (NC-2.1.1).",
        weakened_by: &[], evidence: nc::nc_2_2_host },
    Control { id: "NC-2.2-partition", standard: Nc, kind: Sw, title: "Mailboxes on their own disk or partition",
        requirement: "Mailboxes sit on a disk or partition apart from the operating system and the server software.",
        carried_by: "The audit compares the data directory's filesystem with the root filesystem.",
        weakened_by: &["data_dir"], evidence: nc::nc_2_2_partition },
    Control { id: "NC-2.2-commands", standard: Nc, kind: Sw, title: "Information-leaking commands disabled",
        requirement: "Commands that reveal accounts or are not needed (VRFY, EXPN) are disabled.",
        carried_by: "VRFY, EXPN, ETRN and TURN answer without information; the self-test tries them.",
        weakened_by: &[], evidence: nc::nc_2_2_commands },
    Control { id: "NC-2.2-integrity", standard: Nc, kind: Sw, title: "File integrity checker",
        requirement: "A file integrity checker watches the server's critical files.",
        carried_by: "`rampart integrity`: a signed baseline, checked at start and periodically.",
        weakened_by: &["integrity"], evidence: nc::nc_2_2_integrity },
    Control { id: "NC-2.3.1", standard: Nc, kind: Sw, title: "Firewall in front of the server",
        requirement: "A firewall controls all traffic between the Internet and the mail server.",
        carried_by: "`rampart firewall` writes and loads an nftables ruleset; the network firewall is attested.",
        weakened_by: &[], evidence: nc::nc_2_3_1 },
    Control { id: "NC-2.3.2", standard: Nc, kind: Sw, title: "Virus scanning and dangerous attachments",
        requirement: "Mail in both directions is scanned for viruses, and dangerous attachment types are filtered.",
        carried_by: "clamd on every message in and out, decoded parts too; attachment policy by name and true type.",
        weakened_by: &["checks.disabled", "checks.antivirus.fail_open", "checks.attachments.blocked_extensions"], evidence: nc::nc_2_3_2 },
    Control { id: "NC-2.3.3", standard: Nc, kind: Sw, title: "Only the required ports open",
        requirement: "The firewall blocks every port from the Internet except those the mail service needs.",
        carried_by: "The ruleset of `rampart firewall` opens the configured listeners' ports only.",
        weakened_by: &["listener"], evidence: nc::nc_2_3_3 },
    Control { id: "NC-2.3.4", standard: Nc, kind: Sw, title: "Mailboxes in a separate zone",
        requirement: "Where possible, the server with the mailboxes sits in a secure zone apart from the servers that send, receive and face users.",
        carried_by: "Gateway and store roles on separate nodes, linked by mutual TLS (docs/DEPLOYMENT.md).",
        weakened_by: &["relay_domain", "listener"], evidence: nc::nc_2_3_4 },
    Control { id: "NC-2.4.1", standard: Nc, kind: Sw, title: "Intrusion detection",
        requirement: "An IDS/IPS watches the traffic to and from the mail server.",
        carried_by: "Detectors on every listener (brute force, harvest, relay probing, protocol abuse, scans, floods), each detection traced.",
        weakened_by: &["ids"], evidence: nc::nc_2_4_1 },
    Control { id: "NC-2.4.2", standard: Nc, kind: Sw, title: "Attacking addresses blocked",
        requirement: "Addresses and subnets the IDS/IPS reports as attacking are blocked.",
        carried_by: "Bans at accept on every listener, growing with repeats, shared with nftables.",
        weakened_by: &["ids"], evidence: nc::nc_2_4_2 },
    Control { id: "NC-2.4.3", standard: Nc, kind: Sw, title: "Logs kept at least three months",
        requirement: "IDS/IPS events are logged and the logs kept at least three months.",
        carried_by: "Trace, mailbox audit and detection events kept retention_days (at least 90).",
        weakened_by: &["trace.retention_days"], evidence: nc::nc_2_4_3 },
    Control { id: "NC-2.4.4", standard: Nc, kind: Sw, title: "Signatures updated weekly",
        requirement: "The IDS/IPS gets new attack signatures at least weekly.",
        carried_by: "The ages of the antivirus signatures and of every feed are checked hourly and reported past 7 days.",
        weakened_by: &[], evidence: nc::nc_2_4_4 },
    Control { id: "NC-2.5", standard: Nc, kind: Org, title: "Physical security",
        requirement: "Mail servers, wiring and networks are in locked places open only to authorised staff.",
        carried_by: "Organisational: the administrator attests it.",
        weakened_by: &[], evidence: nc::nc_2_5 },
    Control { id: "NC-guideline", standard: Nc, kind: Sw, title: "Signatures for sender validation",
        requirement: "Consider technology that signs messages so senders can be validated.",
        carried_by: "DKIM signing of outbound mail for every local domain.",
        weakened_by: &[], evidence: nc::nc_guideline_signatures },
    Control { id: "NC-fn-password", standard: Nc, kind: Sw, title: "User ID and Password Protection Standard",
        requirement: "Mail services also follow the state's user ID and password standard (footnote 2).",
        carried_by: "Argon2id hashes, failure delays and blocks, no passwords in configuration.",
        weakened_by: &["auth"], evidence: nc::nc_fn_password },
    Control { id: "NC-fn-virus", standard: Nc, kind: Sw, title: "Virus Protection Policy",
        requirement: "Mail services also follow the state's virus protection policy (footnote 2).",
        carried_by: "clamd on every message; signature age watched.",
        weakened_by: &["checks.disabled", "checks.antivirus.fail_open"], evidence: nc::nc_fn_virus },
    Control { id: "AL-1.1", standard: Al, kind: Sw, title: "TLS 1.2 or higher",
        requirement: "Mail moves over TLS 1.2 or higher, against man-in-the-middle attacks.",
        carried_by: "TLS 1.2/1.3 only on every listener and outbound; MTA-STS and DANE outbound.",
        weakened_by: &["listener.require_tls", "delivery.policy"], evidence: al::al_1_1 },
    Control { id: "AL-1.2", standard: Al, kind: Sw, title: "Anti-spam, anti-phishing, anti-virus, anti-malware",
        requirement: "The gateway's anti-spam, anti-phishing, anti-virus and anti-malware update as often as possible and block violations.",
        carried_by: "clamd, spam and phishing score (content rules, classifier, optional Rspamd), blocklists; signature ages watched.",
        weakened_by: &["checks.disabled", "checks.spam", "checks.antivirus.fail_open"], evidence: al::al_1_2 },
    Control { id: "AL-1.3", standard: Al, kind: Sw, title: "URLs inspected at delivery",
        requirement: "Embedded URLs are inspected at delivery, and mail linking to known malicious sites is blocked.",
        carried_by: "URLs from text, HTML and attachments checked against feeds and URI blocklists, again before delivery.",
        weakened_by: &["checks.urls"], evidence: al::al_1_3 },
    Control { id: "AL-1.4", standard: Al, kind: Sw, title: "Executables and embedded code",
        requirement: "Executables, installers, scripts and documents with macros or embedded code are blocked or quarantined.",
        carried_by: "By name and true type, inside archives; macros, RTF objects, PDF JavaScript.",
        weakened_by: &["checks.attachments"], evidence: al::al_1_4 },
    Control { id: "AL-1.5", standard: Al, kind: Sw, title: "Data loss prevention",
        requirement: "DLP rules stop outbound mail carrying sensitive data.",
        carried_by: "SSN, card numbers, routing numbers, custom patterns and dictionaries.",
        weakened_by: &["checks.dlp"], evidence: al::al_1_5 },
    Control { id: "AL-1.6", standard: Al, kind: Sw, title: "External mail tagged",
        requirement: "Inbound mail from the Internet is tagged \"[External]\" in the subject or body.",
        carried_by: "A subject prefix, never doubled.",
        weakened_by: &["checks.external"], evidence: al::al_1_6 },
    Control { id: "AL-2.1", standard: Al, kind: Sw, title: "SPF published",
        requirement: "Each domain publishes an SPF record naming its authorised senders.",
        carried_by: "`rampart dns-records` prints it; the audit compares DNS.",
        weakened_by: &[], evidence: al::al_2_1 },
    Control { id: "AL-2.2", standard: Al, kind: Sw, title: "DKIM",
        requirement: "Outbound mail is DKIM-signed and the key is published.",
        carried_by: "Signing at the outbound queue; the audit compares the published key with ours.",
        weakened_by: &[], evidence: al::al_2_2 },
    Control { id: "AL-2.3", standard: Al, kind: Sw, title: "DMARC published",
        requirement: "Each domain publishes a DMARC policy with reporting.",
        carried_by: "`rampart dns-records` prints it; the audit wants quarantine or reject.",
        weakened_by: &[], evidence: al::al_2_3 },
    Control { id: "AL-2.4", standard: Al, kind: Sw, title: "DMARC enforced inbound",
        requirement: "Inbound mail is refused or quarantined as the sending domain's DMARC policy says.",
        carried_by: "The authentication check.",
        weakened_by: &["checks.disabled"], evidence: al::al_2_4 },
    Control { id: "AL-3.1", standard: Al, kind: Sw, title: "Mailbox audit and message trace",
        requirement: "Mailbox audit and message trace are on: logins with place and service, delegates, sends, deletes, moves, reads, sending addresses, recipients.",
        carried_by: "The trace and the mailbox audit, kept retention_days.",
        weakened_by: &["trace.retention_days"], evidence: al::al_3_1 },
    Control { id: "AL-3.2", standard: Al, kind: Sw, title: "System reporting",
        requirement: "The system's reports are on and reviewed regularly.",
        carried_by: "Scheduled system reports and DMARC/TLS aggregate reports.",
        weakened_by: &["reports"], evidence: al::al_3_2 },
    Control { id: "AL-4.1", standard: Al, kind: Sw, title: "IMAP and POP3 disabled",
        requirement: "IMAP and POP3 are disabled.",
        carried_by: "Not implemented at all; mailboxes over JMAP on HTTPS; the audit checks the host's ports.",
        weakened_by: &[], evidence: al::al_4_1 },
    Control { id: "AL-4.2", standard: Al, kind: Sw, title: "No automatic forwarding outside",
        requirement: "Mail is never forwarded automatically to outside addresses.",
        carried_by: "Aliases stay inside; auto-forwarded submissions to outside recipients refused.",
        weakened_by: &[], evidence: al::al_4_2 },
];

/// The control with this id.
pub fn find(id: &str) -> Option<&'static Control> {
    CONTROLS.iter().find(|c| c.id.eq_ignore_ascii_case(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every control of both standards, read from their text (../shared/standards/): NC 2.1
    /// items 1–9, the four duties of 2.2, 2.3 items 1–4, 2.4 items 1–4, 2.5, the guideline, the
    /// two policies of footnote 2; AL 1.1–1.6, 2.1–2.4, 3.1–3.2, 4.1–4.2.
    const STANDARDS: &[&str] = &[
        "NC-2.1.1",
        "NC-2.1.2",
        "NC-2.1.3",
        "NC-2.1.4",
        "NC-2.1.5",
        "NC-2.1.6",
        "NC-2.1.7",
        "NC-2.1.8",
        "NC-2.1.9",
        "NC-2.2-host",
        "NC-2.2-partition",
        "NC-2.2-commands",
        "NC-2.2-integrity",
        "NC-2.3.1",
        "NC-2.3.2",
        "NC-2.3.3",
        "NC-2.3.4",
        "NC-2.4.1",
        "NC-2.4.2",
        "NC-2.4.3",
        "NC-2.4.4",
        "NC-2.5",
        "NC-guideline",
        "NC-fn-password",
        "NC-fn-virus",
        "AL-1.1",
        "AL-1.2",
        "AL-1.3",
        "AL-1.4",
        "AL-1.5",
        "AL-1.6",
        "AL-2.1",
        "AL-2.2",
        "AL-2.3",
        "AL-2.4",
        "AL-3.1",
        "AL-3.2",
        "AL-4.1",
        "AL-4.2",
    ];

    #[test]
    fn every_control_of_both_standards_is_in_the_registry() {
        let missing: Vec<&str> = STANDARDS
            .iter()
            .copied()
            .filter(|id| find(id).is_none())
            .collect();
        assert!(missing.is_empty(), "missing from the registry: {missing:?}");
        let extra: Vec<&str> = CONTROLS
            .iter()
            .map(|c| c.id)
            .filter(|id| !STANDARDS.contains(id))
            .collect();
        assert!(
            extra.is_empty(),
            "not a control of the standards: {extra:?}"
        );
    }

    #[test]
    fn every_entry_has_words_and_gathers_evidence_about_itself() {
        let facts = Facts::default();
        for c in CONTROLS {
            assert!(
                !c.requirement.is_empty() && !c.carried_by.is_empty(),
                "{}",
                c.id
            );
            let findings = (c.evidence)(&facts);
            assert!(!findings.is_empty(), "{}: no finding without facts", c.id);
            for f in &findings {
                assert_eq!(
                    f.control, c.id,
                    "{} returned a finding for {}",
                    c.id, f.control
                );
            }
            // With nothing gathered, no control passes.
            assert_ne!(
                crate::Status::worst(&findings),
                crate::Status::Pass,
                "{} passed on no facts",
                c.id
            );
        }
    }
}
