//! Evidence for North Carolina's Electronic Mail Server Security Standard.

use super::{
    attested, config, list, listeners, probes, MAX_SIGNATURE_AGE_SECS, MIN_RETENTION_DAYS,
};
use crate::facts::{from_configuration_only, Facts};
use crate::Finding;
use rampart_config::{CheckName, Role};
use std::net::IpAddr;

/// Ports of mail-reading protocols that must not be open (AL-4.1 too).
pub(crate) const IMAP_POP_PORTS: [u16; 4] = [110, 143, 993, 995];

/// Names that ship as default or guessable accounts elsewhere.
const DEFAULT_ACCOUNT_NAMES: [&str; 9] = [
    "admin",
    "administrator",
    "root",
    "test",
    "demo",
    "guest",
    "user",
    "info",
    "webmaster",
];

/// NC-2.1.1: only the services the administrator configured listen.
pub fn nc_2_1_1(f: &Facts) -> Vec<Finding> {
    const ID: &str = "NC-2.1.1";
    let c = match config(f, ID) {
        Ok(c) => c,
        Err(w) => return vec![w],
    };
    let mut out = vec![Finding::pass(
        ID,
        "configured listeners",
        format!(
            "listeners: {} (nothing listens unless a [[listener]] names it)",
            list(&listeners(c, |_| true))
        ),
    )];
    match &f.server {
        None => out.push(Finding::warn(
            ID,
            "running server",
            "no running server answered on the admin socket",
            "run the audit on the server host while `rampart serve` runs, as its user or root",
        )),
        Some(s) => {
            let bound: Vec<String> = s
                .listeners
                .iter()
                .map(|(role, addr)| format!("{role} {addr}"))
                .collect();
            let unexpected: Vec<String> = s
                .listeners
                .iter()
                .filter(|(_, addr)| !c.listeners.iter().any(|l| configured_as(l.address, *addr)))
                .map(|(role, addr)| format!("{role} {addr}"))
                .collect();
            out.push(if unexpected.is_empty() {
                Finding::pass(
                    ID,
                    "running server",
                    format!("the server (pid {}) listens on exactly: {}", s.pid, list(&bound)),
                )
            } else {
                Finding::fail(
                    ID,
                    "running server",
                    format!(
                        "the running server listens where this configuration does not say: {}",
                        unexpected.join(", ")
                    ),
                    "audit with the configuration the server runs with, or restart it with this one",
                )
            });
        }
    }
    match &f.host {
        None => out.push(Finding::warn(
            ID,
            "host sockets",
            "the host's listening sockets were not read",
            "run the audit on the server host (it reads /proc/net/tcp and tcp6)",
        )),
        Some(h) => {
            // Ours: what the running server bound, or failing that what the configuration asks.
            let ours = |a: &std::net::SocketAddr| match &f.server {
                Some(s) => s.listeners.iter().any(|(_, b)| b == a),
                None => c.listeners.iter().any(|l| configured_as(l.address, *a)),
            };
            let others: Vec<String> = h
                .listening
                .iter()
                .filter(|s| !ours(&s.addr) && !s.addr.ip().is_loopback())
                .map(|s| s.addr.to_string())
                .collect();
            if others.is_empty() {
                out.push(Finding::pass(
                    ID,
                    "host sockets",
                    format!(
                        "{} listening sockets, none reachable from the network but the configured listeners",
                        h.listening.len()
                    ),
                ));
            } else {
                out.push(Finding::fail(
                    ID,
                    "host sockets",
                    format!("other services listen on the network: {}", others.join(", ")),
                    "stop or uninstall the services behind those sockets (`ss -ltnp` names them); a mail host runs mail only",
                ));
            }
        }
    }
    out
}

/// Whether a bound address is what a configured one asks for: the same address, or any for an
/// unspecified one (0.0.0.0, ::); the same port, or any for port 0.
fn configured_as(configured: std::net::SocketAddr, bound: std::net::SocketAddr) -> bool {
    (configured.ip() == bound.ip() || configured.ip().is_unspecified())
        && (configured.port() == bound.port() || configured.port() == 0)
}

