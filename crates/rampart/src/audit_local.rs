//! `rampart audit`: gathers the facts of this installation (configuration, host, store, trace,
//! attestations) through the same APIs the other commands use, and prints the report of every
//! control (crates/rampart-audit). `rampart audit attest ID --by NAME --note TEXT` records an
//! administrator's attestation for an organisational control.

use clap::Subcommand;
use rampart_audit::facts::{DirectoryFacts, Facts, FileFact, TraceFacts};
use rampart_audit::report::Report;
use rampart_audit::{attest, cert, host, registry};
use rampart_config::Config;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// Record that an organisational control (NC-2.5, NC-2.2-host, NC-2.3.1) was checked.
    Attest {
        /// The control's id, e.g. NC-2.5.
        control: String,
        /// Who checked it.
        #[arg(long)]
        by: String,
        /// What was checked, e.g. "server room B: badge access, visitor log".
        #[arg(long)]
        note: String,
    },
}

/// Exit status: 0 nothing fails, 1 something fails, 2 the audit could not run.
pub fn run(
    config: &Config,
    config_path: Option<&std::path::Path>,
    warnings: Vec<String>,
    args: crate::audit_cmd::AuditArgs,
) -> ExitCode {
    if let Some(AuditCmd::Attest { control, by, note }) = args.cmd {
        return attest_cmd(config, &control, &by, &note);
    }
    let facts = match gather(config, config_path, warnings) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("rampart audit: {e}");
            return ExitCode::from(2);
        }
    };
    let report = Report::gather(&facts);
    if let Err(e) = write_files(&report, args.html.as_deref(), args.oscal.as_deref()) {
        eprintln!("rampart audit: {e}");
        return ExitCode::from(2);
    }
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text(std::io::stdout().is_terminal()));
    }
    ExitCode::from(report.exit_code())
}

/// The --html and --oscal files, each written whole (a temporary file renamed into place).
fn write_files(report: &Report, html: Option<&Path>, oscal: Option<&Path>) -> Result<(), String> {
    let write = |path: &Path, text: String| -> Result<(), String> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, path))
            .map_err(|e| {
                format!(
                    "cannot write {}: {e}; check the directory exists and is writable",
                    path.display()
                )
            })
    };
    if let Some(p) = html {
        write(p, rampart_audit::html::render(report))?;
    }
    if let Some(p) = oscal {
        let doc = rampart_audit::oscal::render(report);
        write(
            p,
            serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?,
        )?;
    }
    Ok(())
}

