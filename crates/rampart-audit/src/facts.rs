//! What the audit looks at. The binary gathers these through the same public APIs the CLI uses
//! (configuration, store, host, self-tests, DNS); the evidence functions only read them, so each
//! can be tested with facts made by hand. A field left `None` was not gathered, and every
//! control that needs it says so as a warning instead of passing.

use crate::Finding;
use rampart_config::Config;
use serde::Serialize;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Default)]
pub struct Facts {
    /// The effective configuration (`rampart config show`).
    pub config: Option<Config>,
    /// Settings that load but weaken the server, as `rampart config check` prints them.
    pub config_warnings: Vec<String>,
    /// The host: sockets, filesystems, file modes, the service user.
    pub host: Option<HostFacts>,
    /// The running server, as it answered on its admin socket; `None` when it is not running.
    pub server: Option<ServerFacts>,
    /// The accounts and domains in the store.
    pub directory: Option<DirectoryFacts>,
    /// The trace: its oldest event and recent security events.
    pub trace: Option<TraceFacts>,
    /// Black-box self-tests against our own listeners (the same probes as `--remote`).
    pub probes: Option<Vec<Finding>>,
    /// DNS of every represented domain against the records `rampart dns-records` prints.
    pub dns: Option<Vec<Finding>>,
    /// Intrusion prevention, file integrity and signature freshness, as the running server or
    /// their commands report them; each piece `None` until gathered.
    pub guard: GuardFacts,
    /// Administrators' dated attestations for the organisational controls.
    pub attestations: Vec<Attestation>,
    /// The line at which the attestation log's hash chain breaks: it was altered.
    pub attestations_broken_at: Option<usize>,
    /// Seconds since the epoch at which the facts were gathered.
    pub now: i64,
    /// The shared database of `[store] backend = "postgresql"` as it answered, or why it could
    /// not be asked; `None` on the embedded store (or when not gathered).
    pub postgresql: Option<Result<PostgresFacts, String>>,
}

/// The PostgreSQL database the nodes share (issue 20), as the audit asked it.
#[derive(Debug, Clone, Serialize)]
pub struct PostgresFacts {
    /// `host:port` (or the unix socket) of `[store] url`.
    pub host: String,
    /// Every host of the URL is this machine (loopback or a unix socket).
    pub local: bool,
    pub database: String,
    /// The role Rampart logs in as.
    pub user: String,
    /// `[store] url` requires TLS (the server's certificate verified against `sslrootcert`).
    pub tls_required: bool,
    /// The TLS version of this node's session as the server sees it; `None`: not encrypted.
    pub tls_version: Option<String>,
    /// `SHOW synchronous_commit` in Rampart's own sessions.
    pub synchronous_commit: String,
    /// `SHOW synchronous_commit` in a session that sets nothing: the database's default.
    pub synchronous_commit_default: String,
    /// The schema version the database is at, and the newest this Rampart knows.
    pub schema_version: i32,
    pub schema_latest: i32,
}

