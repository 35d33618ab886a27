//! Evidence for Alabama's Standard 540S1.

use super::nc::{freshness, IMAP_POP_PORTS};
use super::{config, dns, list, listeners, probes};
use crate::facts::Facts;
use crate::Finding;
use rampart_config::{CheckName, Role};

/// The finding for a check switched off in `[checks] disabled`, if it is.
fn switched_off(f: &Facts, id: &'static str, check: CheckName, what: &str) -> Option<Finding> {
    let c = f.config.as_ref()?;
    (!c.checks.enabled(check)).then(|| {
        Finding::fail(
            id,
            "checks.disabled",
            format!("the {check} check is off: {what}"),
            format!("remove \"{check}\" from [checks] disabled"),
        )
    })
}

/// AL-1.1: TLS 1.2 or higher, inbound and outbound.
pub fn al_1_1(f: &Facts) -> Vec<Finding> {
    const ID: &str = "AL-1.1";
    let mut out = probes(f, ID);
    // On PostgreSQL: the link to the shared database.
    out.extend(super::store::al_1_1(f));
    let c = match config(f, ID) {
        Ok(c) => c,
        Err(w) => {
            out.push(w);
            return out;
        }
    };
    out.push(Finding::pass(
        ID,
        "listeners",
        format!(
            "every TLS listener ({}) accepts TLS 1.2 and 1.3 only; outbound connections never fall back from a failed handshake to plain text",
            list(&listeners(c, |_| true))
        ),
    ));
    let plain_submission: Vec<String> = c
        .listeners
        .iter()
        .filter(|l| l.role == Role::Submission && !l.require_tls && !l.address.ip().is_loopback())
        .map(|l| l.address.to_string())
        .collect();
    if !plain_submission.is_empty() {
        out.push(Finding::warn(
            ID,
            "listener.require_tls",
            format!(
                "submission listeners that accept MAIL before STARTTLS: {}",
                plain_submission.join(", ")
            ),
            "set require_tls = true on every submission listener",
        ));
    }
    if let Some(h) = &f.host {
        for cert in &h.certificates {
            let days = (cert.not_after - f.now) / 86_400;
            let name = cert
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "generated certificate".to_string());
            out.push(if cert.not_after <= f.now {
                Finding::fail(
                    ID,
                    format!("certificate {name}"),
                    format!("{} expired", cert.subject),
                    "install a current certificate ([tls] cert and key)",
                )
            } else if cert.self_signed {
                Finding::warn(
                    ID,
                    format!("certificate {name}"),
                    format!("{} is self-signed ({} days left)", cert.subject, days),
                    "install a certificate from a public CA so senders can verify it (MTA-STS enforce, DANE)",
                )
            } else if days < 14 {
                Finding::warn(
                    ID,
                    format!("certificate {name}"),
                    format!("{} expires in {days} days", cert.subject),
                    "renew it",
                )
            } else {
                Finding::pass(
                    ID,
                    format!("certificate {name}"),
                    format!(
                        "{}, {} {} bits, {days} days left",
                        cert.subject, cert.key_algorithm, cert.key_bits
                    ),
                )
            });
        }
    }
    out
}

/// AL-1.2: anti-spam, anti-phishing, anti-virus, anti-malware, updated as often as possible.
pub fn al_1_2(f: &Facts) -> Vec<Finding> {
    const ID: &str = "AL-1.2";
    let mut out = Vec::new();
    for (check, what) in [
        (CheckName::Antivirus, "viruses and malware pass"),
        (CheckName::Spam, "spam and phishing are not scored"),
    ] {
        if let Some(x) = switched_off(f, ID, check, what) {
            out.push(x);
        }
    }
    if let Some(c) = &f.config {
        if !c.checks.spam.enabled {
            out.push(Finding::fail(
                ID,
                "checks.spam.enabled",
                "the spam score is off",
                "set [checks.spam] enabled = true",
            ));
        }
        if c.checks.antivirus.fail_open {
            out.push(Finding::fail(
                ID,
                "checks.antivirus.fail_open",
                "mail passes unscanned when clamd is down",
                "set [checks.antivirus] fail_open = false",
            ));
        }
        if out.is_empty() {
            out.push(Finding::pass(
                ID,
                "checks",
                format!(
                    "antivirus (clamd), spam and phishing score (tag {}, quarantine {}, reject {})",
                    c.checks.spam.tag_threshold,
                    c.checks.spam.quarantine_threshold,
                    c.checks.spam.reject_threshold
                ),
            ));
        }
        out.extend(rspamd(f, c));
        out.extend(classifier_stale(f));
        // An allow rule that a forged From earns weakens the score for anyone who forges it.
        for (key, message) in
            rampart_checks::spam::rules::config_warnings(&c.checks.spam.rule_files)
        {
            out.push(Finding::warn(
                ID,
                format!("checks.spam.{key}"),
                message,
                "add `check __FROM_AUTH from_authenticated` and require `__FROM_AUTH` in the \
                 rule's meta expression",
            ));
        }
    } else if let Err(w) = config(f, ID) {
        out.push(w);
    }
    out.extend(freshness(f, ID));
    out
}

