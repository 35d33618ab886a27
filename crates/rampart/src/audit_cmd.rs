//! `rampart audit`: compliance evidence, control by control (issue 18). With `--remote`, the
//! black-box probes of any SMTP server (rampart_audit::remote); without it, the local audit of
//! this installation (audit_local.rs).
//!
//! Exit status: 0 when nothing fails, 1 when something fails, 2 when the audit could not run.

use rampart_audit::remote::Target;
use rampart_audit::{Finding, Status};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Debug, Default)]
pub struct AuditArgs {
    /// Probe a remote SMTP server, HOST[:PORT] (port 25 unless given), Rampart or not.
    #[arg(long, value_name = "HOST[:PORT]")]
    pub remote: Option<String>,
    /// With --remote: a submission port on the same host to check too (AUTH before STARTTLS).
    #[arg(long, value_name = "P")]
    pub submission_port: Option<u16>,
    /// With --remote: the mail domain the server represents (relay tricks, the postmaster the
    /// smuggling probe writes to, and the DNS records checked).
    #[arg(long, value_name = "D")]
    pub domain: Option<String>,
    /// With --domain: the DNS server to ask, ADDRESS[:PORT] (port 53 unless given); default the
    /// system's resolver.
    #[arg(long, value_name = "SERVER")]
    pub dns: Option<String>,
    /// With --domain: a DKIM selector to look up (repeatable); default the common ones.
    #[arg(long, value_name = "S")]
    pub dkim_selector: Vec<String>,
    /// With --remote: trust anchors (PEM) for the certificate check; default the system's bundle.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// With --remote: connections per second to the server (at most 40 connections in all).
    #[arg(long, default_value_t = 2.0)]
    pub rate: f64,
    /// With --remote: seconds to wait for any connection or reply.
    #[arg(long, default_value_t = 20)]
    pub timeout: u64,
    /// Print the findings as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write the report as one self-contained HTML page an auditor can open and print.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Also write the report as NIST OSCAL assessment results (JSON).
    #[arg(long, value_name = "FILE")]
    pub oscal: Option<PathBuf>,
    #[command(subcommand)]
    pub cmd: Option<crate::audit_local::AuditCmd>,
}

/// The exit status for a finished audit.
fn status(findings: &[Finding]) -> ExitCode {
    if findings.iter().any(|f| f.status == Status::Fail) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn dns_server(spec: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = spec.parse::<SocketAddr>() {
        return Ok(a);
    }
    spec.parse::<std::net::IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| format!("--dns {spec}: expected an address, ADDRESS:PORT or [V6]:PORT"))
}

/// `rampart audit --remote HOST[:PORT] …`.
pub fn run_remote(args: &AuditArgs) -> ExitCode {
    let Some(remote) = args.remote.as_deref() else {
        eprintln!("rampart audit: --remote HOST[:PORT] names the server to probe");
        return ExitCode::from(2);
    };
    let target = match build_target(remote, args) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("rampart audit: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rampart audit: {e}");
            return ExitCode::from(2);
        }
    };
    let findings = match rt.block_on(rampart_audit::remote::audit(&target)) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("rampart audit: could not audit {remote}: {e}");
            return ExitCode::from(2);
        }
    };
    if args.json {
        match serde_json::to_string_pretty(&findings) {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("rampart audit: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        print!("{}", table(&findings, std::io::stdout().is_terminal()));
    }
    status(&findings)
}

fn build_target(remote: &str, args: &AuditArgs) -> Result<Target, String> {
    let (host, port) = Target::parse_host(remote)?;
    let dns = args.dns.as_deref().map(dns_server).transpose()?;
    Ok(Target {
        host,
        port,
        submission_port: args.submission_port,
        domain: args.domain.clone(),
        dns,
        dkim_selectors: args.dkim_selector.clone(),
        ca_file: args.ca_file.clone(),
        rate: args.rate,
        timeout: Duration::from_secs(args.timeout.max(1)),
        // --remote: the behaviour, the smuggling probes are messages to the postmaster.
        self_test: false,
    })
}

/// The findings as a table: control, check, status, evidence, remedy. Colours (of the status
/// only) when `colour`, that is on a terminal.
pub fn table(findings: &[Finding], colour: bool) -> String {
    let wc = findings
        .iter()
        .map(|f| f.control.len())
        .max()
        .unwrap_or(0)
        .max(7);
    let wk = findings
        .iter()
        .map(|f| f.check.chars().count())
        .max()
        .unwrap_or(0)
        .max(5);
    let mut out = format!(
        "{:wc$}  {:wk$}  {:14}  {}\n",
        "CONTROL", "CHECK", "STATUS", "EVIDENCE / REMEDY"
    );
    for f in findings {
        let st = f.status.as_str();
        let shown = if colour {
            let code = match f.status {
                Status::Pass => "32",
                Status::Fail => "31",
                Status::Warn => "33",
                Status::Manual => "36",
                Status::NotApplicable => "90",
            };
            // Padding outside the escape codes keeps the columns aligned.
            format!("\x1b[{code}m{st}\x1b[0m{}", " ".repeat(14 - st.len()))
        } else {
            format!("{st:14}")
        };
        // Replies from a server are untrusted text: no control characters reach the terminal.
        let clean = |s: &str| {
            s.chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect::<String>()
        };
        out.push_str(&format!(
            "{:wc$}  {:wk$}  {shown}  {}\n",
            f.control,
            clean(&f.check),
            clean(&f.evidence)
        ));
        if let Some(r) = &f.remedy {
            out.push_str(&format!(
                "{:wc$}  {:wk$}  {:14}  → {}\n",
                "",
                "",
                "",
                clean(r)
            ));
        }
    }
    let count = |s: Status| findings.iter().filter(|f| f.status == s).count();
    out.push_str(&format!(
        "\n{} pass, {} warn, {} fail, {} not applicable\n",
        count(Status::Pass),
        count(Status::Warn),
        count(Status::Fail),
        count(Status::NotApplicable)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_colour_only_when_asked_and_strips_control_characters() {
        let f = vec![
            Finding::pass("NC-2.1.3", "greeting", "220 mx ESMTP"),
            Finding::fail("NC-2.2", "VRFY answers", "252 \x1b[2Jx", "disable VRFY"),
        ];
        let plain = table(&f, false);
        assert!(!plain.contains('\x1b'), "{plain}");
        assert!(plain.contains("NC-2.2"));
        assert!(plain.contains("→ disable VRFY"));
        let coloured = table(&f, true);
        assert!(coloured.contains("\x1b[31mfail\x1b[0m"));
        assert!(!coloured.contains("\x1b[2J"));
    }

    #[test]
    fn exit_status_is_1_only_when_something_fails() {
        let pass = vec![Finding::pass("NC-2.1.3", "greeting", "220 mx ESMTP")];
        assert_eq!(status(&pass), ExitCode::SUCCESS);
        let mut fail = pass.clone();
        fail.push(Finding::fail("NC-2.2", "VRFY", "252", "x"));
        assert_eq!(status(&fail), ExitCode::from(1));
    }

    #[test]
    fn dns_server_forms() {
        assert_eq!(
            dns_server("127.0.0.1").unwrap(),
            "127.0.0.1:53".parse().unwrap()
        );
        assert_eq!(
            dns_server("127.0.0.1:5353").unwrap(),
            "127.0.0.1:5353".parse().unwrap()
        );
        assert!(dns_server("ns.example").is_err());
    }
}
