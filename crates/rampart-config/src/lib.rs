//! Typed configuration for Rampart, with secure defaults and validation.
//!
//! The configuration is TOML, parsed once into the structs below. Every field is documented where
//! it is declared, and `rampart.example.toml` at the repository root shows each of them. A bad file
//! never half-starts the server: [`Config::load`] returns every problem it found, each as one line
//! that names the file, the line, the key and what to do.
//!
//! Secure defaults (NC-2.1.1): nothing listens unless a `[[listener]]` is configured. The embedded
//! demo ([`Config::embedded_default`]) listens on loopback only.

use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Host name of this server: used in the greeting (`220 <hostname> ESMTP`), the EHLO reply,
    /// Received headers and the self-signed certificate generated when no certificate is configured.
    #[serde(default = "default_hostname")]
    pub hostname: Spanned<String>,
    /// Data directory: the SQLite database (queue, mailboxes, trace), message files and generated
    /// TLS key. Put it on its own filesystem, separate from the operating system (NC-2.2).
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// User to switch to after the listeners are bound, when started as root (e.g. to bind port 25).
    /// The data directory is handed to this user before the switch.
    #[serde(default)]
    pub run_as: Option<String>,
    /// How long (seconds) SIGTERM waits for sessions in flight before closing them with 421.
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace_secs: u64,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// TLS certificate and key for STARTTLS (and, later, implicit TLS).
    #[serde(default)]
    pub tls: TlsConfig,
    /// Listening sockets. Nothing listens unless configured here (NC-2.1.1).
    #[serde(default, rename = "listener")]
    pub listeners: Vec<Listener>,
    /// Limits on sessions and messages (NC-2.1.8; RFC 5321 section 4.5.3).
    #[serde(default)]
    pub limits: Limits,
    /// Timeouts per session state, in seconds (RFC 5321 section 4.5.3.2).
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Message trace (AL-3.1) and its retention (NC-2.4.3).
    #[serde(default)]
    pub trace: TraceConfig,
    /// Authentication on the submission listeners (NC-2.1.4).
    #[serde(default)]
    pub auth: AuthConfig,
    /// Who may relay without authenticating (NC-2.1.5).
    #[serde(default)]
    pub relay: RelayConfig,
    /// Rate limits for mail that is relayed (NC-2.1.8). When none are given, the defaults of
    /// [`default_rate_limits`] apply; an empty list is not possible (set high limits instead).
    #[serde(default = "default_rate_limits", rename = "rate_limit")]
    pub rate_limits: Vec<RateLimit>,
    /// DNS resolution: outbound delivery, blocklists and URL lists, and (unless
    /// `[checks.authentication] dns_servers` names others) SPF, DKIM, DMARC and ARC.
    #[serde(default)]
    pub dns: DnsConfig,
    /// Outbound delivery: MX lookup, TLS, retries, bounces.
    #[serde(default)]
    pub delivery: DeliveryConfig,
    /// Content checks of the gateway (AL-1.2 to AL-1.6, NC-2.3.2). All are on by default.
    #[serde(default)]
    pub checks: ChecksConfig,
}

pub use rampart_checks::pipeline::{CheckName, ChecksConfig};

/// AUTH (RFC 4954): PLAIN and LOGIN, offered only inside TLS.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Delay before answering the first failed AUTH, in milliseconds; it doubles with each further
    /// failure from the same address or for the same account.
    #[serde(default = "default_auth_delay")]
    pub failure_delay_ms: u64,
    /// Longest delay, in milliseconds.
    #[serde(default = "default_auth_max_delay")]
    pub max_failure_delay_ms: u64,
    /// Failures from one address, within `window_secs`, after which it is refused (454, then 421).
    #[serde(default = "default_auth_block_after")]
    pub block_after_failures: u32,
    /// How long such an address is refused, in seconds.
    #[serde(default = "default_auth_block_secs")]
    pub block_secs: u64,
    /// The window in which failures are counted, in seconds.
    #[serde(default = "default_auth_window")]
    pub window_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}

/// Relay permission. Authenticated users always relay; otherwise only these networks.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    /// Source networks allowed to relay without authenticating, e.g. `["10.1.2.0/24"]`, for
    /// internal applications. Empty by default: nothing relays unauthenticated (NC-2.1.5).
    #[serde(default)]
    pub networks: Vec<IpNet>,
}