/// One listening socket seen in /proc/net.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Socket {
    pub addr: SocketAddr,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct HostFacts {
    /// Every TCP socket in LISTEN state on the host, ours or not.
    pub listening: Vec<Socket>,
    /// Whether the data directory is on a filesystem of its own (not the root filesystem's
    /// device); `None` when it could not be determined.
    pub data_dir_separate: Option<bool>,
    /// The data directory and the mount point it lives on.
    pub data_dir: PathBuf,
    pub data_dir_mount: Option<PathBuf>,
    /// Bytes free on the data directory's filesystem for an unprivileged writer; `None` when
    /// it could not be read.
    pub data_dir_free: Option<u64>,
    /// Inodes free there; `None` when not read or when the filesystem does not count them.
    pub data_dir_free_inodes: Option<u64>,
    /// Files whose modes matter: keys, credentials, the database.
    pub files: Vec<FileFact>,
    /// Certificates the listeners present.
    pub certificates: Vec<CertFact>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileFact {
    pub path: PathBuf,
    /// What it is: `tls key`, `dkim key`, `password file`, `database`, `data directory`.
    pub kind: String,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct CertFact {
    pub path: Option<PathBuf>,
    pub subject: String,
    /// Seconds since the epoch.
    pub not_after: i64,
    pub self_signed: bool,
    /// Public key size in bits (RSA) or the curve's size.
    pub key_bits: u32,
    pub key_algorithm: String,
}

/// What the running server says it does (its admin socket).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerFacts {
    pub pid: u32,
    /// Seconds since the epoch.
    pub started_at: i64,
    /// Each listener it bound: role and address.
    pub listeners: Vec<(String, SocketAddr)>,
    /// The bans in force (NC-2.4.2); `None` when the server did not report them.
    pub bans: Option<ServerBans>,
    /// Its queue (NC-2.1.8).
    pub queue: Option<ServerQueue>,
    /// The ages of the signatures and feeds it uses (NC-2.4.4, AL-1.2).
    pub freshness: Option<Vec<SourceAge>>,
    /// Its last file integrity check (NC-2.2).
    pub integrity: Option<ServerIntegrity>,
    /// The limits it enforces, in words (NC-2.1.8).
    pub limits: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerBans {
    pub in_force: usize,
    /// The newest ban: `198.51.100.7/32 (auth brute force) at 2026-12-03T15:04:05Z`.
    pub newest: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerQueue {
    /// Messages with a recipient still to deliver.
    pub messages: u64,
    /// Seconds since the epoch at which the oldest of them arrived.
    pub oldest_received: Option<i64>,
    /// Recipients waiting for a retry after a temporary failure.
    pub deferred: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerIntegrity {
    /// `checked`, `no-baseline`, `untrusted`, `pending` (not yet run) or `off`.
    pub state: String,
    /// Seconds since the epoch of the last check.
    pub at: Option<i64>,
    pub files: Option<u64>,
    pub findings: Vec<String>,
    pub every_secs: Option<u64>,
}

/// For evidence gathered by the audit itself where the running server's own report was
/// wanted: says why, to be appended to the finding's evidence.
pub fn from_configuration_only(server: Option<&ServerFacts>) -> &'static str {
    match server {
        None => "; server not running: from configuration only",
        Some(_) => "; the running server did not report it: from configuration only",
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DirectoryFacts {
    pub local_domains: Vec<String>,
    pub accounts: Vec<Account>,
    /// Aliases whose targets are outside the represented domains (AL-4.2: must be none).
    pub external_alias_targets: Vec<String>,
    /// Domains with a DKIM signing key.
    pub dkim_domains: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Account {
    pub address: String,
    pub disabled: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TraceFacts {
    /// Seconds since the epoch of the oldest event kept, if any.
    pub oldest_event: Option<i64>,
    /// Authentication failures in the last 7 days.
    pub auth_failures_7d: u64,
    /// Events of the mailbox audit kept (AL-3.1).
    pub mailbox_audit_events: u64,
    /// Messages traced in the last 7 days.
    pub messages_7d: u64,
}

#[derive(Debug, Default)]
pub struct GuardFacts {
    /// Intrusion detection on (NC-2.4.1) and the bans in force (NC-2.4.2).
    pub ids: Option<IdsFacts>,
    /// The file integrity check (NC-2.2).
    pub integrity: Option<IntegrityFacts>,
    /// Ages of antivirus signatures, URL feeds and lists (NC-2.4.4).
    pub freshness: Option<Vec<SourceAge>>,
    /// Whether the nftables ruleset of `rampart firewall` is loaded (NC-2.3.1, NC-2.3.3).
    pub firewall: Option<FirewallFacts>,
    /// System reports scheduled (AL-3.2).
    pub reports: Option<ReportFacts>,
    /// Rspamd, the optional second spam engine (AL-1.2), asked at its `/ping`; `None` when it
    /// is not configured or was not asked.
    pub rspamd: Option<RspamdFacts>,
    /// Scopes of the spam classifier (AL-1.2) holding lessons an older tokeniser taught, which no
    /// longer count; `None` when the store was not read.
    pub classifier_stale: Option<Vec<StaleLessons>>,
}

/// One classifier scope's lessons of an older tokeniser version.
#[derive(Debug, Clone, Serialize)]
pub struct StaleLessons {
    /// `""` for the installation, else the user's address.
    pub scope: String,
    pub spam: u64,
    pub ham: u64,
    /// The tokeniser version the classifier reads with now.
    pub version: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct RspamdFacts {
    /// `[checks.spam.rspamd] url`.
    pub url: String,
    /// Why `/ping` was not answered with `pong`; `None` when it was.
    pub ping_error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct IdsFacts {
    pub enabled: bool,
    pub banned_now: usize,
    pub bans_7d: usize,
    pub detectors: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IntegrityFacts {
    /// None: no baseline exists.
    pub baseline_at: Option<i64>,
    /// Each finding of the last check: `changed /etc/rampart/rampart.toml (sha256)`.
    pub changes: Vec<String>,
    pub signature_valid: bool,
    pub checked_every_secs: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceAge {
    pub name: String,
    /// Age in seconds; None: the source has no data at all.
    pub age_secs: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FirewallFacts {
    pub loaded: bool,
    /// Ports the loaded ruleset accepts.
    pub open_ports: Vec<u16>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReportFacts {
    pub daily_to: Vec<String>,
    pub weekly_to: Vec<String>,
    pub dmarc_reports: bool,
}

/// `rampart audit attest ID --by NAME --note TEXT`.
#[derive(Debug, Clone, Serialize)]
pub struct Attestation {
    pub control: String,
    pub by: String,
    pub note: String,
    /// Seconds since the epoch.
    pub at: i64,
}
