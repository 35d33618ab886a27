//! The summary as plain text: the terminal's view and the report mail's text part.

use rampart_store::summary::{date, Count, Summary};
use std::fmt::Write;

fn list(out: &mut String, title: &str, items: &[Count]) {
    let _ = writeln!(out, "{title}:");
    if items.is_empty() {
        out.push_str("  none\n");
    }
    for c in items {
        let _ = writeln!(out, "  {:>8}  {}", c.count, c.name);
    }
}

pub fn render(s: &Summary, hostname: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "System report of {hostname} (AL-3.2): {} from {} to {} (UTC, end excluded)",
        s.period,
        rampart_store::rfc5322_date(s.since.div_euclid(1_000_000)),
        rampart_store::rfc5322_date(s.until.div_euclid(1_000_000)),
    );
    let _ = writeln!(o, "Trace events read: {}\n", s.events);
    let v = &s.volume;
    let _ = writeln!(
        o,
        "Messages in: {}   out: {} ({} sent by users, {} written by this server)",
        v.inbound,
        s.outbound(),
        v.submitted,
        v.generated
    );
    let d = &s.decisions;
    let _ = writeln!(
        o,
        "Checks decided: {} accepted, {} quarantined, {} refused",
        d.accepted, d.quarantined, d.refused
    );
    let r = &s.refusals;
    let _ = writeln!(
        o,
        "Refused in the SMTP dialogue: {} recipients, {} senders, {} messages, {} connections or commands, {} protocol violations\n",
        r.recipients, r.senders, r.messages, r.connections_or_commands, r.protocol
    );
    o.push_str("Verdicts per check:\n");
    if s.verdicts.is_empty() {
        o.push_str("  none\n");
    }
    for (check, actions) in &s.verdicts {
        let parts: Vec<String> = actions.iter().map(|(a, n)| format!("{a} {n}")).collect();
        let _ = writeln!(o, "  {check:<14} {}", parts.join(", "));
    }
    o.push('\n');
    list(&mut o, "Top senders", &s.top_senders);
    list(&mut o, "Top recipients", &s.top_recipients);
    list(&mut o, "Top blocked senders", &s.top_blocked_senders);
    list(&mut o, "Top blocked sender domains", &s.top_blocked_domains);
    list(&mut o, "Top DLP rules", &s.top_dlp_rules);
    list(
        &mut o,
        "Attachments blocked, by type",
        &s.attachments_blocked,
    );
    let a = &s.auth_failures;
    let _ = writeln!(
        o,
        "\nAuthentication failures: {} wrong passwords, {} attempts refused",
        a.failed, a.refused
    );
    list(&mut o, "  by account", &a.by_account);
    list(&mut o, "  by address", &a.by_address);
    let _ = writeln!(o, "\nBans: {} made, {} lifted", s.bans.bans, s.bans.unbans);
    list(&mut o, "  networks banned", &s.bans.networks);
    let dl = &s.deliveries;
    let _ = writeln!(
        o,
        "\nDeliveries: {} to local mailboxes, {} relayed, {} deferred, {} failed; {} bounces",
        dl.local, dl.relayed, dl.deferred, dl.failed, dl.bounces
    );
    let t = &s.tls;
    let _ = writeln!(
        o,
        "\nTLS: {} SMTP sessions, {} failed handshakes",
        t.sessions, t.inbound_failures
    );
    list(&mut o, "  inbound, by version", &t.inbound);
    list(&mut o, "  outbound attempts, by version", &t.outbound);
    let q = &s.quarantine;
    let _ = writeln!(
        o,
        "\nQuarantine: {} held, {} released, {} deleted",
        q.held, q.released, q.deleted
    );
    list(&mut o, "  released by", &q.released_by);
    // AL-1.2: what users corrected: the spam check's false positives and misses they saw.
    let j = &s.junk;
    let _ = writeln!(
        o,
        "\nJunk, as users corrected it: {} moved out (wanted mail tagged), {} moved in (spam let through)",
        j.out_of_junk, j.into_junk
    );
    list(
        &mut o,
        "  moved out of Junk, by sender domain",
        &j.out_of_junk_by_domain,
    );
    let busiest = s
        .hourly
        .iter()
        .max_by_key(|h| h.inbound + h.outbound)
        .filter(|h| h.inbound + h.outbound > 0);
    if let Some(h) = busiest {
        let _ = writeln!(
            o,
            "\nBusiest hour: {} {:02}:00 UTC, {} in, {} out",
            date(h.start),
            h.start.div_euclid(3_600_000_000).rem_euclid(24),
            h.inbound,
            h.outbound
        );
    }
    o
}
