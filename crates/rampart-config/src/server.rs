//! The receiving side: TLS files, listeners, limits, timeouts, SMTP AUTH, trace and logging.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use toml::Spanned;

/// TLS files. When neither is set, a self-signed certificate for `hostname` is generated on first
/// start and kept in the data directory (`tls/cert.pem`, `tls/key.pem`, mode 0600).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
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
    /// STARTTLS offered; port 25), `submission` (users send after STARTTLS and AUTH; port 587),
    /// `submissions` (the same over implicit TLS; port 465), `https` (the web server over TLS:
    /// JMAP, webmail, MTA-STS policy; port 443) or `admin` (the administration console over
    /// TLS; loopback only unless `allow_remote`). An `https` or `admin` listener takes none of
    /// the SMTP keys below; their limits are in `[http]`.
    pub role: Role,
    /// Address and port, e.g. `0.0.0.0:25` or `[::]:25`.
    pub address: SocketAddr,
    /// SMTP only. Refuse MAIL until STARTTLS has completed. Leave off on a public MX (RFC 3207
    /// section 4).
    #[serde(default)]
    pub require_tls: bool,
    /// SMTP only. Wait this long (milliseconds) before the greeting; a client that talks first is
    /// refused (early talker). 0 still refuses input that has already arrived when the greeting
    /// is sent.
    #[serde(default)]
    pub greeting_delay_ms: u64,
    /// SMTP only. CA certificates (PEM) a client certificate is verified against: with it, the
    /// listener asks for a client certificate in the TLS handshake (after STARTTLS, or at once on
    /// `submissions`). A client without one still connects; `relay_from` and
    /// `require_client_cert` decide what it may do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca_file: Option<PathBuf>,
    /// SMTP only. Hosts that may relay through this listener without a user login (AL-1, the
    /// internal server sending out through the gateway): their mail gets the outbound checks
    /// (DLP, antivirus, DKIM signing, rate limits) as authenticated submission does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_from: Option<RelayFrom>,
    /// SMTP only (NC-2.3.4, the store node). When not empty, only clients in these networks are
    /// served; any other gets `554 5.7.1` in place of the greeting and is disconnected.
    #[serde(
        default,
        deserialize_with = "crate::relay::networks",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub accept_from: Vec<IpNet>,
    /// SMTP only (NC-2.3.4). Refuse MAIL (`554 5.7.1`) from a client that has not presented a
    /// certificate verified against `client_ca_file`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_client_cert: bool,
    /// SMTP only (NC-2.3.4). The authserv-ids whose `Authentication-Results` are kept (the
    /// gateway's, e.g. `["gw.agency.example"]`); every other `Authentication-Results` field is
    /// removed from mail received here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_authserv_ids: Vec<String>,
    /// SMTP only (NC-2.3.4). Mail from a client with a verified certificate has been checked by
    /// the gateway: antivirus, attachments, URLs, spam, authentication (SPF, DKIM, DMARC) and the
    /// `[External]` tag are not run again here; the parse, the loop count and the size limit
    /// are. Valid only with `require_client_cert = true` and `trusted_authserv_ids` (the
    /// gateway's results are the only ones kept, and the ones read for an authenticated From).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub trust_gateway_verdicts: bool,
    /// `admin` only. The console is served on loopback unless this is true; a listener on any
    /// other address is refused at start without it and without `allow`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_remote: bool,
    /// `admin` only. The networks the console answers, e.g. `["10.0.8.0/24"]`; a connection from
    /// elsewhere is closed at accept, before TLS. Required (not empty) with `allow_remote`.
    #[serde(
        default,
        deserialize_with = "crate::relay::networks",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub allow: Vec<IpNet>,
}

/// `relay_from` of a listener: who may relay without logging in. A client must meet every
/// condition given; at least one must be given.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RelayFrom {
    /// Source networks, e.g. `["10.20.0.5/32"]`.
    #[serde(default, deserialize_with = "crate::relay::networks")]
    pub networks: Vec<IpNet>,
    /// A client certificate verified against the listener's `client_ca_file` is required.
    #[serde(default)]
    pub client_certificate: bool,
}

impl RelayFrom {
    /// May a client at `ip`, with a verified client certificate or not, relay?
    pub fn allows(&self, ip: std::net::IpAddr, verified_certificate: bool) -> bool {
        let in_networks = self.networks.is_empty() || crate::relay::contains(&self.networks, ip);
        let certificate = !self.client_certificate || verified_certificate;
        (!self.networks.is_empty() || self.client_certificate) && in_networks && certificate
    }
}

impl Listener {
    /// A listener with no options beyond its role and address.
    pub fn new(role: Role, address: SocketAddr) -> Listener {
        Listener {
            role,
            address,
            require_tls: false,
            greeting_delay_ms: 0,
            client_ca_file: None,
            relay_from: None,
            accept_from: Vec::new(),
            require_client_cert: false,
            trusted_authserv_ids: Vec::new(),
            trust_gateway_verdicts: false,
            allow_remote: false,
            allow: Vec::new(),
        }
    }