fn attest_cmd(config: &Config, control: &str, by: &str, note: &str) -> ExitCode {
    let Some(c) = registry::find(control) else {
        eprintln!("rampart audit attest: `{control}` is not a control id; `rampart audit` lists them (e.g. NC-2.5)");
        return ExitCode::from(2);
    };
    if by.trim().is_empty() || note.trim().is_empty() {
        eprintln!("rampart audit attest: --by and --note must say who checked what");
        return ExitCode::from(2);
    }
    match attest::append(
        &config.data_dir,
        c.id,
        by.trim(),
        note.trim(),
        &os_user(),
        now(),
    ) {
        Ok(()) => {
            println!("{}: attested by {} ({})", c.id, by.trim(), note.trim());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rampart audit attest: {e}");
            ExitCode::from(2)
        }
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The login name of whoever runs the command, from the environment or the uid.
fn os_user() -> String {
    std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| {
            use std::os::unix::fs::MetadataExt;
            // /proc/self belongs to the process's effective user.
            std::fs::metadata("/proc/self")
                .map(|m| format!("uid {}", m.uid()))
                .unwrap_or_else(|_| "unknown".to_string())
        })
}

/// Every fact the local audit can gather; what cannot be gathered stays `None` and its
/// controls say so.
pub fn gather(
    config: &Config,
    config_path: Option<&std::path::Path>,
    warnings: Vec<String>,
) -> Result<Facts, String> {
    let data_dir = &config.data_dir;
    if !data_dir.is_dir() {
        return Err(format!(
            "the data directory {} does not exist; pass --config (or --data-dir) of the server to audit",
            data_dir.display()
        ));
    }
    let mut facts = Facts {
        config: Some(config.clone()),
        config_warnings: warnings,
        now: now(),
        ..Facts::default()
    };
    let mut h = host::gather(data_dir, key_files(config))
        .map_err(|e| format!("cannot read the host's sockets: {e}"))?;
    let cert_path = config
        .tls
        .cert
        .as_ref()
        .map(|c| c.get_ref().clone())
        .unwrap_or_else(|| data_dir.join("tls").join("cert.pem"));
    if let Ok(pem) = std::fs::read(&cert_path) {
        if let Ok(c) = cert::read_pem(&pem, Some(&cert_path)) {
            h.certificates.push(c);
        }
    }
    facts.host = Some(h);
    facts.server = crate::admin_socket::query(data_dir)?.map(|v| server_facts(&v));
    // The store through its traits, on SQLite and PostgreSQL alike (crate::audit_store).
    let store = crate::audit_store::read(config, facts.now)?;
    facts.directory = store.directory;
    facts.postgresql = store.postgresql;
    facts.guard.classifier_stale = store.classifier_stale;
    guard(config, config_path, store.active_bans, &mut facts);
    self_test(config, &mut facts);
    if let Some(t) = store.trace {
        facts.trace = Some(TraceFacts {
            oldest_event: t.oldest.map(|us| us / 1_000_000),
            auth_failures_7d: t.auth_failures,
            mailbox_audit_events: t.mailbox_events,
            messages_7d: t.messages,
        });
    }
    match attest::read(data_dir) {
        Ok(log) => {
            facts.attestations = log.attestations;
            facts.attestations_broken_at = log.broken_at;
        }
        Err(e) => return Err(format!("cannot read the attestation log: {e}")),
    }
    Ok(facts)
}

/// Intrusion prevention (NC-2.4.1, NC-2.4.2), file integrity (NC-2.2), signature ages
/// (NC-2.4.4) and the host firewall (NC-2.3.1, NC-2.3.3), each from the code that carries it.
fn guard(
    config: &Config,
    config_path: Option<&std::path::Path>,
    active_bans: Option<Vec<rampart_store::NetBan>>,
    facts: &mut Facts,
) {
    use rampart_audit::facts::{FirewallFacts, IdsFacts, IntegrityFacts, SourceAge};
    let now_us = facts.now * 1_000_000;
    if let Some(active) = active_bans {
        let week_ago = now_us - 7 * 86_400 * 1_000_000;
        facts.guard.ids = Some(IdsFacts {
            enabled: config.ids.enabled,
            banned_now: active.len(),
            bans_7d: active.iter().filter(|b| b.created >= week_ago).count(),
            detectors: [
                "auth",
                "harvest",
                "relay",
                "protocol",
                "tls",
                "http_scan",
                "flood",
            ]
            .iter()
            .map(|d| d.to_string())
            .collect(),
        });
    }
    // AL-3.2: the system reports scheduled, and whether DMARC aggregate reports are sent.
    facts.guard.reports = Some(rampart_audit::facts::ReportFacts {
        daily_to: config.reports.daily.clone(),
        weekly_to: config.reports.weekly.clone(),
        dmarc_reports: config.dmarc_reports.send,
    });
    // AL-1.2: the configured Rspamd answers its /ping.
    if let Some(r) = &config.checks.spam.rspamd {
        let ping = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
            .and_then(|rt| rt.block_on(rampart_checks::spam::rspamd::ping(r)));
        facts.guard.rspamd = Some(rampart_audit::facts::RspamdFacts {
            url: r.url.clone(),
            ping_error: ping.err(),
        });
    }
    if config.integrity.enabled {
        let baseline_at = std::fs::metadata(&config.integrity.baseline)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as i64);
        // The configuration file is one of the critical files, by the same absolute path
        // `rampart integrity init` recorded.
        let config_path = config_path.map(|p| std::path::absolute(p).unwrap_or(p.to_path_buf()));
        let outcome =
            crate::integrity::check(config, config_path.as_deref(), &config.integrity.public_key);
        facts.guard.integrity = Some(match outcome {
            crate::integrity::Outcome::NoBaseline(_) => IntegrityFacts {
                baseline_at: None,
                changes: Vec::new(),
                signature_valid: false,
                checked_every_secs: Some(u64::from(config.integrity.interval_secs.get())),
            },
            crate::integrity::Outcome::Untrusted(_) => IntegrityFacts {
                baseline_at,
                changes: Vec::new(),
                signature_valid: false,
                checked_every_secs: Some(u64::from(config.integrity.interval_secs.get())),
            },
            crate::integrity::Outcome::Checked { findings, .. } => IntegrityFacts {
                baseline_at,
                changes: findings.iter().map(|f| f.to_string()).collect(),
                signature_valid: true,
                checked_every_secs: Some(u64::from(config.integrity.interval_secs.get())),
            },
        });
    }
    let ages = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map(|rt| rt.block_on(crate::freshness::source_ages(config)));
    if let Ok(ages) = ages {
        let now = std::time::SystemTime::now();
        facts.guard.freshness = Some(
            ages.into_iter()
                .map(|a| SourceAge {
                    name: match &a.path {
                        Some(p) => format!("{} ({})", a.source, p.display()),
                        None => a.source.to_string(),
                    },
                    age_secs: a
                        .date
                        .and_then(|d| now.duration_since(d).ok())
                        .map(|d| d.as_secs() as i64),
                })
                .collect(),
        );
    }
    // The loaded ruleset, when nft can be asked (root); otherwise not gathered.
    if let Ok(out) = std::process::Command::new("nft")
        .args(["list", "table", "inet", "rampart"])
        .output()
    {
        let text = String::from_utf8_lossy(&out.stdout);
        let permitted = out.status.success()
            || String::from_utf8_lossy(&out.stderr).contains("No such file or directory");
        if permitted {
            let open_ports = text
                .split("dport ")
                .skip(1)
                .filter_map(|t| t.split_whitespace().next()?.parse().ok())
                .collect();
            facts.guard.firewall = Some(FirewallFacts {
                loaded: out.status.success(),
                open_ports,
            });
        }
    }
}

