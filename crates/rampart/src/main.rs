//! `rampart`: the one binary. `serve` runs the roles the configuration names; the other commands
//! administer the data directory (domains, users, aliases, mailboxes, queue, trace).

mod admin;
mod privileges;
mod serve;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "rampart",
    about = "Secure-by-default mail server and secure email gateway"
)]
struct Cli {
    /// Configuration file (TOML). Without it, the embedded demo configuration is used.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Data directory; overrides the configuration's data_dir.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server. With no --config: the embedded demo on 127.0.0.1:2525.
    Serve,
    /// Domains this server represents (NC-2.1.6).
    #[command(subcommand)]
    Domain(admin::DomainCmd),
    /// User accounts (NC-2.1.2: only those the administrator creates).
    #[command(subcommand)]
    User(admin::UserCmd),
    /// Aliases, inside the represented domains only (AL-4.2).
    #[command(subcommand)]
    Alias(admin::AliasCmd),
    /// Read local mailboxes (a stand-in for HTTPS access).
    #[command(subcommand)]
    Mailbox(admin::MailboxCmd),
    /// Inspect the queue.
    #[command(subcommand)]
    Queue(admin::QueueCmd),
    /// Message trace (AL-3.1): find a message's timeline.
    Trace(admin::TraceArgs),
    /// DKIM signing keys (AL-2.2).
    #[command(subcommand)]
    Dkim(admin::DkimCmd),
    /// Messages held by a check: list, show, release, delete.
    #[command(subcommand)]
    Quarantine(admin::QuarantineCmd),
    /// Print the DNS records a domain should publish (SPF, DKIM, DMARC, MTA-STS, TLS-RPT).
    DnsRecords {
        #[arg(long)]
        domain: String,
        /// Address for DMARC aggregate and TLS reports; default postmaster@DOMAIN.
        #[arg(long)]
        rua: Option<String>,
    },
}

/// NC-2.1.8: blocks of at least this size get their own mapping from glibc's malloc, returned to
/// the system when freed. Setting it fixes the threshold: glibc would otherwise raise it to the
/// size of the largest block freed (up to 32 MiB), so that every 19 MiB Argon2id block after
/// the first came from an arena and stayed there, 2 GB after two bursts of password guessing.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 1 << 20;

/// NC-2.1.8: glibc malloc arenas, at most (its default is 8 per core). Each arena keeps what its
/// threads freed; the blocking pool may run hundreds of threads, each reaching for its own.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENA_MAX: libc::c_int = 4;

/// NC-2.1.8: memory freed after a burst goes back to the system (see [`MMAP_THRESHOLD`]).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    // SAFETY: mallopt only sets parameters of glibc's malloc, with valid values; it runs first
    // in main, before any other thread exists, so nothing allocates while they change.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_ARENA_MAX, ARENA_MAX);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    let demo = cli.config.is_none();
    let mut config = match &cli.config {
        Some(path) => match rampart_config::Config::load(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        },
        None => rampart_config::Config::embedded_default(),
    };
    if let Some(d) = cli.data_dir {
        config.data_dir = d;
    }
    if !matches!(cli.command, Command::Serve) {
        // A command piped into `head` should end quietly when the pipe closes, not panic.
        // (Not for serve: there a closed socket must be an error to handle, not a signal.)
        // SAFETY: setting a signal's disposition to the default has no preconditions.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let result = match cli.command {
        Command::Serve => serve::run(config, demo),
        Command::Domain(c) => admin::domain(&config, c),
        Command::User(c) => admin::user(&config, c),
        Command::Alias(c) => admin::alias(&config, c),
        Command::Mailbox(c) => admin::mailbox(&config, c),
        Command::Queue(c) => admin::queue(&config, c),
        Command::Trace(a) => admin::trace(&config, a),
        Command::Dkim(c) => admin::dkim(&config, c),
        Command::Quarantine(c) => admin::quarantine(&config, c),
        Command::DnsRecords { domain, rua } => admin::dns_records(&config, &domain, rua),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rampart: {e}");
            ExitCode::FAILURE
        }
    }
}