/// An IP network in CIDR form (`10.0.0.0/8`, `2001:db8::/32`) or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    pub addr: std::net::IpAddr,
    pub prefix: u8,
}

impl IpNet {
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr::*;
        let ip = match ip {
            V6(v6) => v6.to_ipv4_mapped().map(V4).unwrap_or(V6(v6)),
            v4 => v4,
        };
        match (self.addr, ip) {
            (V4(n), V4(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.prefix))
                };
                u32::from(n) & mask == u32::from(a) & mask
            }
            (V6(n), V6(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.prefix))
                };
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for IpNet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: std::net::IpAddr = a
            .parse()
            .map_err(|_| format!("`{s}` is not an IP network; use e.g. 10.0.0.0/8"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}`: prefix must be 0 to {max}"))?,
            None => max,
        };
        Ok(IpNet { addr, prefix })
    }
}

impl<'de> Deserialize<'de> for IpNet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One rate limit: at most `limit` of `what` per `scope` in `window_secs` (NC-2.1.8). Exceeding it
/// is answered with 451 4.7.1 and recorded in the trace.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// `user` (authenticated identity), `ip` (client address), `domain` (sender's domain) or `global`.
    pub scope: RateScope,
    /// `connections`, `messages` or `recipients`. Connections are counted per `ip` and `global` only.
    pub what: RateWhat,
    pub limit: u32,
    pub window_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateScope {
    User,
    Ip,
    Domain,
    Global,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateWhat {
    Connections,
    Messages,
    Recipients,
}

/// The rate limits that apply when the configuration names none.
pub fn default_rate_limits() -> Vec<RateLimit> {
    use RateScope::*;
    use RateWhat::*;
    let r = |scope, what, limit, window_secs| RateLimit {
        scope,
        what,
        limit,
        window_secs,
    };
    vec![
        r(User, Messages, 500, 3600),
        r(User, Recipients, 2000, 3600),
        r(Ip, Connections, 600, 60),
        r(Ip, Messages, 2000, 3600),
        r(Domain, Messages, 20_000, 3600),
        r(Global, Messages, 200_000, 3600),
    ]
}

/// DNS resolution.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    /// Name servers (address:port) to ask, e.g. `["127.0.0.1:53"]`. Empty: the system's
    /// /etc/resolv.conf.
    #[serde(default)]
    pub servers: Vec<SocketAddr>,
    /// Seconds to wait for one answer.
    #[serde(default = "default_dns_timeout")]
    pub timeout_secs: u64,
}

impl Default for DnsConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}

/// Outbound delivery.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Port of the receiving servers (25 on the Internet; another only for tests or special sites).
    #[serde(default = "default_delivery_port")]
    pub port: u16,
    /// Seconds between attempts after a temporary failure; the last value repeats.
    #[serde(default = "default_retry_secs")]
    pub retry_secs: Vec<u64>,
    /// Seconds after which an undelivered message is returned to its sender (default 5 days).
    #[serde(default = "default_lifetime")]
    pub lifetime_secs: u64,
    /// Connections at once to one destination domain.
    #[serde(default = "default_per_domain")]
    pub max_connections_per_domain: u32,
    /// Outbound connections at once, in total.
    #[serde(default = "default_out_total")]
    pub max_connections: u32,
    /// Seconds to connect, and to wait for each reply.
    #[serde(default = "default_out_timeout")]
    pub timeout_secs: u64,
    /// Relay everything through this host instead of MX delivery, e.g. `"relay.agency.example:587"`.
    #[serde(default)]
    pub smarthost: Option<Smarthost>,
    /// Per-destination TLS policy. Without one, TLS is used whenever offered (TLS 1.2+ only, AL-1.1;
    /// a failed handshake is a temporary failure, never a fall back to plain text).
    #[serde(default, rename = "policy")]
    pub policies: Vec<TlsPolicy>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}

/// A relay host for all outbound mail.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Smarthost {
    /// Host name and port.
    pub host: String,
    pub port: u16,
    /// `starttls` (required on 587/25) or `implicit` (465).
    #[serde(default = "default_smarthost_tls")]
    pub tls: String,
    /// Verify the relay's certificate against this CA file (PEM); without it, the system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// AUTH PLAIN user name, if the relay wants one.
    #[serde(default)]
    pub username: Option<String>,
    /// File holding the password (first line), readable only by the server's user.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

/// TLS policy for one destination domain.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsPolicy {
    /// The recipient domain it applies to.
    pub domain: String,
    /// Refuse to deliver without TLS.
    #[serde(default)]
    pub require_tls: bool,
    /// Verify the server certificate against `ca_file` and the MX host name.
    #[serde(default)]
    pub verify: bool,
    /// CA certificates (PEM) to verify with.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// Log output.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` (for a terminal) or `json` (one object per line, for a log collector).
    #[serde(default)]
    pub format: LogFormat,
    /// Level filter in tracing's syntax, e.g. `info` or `rampart_smtp=debug,info`.
    #[serde(default = "default_log_level")]
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: default_log_level(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// TLS files. When neither is set, a self-signed certificate for `hostname` is generated on first
/// start and kept in the data directory (`tls/cert.pem`, `tls/key.pem`, mode 0600).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the certificate chain, leaf first.
    pub cert: Option<Spanned<PathBuf>>,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<Spanned<PathBuf>>,
}

/// One listening socket.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// What the listener serves: `mx` (inbound mail for the domains this server represents, with
    /// STARTTLS offered; port 25), `submission` (users send after STARTTLS and AUTH; port 587) or
    /// `submissions` (the same over implicit TLS; port 465).
    pub role: Role,
    /// Address and port, e.g. `0.0.0.0:25` or `[::]:25`.
    pub address: SocketAddr,
    /// Refuse MAIL until STARTTLS has completed. Leave off on a public MX (RFC 3207 section 4).
    #[serde(default)]
    pub require_tls: bool,
    /// Wait this long (milliseconds) before the greeting; a client that talks first is refused
    /// (early talker). 0 still refuses input that has already arrived when the greeting is sent.
    #[serde(default = "default_greeting_delay")]
    pub greeting_delay_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Inbound mail from the Internet for the represented domains (port 25).
    Mx,
    /// Mail submission with STARTTLS and AUTH (RFC 6409, port 587).
    Submission,
    /// Mail submission over implicit TLS (RFC 8314, port 465).
    Submissions,
}