/// AL-1.2: Rspamd's fail mode and whether it answers, when it is configured.
fn rspamd(f: &Facts, c: &rampart_config::Config) -> Vec<Finding> {
    use rampart_checks::spam::rspamd::FailMode;
    const ID: &str = "AL-1.2";
    let Some(r) = &c.checks.spam.rspamd else {
        return Vec::new();
    };
    let mut out = vec![match r.fail {
        FailMode::Closed => Finding::pass(
            ID,
            "checks.spam.rspamd.fail",
            format!(
                "mail is deferred with 451 4.7.1 while Rspamd at {} does not answer (fail = \"closed\")",
                r.url
            ),
        ),
        FailMode::Open => Finding::warn(
            ID,
            "checks.spam.rspamd.fail",
            format!(
                "mail passes scored by Rampart alone while Rspamd at {} does not answer (fail = \"open\")",
                r.url
            ),
            "set [checks.spam.rspamd] fail = \"closed\"",
        ),
    }];
    out.push(match &f.guard.rspamd {
        None => Finding::warn(
            ID,
            "rspamd",
            format!("Rspamd at {} was not asked", r.url),
            "run the audit on the server host, where Rspamd's address is reachable",
        ),
        Some(p) => match &p.ping_error {
            None => Finding::pass(ID, "rspamd", format!("Rspamd at {} answers /ping", p.url)),
            Some(e) => Finding::fail(
                ID,
                "rspamd",
                format!("Rspamd at {} does not answer /ping: {e}", p.url),
                "start Rspamd (systemctl start rspamd) or correct [checks.spam.rspamd] url",
            ),
        },
    });
    out
}

/// AL-1.2: lessons an older tokeniser taught no longer count; the classifier needs retraining.
/// Nothing when there are none.
fn classifier_stale(f: &Facts) -> Vec<Finding> {
    const ID: &str = "AL-1.2";
    let Some(stale) = &f.guard.classifier_stale else {
        return Vec::new();
    };
    stale
        .iter()
        .map(|s| {
            let who = if s.scope.is_empty() {
                "the installation"
            } else {
                s.scope.as_str()
            };
            Finding::warn(
                ID,
                "spam classifier training",
                format!(
                    "{} spam and {} ham lessons of {who} were trained with an older tokeniser \
                     and no longer count (the classifier reads with version {})",
                    s.spam, s.ham, s.version
                ),
                "retrain: rampart spam train --spam DIR --ham DIR, or moves to and out of Junk",
            )
        })
        .collect()
}

/// AL-1.3: URLs inspected, also at delivery.
pub fn al_1_3(f: &Facts) -> Vec<Finding> {
    const ID: &str = "AL-1.3";
    let c = match config(f, ID) {
        Ok(c) => c,
        Err(w) => return vec![w],
    };
    if let Some(x) = switched_off(f, ID, CheckName::Urls, "links are not inspected") {
        return vec![x];
    }
    if !c.checks.urls.enabled {
        return vec![Finding::fail(
            ID,
            "checks.urls.enabled",
            "URL inspection is off",
            "set [checks.urls] enabled = true",
        )];
    }
    let sources = c.checks.urls.feeds.len() + c.checks.urls.uri_blocklists.len();
    if sources == 0 {
        vec![Finding::warn(
            ID,
            "checks.urls",
            "URLs are extracted and checked for mismatches, but no feed or URI blocklist is configured to say which are malicious",
            "add a feed ([checks.urls] feeds) or a DNS URI blocklist ([checks.urls] uri_blocklists)",
        )]
    } else {
        vec![Finding::pass(
            ID,
            "checks.urls",
            format!(
                "URLs from text, HTML and attachments checked against {} feeds and {} URI blocklists at acceptance and again before delivery; action {:?}",
                c.checks.urls.feeds.len(),
                c.checks.urls.uri_blocklists.len(),
                c.checks.urls.action
            ),
        )]
    }
}