/// NC-2.1.2: no default accounts.
pub fn nc_2_1_2(f: &Facts) -> Vec<Finding> {
    const ID: &str = "NC-2.1.2";
    let Some(d) = &f.directory else {
        return vec![Finding::warn(
            ID,
            "accounts",
            "the accounts were not read from the store",
            "run the audit with access to the data directory (as the service user or root)",
        )];
    };
    let suspicious: Vec<String> = d
        .accounts
        .iter()
        .filter(|a| !a.disabled)
        .filter(|a| {
            let local = a.address.split('@').next().unwrap_or("");
            DEFAULT_ACCOUNT_NAMES.contains(&local.to_ascii_lowercase().as_str())
        })
        .map(|a| a.address.clone())
        .collect();
    if suspicious.is_empty() {
        vec![Finding::pass(
            ID,
            "accounts",
            format!(
                "{} accounts, all created by the administrator (none ship with Rampart); none with a default name",
                d.accounts.len()
            ),
        )]
    } else {
        vec![Finding::warn(
            ID,
            "accounts",
            format!("accounts with default-looking names: {}", suspicious.join(", ")),
            "rename or disable them (rampart user disable ADDRESS); make postmaster@ and abuse@ aliases",
        )]
    }
}

/// NC-2.1.3: nothing a remote party reads names the software or its version.
pub fn nc_2_1_3(f: &Facts) -> Vec<Finding> {
    probes(f, "NC-2.1.3")
}

/// NC-2.1.4: authentication only over encryption.
pub fn nc_2_1_4(f: &Facts) -> Vec<Finding> {
    const ID: &str = "NC-2.1.4";
    let mut out = probes(f, ID);
    out.extend(secret_files(f, ID));
    if let Ok(c) = config(f, ID) {
        out.push(Finding::pass(
            ID,
            "configuration",
            format!(
                "AUTH is offered only inside TLS on every submission listener ({}), passwords are kept as Argon2id hashes, and the web listeners ({}) speak HTTPS only; no setting weakens this",
                list(&listeners(c, Role::is_submission)),
                list(&listeners(c, |r| r == Role::Https || r == Role::Admin))
            ),
        ));
        // The admin console: loopback, or reachable from named networks only (the
        // configuration refuses anything else at start).
        for l in c.listeners.iter().filter(|l| l.role == Role::Admin) {
            if l.address.ip().is_loopback() {
                out.push(Finding::pass(
                    ID,
                    "admin console",
                    format!("the admin console listens on {} (loopback only); logins need a password and a TOTP code", l.address),
                ));
            } else {
                let nets: Vec<String> = l.allow.iter().map(|n| n.to_string()).collect();
                out.push(Finding::warn(
                    ID,
                    "admin console",
                    format!(
                        "the admin console listens on {} (allow_remote = true), served to {} only",
                        l.address,
                        list(&nets)
                    ),
                    "keep the console on loopback and reach it over SSH or a VPN, or keep `allow` to the administrators' own networks",
                ));
            }
        }
    }
    out
}

/// Keys and credentials must be readable by the service alone: a private key or password file
/// others can read is a credential handed out.
fn secret_files(f: &Facts, id: &'static str) -> Vec<Finding> {
    let Some(h) = &f.host else {
        return vec![Finding::warn(
            id,
            "key files",
            "the modes of the keys and credentials were not read",
            "run the audit on the server host",
        )];
    };
    let mut out = Vec::new();
    for file in &h.files {
        let secret = matches!(file.kind.as_str(), "tls key" | "dkim key" | "password file");
        let private_dir = file.kind == "data directory";
        if !(secret || private_dir) {
            continue;
        }
        let name = format!("{} {}", file.kind, file.path.display());
        if file.mode & 0o007 != 0 {
            out.push(Finding::fail(
                id,
                name,
                format!("mode {:04o}: other users can read it", file.mode),
                format!(
                    "chmod {} {}",
                    if private_dir { "0750" } else { "0600" },
                    file.path.display()
                ),
            ));
        } else if secret && file.mode & 0o070 != 0 {
            out.push(Finding::warn(
                id,
                name,
                format!("mode {:04o}: its group can read it", file.mode),
                format!(
                    "chmod 0600 {} unless the group is the service's own",
                    file.path.display()
                ),
            ));
        } else {
            out.push(Finding::pass(
                id,
                name,
                format!("mode {:04o}, owner uid {}", file.mode, file.uid),
            ));
        }
    }
    out
}