impl Role {
    /// Submission roles relay for authenticated users and require authentication.
    pub fn is_submission(self) -> bool {
        matches!(self, Role::Submission | Role::Submissions)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Mx => "mx",
            Role::Submission => "submission",
            Role::Submissions => "submissions",
        })
    }
}

/// Limits. Each is answered with a clear reply when reached.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest message accepted, in bytes; advertised in EHLO SIZE and enforced while receiving.
    #[serde(default = "default_max_message_size")]
    pub max_message_size: NonZeroU32,
    /// Recipients per message (RFC 5321 requires at least 100 to be accepted).
    #[serde(default = "default_max_recipients")]
    pub max_recipients: NonZeroU32,
    /// Longest command line, in bytes including CRLF (RFC 5321 4.5.3.1.4: at least 512).
    #[serde(default = "default_max_line_length")]
    pub max_line_length: NonZeroU32,
    /// Concurrent SMTP connections in total.
    #[serde(default = "default_max_connections")]
    pub max_connections: NonZeroU32,
    /// Concurrent SMTP connections from one client address.
    #[serde(default = "default_max_connections_per_ip")]
    pub max_connections_per_ip: NonZeroU32,
    /// Errors (refused or malformed commands) in one session before it is closed with 421.
    #[serde(default = "default_max_errors")]
    pub max_errors: NonZeroU32,
    /// Messages in one session before it is closed with 421.
    #[serde(default = "default_max_messages_per_session")]
    pub max_messages_per_session: NonZeroU32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: default_max_message_size(),
            max_recipients: default_max_recipients(),
            max_line_length: default_max_line_length(),
            max_connections: default_max_connections(),
            max_connections_per_ip: default_max_connections_per_ip(),
            max_errors: default_max_errors(),
            max_messages_per_session: default_max_messages_per_session(),
        }
    }
}