/// AL-1.4: executables and embedded code blocked or quarantined.
pub fn al_1_4(f: &Facts) -> Vec<Finding> {
    const ID: &str = "AL-1.4";
    let c = match config(f, ID) {
        Ok(c) => c,
        Err(w) => return vec![w],
    };
    if let Some(x) = switched_off(f, ID, CheckName::Attachments, "executables and macros pass") {
        return vec![x];
    }
    let a = &c.checks.attachments;
    vec![Finding::pass(
        ID,
        "checks.attachments",
        format!(
            "{} types blocked by name and true type, archives opened {} deep; executables: {:?}, embedded code: {:?}, uninspectable: {:?}",
            a.blocked_extensions.len(),
            a.max_archive_depth,
            a.on_executable,
            a.on_embedded_code,
            a.on_uninspectable
        )
        .to_lowercase(),
    )]
}

/// AL-1.5: outbound data loss prevention.
pub fn al_1_5(f: &Facts) -> Vec<Finding> {
    const ID: &str = "AL-1.5";
    let c = match config(f, ID) {
        Ok(c) => c,
        Err(w) => return vec![w],
    };
    if let Some(x) = switched_off(f, ID, CheckName::Dlp, "outbound mail is not inspected") {
        return vec![x];
    }
    if !c.checks.dlp.enabled {
        return vec![Finding::fail(
            ID,
            "checks.dlp.enabled",
            "DLP is off",
            "set [checks.dlp] enabled = true",
        )];
    }
    let d = &c.checks.dlp;
    let on: Vec<String> = [
        ("SSN", d.ssn.enabled),
        ("payment cards", d.payment_card.enabled),
        ("ABA routing numbers", d.aba_routing.enabled),
    ]
    .iter()
    .filter(|(_, e)| *e)
    .map(|(n, _)| n.to_string())
    .collect();
    vec![Finding::pass(
        ID,
        "checks.dlp",
        format!(
            "outbound mail inspected for {}, plus {} custom patterns and {} dictionaries",
            list(&on),
            d.patterns.len(),
            d.dictionaries.len()
        ),
    )]
}

/// AL-1.6: inbound mail from the Internet tagged.
pub fn al_1_6(f: &Facts) -> Vec<Finding> {
    const ID: &str = "AL-1.6";
    let c = match config(f, ID) {
        Ok(c) => c,
        Err(w) => return vec![w],
    };
    if let Some(x) = switched_off(f, ID, CheckName::External, "external mail is not tagged") {
        return vec![x];
    }
    let e = &c.checks.external;
    if !e.enabled || e.subject_prefix.trim().is_empty() {
        return vec![Finding::fail(
            ID,
            "checks.external",
            "inbound external mail is not tagged",
            "set [checks.external] enabled = true and subject_prefix = \"[External]\"",
        )];
    }
    vec![Finding::pass(
        ID,
        "checks.external",
        format!(
            "the subject of mail from the Internet starts with {:?}",
            e.subject_prefix
        ),
    )]
}

/// AL-2.1: SPF published.
pub fn al_2_1(f: &Facts) -> Vec<Finding> {
    dns(f, "AL-2.1")
}

/// AL-2.2: DKIM signing, and its key published.
pub fn al_2_2(f: &Facts) -> Vec<Finding> {
    let mut out = dns(f, "AL-2.2");
    out.extend(
        super::nc::nc_guideline_signatures(f)
            .into_iter()
            .map(|x| Finding {
                control: "AL-2.2",
                ..x
            }),
    );
    out
}

/// AL-2.3: DMARC published (at quarantine or reject).
pub fn al_2_3(f: &Facts) -> Vec<Finding> {
    dns(f, "AL-2.3")
}