/// The black-box probes of `--remote`, against this server's own MX listener (and submission
/// listener) as the running server reports them, with the first local domain for the relay
/// tricks and the DNS records. Without a running server they are not run, and the controls
/// that need them say so.
fn self_test(config: &Config, facts: &mut Facts) {
    let Some(server) = &facts.server else { return };
    let Some((_, mx)) = server.listeners.iter().find(|(r, _)| r == "mx") else {
        return;
    };
    let loopback = |a: &std::net::SocketAddr| {
        if a.ip().is_unspecified() {
            std::net::IpAddr::from([127, 0, 0, 1])
        } else {
            a.ip()
        }
    };
    let dkim_selectors = rampart_queue::dkim::list(&config.data_dir)
        .into_iter()
        .map(|(_, selector, ..)| selector)
        .collect();
    let target = rampart_audit::remote::Target {
        host: loopback(mx).to_string(),
        port: mx.port(),
        submission_port: server
            .listeners
            .iter()
            .find(|(r, _)| r == "submission")
            .map(|(_, a)| a.port()),
        domain: facts
            .directory
            .as_ref()
            .and_then(|d| d.local_domains.first().cloned()),
        dns: config.dns.servers.first().copied(),
        dkim_selectors,
        ca_file: None,
        rate: 5.0,
        timeout: std::time::Duration::from_secs(10),
        // Nothing of the self-test may reach a mailbox (the smuggling probes included).
        self_test: true,
    };
    // NC-2.4.1: the probes are abuse by design (smuggling variants, relay tricks); the server is
    // asked not to count this host while they run, so the audit does not ban 127.0.0.1.
    let window = crate::admin_socket::request(&config.data_dir, "self-test-begin");
    let findings = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| {
            rt.block_on(async {
                let mut all = rampart_audit::remote::audit(&target).await?;
                all.extend(dkim_published(config, &target, facts.directory.as_ref()).await);
                Ok::<_, String>(all)
            })
        });
    if matches!(window, Ok(Some(_))) {
        let _ = crate::admin_socket::request(&config.data_dir, "self-test-end");
    }
    match findings {
        Ok(all) => {
            facts.dns = Some(
                all.iter()
                    .filter(|f| f.control.starts_with("AL-2."))
                    .cloned()
                    .collect(),
            );
            facts.probes = Some(all);
        }
        Err(e) => {
            facts.probes = Some(vec![rampart_audit::Finding::warn(
                "NC-2.1.3",
                "self-test",
                format!(
                    "the self-tests could not reach {}:{}: {e}",
                    target.host, target.port
                ),
                "check that the MX listener accepts connections from this host",
            )]);
        }
    }
}