/// Timeouts in seconds. Each is a deadline for a whole record, not for each read (NC-2.1.8): a
/// client that trickles a byte now and then (slowloris) is cut off all the same.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// Waiting for the next command line, counted from when the server starts waiting for it to
    /// its CRLF (RFC 5321 4.5.3.2.7: at least 5 minutes).
    #[serde(default = "default_command_timeout")]
    pub command_secs: NonZeroU32,
    /// Message data (DATA, or one BDAT chunk) starts with this many seconds and earns more as it
    /// arrives (see `data_min_bytes_per_sec`); it never holds more than this, so this is also the
    /// longest pause allowed (RFC 5321 4.5.3.2.6: 3 minutes).
    #[serde(default = "default_data_timeout")]
    pub data_secs: NonZeroU32,
    /// The slowest message data kept up: every this many bytes earn one more second. A client at
    /// or above this rate is never cut off; one below it is after about `data_secs` / (1 - its
    /// rate / this rate). 500 bytes/s (4 kbit/s, Postfix's smtpd_min_data_rate) is passed by a
    /// poor mobile link and costs an attacker real bandwidth for every connection it holds.
    #[serde(default = "default_data_min_rate")]
    pub data_min_bytes_per_sec: NonZeroU32,
    /// Completing a TLS handshake, in total: from the STARTTLS reply (or, for implicit TLS, the
    /// connection) to the handshake's end.
    #[serde(default = "default_tls_timeout")]
    pub tls_handshake_secs: NonZeroU32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            command_secs: default_command_timeout(),
            data_secs: default_data_timeout(),
            data_min_bytes_per_sec: default_data_min_rate(),
            tls_handshake_secs: default_tls_timeout(),
        }
    }
}

/// Message trace settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceConfig {
    /// Days trace events are kept; older ones are removed daily. NC-2.4.3 asks for at least 90.
    #[serde(default = "default_retention_days")]
    pub retention_days: NonZeroU32,
}

impl Default for TraceConfig {
    fn default() -> Self {
        TraceConfig {
            retention_days: default_retention_days(),
        }
    }
}

fn default_hostname() -> Spanned<String> {
    Spanned::new(0..0, "mail.example.test".to_string())
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("rampart-data")
}
fn default_shutdown_grace() -> u64 {
    30
}
fn default_log_level() -> String {
    "info".to_string()
}
fn default_greeting_delay() -> u64 {
    0
}
fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).expect("default limits are non-zero")
}
fn default_max_message_size() -> NonZeroU32 {
    nz(25 * 1024 * 1024)
}
fn default_max_recipients() -> NonZeroU32 {
    nz(100)
}
fn default_max_line_length() -> NonZeroU32 {
    nz(2048)
}
fn default_max_connections() -> NonZeroU32 {
    nz(20_000)
}
fn default_max_connections_per_ip() -> NonZeroU32 {
    nz(50)
}
fn default_max_errors() -> NonZeroU32 {
    nz(10)
}
fn default_max_messages_per_session() -> NonZeroU32 {
    nz(1000)
}
fn default_command_timeout() -> NonZeroU32 {
    nz(300)
}
fn default_data_timeout() -> NonZeroU32 {
    nz(180)
}
fn default_data_min_rate() -> NonZeroU32 {
    nz(500)
}
fn default_tls_timeout() -> NonZeroU32 {
    nz(10)
}
fn default_retention_days() -> NonZeroU32 {
    nz(400)
}
fn default_auth_delay() -> u64 {
    500
}
fn default_auth_max_delay() -> u64 {
    8000
}
fn default_auth_block_after() -> u32 {
    10
}
fn default_auth_block_secs() -> u64 {
    900
}
fn default_auth_window() -> u64 {
    900
}
fn default_dns_timeout() -> u64 {
    5
}
fn default_delivery_port() -> u16 {
    25
}
fn default_retry_secs() -> Vec<u64> {
    vec![60, 300, 900, 1800, 3600, 7200, 14_400]
}
fn default_lifetime() -> u64 {
    5 * 86_400
}
fn default_per_domain() -> u32 {
    4
}
fn default_out_total() -> u32 {
    64
}
fn default_out_timeout() -> u64 {
    60
}
fn default_smarthost_tls() -> String {
    "starttls".into()
}