/// AL-2.4: DMARC enforced on inbound mail.
pub fn al_2_4(f: &Facts) -> Vec<Finding> {
    const ID: &str = "AL-2.4";
    if let Some(x) = switched_off(f, ID, CheckName::Authentication, "DMARC is not enforced") {
        return vec![x];
    }
    match config(f, ID) {
        Err(w) => vec![w],
        Ok(_) => vec![Finding::pass(
            ID,
            "checks.authentication",
            "SPF, DKIM, DMARC and ARC evaluated on every inbound message; p=reject refused, p=quarantine quarantined; Authentication-Results added",
        )],
    }
}

/// AL-3.1: message trace and mailbox audit.
pub fn al_3_1(f: &Facts) -> Vec<Finding> {
    const ID: &str = "AL-3.1";
    let c = match config(f, ID) {
        Ok(c) => c,
        Err(w) => return vec![w],
    };
    let mut out = vec![Finding::pass(
        ID,
        "trace",
        format!(
            "every message's timeline (sender address, recipients, checks, deliveries) is traced and kept {} days",
            c.trace.retention_days
        ),
    )];
    match &f.trace {
        Some(t) => out.push(Finding::pass(
            ID,
            "mailbox audit",
            format!(
                "mailbox audit events kept: {} (logins with address, service and place; delegate access; sends, moves, deletes, reads); messages traced in 7 days: {}",
                t.mailbox_audit_events, t.messages_7d
            ),
        )),
        None => out.push(Finding::warn(
            ID,
            "mailbox audit",
            "the trace and mailbox audit were not read",
            "run the audit with the data directory readable",
        )),
    }
    out
}

/// AL-3.2: system reports enabled and reviewed.
pub fn al_3_2(f: &Facts) -> Vec<Finding> {
    const ID: &str = "AL-3.2";
    match &f.guard.reports {
        None => vec![Finding::warn(
            ID,
            "reports",
            "no system report is scheduled",
            "configure [reports] daily or weekly recipients",
        )],
        Some(r) if r.daily_to.is_empty() && r.weekly_to.is_empty() => vec![Finding::warn(
            ID,
            "reports",
            "no recipient for the daily or weekly system report",
            "configure [reports] daily or weekly recipients",
        )],
        Some(r) => vec![Finding::pass(
            ID,
            "reports",
            format!(
                "daily report to {}, weekly to {}",
                list(&r.daily_to),
                list(&r.weekly_to)
            ),
        )],
    }
}

/// AL-4.1: IMAP and POP3 disabled.
pub fn al_4_1(f: &Facts) -> Vec<Finding> {
    const ID: &str = "AL-4.1";
    let mut out = vec![Finding::pass(
        ID,
        "software",
        "Rampart has no IMAP or POP3 server (no code, no setting); mailboxes are read over JMAP on HTTPS",
    )];
    match &f.host {
        None => out.push(Finding::warn(
            ID,
            "host sockets",
            "the host's listening sockets were not read",
            "run the audit on the server host",
        )),
        Some(h) => {
            let open: Vec<String> = h
                .listening
                .iter()
                .filter(|s| IMAP_POP_PORTS.contains(&s.addr.port()))
                .map(|s| s.addr.to_string())
                .collect();
            out.push(if open.is_empty() {
                Finding::pass(
                    ID,
                    "host sockets",
                    "no socket on the host listens on 110, 143, 993 or 995",
                )
            } else {
                Finding::fail(
                    ID,
                    "host sockets",
                    format!("IMAP or POP3 ports open on the host: {}", open.join(", ")),
                    "stop and remove the IMAP/POP3 server (e.g. dovecot) on this host",
                )
            });
        }
    }
    out
}

/// AL-4.2: no automatic forwarding outside.
pub fn al_4_2(f: &Facts) -> Vec<Finding> {
    const ID: &str = "AL-4.2";
    match &f.directory {
        None => vec![Finding::warn(
            ID,
            "aliases",
            "the aliases were not read",
            "run the audit with the data directory readable",
        )],
        Some(d) if !d.external_alias_targets.is_empty() => vec![Finding::fail(
            ID,
            "aliases",
            format!(
                "aliases forward outside the represented domains: {}",
                d.external_alias_targets.join(", ")
            ),
            "remove them (rampart alias remove)",
        )],
        Some(_) => vec![Finding::pass(
            ID,
            "aliases",
            "every alias stays inside the represented domains; auto-forwarded submissions to outside recipients are refused",
        )],
    }
}