/// NC-2.1.5: relay only for authenticated sources.
pub fn nc_2_1_5(f: &Facts) -> Vec<Finding> {
    const ID: &str = "NC-2.1.5";
    let mut out = probes(f, ID);
    let c = match config(f, ID) {
        Ok(c) => c,
        Err(w) => return vec![w],
    };
    let nets = &c.relay.networks;
    let wide: Vec<String> = nets
        .iter()
        .filter(|n| n.prefix_len() < if n.addr().is_ipv4() { 16 } else { 48 })
        .map(|n| n.to_string())
        .collect();
    let public: Vec<String> = nets
        .iter()
        .filter(|n| !is_private(n.addr()))
        .map(|n| n.to_string())
        .collect();
    if !wide.is_empty() {
        out.push(Finding::fail(
            ID,
            "relay.networks",
            format!(
                "unauthenticated relay allowed from wide networks: {}",
                wide.join(", ")
            ),
            "narrow [relay] networks to the hosts that need it, or make them authenticate",
        ));
    } else if !public.is_empty() {
        out.push(Finding::warn(
            ID,
            "relay.networks",
            format!(
                "unauthenticated relay allowed from public addresses: {}",
                public.join(", ")
            ),
            "prefer authentication or a client certificate for hosts outside the agency's networks",
        ));
    } else if nets.is_empty() {
        out.push(Finding::pass(
            ID,
            "relay.networks",
            "only authenticated users relay ([relay] networks is empty)",
        ));
    } else {
        out.push(Finding::pass(
            ID,
            "relay.networks",
            format!(
                "authenticated users relay, and unauthenticated only from the agency's own networks: {}",
                nets.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    out
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

/// NC-2.1.6: inbound mail only for the represented domains.
pub fn nc_2_1_6(f: &Facts) -> Vec<Finding> {
    const ID: &str = "NC-2.1.6";
    let mut out = probes(f, ID);
    if let Some(d) = &f.directory {
        let relay: Vec<String> = f
            .config
            .iter()
            .flat_map(|c| c.relay_domains.iter().flat_map(|r| r.domains.clone()))
            .collect();
        out.push(Finding::pass(
            ID,
            "represented domains",
            format!(
                "mail is accepted for the local domains {} and the relay domains {}; RCPT for any other domain is refused with 5.7.1",
                list(&d.local_domains),
                list(&relay)
            ),
        ));
    }
    out
}

/// NC-2.1.7: no From of a domain the server does not represent.
pub fn nc_2_1_7(f: &Facts) -> Vec<Finding> {
    const ID: &str = "NC-2.1.7";
    let c = match config(f, ID) {
        Ok(c) => c,
        Err(w) => return vec![w],
    };
    let mut out = vec![Finding::pass(
        ID,
        "submission",
        "submitted mail must carry the authenticated user's own address (or a granted one) in the envelope sender, From and Sender; no setting weakens this",
    )];
    if !c.checks.enabled(CheckName::Authentication) {
        out.push(Finding::fail(
            ID,
            "checks.disabled",
            "the authentication check is off: mail from the Internet claiming one of our domains is not refused",
            "remove \"authentication\" from [checks] disabled",
        ));
    } else if c
        .checks
        .authentication
        .trusted_forwarders
        .override_own_domain
    {
        out.push(Finding::warn(
            ID,
            "checks.authentication.trusted_forwarders.override_own_domain",
            "trusted forwarders may deliver mail that claims one of our domains without alignment",
            "set override_own_domain = false unless a forwarder really needs it",
        ));
    } else {
        out.push(Finding::pass(
            ID,
            "inbound",
            "mail from the Internet claiming one of our domains without DMARC alignment is refused",
        ));
    }
    out
}

/// NC-2.1.8: rate limits and session limits against denial of service.
pub fn nc_2_1_8(f: &Facts) -> Vec<Finding> {
    const ID: &str = "NC-2.1.8";
    let c = match config(f, ID) {
        Ok(c) => c,
        Err(w) => return vec![w],
    };
    let limits = &c.limits;
    let rates: Vec<String> = c
        .rate_limits
        .iter()
        .map(|r| {
            format!(
                "{:?}/{:?} {} per {} s",
                r.scope, r.what, r.limit, r.window_secs
            )
            .to_lowercase()
        })
        .collect();
    let configured = format!(
        "connections {} ({} per address), message size {} bytes, recipients {}, errors {}; rate limits: {}",
        limits.max_connections,
        limits.max_connections_per_ip,
        limits.max_message_size,
        limits.max_recipients,
        limits.max_errors,
        rates.join("; ")
    );
    let server = f.server.as_ref();
    let mut out = vec![match server.and_then(|s| s.limits.as_ref()) {
        // What the running server enforces, as it reports it.
        Some(l) => Finding::pass(ID, "limits", format!("the running server enforces: {l}")),
        None => Finding::pass(
            ID,
            "limits",
            format!("{configured}{}", from_configuration_only(server)),
        ),
    }];
    if let Some(q) = server.and_then(|s| s.queue.as_ref()) {
        out.push(Finding::pass(
            ID,
            "queue",
            format!(
                "the running server's queue: {} message(s) to deliver{}, {} recipient(s) deferred",
                q.messages,
                q.oldest_received
                    .map(|at| format!(", the oldest {} min old", (f.now - at).max(0) / 60))
                    .unwrap_or_default(),
                q.deferred
            ),
        ));
    }
    if limits.max_connections_per_ip.get() > 1000 {
        out.push(Finding::warn(
            ID,
            "limits.max_connections_per_ip",
            format!(
                "{} connections from one address",
                limits.max_connections_per_ip
            ),
            "lower [limits] max_connections_per_ip (default 50)",
        ));
    }
    out
}

/// NC-2.1.9: local applications' mail through a send-only path.
pub fn nc_2_1_9(f: &Facts) -> Vec<Finding> {
    const ID: &str = "NC-2.1.9";
    let c = match config(f, ID) {
        Ok(c) => c,
        Err(w) => return vec![w],
    };
    match &c.null_client {
        Some(nc) => {
            let off_host: Vec<String> = c
                .listeners
                .iter()
                .filter(|l| !l.address.ip().is_loopback())
                .map(|l| l.address.to_string())
                .collect();
            if off_host.is_empty() {
                vec![Finding::pass(
                    ID,
                    "null client",
                    format!(
                        "send-only, loopback listeners only, to the primary server(s) {} over verified TLS, bounces to {}",
                        nc.primaries.iter().map(|p| format!("{}:{}", p.host, p.port)).collect::<Vec<_>>().join(", "),
                        nc.bounce_address.as_deref().unwrap_or("(unset)")
                    ),
                )]
            } else {
                vec![Finding::fail(
                    ID,
                    "null client",
                    format!("a null client listens off the host: {}", off_host.join(", ")),
                    "bind the null client's listeners to 127.0.0.1 or ::1 only",
                )]
            }
        }
        None => vec![Finding::pass(
            ID,
            "local programs",
            "local programs send through `rampart sendmail` (a durable drop directory read by this server), not through a second mail server",
        )],
    }
}

pub use super::nc_2_2::{nc_2_2_commands, nc_2_2_host, nc_2_2_integrity, nc_2_2_partition};

/// NC-2.3.1 and NC-2.3.3: a firewall in front of the server, only the needed ports open.
pub fn nc_2_3_1(f: &Facts) -> Vec<Finding> {
    let mut out = firewall(f, "NC-2.3.1");
    out.push(attested(
        f,
        "NC-2.3.1",
        "a network firewall controls all traffic between the Internet and the server",
    ));
    out
}

pub fn nc_2_3_3(f: &Facts) -> Vec<Finding> {
    firewall(f, "NC-2.3.3")
}

fn firewall(f: &Facts, id: &'static str) -> Vec<Finding> {
    let Ok(c) = config(f, id) else {
        return vec![config(f, id).unwrap_err()];
    };
    let wanted: Vec<u16> = c.listeners.iter().map(|l| l.address.port()).collect();
    match &f.guard.firewall {
        None => vec![Finding::warn(
            id,
            "host firewall",
            "the host firewall was not examined",
            "run the audit as root on the server host (it reads `nft list table inet rampart`)",
        )],
        Some(fw) if !fw.loaded => vec![Finding::warn(
            id,
            "host firewall",
            "no `inet rampart` nftables table is loaded on the host",
            "load the ruleset: `rampart firewall --apply` (or review `rampart firewall` and load it yourself)",
        )],
        Some(fw) => {
            let extra: Vec<String> = fw
                .open_ports
                .iter()
                .filter(|p| !wanted.contains(p))
                .map(|p| p.to_string())
                .collect();
            if extra.is_empty() {
                vec![Finding::pass(
                    id,
                    "host firewall",
                    format!("the loaded ruleset opens only the listeners' ports {:?}", fw.open_ports),
                )]
            } else {
                vec![Finding::fail(
                    id,
                    "host firewall",
                    format!("the loaded ruleset also opens ports {}", extra.join(", ")),
                    "reload the ruleset from the configuration: `rampart firewall --apply`",
                )]
            }
        }
    }
}

/// NC-2.3.2: virus scanning in both directions; dangerous attachments filtered.
pub fn nc_2_3_2(f: &Facts) -> Vec<Finding> {
    const ID: &str = "NC-2.3.2";
    let c = match config(f, ID) {
        Ok(c) => c,
        Err(w) => return vec![w],
    };
    let mut out = Vec::new();
    if !c.checks.enabled(CheckName::Antivirus) {
        out.push(Finding::fail(
            ID,
            "checks.disabled",
            "the antivirus check is off: mail is not scanned for viruses",
            "remove \"antivirus\" from [checks] disabled and run clamd",
        ));
    } else if c.checks.antivirus.fail_open {
        out.push(Finding::fail(
            ID,
            "checks.antivirus.fail_open",
            "mail passes unscanned when clamd cannot be reached",
            "set [checks.antivirus] fail_open = false (mail then waits with 451 until clamd is back)",
        ));
    } else {
        out.push(Finding::pass(
            ID,
            "antivirus",
            "every message, inbound and outbound, is scanned by clamd (decoded parts too); with clamd unreachable mail waits (451)",
        ));
    }
    if !c.checks.enabled(CheckName::Attachments) {
        out.push(Finding::fail(
            ID,
            "checks.disabled",
            "the attachment check is off: dangerous attachment types pass",
            "remove \"attachments\" from [checks] disabled",
        ));
    } else {
        let must = ["exe", "vbs", "ws", "wsc"];
        let missing: Vec<&str> = must
            .iter()
            .copied()
            .filter(|e| {
                !c.checks
                    .attachments
                    .blocked_extensions
                    .iter()
                    .any(|b| b == e)
            })
            .collect();
        if missing.is_empty() {
            out.push(Finding::pass(
                ID,
                "attachments",
                format!(
                    "{} attachment types blocked (by name and by true type, inside archives too), including .exe, .vbs, .ws, .wsc",
                    c.checks.attachments.blocked_extensions.len()
                ),
            ));
        } else {
            out.push(Finding::fail(
                ID,
                "checks.attachments.blocked_extensions",
                format!("not blocked: .{}", missing.join(", .")),
                "add them back to [checks.attachments] blocked_extensions",
            ));
        }
    }
    out
}

/// NC-2.3.4: mailboxes in a zone apart from the Internet-facing server.
pub fn nc_2_3_4(f: &Facts) -> Vec<Finding> {
    const ID: &str = "NC-2.3.4";
    let c = match config(f, ID) {
        Ok(c) => c,
        Err(w) => return vec![w],
    };
    let public_mx = c
        .listeners
        .iter()
        .any(|l| l.role == Role::Mx && !l.address.ip().is_loopback());
    let local_domains = f
        .directory
        .as_ref()
        .map(|d| d.local_domains.len())
        .unwrap_or(0);
    let mut out = if !c.relay_domains.is_empty() && local_domains == 0 {
        vec![Finding::pass(
            ID,
            "role",
            "this node is a gateway: it holds no mailboxes and forwards to the next hop(s) of its relay domains",
        )]
    } else if public_mx && local_domains > 0 {
        vec![Finding::warn(
            ID,
            "role",
            "this node receives mail from the Internet and holds the mailboxes itself (all in one)",
            "where possible, run a gateway node in front and this node as the mailbox store in a separate zone (docs/DEPLOYMENT.md)",
        )]
    } else {
        vec![Finding::pass(
            ID,
            "role",
            "this node does not face the Internet on an MX listener while holding mailboxes",
        )]
    };
    // A store behind a gateway: whose verdicts it takes, and on what proof (the configuration
    // refuses trust_gateway_verdicts without a client certificate and trusted authserv-ids).
    for l in c.listeners.iter().filter(|l| l.trust_gateway_verdicts) {
        let ca = l
            .client_ca_file
            .as_ref()
            .map_or_else(|| "(none)".to_string(), |p| p.display().to_string());
        out.push(Finding::pass(
            ID,
            "gateway verdicts",
            format!(
                "listener {}: mail from a client whose certificate verifies against {ca} is taken as \
                 checked by the gateway (its checks are not run again); only Authentication-Results \
                 of {} are kept, and they tell whose From was authenticated (AL-1.2)",
                l.address,
                l.trusted_authserv_ids.join(", ")
            ),
        ));
    }
    // On PostgreSQL: the shared store that holds the mailboxes (docs/SCALING.md).
    out.extend(super::store::nc_2_3_4(f));
    out
}

/// NC-2.4.1: intrusion detection watches the server's traffic.
pub fn nc_2_4_1(f: &Facts) -> Vec<Finding> {
    const ID: &str = "NC-2.4.1";
    match &f.guard.ids {
        None => vec![Finding::warn(
            ID,
            "detection",
            "the intrusion detection status was not gathered",
            "run the audit on the server host with the data directory readable",
        )],
        Some(i) if !i.enabled => vec![Finding::fail(
            ID,
            "detection",
            "intrusion detection is switched off",
            "enable it: [ids] enabled = true",
        )],
        Some(i) => vec![Finding::pass(
            ID,
            "detection",
            format!("detectors on every listener: {}", list(&i.detectors)),
        )],
    }
}

/// NC-2.4.2: attacking addresses and subnets are blocked.
pub fn nc_2_4_2(f: &Facts) -> Vec<Finding> {
    const ID: &str = "NC-2.4.2";
    match &f.guard.ids {
        None => vec![Finding::warn(
            ID,
            "bans",
            "the bans were not read",
            "run the audit on the server host with the data directory readable",
        )],
        Some(i) if !i.enabled => vec![Finding::fail(
            ID,
            "bans",
            "no address is banned automatically: intrusion prevention is off",
            "enable it: [ids] enabled = true",
        )],
        Some(i) => vec![Finding::pass(
            ID,
            "bans",
            match f.server.as_ref().and_then(|s| s.bans.as_ref()) {
                Some(b) => format!(
                    "addresses past a detector's threshold are banned at accept on every listener; the running server reports {} in force{}; {} in the last 7 days",
                    b.in_force,
                    b.newest.as_ref().map(|n| format!(", the newest {n}")).unwrap_or_default(),
                    i.bans_7d
                ),
                None => format!(
                    "addresses past a detector's threshold are banned at accept on every listener; {} in force, {} in the last 7 days{}",
                    i.banned_now,
                    i.bans_7d,
                    from_configuration_only(f.server.as_ref())
                ),
            },
        )],
    }
}

/// NC-2.4.3: the logs are kept at least three months.
pub fn nc_2_4_3(f: &Facts) -> Vec<Finding> {
    const ID: &str = "NC-2.4.3";
    let c = match config(f, ID) {
        Ok(c) => c,
        Err(w) => return vec![w],
    };
    let days = u64::from(c.trace.retention_days.get());
    let mut out = vec![if days < MIN_RETENTION_DAYS {
        Finding::fail(
            ID,
            "trace.retention_days",
            format!("the trace is kept {days} days"),
            "set [trace] retention_days to 90 or more",
        )
    } else {
        Finding::pass(
            ID,
            "trace.retention_days",
            format!("the trace, the mailbox audit and the detection events are kept {days} days"),
        )
    }];
    match &f.trace {
        None => out.push(Finding::warn(
            ID,
            "oldest event",
            "the trace was not read",
            "run the audit with the data directory readable",
        )),
        Some(t) => out.push(Finding::pass(
            ID,
            "oldest event",
            match t.oldest_event {
                Some(at) => format!(
                    "the oldest event kept is {} days old",
                    (f.now - at).max(0) / 86_400
                ),
                None => "the trace holds no event yet".to_string(),
            },
        )),
    }
    out
}

/// NC-2.4.4: signatures updated at least weekly.
pub fn nc_2_4_4(f: &Facts) -> Vec<Finding> {
    freshness(f, "NC-2.4.4")
}

pub(crate) fn freshness(f: &Facts, id: &'static str) -> Vec<Finding> {
    // The running server's own view (it asks its clamd) when it reports one; otherwise the
    // audit's, and the evidence says so.
    let (sources, note) = match f.server.as_ref().and_then(|s| s.freshness.as_ref()) {
        Some(s) => (Some(s), "; as the running server reports it"),
        None => (
            f.guard.freshness.as_ref(),
            from_configuration_only(f.server.as_ref()),
        ),
    };
    let mut out = freshness_of(sources, id);
    for finding in &mut out {
        finding.evidence.push_str(note);
    }
    out
}

fn freshness_of(sources: Option<&Vec<crate::facts::SourceAge>>, id: &'static str) -> Vec<Finding> {
    match sources {
        None => vec![Finding::warn(
            id,
            "signatures",
            "the ages of the antivirus signatures and feeds were not gathered",
            "run the audit on the server host (it reads clamd's database directory and the feeds)",
        )],
        Some(sources) if sources.is_empty() => vec![Finding::warn(
            id,
            "signatures",
            "no signature source is configured",
            "run clamd with freshclam and configure URL feeds ([checks.urls] feeds)",
        )],
        Some(sources) => sources
            .iter()
            .map(|s| match s.age_secs {
                None => Finding::fail(
                    id,
                    s.name.clone(),
                    "no data at all",
                    "update it (freshclam for clamd; the feed's download job for a feed)",
                ),
                Some(age) if age > MAX_SIGNATURE_AGE_SECS => Finding::fail(
                    id,
                    s.name.clone(),
                    format!("{} days old", age / 86_400),
                    "update it at least weekly (freshclam runs hourly by default)",
                ),
                Some(age) => Finding::pass(
                    id,
                    s.name.clone(),
                    format!("{:.1} days old", age as f64 / 86_400.0),
                ),
            })
            .collect(),
    }
}

/// NC-2.5: physical security (organisational).
pub fn nc_2_5(f: &Facts) -> Vec<Finding> {
    vec![attested(
        f,
        "NC-2.5",
        "the servers, wiring and network equipment are in locked rooms open to authorised staff only",
    )]
}

/// NC guideline: signatures for sender validation (DKIM).
pub fn nc_guideline_signatures(f: &Facts) -> Vec<Finding> {
    const ID: &str = "NC-guideline";
    match &f.directory {
        None => vec![Finding::warn(
            ID,
            "dkim keys",
            "the DKIM keys were not read",
            "run the audit with the data directory readable",
        )],
        Some(d) => {
            let unsigned: Vec<String> = d
                .local_domains
                .iter()
                .filter(|dom| !d.dkim_domains.contains(dom))
                .cloned()
                .collect();
            if unsigned.is_empty() {
                vec![Finding::pass(
                    ID,
                    "dkim keys",
                    format!("outbound mail is DKIM-signed for {}", list(&d.dkim_domains)),
                )]
            } else {
                vec![Finding::warn(
                    ID,
                    "dkim keys",
                    format!("no DKIM key for {}", unsigned.join(", ")),
                    "rampart dkim generate --domain DOMAIN, then publish the record",
                )]
            }
        }
    }
}

/// NC footnote 2: the User ID and Password Protection Standard.
pub fn nc_fn_password(f: &Facts) -> Vec<Finding> {
    const ID: &str = "NC-fn-password";
    let c = match config(f, ID) {
        Ok(c) => c,
        Err(w) => return vec![w],
    };
    vec![Finding::pass(
        ID,
        "passwords",
        format!(
            "passwords stored as Argon2id hashes only; after {} failures an address is blocked for {} s; sign-in failures are delayed from {} ms",
            c.auth.block_after_failures, c.auth.block_secs, c.auth.failure_delay_ms
        ),
    )]
}

/// NC footnote 2: the Virus Protection Policy.
pub fn nc_fn_virus(f: &Facts) -> Vec<Finding> {
    const ID: &str = "NC-fn-virus";
    let mut out: Vec<Finding> = nc_2_3_2(f)
        .into_iter()
        .map(|x| Finding { control: ID, ..x })
        .collect();
    out.extend(freshness(f, ID));
    out
}