/// One problem in a configuration file: where it is and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line, when the problem has a place in the file.
    pub line: Option<usize>,
    /// The dotted key, when known (e.g. `limits.max_recipients`).
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in a file; displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "configuration error: {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl Config {
    /// The embedded default: the demo that `rampart serve` runs with no configuration. One MX
    /// listener on loopback, data in `./rampart-data`.
    pub fn embedded_default() -> Config {
        let mut config: Config = toml::from_str("").expect("empty configuration parses");
        // The demo runs without a clamd; a real configuration has antivirus on unless it says
        // otherwise (and the audit reports it then).
        config.checks.disabled.push(CheckName::Antivirus);
        for (role, address) in [
            (Role::Mx, "127.0.0.1:2525"),
            (Role::Submission, "127.0.0.1:2587"),
            (Role::Submissions, "127.0.0.1:2465"),
        ] {
            config.listeners.push(Listener {
                role,
                address: address.parse().expect("literal address"),
                require_tls: false,
                greeting_delay_ms: default_greeting_delay(),
            });
        }
        config
    }

    /// Reads and validates a configuration file. Relative paths in it are taken relative to the
    /// file's directory.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let src = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: path.to_path_buf(),
                line: None,
                key: None,
                message: format!("cannot read the file ({e}); check the path given to --config"),
            }])
        })?;
        Config::parse(path, &src)
    }

    /// Parses and validates configuration text; `path` names it in errors and anchors relative paths.
    pub fn parse(path: &Path, src: &str) -> Result<Config, ConfigErrors> {
        let mut config: Config = toml::from_str(src).map_err(|e| {
            let (line, key) = match e.span() {
                Some(span) => (Some(line_of(src, span.start)), key_at(src, span.start)),
                None => (None, None),
            };
            ConfigErrors(vec![ConfigError {
                file: path.to_path_buf(),
                line,
                key,
                message: explain(e.message()),
            }])
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        let errors = config.validate(path, src);
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    fn resolve_paths(&mut self, base: &Path) {
        if self.data_dir.is_relative() {
            self.data_dir = base.join(&self.data_dir);
        }
        for p in [&mut self.tls.cert, &mut self.tls.key]
            .into_iter()
            .flatten()
        {
            if p.get_ref().is_relative() {
                let joined = base.join(p.get_ref());
                *p.get_mut() = joined;
            }
        }
    }

    /// Checks that go beyond types: every problem is returned, not just the first.
    fn validate(&self, file: &Path, src: &str) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let mut at = |span: std::ops::Range<usize>, key: &str, message: String| {
            errors.push(ConfigError {
                file: file.to_path_buf(),
                line: (span.end > 0).then(|| line_of(src, span.start)),
                key: Some(key.to_string()),
                message,
            })
        };
        if !is_hostname(self.hostname.get_ref()) {
            at(
                self.hostname.span(),
                "hostname",
                format!(
                    "`{}` is not a fully qualified host name; use letters, digits, hyphens and dots, e.g. \"mx.agency.example\"",
                    self.hostname.get_ref()
                ),
            );
        }
        match (&self.tls.cert, &self.tls.key) {
            (Some(c), None) => at(
                c.span(),
                "tls.key",
                "a certificate is set without its key; add `key = \"/path/key.pem\"` under [tls]"
                    .into(),
            ),
            (None, Some(k)) => at(
                k.span(),
                "tls.cert",
                "a key is set without its certificate; add `cert = \"/path/cert.pem\"` under [tls]"
                    .into(),
            ),
            _ => {}
        }
        for (name, p) in [("tls.cert", &self.tls.cert), ("tls.key", &self.tls.key)] {
            if let Some(p) = p {
                if !p.get_ref().is_file() {
                    at(
                        p.span(),
                        name,
                        format!("file {} does not exist or is not a regular file; fix the path or create the file", p.get_ref().display()),
                    );
                }
            }
        }
        if self.limits.max_line_length.get() < 512 {
            errors.push(self.located(
                file,
                src,
                "limits",
                "max_line_length",
                "must be at least 512 (RFC 5321 section 4.5.3.1.4)",
            ));
        }
        if self.limits.max_recipients.get() < 100 {
            errors.push(self.located(
                file,
                src,
                "limits",
                "max_recipients",
                "must be at least 100 (RFC 5321 section 4.5.3.1.8)",
            ));
        }
        if self.trace.retention_days.get() < 90 {
            errors.push(self.located(
                file,
                src,
                "trace",
                "retention_days",
                "must be at least 90: NC-2.4.3 requires logs to be kept three months",
            ));
        }
        if self.limits.max_connections_per_ip > self.limits.max_connections {
            errors.push(self.located(
                file,
                src,
                "limits",
                "max_connections_per_ip",
                "is larger than limits.max_connections; lower it",
            ));
        }
        if self.delivery.retry_secs.is_empty() || self.delivery.retry_secs.contains(&0) {
            errors.push(self.located(
                file,
                src,
                "delivery",
                "retry_secs",
                "must list at least one interval, each above 0 seconds",
            ));
        }
        if let Some(s) = &self.delivery.smarthost {
            if s.tls != "starttls" && s.tls != "implicit" {
                errors.push(self.located(
                    file,
                    src,
                    "delivery.smarthost",
                    "tls",
                    "must be \"starttls\" or \"implicit\" (AL-1.1: never plain text)",
                ));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for l in &self.listeners {
            if l.address.port() != 0 && !seen.insert(l.address) {
                errors.push(ConfigError {
                    file: file.to_path_buf(),
                    line: find_text(src, &l.address.to_string()),
                    key: Some("listener.address".into()),
                    message: format!(
                        "{} is configured twice; give each listener its own address",
                        l.address
                    ),
                });
            }
        }
        errors
    }

    fn located(
        &self,
        file: &Path,
        src: &str,
        table: &str,
        key: &str,
        message: &str,
    ) -> ConfigError {
        ConfigError {
            file: file.to_path_buf(),
            line: find_key_line(src, table, key),
            key: Some(format!("{table}.{key}")),
            message: message.to_string(),
        }
    }
}

/// Makes serde's wording read as advice.
fn explain(message: &str) -> String {
    let m = message.trim().replace('\n', " ");
    if m.starts_with("unknown field") {
        format!("{m}; remove it or fix its spelling (rampart.example.toml lists every setting)")
    } else if m.starts_with("invalid type") || m.starts_with("invalid value") {
        format!("{m}; see rampart.example.toml for the expected form")
    } else if m.starts_with("missing field") {
        format!("{m}; add it")
    } else {
        m
    }
}

/// 1-based line number of a byte offset.
pub fn line_of(src: &str, offset: usize) -> usize {
    src[..offset.min(src.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

/// The dotted key written on the line holding `offset`, qualified by the table header above it.
fn key_at(src: &str, offset: usize) -> Option<String> {
    let offset = offset.min(src.len());
    let start = src[..offset].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let end = src[offset..]
        .find('\n')
        .map(|i| offset + i)
        .unwrap_or(src.len());
    let line = &src[start..end];
    let table = src[..start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    let header = line.trim();
    if header.starts_with('[') {
        return Some(
            header
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string(),
        );
    }
    let key = line.split('=').next()?.trim();
    if key.is_empty() || !line.contains('=') {
        return table;
    }
    Some(match table {
        Some(t) => format!("{t}.{key}"),
        None => key.to_string(),
    })
}

fn find_key_line(src: &str, table: &str, key: &str) -> Option<usize> {
    let mut in_table = false;
    for (i, line) in src.lines().enumerate() {
        let l = line.trim();
        if l.starts_with('[') {
            in_table = l.trim_matches(|c| c == '[' || c == ']').trim() == table;
        } else if in_table && l.split('=').next().map(str::trim) == Some(key) {
            return Some(i + 1);
        }
    }
    None
}

fn find_text(src: &str, needle: &str) -> Option<usize> {
    src.rfind(needle).map(|o| line_of(src, o))
}

/// A host name of at least two labels, LDH rules (RFC 1123).
pub fn is_hostname(name: &str) -> bool {
    name.len() <= 253
        && name.contains('.')
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Result<Config, ConfigErrors> {
        Config::parse(Path::new("/etc/rampart/rampart.toml"), src)
    }

    fn one_line(err: ConfigErrors) -> String {
        assert_eq!(err.0.len(), 1, "{err}");
        let s = err.to_string();
        assert!(!s.contains('\n'), "one line: {s}");
        s
    }

    #[test]
    fn empty_file_listens_nowhere() {
        // NC-2.1.1: nothing listens unless configured.
        let c = parse("").unwrap();
        assert!(c.listeners.is_empty());
        assert_eq!(c.limits.max_recipients.get(), 100);
    }

    #[test]
    fn embedded_default_is_loopback_only() {
        let c = Config::embedded_default();
        let ports: Vec<u16> = c.listeners.iter().map(|l| l.address.port()).collect();
        assert_eq!(ports, vec![2525, 2587, 2465]);
        assert!(c.listeners.iter().all(|l| l.address.ip().is_loopback()));
        // NC-2.1.5: nothing relays unauthenticated by default.
        assert!(c.relay.networks.is_empty());
    }

    #[test]
    fn networks_parse_and_match() {
        let n: IpNet = "10.1.0.0/16".parse().unwrap();
        assert!(n.contains("10.1.200.3".parse().unwrap()));
        assert!(!n.contains("10.2.0.1".parse().unwrap()));
        assert!(n.contains("::ffff:10.1.0.9".parse().unwrap()));
        let one: IpNet = "2001:db8::1".parse().unwrap();
        assert!(one.contains("2001:db8::1".parse().unwrap()));
        assert!(!one.contains("2001:db8::2".parse().unwrap()));
        let s = one_line(parse("[relay]\nnetworks = [\"10.0.0.0/40\"]\n").unwrap_err());
        assert!(
            s.contains(":2: key `relay.networks`") && s.contains("prefix"),
            "{s}"
        );
    }

    #[test]
    fn unknown_key_names_key_file_and_line() {
        let s = one_line(
            parse("hostname = \"mx.a.example\"\n\n[limits]\nmax_recipents = 5\n").unwrap_err(),
        );
        assert!(s.contains("rampart.toml:4"), "{s}");
        assert!(s.contains("limits.max_recipents"), "{s}");
        assert!(s.contains("remove it or fix its spelling"), "{s}");
    }

    #[test]
    fn wrong_type_names_key_and_line() {
        let s = one_line(parse("[limits]\nmax_recipients = \"many\"\n").unwrap_err());
        assert!(s.contains(":2: key `limits.max_recipients`"), "{s}");
        assert!(s.contains("invalid type"), "{s}");
    }

    #[test]
    fn zero_is_impossible() {
        let s = one_line(parse("[limits]\nmax_connections = 0\n").unwrap_err());
        assert!(s.contains(":2: key `limits.max_connections`"), "{s}");
    }

    #[test]
    fn missing_certificate_file_is_reported() {
        let err =
            parse("[tls]\ncert = \"/nonexistent/cert.pem\"\nkey = \"/nonexistent/key.pem\"\n")
                .unwrap_err();
        assert_eq!(err.0.len(), 2, "both files reported: {err}");
        assert_eq!(err.0[0].line, Some(2));
        assert_eq!(err.0[0].key.as_deref(), Some("tls.cert"));
        assert!(err.0[0].message.contains("does not exist"));
        assert_eq!(err.0[1].line, Some(3));
    }

    #[test]
    fn short_retention_is_refused() {
        // NC-2.4.3: three months at least.
        let s = one_line(parse("[trace]\nretention_days = 30\n").unwrap_err());
        assert!(
            s.contains(":2: key `trace.retention_days`") && s.contains("NC-2.4.3"),
            "{s}"
        );
    }

    #[test]
    fn bad_hostname_and_bad_address_are_reported() {
        let s = one_line(parse("hostname = \"not a host\"\n").unwrap_err());
        assert!(s.contains(":1: key `hostname`"), "{s}");
        let s = one_line(
            parse("[[listener]]\nrole = \"mx\"\naddress = \"localhost:25x\"\n").unwrap_err(),
        );
        assert!(s.contains(":3: key `listener.address`"), "{s}");
        let s = one_line(
            parse("[[listener]]\nrole = \"imap\"\naddress = \"127.0.0.1:143\"\n").unwrap_err(),
        );
        assert!(s.contains(":2: key `listener.role`"), "{s}");
    }

    #[test]
    fn example_file_is_valid_and_complete() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rampart.example.toml");
        let src = std::fs::read_to_string(&path).unwrap();
        // The example shows real certificate paths commented out, so it loads as written.
        let c = Config::parse(&path, &src).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.listeners.len(), 3);
        // Every documented field appears in the example.
        let lib = include_str!("lib.rs");
        let mut fields = Vec::new();
        let mut in_struct = false;
        for line in lib.lines() {
            let t = line.trim();
            if t.starts_with("pub struct ") {
                in_struct = !t.contains("ConfigError");
            } else if t == "}" {
                in_struct = false;
            } else if in_struct && t.starts_with("pub ") && t.contains(':') {
                let name = t
                    .trim_start_matches("pub ")
                    .split(':')
                    .next()
                    .unwrap()
                    .to_string();
                fields.push(name);
            }
        }
        assert!(fields.len() > 15);
        for f in fields {
            let name = match f.as_str() {
                "listeners" => "listener".to_string(),
                "rate_limits" => "rate_limit".to_string(),
                "policies" => "policy".to_string(),
                "checks" | "disabled" => f,
                "addr" | "prefix" => continue,
                _ => f,
            };
            assert!(
                src.contains(&name),
                "rampart.example.toml does not document `{name}`"
            );
        }
    }
}