    /// The admin console's gate: loopback always; any other client only in `allow` (with
    /// `allow_remote`, which the configuration check requires for a non-loopback address).
    pub fn admin_allows(&self, ip: std::net::IpAddr) -> bool {
        ip.is_loopback() || (self.allow_remote && crate::relay::contains(&self.allow, ip))
    }

    /// NC-2.3.4: is a client at `ip` served at all?
    pub fn accepts(&self, ip: std::net::IpAddr) -> bool {
        self.accept_from.is_empty() || crate::relay::contains(&self.accept_from, ip)
    }
}

/// The keys of [`Listener`] that only SMTP listeners have.
pub const SMTP_LISTENER_KEYS: [&str; 8] = [
    "require_tls",
    "greeting_delay_ms",
    "client_ca_file",
    "relay_from",
    "accept_from",
    "require_client_cert",
    "trusted_authserv_ids",
    "trust_gateway_verdicts",
];

// Written by hand so that an https listener is shown without the SMTP keys: `config show` must
// print a file that loads again, and those keys are refused on an https listener.
impl Serialize for Listener {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let smtp = self.role.is_smtp();
        let mut st = s.serialize_struct("Listener", if smtp { 10 } else { 4 })?;
        st.serialize_field("role", &self.role)?;
        st.serialize_field("address", &self.address)?;
        if self.role == Role::Admin {
            if self.allow_remote {
                st.serialize_field("allow_remote", &true)?;
            }
            if !self.allow.is_empty() {
                st.serialize_field("allow", &self.allow)?;
            }
        }
        if smtp {
            st.serialize_field("require_tls", &self.require_tls)?;
            st.serialize_field("greeting_delay_ms", &self.greeting_delay_ms)?;
            if let Some(ca) = &self.client_ca_file {
                st.serialize_field("client_ca_file", ca)?;
            }
            if !self.accept_from.is_empty() {
                st.serialize_field("accept_from", &self.accept_from)?;
            }
            if self.require_client_cert {
                st.serialize_field("require_client_cert", &true)?;
            }
            if !self.trusted_authserv_ids.is_empty() {
                st.serialize_field("trusted_authserv_ids", &self.trusted_authserv_ids)?;
            }
            if self.trust_gateway_verdicts {
                st.serialize_field("trust_gateway_verdicts", &true)?;
            }
            // A table: after the plain values.
            if let Some(r) = &self.relay_from {
                st.serialize_field("relay_from", r)?;
            }
        }
        st.end()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Inbound mail from the Internet for the represented domains (port 25).
    Mx,
    /// Mail submission with STARTTLS and AUTH (RFC 6409, port 587).
    Submission,
    /// Mail submission over implicit TLS (RFC 8314, port 465).
    Submissions,
    /// The web server over TLS: HTTP/1.1 and HTTP/2 (port 443).
    Https,
    /// The administration console over TLS, apart from the mail users' web server: loopback
    /// unless `allow_remote` and `allow` say otherwise (the embedded default: 127.0.0.1:2444).
    Admin,
}

impl Role {
    /// Submission roles relay for authenticated users and require authentication.
    pub fn is_submission(self) -> bool {
        matches!(self, Role::Submission | Role::Submissions)
    }

    /// Every role but `https` and `admin` speaks SMTP.
    pub fn is_smtp(self) -> bool {
        !matches!(self, Role::Https | Role::Admin)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Mx => "mx",
            Role::Submission => "submission",
            Role::Submissions => "submissions",
            Role::Https => "https",
            Role::Admin => "admin",
        })
    }
}

/// Limits. Each is answered with a clear reply when reached.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest message accepted, in bytes; advertised in EHLO SIZE and enforced while receiving.
    pub max_message_size: NonZeroU32,
    /// Recipients per message (RFC 5321 requires at least 100 to be accepted).
    pub max_recipients: NonZeroU32,
    /// Longest command line, in bytes including CRLF (RFC 5321 4.5.3.1.4: at least 512).
    pub max_line_length: NonZeroU32,
    /// Concurrent SMTP connections in total.
    pub max_connections: NonZeroU32,
    /// Concurrent SMTP connections from one client address.
    pub max_connections_per_ip: NonZeroU32,
    /// Errors (refused or malformed commands) in one session before it is closed with 421.
    pub max_errors: NonZeroU32,
    /// Messages in one session before it is closed with 421.
    pub max_messages_per_session: NonZeroU32,
    /// Bytes of message data all sessions together may hold in memory while messages arrive and
    /// are checked, beyond the 256 KiB each session buffers anyway. A checked message is kept in
    /// memory whole, so the checks read it and change it there and it is written to disk once;
    /// past this total a message goes to disk as it arrives and is read back for the checks
    /// (0: every message over 256 KiB does).
    pub max_message_memory: u64,
    /// Bytes the data directory's filesystem keeps free. MAIL is answered `452 4.3.1` while the
    /// free space is under this, or under this plus the SIZE the client declares, so mail is
    /// refused before it is sent rather than after, and the store keeps room for its own
    /// writes (queue state, trace, mailboxes). 0 turns the check off; a write that finds the
    /// disk full is still answered `452 4.3.1` and loses nothing. While it is on, MAIL is
    /// refused the same way when fewer than [`Limits::MIN_FREE_INODES`] inodes are free.
    pub min_free_space: u64,
}