/// AL-2.2: for every represented domain with a DKIM key, the key published at each selector
/// against the key Rampart signs with, the record being the one `rampart dns-records` prints.
async fn dkim_published(
    config: &Config,
    target: &rampart_audit::remote::Target,
    directory: Option<&DirectoryFacts>,
) -> Vec<rampart_audit::Finding> {
    let keys = rampart_queue::dkim::list(&config.data_dir);
    let mut out = Vec::new();
    for domain in directory.map(|d| d.local_domains.as_slice()).unwrap_or(&[]) {
        let mine: Vec<rampart_audit::remote::DkimKey> = keys
            .iter()
            .filter(|(d, ..)| d.eq_ignore_ascii_case(domain))
            .map(|(d, selector, alg, _)| {
                // An unreadable key gives an empty p=, which the judgement reports as such.
                let public = rampart_queue::dkim::public_key(&config.data_dir, d, selector, *alg)
                    .unwrap_or_default();
                rampart_audit::remote::DkimKey {
                    selector: selector.clone(),
                    record: rampart_checks::auth::dkim_record(
                        match alg {
                            rampart_queue::dkim::Algorithm::Rsa => "rsa",
                            rampart_queue::dkim::Algorithm::Ed25519 => "ed25519",
                        },
                        &public,
                    ),
                }
            })
            .collect();
        out.extend(rampart_audit::remote::dkim_keys(target, domain, &mine).await);
    }
    out
}

fn server_facts(v: &serde_json::Value) -> rampart_audit::facts::ServerFacts {
    use rampart_audit::facts::{ServerBans, ServerIntegrity, ServerQueue, SourceAge};
    let bans = v["bans"]["in_force"].as_u64().map(|n| ServerBans {
        in_force: n as usize,
        newest: v["bans"]["newest"]["network"].as_str().map(|net| {
            format!(
                "{net} ({}) at {}",
                v["bans"]["newest"]["reason"].as_str().unwrap_or("?"),
                rampart_audit::rfc3339(v["bans"]["newest"]["created"].as_i64().unwrap_or(0))
            )
        }),
    });
    let queue = v["queue"]["messages"].as_u64().map(|messages| ServerQueue {
        messages,
        oldest_received: v["queue"]["oldest_received"].as_i64(),
        deferred: v["queue"]["deferred"].as_u64().unwrap_or(0),
    });
    let freshness = v["freshness"].as_array().map(|a| {
        a.iter()
            .map(|s| SourceAge {
                name: s["name"].as_str().unwrap_or("?").to_string(),
                age_secs: s["age_secs"].as_i64(),
            })
            .collect()
    });
    let integrity = v["integrity"]["state"]
        .as_str()
        .map(|state| ServerIntegrity {
            state: state.to_string(),
            at: v["integrity"]["at"].as_i64(),
            files: v["integrity"]["files"].as_u64(),
            findings: v["integrity"]["findings"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            every_secs: v["integrity"]["every_secs"].as_u64(),
        });
    let l = &v["limits"];
    let limits = l["max_connections"].as_u64().map(|max| {
        format!(
            "connections {max} ({} per address), message size {} bytes, recipients {}, errors {}; rate limits: {}",
            l["max_connections_per_ip"],
            l["max_message_size"],
            l["max_recipients"],
            l["max_errors"],
            l["rate_limits"]
                .as_array()
                .map(|a| a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join("; "))
                .unwrap_or_default()
        )
    });
    rampart_audit::facts::ServerFacts {
        bans,
        queue,
        freshness,
        integrity,
        limits,
        pid: v["pid"].as_u64().unwrap_or(0) as u32,
        started_at: v["started_at"].as_i64().unwrap_or(0),
        listeners: v["listeners"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|l| {
                        let addr = l["address"].as_str()?.parse().ok()?;
                        Some((l["role"].as_str()?.to_string(), addr))
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Keys and credentials whose modes the audit checks.
fn key_files(config: &Config) -> Vec<FileFact> {
    let d = &config.data_dir;
    let mut want: Vec<(PathBuf, &str)> = vec![
        (d.clone(), "data directory"),
        (d.join("rampart.db"), "database"),
        (
            config
                .tls
                .key
                .as_ref()
                .map(|k| k.get_ref().clone())
                .unwrap_or_else(|| d.join("tls").join("key.pem")),
            "tls key",
        ),
    ];
    for (_, _, _, path) in rampart_queue::dkim::list(d) {
        want.push((path, "dkim key"));
    }
    if let Some(p) = config
        .delivery
        .smarthost
        .as_ref()
        .and_then(|s| s.password_file.clone())
    {
        want.push((p, "password file"));
    }
    // NC-2.1.4: the PostgreSQL password of `[store] backend = "postgresql"`.
    if let Some(p) = &config.store.password_file {
        want.push((p.clone(), "password file"));
    }
    for r in &config.relay_domains {
        if let Some(p) = &r.password_file {
            want.push((p.clone(), "password file"));
        }
        if let Some(p) = &r.client_key {
            want.push((p.clone(), "tls key"));
        }
    }
    want.iter()
        .filter_map(|(p, kind)| host::file_fact(p, kind))
        .collect()
}
