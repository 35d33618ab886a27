//! `rampart`: the one binary. `serve` runs the roles the configuration names; the other commands
//! administer the data directory (domains, users, aliases, mailboxes, queue, trace).

mod admin;
mod admin_accounts;
mod admin_mailbox;
mod admin_pg;
mod admin_pg_mailbox;
mod admin_pg_security;
mod admin_queue;
mod admin_socket;
mod admin_status;
mod admin_user;
mod allocator;
mod audit_cmd;
mod audit_local;
mod audit_store;
mod ban;
mod console;
mod dkim_pg;
mod docs;
mod firewall;
mod freshness;
mod integrity;
mod jmap;
mod metrics;
mod mta_sts;
mod notice;
mod notify;
mod password_policy;
mod privileges;
mod queue_bounce;
mod reload;
mod report_dmarc;
mod report_summary;
mod report_tls;
mod sendmail;
mod serve;
mod serve_store;
mod spam_cmd;
mod spam_score;
mod store_cmd;
mod store_migrate;
mod unblock_watch;
mod walbuf;
mod webmail;

use clap::{CommandFactory, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "rampart",
    version,
    about = "Secure-by-default mail server and secure email gateway"
)]
struct Cli {
    /// Configuration file (TOML). Without it, the embedded demo configuration is used.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Data directory; overrides the configuration's data_dir. It must exist, unless
    /// --create-data-dir is given.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Create the --data-dir directory (and its parents) if it does not exist.
    #[arg(long, global = true)]
    create_data_dir: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server. With no --config: the embedded demo on 127.0.0.1:2525.
    Serve,
    /// The configuration: print the effective one, or check a file without starting.
    #[command(subcommand)]
    Config(admin::ConfigCmd),
    /// Administrators of the console (role, password, TOTP), separate from mail users.
    #[command(subcommand)]
    Admin(admin_accounts::AdminCmd),
    /// Domains this server represents (NC-2.1.6).
    #[command(subcommand)]
    Domain(admin::DomainCmd),
    /// User accounts (NC-2.1.2: only those the administrator creates).
    #[command(subcommand)]
    User(admin::UserCmd),
    /// Aliases, inside the represented domains only (AL-4.2).
    #[command(subcommand)]
    Alias(admin::AliasCmd),
    /// Local mailboxes: read one (audited), delegation grants, the mailbox audit (AL-3.1).
    #[command(subcommand)]
    Mailbox(admin::MailboxCmd),
    /// The queue: list it; retry, hold, release or delete a message.
    #[command(subcommand)]
    Queue(admin_queue::QueueCmd),
    /// Message trace (AL-3.1): find a message's timeline.
    Trace(admin::TraceArgs),
    /// The store (SQLite or PostgreSQL, `[store]`): apply its schema migrations.
    #[command(subcommand)]
    Store(store_cmd::StoreCmd),
    /// Intrusion prevention's bans and allow-list (NC-2.4.2).
    #[command(subcommand)]
    Ban(ban::BanCmd),
    /// DKIM signing keys (AL-2.2).
    #[command(subcommand)]
    Dkim(admin::DkimCmd),
    /// Messages held by a check: list, show, release, delete.
    #[command(subcommand)]
    Quarantine(admin::QuarantineCmd),
    /// Compliance evidence for every control of NC's and AL's standards: pass, fail, warn,
    /// manual or not applicable, each with its evidence and, for a fail or warn, the fix.
    /// `--remote HOST[:PORT]`: the black-box probes of any SMTP server. Exit 0 when nothing
    /// fails, 1 when something does, 2 when the audit could not run.
    Audit(audit_cmd::AuditArgs),
    /// Print the DNS records a domain should publish (SPF, DKIM, DMARC, MTA-STS, TLS-RPT).
    DnsRecords {
        /// The domain whose records to print.
        #[arg(long)]
        domain: String,
        /// Address for DMARC aggregate and TLS reports; default postmaster@DOMAIN.
        #[arg(long)]
        rua: Option<String>,
    },
    /// Print (or with --apply load) the nftables ruleset that opens only the listeners' ports
    /// and drops banned addresses (NC-2.3.1, NC-2.3.3, NC-2.4.2).
    Firewall(firewall::FirewallArgs),
    /// The file integrity checker (NC-2.2): record, check or re-sign the baseline of the
    /// critical files.
    #[command(subcommand)]
    Integrity(integrity::IntegrityCmd),
    /// The sendmail-compatible command (NC-2.1.9): a message on standard input goes durably to
    /// the drop directory, which the server picks up. Sendmail's flags: -t, -f, -F, -i/-oi,
    /// -bm, -bs, -bp, -v. Also run as `sendmail` or `mailq` (a symlink to this binary); then
    /// the configuration is $RAMPART_CONFIG or /etc/rampart/rampart.toml.
    Sendmail {
        /// Sendmail's own flags and recipients.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Writes the manual pages (man8/, man5/) and shell completions (completions/) into DIR,
    /// for the package (scripts/package.sh).
    #[command(hide = true)]
    GenerateDocs {
        /// The directory to write into.
        dir: PathBuf,
    },
    /// Reports: the system report (AL-3.2), TLS reports (RFC 8460) and DMARC aggregate reports (RFC 7489), received and
    /// to be sent.
    #[command(subcommand)]
    Report(ReportCmd),
    /// The spam classifier (AL-1.2): train it from files, or show what it learned.
    #[command(subcommand)]
    Spam(spam_cmd::SpamCmd),
}

#[derive(Subcommand)]
enum ReportCmd {
    /// TLS reports (RFC 8460): those received about our domains, or with --outgoing ours.
    Tls(report_tls::TlsArgs),
    /// The system report (AL-3.2): volumes, verdicts per check, what was blocked,
    /// authentication failures, bans, deliveries, TLS and the quarantine over a day, week or
    /// month, counted from the trace; as text, --json or --html, or mailed with --send.
    Summary(report_summary::SummaryArgs),
    /// DMARC aggregate reports (AL-2.3, RFC 7489): those received about our domains per source,
    /// failing sources first; --outgoing ours; --send-now sends ours at once.
    Dmarc(report_dmarc::DmarcArgs),
}

fn main() -> ExitCode {
    allocator::tune_allocator();
    // Before anything opens the store: its writer asks for this VFS by name.
    if !walbuf::register() {
        eprintln!(
            "note: the WAL write buffering could not be set up; the store writes frame by frame"
        );
    }
    // NC-2.1.9: run as `sendmail` or `mailq` (argv[0]), the command line is sendmail's own.
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if let Some(mailq) = argv.first().and_then(|a| sendmail::invoked_as(a)) {
        default_sigpipe();
        return match sendmail::load_config() {
            Ok(config) => sendmail::run(&config, &argv[1..], mailq),
            Err(e) => {
                eprintln!("sendmail: {e}");
                ExitCode::from(sendmail::EX_CONFIG)
            }
        };
    }
    let cli = Cli::parse();
    if let Command::GenerateDocs { dir } = &cli.command {
        // Needs no configuration and touches no data directory.
        return match docs::generate(Cli::command(), dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!(
                    "rampart: cannot write the documentation to {}: {e}",
                    dir.display()
                );
                ExitCode::FAILURE
            }
        };
    }
    if let Command::Config(admin::ConfigCmd::Check { file }) = &cli.command {
        // Checks a file without starting anything: no data directory is touched.
        return admin::config_check(file.as_deref().or(cli.config.as_deref()));
    }
    if let Command::Audit(
        a @ audit_cmd::AuditArgs {
            remote: Some(_), ..
        },
    ) = &cli.command
    {
        // The remote audit reads no configuration and touches no data directory.
        default_sigpipe();
        return audit_cmd::run_remote(a);
    }
    let demo = cli.config.is_none();
    let (mut config, warnings) = match &cli.config {
        Some(path) => match rampart_config::Config::load_with_warnings(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        },
        // The command local programs call never sends through the embedded demo.
        None if matches!(cli.command, Command::Sendmail { .. }) => match sendmail::load_config() {
            Ok(c) => (c, Vec::new()),
            Err(e) => {
                eprintln!("sendmail: {e}");
                return ExitCode::from(sendmail::EX_CONFIG);
            }
        },
        None => rampart_config::Config::embedded_default_with_warnings(),
    };
    if let Some(d) = cli.data_dir {
        // The embedded demo's own directory may be named and is created as without the flag.
        let demo_dir = demo && (d == Path::new("rampart-data") || d == Path::new("./rampart-data"));
        if let Err(e) = data_dir_exists(&d, cli.create_data_dir || demo_dir) {
            eprintln!("rampart: {e}");
            return ExitCode::from(2);
        }
        config.data_dir = d;
    }
    if matches!(cli.command, Command::Serve) {
        // Loud, before anything starts: settings that weaken the server.
        for w in &warnings {
            eprintln!("{w}");
        }
    }
    if !matches!(cli.command, Command::Serve) {
        // (Not for serve: there a closed socket must be an error to handle, not a signal.)
        default_sigpipe();
    }
    // Issue 20: the directory, token, mailbox, queue, trace, quarantine, ban and DKIM commands
    // run on PostgreSQL through the store (admin_pg.rs); the others below open it themselves.
    if config.store.backend == rampart_config::StoreBackend::Postgresql {
        let directory = match &cli.command {
            Command::Domain(c) => Some(admin_pg::DirectoryCmd::Domain(c)),
            Command::User(c) => Some(admin_pg::DirectoryCmd::User(c)),
            Command::Alias(c) => Some(admin_pg::DirectoryCmd::Alias(c)),
            Command::Trace(a) => Some(admin_pg::DirectoryCmd::Trace(a)),
            Command::Queue(c) => Some(admin_pg::DirectoryCmd::Queue(c)),
            Command::Quarantine(c) => Some(admin_pg::DirectoryCmd::Quarantine(c)),
            Command::Ban(c) => Some(admin_pg::DirectoryCmd::Ban(c)),
            Command::Mailbox(c) => Some(admin_pg::DirectoryCmd::Mailbox(c)),
            Command::Dkim(c) => Some(admin_pg::DirectoryCmd::Dkim(c)),
            _ => None,
        };
        if let Some(cmd) = directory.filter(|c| c.supported()) {
            return match admin_pg::run(&config, cmd) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            };
        }
    }
    let refused = match cli.command {
        Command::Serve => store_cmd::refuse_incomplete(&config),
        // These read the store through its traits, on either backend: the system report counts
        // the trace (AL-3.2), the audit reads its evidence (audit_store.rs).
        // The console's administrators are the shared database's on PostgreSQL (issue 20).
        Command::Store(_)
        | Command::Admin(_)
        | Command::Config(_)
        | Command::Audit(_)
        | Command::Report(ReportCmd::Summary(_))
        // Issue 20: these too, the DKIM keys of the database included (dns-records).
        | Command::Report(ReportCmd::Tls(_))
        | Command::Report(ReportCmd::Dmarc(_))
        | Command::DnsRecords { .. }
        | Command::Spam(_)
        | Command::Firewall(_)
        // Node-local: the integrity baseline of this node's files (NC-2.2), and the drop
        // directory this node's server picks up into the shared queue (NC-2.1.9).
        | Command::Integrity(_)
        | Command::Sendmail { .. } => Ok(()),
        _ => store_cmd::refuse_postgresql(&config),
    };
    if let Err(e) = refused {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let result = match cli.command {
        Command::Audit(args) => {
            let warnings = warnings.iter().map(|w| w.to_string()).collect();
            return audit_local::run(&config, cli.config.as_deref(), warnings, args);
        }
        Command::Sendmail { args } => return sendmail::run(&config, &args, false),
        Command::Serve => serve::run(config, cli.config.as_deref(), demo),
        Command::Config(admin::ConfigCmd::Show) => admin::config_show(&config),
        // Answered above, before any configuration was loaded.
        Command::Config(admin::ConfigCmd::Check { .. }) => Ok(()),
        Command::Admin(c) => admin_accounts::run(&config, c),
        Command::Domain(c) => admin::domain(&config, c),
        Command::User(c) => admin::user(&config, c),
        Command::Alias(c) => admin::alias(&config, c),
        Command::Mailbox(c) => admin::mailbox(&config, c),
        Command::Queue(c) => admin_queue::run(&config, c),
        Command::Trace(a) => admin::trace(&config, a),
        Command::Store(c) => store_cmd::run(&config, c),
        Command::Ban(c) => ban::run(&config, c),
        Command::Dkim(c) => admin::dkim(&config, c),
        Command::Quarantine(c) => admin::quarantine(&config, c),
        Command::DnsRecords { domain, rua } => admin::dns_records(&config, &domain, rua),
        Command::Firewall(a) => firewall::run(&config, a).map_err(Into::into),
        Command::Integrity(c) => {
            integrity::run(&config, cli.config.as_deref(), c).map_err(Into::into)
        }
        Command::Report(ReportCmd::Tls(a)) => report_tls::tls(&config, a),
        Command::Spam(c) => spam_cmd::run(&config, c),
        Command::Report(ReportCmd::Summary(a)) => report_summary::summary(&config, a),
        Command::Report(ReportCmd::Dmarc(a)) => report_dmarc::dmarc(&config, a),
        // Answered above, before any configuration was loaded.
        Command::GenerateDocs { .. } => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, for a person and for a script's log alike.
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A command piped into `head` should end quietly when the pipe closes, not panic.
fn default_sigpipe() {
    // SAFETY: setting a signal's disposition to the default has no preconditions.
    #[allow(unsafe_code)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// A --data-dir that does not exist is a typo more often than a wish for a new tree: it is
/// created only when asked (the embedded demo's own ./rampart-data is created as before).
fn data_dir_exists(dir: &Path, create: bool) -> Result<(), String> {
    if dir.is_dir() {
        return Ok(());
    }
    if dir.exists() {
        return Err(format!(
            "--data-dir {} is not a directory; name a directory",
            dir.display()
        ));
    }
    if create {
        return std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create --data-dir {}: {e}", dir.display()));
    }
    Err(format!(
        "--data-dir {} does not exist; create it (mkdir -p {}) or add --create-data-dir",
        dir.display(),
        dir.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every subcommand and every argument carries its help text, so `--help` at any depth
    /// says what each thing is (issue 19 item 6).
    #[test]
    fn every_command_and_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for a in cmd.get_arguments() {
                let builtin = matches!(a.get_id().as_str(), "help" | "version");
                if !builtin && a.get_help().is_none() && a.get_long_help().is_none() {
                    missing.push(format!("{path} <{}>", a.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                let p = format!("{path} {}", sub.get_name());
                if sub.get_name() != "help" && sub.get_about().is_none() {
                    missing.push(p.clone());
                }
                walk(sub, &p, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "rampart", &mut missing);
        assert!(missing.is_empty(), "without help text: {missing:#?}");
    }
}
