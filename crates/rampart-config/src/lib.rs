//! Typed configuration for Rampart, with secure defaults and validation.
//!
//! The configuration is TOML, parsed once into the structs below. Every field is documented where
//! it is declared, and `rampart.example.toml` at the repository root shows each of them. A bad file
//! never half-starts the server: [`Config::load`] returns every problem it found, each as one line
//! that names the file, the line, the key and what to do. Settings that are valid but weaken the
//! server come back as [`Warning`]s beside the configuration ([`Config::load_with_warnings`]).
//!
//! Defaults live in one place per section: its `impl Default`, which `#[serde(default)]` fills
//! missing keys from. [`Config`] serialises back to TOML ([`Config::to_toml`]) for
//! `rampart config show`; it holds no secret (the smarthost password is a file path).
//!
//! Modules: [`server`] (listeners, limits, timeouts, AUTH, trace, log), [`http`] (the HTTPS
//! listeners' limits), [`relay`] (who may relay, rate limits), [`delivery`] (DNS, outbound),
//! [`null_client`] (the null-client mode, NC-2.1.9), `validate` (checks beyond types), [`report`] (errors and warnings), `load` (reading,
//! defaults, merging, showing).
//!
//! Secure defaults (NC-2.1.1): nothing listens unless a `[[listener]]` is configured. The embedded
//! demo ([`Config::embedded_default`]) listens on loopback only.

pub mod delivery;
pub mod dmarc_reports;
pub mod http;
pub mod ids;
pub mod integrity;
mod load;
pub mod mta_sts;
pub mod null_client;
pub mod passwords;
pub mod recipient_verify;
pub mod relay;
pub mod relay_domain;
pub mod report;
pub mod reports;
pub mod sendmail;
pub mod server;
pub mod store;
mod validate;

