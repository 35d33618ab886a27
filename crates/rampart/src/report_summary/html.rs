//! The summary as one self-contained HTML page (AL-3.2): inline CSS, charts as inline SVG
//! ([`super::chart`]), no script, no image, no link to anything outside the page, so it reads
//! the same in a mail client that blocks remote content.

use super::chart::{self, escape, Series};
use rampart_store::summary::{Count, Summary};
use std::fmt::Write;

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222}\
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em;border-bottom:1px solid #ccc}\
table{border-collapse:collapse}td,th{padding:2px 10px;text-align:left}\
td.n{text-align:right;font-variant-numeric:tabular-nums}tr:nth-child(even){background:#f4f4f4}";

fn table(out: &mut String, head: (&str, &str), rows: &[Count]) {
    let _ = write!(
        out,
        "<table><tr><th>{}</th><th>{}</th></tr>",
        escape(head.0),
        escape(head.1)
    );
    if rows.is_empty() {
        out.push_str("<tr><td colspan=\"2\">none</td></tr>");
    }
    for c in rows {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"n\">{}</td></tr>",
            escape(&c.name),
            c.count
        );
    }
    out.push_str("</table>");
}

fn pairs(out: &mut String, rows: &[(&str, u64)]) {
    out.push_str("<table>");
    for (k, v) in rows {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"n\">{v}</td></tr>",
            escape(k)
        );
    }
    out.push_str("</table>");
}

/// The messages-per-hour chart, in and out; also for the console's dashboard.
pub fn hourly_chart(s: &Summary) -> String {
    let labels: Vec<String> = s
        .hourly
        .iter()
        .map(|h| {
            let hour = h.start.div_euclid(3_600_000_000).rem_euclid(24);
            if hour == 0 || s.hourly.len() <= 24 {
                format!("{:02}h", hour)
            } else {
                String::new()
            }
        })
        .collect();
    let inbound: Vec<u64> = s.hourly.iter().map(|h| h.inbound).collect();
    let outbound: Vec<u64> = s.hourly.iter().map(|h| h.outbound).collect();
    let every = if s.hourly.len() <= 24 { 3 } else { 24 };
    chart::columns(
        "Messages per hour, in and out",
        &labels,
        &[
            Series {
                name: "in",
                colour: "#3366cc",
                values: &inbound,
            },
            Series {
                name: "out",
                colour: "#dc8a12",
                values: &outbound,
            },
        ],
        every,
    )
}

/// The verdicts chart: one bar per check and action that was not `accept`, then the accepts.
pub fn verdicts_chart(s: &Summary) -> String {
    let mut items: Vec<(String, u64)> = s
        .verdicts
        .iter()
        .flat_map(|(check, actions)| {
            actions
                .iter()
                .map(move |(a, n)| (format!("{check} {a}"), *n))
        })
        .collect();
    items.sort_by(|a, b| {
        let accept = |x: &str| x.ends_with(" accept");
        accept(&a.0)
            .cmp(&accept(&b.0))
            .then(b.1.cmp(&a.1))
            .then(a.0.cmp(&b.0))
    });
    chart::bars("Verdicts per check", &items, "#7a4fb5")
}

pub fn render(s: &Summary, hostname: &str) -> String {
    let mut o = String::new();
    let title = format!(
        "System report of {hostname}: {} to {}",
        rampart_store::rfc5322_date(s.since.div_euclid(1_000_000)),
        rampart_store::rfc5322_date(s.until.div_euclid(1_000_000)),
    );
    let _ = write!(
        o,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body><h1>{}</h1>",
        escape(&title),
        escape(&title)
    );
    let _ = write!(
        o,
        "<p>Period: one {} (UTC, end excluded); {} trace events read (AL-3.2).</p>",
        escape(&s.period),
        s.events
    );
    o.push_str("<h2>Volume</h2>");
    let v = &s.volume;
    pairs(
        &mut o,
        &[
            ("Messages in (from other servers)", v.inbound),
            ("Messages out (sent by users)", v.submitted),
            ("Messages written by this server", v.generated),
        ],
    );
    o.push_str(&hourly_chart(s));
    o.push_str("<h2>Verdicts</h2>");
    let d = &s.decisions;
    pairs(
        &mut o,
        &[
            ("Accepted by the checks", d.accepted),
            ("Quarantined by the checks", d.quarantined),
            ("Refused by the checks", d.refused),
            ("Recipients refused", s.refusals.recipients),
            ("Senders refused", s.refusals.senders),
            ("Messages refused in DATA", s.refusals.messages),
            (
                "Connections or commands refused",
                s.refusals.connections_or_commands,
            ),
            ("Protocol violations", s.refusals.protocol),
        ],
    );
    o.push_str(&verdicts_chart(s));
    o.push_str("<h2>Senders and recipients</h2>");
    table(&mut o, ("Sender", "Messages"), &s.top_senders);
    table(&mut o, ("Recipient", "Delivered"), &s.top_recipients);
    o.push_str("<h2>Blocked</h2>");
    table(&mut o, ("Sender", "Blocked"), &s.top_blocked_senders);
    table(&mut o, ("Sender domain", "Blocked"), &s.top_blocked_domains);
    table(&mut o, ("DLP rule", "Messages"), &s.top_dlp_rules);
    table(
        &mut o,
        ("Attachment type", "Blocked"),
        &s.attachments_blocked,
    );
    o.push_str("<h2>Authentication failures</h2>");
    let a = &s.auth_failures;
    pairs(
        &mut o,
        &[
            ("Wrong passwords", a.failed),
            ("Attempts refused", a.refused),
        ],
    );
    table(&mut o, ("Account", "Failures"), &a.by_account);
    table(&mut o, ("Address", "Failures"), &a.by_address);
    o.push_str("<h2>Bans</h2>");
    pairs(
        &mut o,
        &[("Bans made", s.bans.bans), ("Bans lifted", s.bans.unbans)],
    );
    table(&mut o, ("Network", "Bans"), &s.bans.networks);
    o.push_str("<h2>Deliveries</h2>");
    let dl = &s.deliveries;
    pairs(
        &mut o,
        &[
            ("To local mailboxes", dl.local),
            ("Relayed", dl.relayed),
            ("Deferred", dl.deferred),
            ("Failed", dl.failed),
            ("Bounces", dl.bounces),
        ],
    );
    o.push_str("<h2>TLS</h2>");
    pairs(
        &mut o,
        &[
            ("SMTP sessions", s.tls.sessions),
            ("Failed handshakes", s.tls.inbound_failures),
        ],
    );
    table(&mut o, ("Inbound TLS version", "Sessions"), &s.tls.inbound);
    table(
        &mut o,
        ("Outbound TLS version", "Attempts"),
        &s.tls.outbound,
    );
    o.push_str("<h2>Quarantine</h2>");
    let q = &s.quarantine;
    pairs(
        &mut o,
        &[
            ("Held", q.held),
            ("Released", q.released),
            ("Deleted", q.deleted),
        ],
    );
    table(&mut o, ("Released by", "Messages"), &q.released_by);
    // AL-1.2: what users corrected: the spam check's false positives and misses they saw.
    o.push_str("<h2>Junk, as users corrected it</h2>");
    pairs(
        &mut o,
        &[
            ("Moved out of Junk (wanted mail tagged)", s.junk.out_of_junk),
            ("Moved into Junk (spam let through)", s.junk.into_junk),
        ],
    );
    table(
        &mut o,
        ("Moved out of Junk, by sender domain", "Messages"),
        &s.junk.out_of_junk_by_domain,
    );
    o.push_str("</body></html>\n");
    o
}