impl Limits {
    /// Fewest free inodes on the data directory's filesystem under which MAIL is refused with
    /// `452 4.3.1` (while `min_free_space` is on; filesystems that do not count inodes, such
    /// as btrfs, are not checked). Out of inodes, creating a file fails however many bytes are
    /// free, and a large message, a spool file and a new WAL each need one.
    pub const MIN_FREE_INODES: u64 = 1024;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: nz(25 * 1024 * 1024),
            max_recipients: nz(100),
            max_line_length: nz(2048),
            max_connections: nz(20_000),
            max_connections_per_ip: nz(50),
            max_errors: nz(10),
            max_messages_per_session: nz(1000),
            max_message_memory: 256 * 1024 * 1024,
            min_free_space: 64 * 1024 * 1024,
        }
    }
}

/// Timeouts in seconds. Each is a deadline for a whole record, not for each read (NC-2.1.8): a
/// client that trickles a byte now and then (slowloris) is cut off all the same.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// Waiting for the next command line, counted from when the server starts waiting for it to
    /// its CRLF (RFC 5321 4.5.3.2.7: at least 5 minutes).
    pub command_secs: NonZeroU32,
    /// Message data (DATA, or one BDAT chunk) starts with this many seconds and earns more as it
    /// arrives (see `data_min_bytes_per_sec`); it never holds more than this, so this is also the
    /// longest pause allowed (RFC 5321 4.5.3.2.6: 3 minutes).
    pub data_secs: NonZeroU32,
    /// The slowest message data kept up: every this many bytes earn one more second. A client at
    /// or above this rate is never cut off; one below it is after about `data_secs` / (1 - its
    /// rate / this rate). 500 bytes/s (4 kbit/s, Postfix's smtpd_min_data_rate) is passed by a
    /// poor mobile link and costs an attacker real bandwidth for every connection it holds.
    pub data_min_bytes_per_sec: NonZeroU32,
    /// Completing a TLS handshake, in total: from the STARTTLS reply (or, for implicit TLS, the
    /// connection) to the handshake's end.
    pub tls_handshake_secs: NonZeroU32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            command_secs: nz(300),
            data_secs: nz(180),
            data_min_bytes_per_sec: nz(500),
            tls_handshake_secs: nz(10),
        }
    }
}

/// Message trace settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TraceConfig {
    /// Days trace events are kept; older ones are removed daily. NC-2.4.3 asks for at least 90.
    pub retention_days: NonZeroU32,
}

impl Default for TraceConfig {
    fn default() -> Self {
        TraceConfig {
            retention_days: nz(400),
        }
    }
}

/// The mailbox audit (AL-3.1): who read and changed which mailbox, from where.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// A MaxMind-format city database (e.g. GeoLite2-City.mmdb). When set, each login and failed
    /// login in the mailbox audit carries the country and city of the client address (AL-3.1
    /// names the location); without it, `rampart mailbox audit` says location is not configured.
    /// Read once at start; replace the file and restart to update it.
    pub geoip_database: Option<PathBuf>,
}

/// AUTH (RFC 4954): PLAIN and LOGIN, offered only inside TLS.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Delay before answering the first failed AUTH, in milliseconds; it doubles with each further
    /// failure from the same address or for the same account.
    pub failure_delay_ms: u64,
    /// Longest delay, in milliseconds.
    pub max_failure_delay_ms: u64,
    /// Failures from one address, within `window_secs`, after which it is refused (454, then 421).
    pub block_after_failures: u32,
    /// How long such an address is refused, in seconds.
    pub block_secs: u64,
    /// The window in which failures are counted, in seconds.
    pub window_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            failure_delay_ms: 500,
            max_failure_delay_ms: 8000,
            block_after_failures: 10,
            block_secs: 900,
            window_secs: 900,
        }
    }
}

/// Log output.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` (for a terminal) or `json` (one object per line, for a log collector).
    pub format: LogFormat,
    /// Level filter in tracing's syntax, e.g. `info` or `rampart_smtp=debug,info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: "info".to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// A non-zero literal for the defaults above.
fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}