pub use delivery::{DeliveryConfig, DnsConfig, Smarthost, SmarthostTls, TlsPolicy};
pub use dmarc_reports::DmarcReportsConfig;
pub use http::{HttpConfig, WebmailConfig};
pub use ids::{IdsConfig, Threshold};
pub use integrity::{FreshnessConfig, IntegrityConfig};
pub use ipnet::IpNet;
pub use mta_sts::{Dnssec, MtaStsConfig, StsMode};
pub use null_client::{NullClientConfig, Primary};
pub use passwords::PasswordsConfig;
pub use recipient_verify::RecipientVerify;
pub use relay::{default_rate_limits, RateLimit, RateScope, RateWhat, RelayConfig};
pub use relay_domain::RelayDomain;
pub use report::{line_of, ConfigError, ConfigErrors, Warning};
pub use reports::ReportsConfig;
pub use sendmail::SendmailConfig;
pub use server::{
    AuditConfig, AuthConfig, Limits, Listener, LogConfig, LogFormat, RelayFrom, Role, Timeouts,
    TlsConfig, TraceConfig,
};
pub use store::{StoreBackend, StoreConfig};
pub use validate::is_hostname;

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use toml::Spanned;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Host name of this server: used in the greeting (`220 <hostname> ESMTP`), the EHLO reply,
    /// Received headers and the self-signed certificate generated when no certificate is configured.
    /// Required in a configuration file; only the embedded demo uses `mail.example.test`.
    pub hostname: Spanned<String>,
    /// Data directory: the SQLite database (queue, mailboxes, trace), message files and generated
    /// TLS key. Put it on its own filesystem, separate from the operating system (NC-2.2).
    pub data_dir: PathBuf,
    /// User to switch to after the listeners are bound, when started as root (e.g. to bind port 25).
    /// The data directory is handed to this user before the switch.
    pub run_as: Option<String>,
    /// How long (seconds) SIGTERM waits for sessions in flight before closing them with 421.
    pub shutdown_grace_secs: u64,
    /// Logging.
    pub log: LogConfig,
    /// TLS certificate and key for STARTTLS, implicit TLS and HTTPS.
    pub tls: TlsConfig,
    /// Listening sockets. Nothing listens unless configured here (NC-2.1.1).
    #[serde(rename = "listener")]
    pub listeners: Vec<Listener>,
    /// Limits on sessions and messages (NC-2.1.8; RFC 5321 section 4.5.3).
    pub limits: Limits,
    /// Timeouts per session state, in seconds (RFC 5321 section 4.5.3.2).
    pub timeouts: Timeouts,
    /// Limits of the HTTPS listeners (NC-2.1.8).
    pub http: HttpConfig,
    /// The webmail's sessions (AL-4.1, NC-2.1.4).
    pub webmail: WebmailConfig,
    /// Message trace (AL-3.1) and its retention (NC-2.4.3).
    pub trace: TraceConfig,
    /// The mailbox audit (AL-3.1): where logins come from.
    pub audit: AuditConfig,
    /// Authentication on the submission listeners (NC-2.1.4).
    pub auth: AuthConfig,
    /// Intrusion detection and prevention: detectors, bans, allow-list, retention (NC-2.4).
    pub ids: IdsConfig,
    /// Who may relay without authenticating (NC-2.1.5).
    pub relay: RelayConfig,
    /// Rate limits for mail that is relayed (NC-2.1.8). The six of [`default_rate_limits`] always
    /// apply; a `[[rate_limit]]` replaces the default with the same scope and what, and adds to
    /// the rest. To loosen a default, raise it.
    #[serde(rename = "rate_limit")]
    pub rate_limits: Vec<RateLimit>,
    /// DNS resolution: outbound delivery, blocklists and URL lists, and (unless
    /// `[checks.authentication] dns_servers` names others) SPF, DKIM, DMARC and ARC.
    pub dns: DnsConfig,
    /// Outbound delivery: MX lookup, TLS, retries, bounces.
    pub delivery: DeliveryConfig,
    /// The MTA-STS policy published for the represented domains (RFC 8461 section 3).
    pub mta_sts: MtaStsConfig,
    /// Content checks of the gateway (AL-1.2 to AL-1.6, NC-2.3.2). All are on by default.
    pub checks: ChecksConfig,
    /// The `rampart sendmail` command and its drop directory (NC-2.1.9).
    pub sendmail: SendmailConfig,
    /// The null-client mode (NC-2.1.9): present, this host only sends local applications' mail
    /// to the primary server(s) named here. See `rampart.null-client.example.toml`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub null_client: Option<NullClientConfig>,
    /// The gateway role (AL-1, NC-2.3.4): domains forwarded to an internal next hop after the
    /// checks, for recipients that exist there. See `rampart.gateway.example.toml`.
    #[serde(rename = "relay_domain", skip_serializing_if = "Vec::is_empty")]
    pub relay_domains: Vec<RelayDomain>,
    /// The file integrity checker (NC-2.2).
    pub integrity: IntegrityConfig,
    /// The age of virus signatures and URL feeds (NC-2.4.4, AL-1.2).
    pub freshness: FreshnessConfig,
    /// The policy for users' passwords: minimum length, common passwords refused.
    pub passwords: PasswordsConfig,
    /// The system reports (AL-3.2) mailed daily, weekly and monthly.
    pub reports: ReportsConfig,
    /// DMARC aggregate reports sent and received (AL-2.3).
    pub dmarc_reports: DmarcReportsConfig,
    /// Where the node's state lives: SQLite (the default) or a shared PostgreSQL.
    pub store: StoreConfig,
}

pub use rampart_checks::pipeline::{CheckName, ChecksConfig};

impl Default for Config {
    fn default() -> Self {
        Config {
            // Span 0..0: not written in any file.
            hostname: Spanned::new(0..0, "mail.example.test".to_string()),
            data_dir: PathBuf::from("rampart-data"),
            run_as: None,
            shutdown_grace_secs: 30,
            log: LogConfig::default(),
            tls: TlsConfig::default(),
            listeners: Vec::new(),
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            http: HttpConfig::default(),
            webmail: WebmailConfig::default(),
            trace: TraceConfig::default(),
            audit: AuditConfig::default(),
            auth: AuthConfig::default(),
            ids: IdsConfig::default(),
            relay: RelayConfig::default(),
            rate_limits: default_rate_limits(),
            dns: DnsConfig::default(),
            delivery: DeliveryConfig::default(),
            mta_sts: MtaStsConfig::default(),
            checks: ChecksConfig::default(),
            sendmail: SendmailConfig::default(),
            null_client: None,
            relay_domains: Vec::new(),
            integrity: IntegrityConfig::default(),
            freshness: FreshnessConfig::default(),
            passwords: PasswordsConfig::default(),
            reports: ReportsConfig::default(),
            dmarc_reports: DmarcReportsConfig::default(),
            store: StoreConfig::default(),
        }
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_traps;
