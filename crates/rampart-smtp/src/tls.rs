//! TLS for the listeners: TLS 1.2 and 1.3 only (AL-1.1), ring as the one crypto provider.
//!
//! With no certificate configured, a self-signed one for the host name is generated on first
//! start and kept in `data_dir/tls/` (key mode 0600), so the demo offers STARTTLS at once. It is
//! valid for a year and renewed 30 days before it expires, at start and by a daily check while
//! running ([`renew_daily`]); the listeners serve the new one at once. A configured certificate
//! is the administrator's: it is never rewritten, only warned about as its end comes near.

use rampart_config::Config;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

const DAY: i64 = 24 * 60 * 60;
/// How long a generated certificate is valid, counted from when it is made.
pub const GENERATED_VALIDITY_DAYS: i64 = 365;
/// A certificate ending within this many days is renewed (generated) or warned about (configured).
pub const RENEW_WITHIN_DAYS: i64 = 30;
/// How often a running server looks at its certificate.
pub const CHECK_EVERY: Duration = Duration::from_secs(DAY as u64);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {what}; {fix}")]
    File {
        path: PathBuf,
        what: String,
        fix: &'static str,
    },
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("generating a self-signed certificate: {0}")]
    Generate(String),
}

/// What a certificate says about itself, as far as renewal is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFacts {
    /// Validity, in seconds since the Unix epoch.
    pub not_before: i64,
    pub not_after: i64,
    /// The subject's common name, if it has one.
    pub common_name: Option<String>,
    /// The DNS names of the subject alternative name extension.
    pub dns_names: Vec<String>,
}

impl CertFacts {
    /// Reads a DER certificate; None if it is not one.
    pub fn parse(der: &[u8]) -> Option<CertFacts> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let common_name = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_string);
        let dns_names = match cert.subject_alternative_name() {
            Ok(Some(san)) => san
                .value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        Some(CertFacts {
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            common_name,
            dns_names,
        })
    }

    /// Whole days left before it expires (negative once it has).
    pub fn days_left(&self, now: i64) -> i64 {
        (self.not_after - now).div_euclid(DAY)
    }
}

/// Why the generated certificate is made anew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// No certificate yet (first start).
    Missing,
    /// The files cannot be read as a certificate and its key.
    Unreadable,
    /// It expires within [`RENEW_WITHIN_DAYS`], or has expired.
    Expiring,
    /// Its validity starts in the future: made under a wrong clock.
    NotYetValid,
    /// Valid for longer than a year: made by an earlier version, valid until the year 4096.
    TooLong,
    /// It does not name this host (the host name changed, or an earlier version named the
    /// library: `rcgen self signed cert`).
    WrongName,
}

/// Decides whether the generated certificate must be made anew at `now` (Unix seconds).
/// `facts` is None when the stored file is not a certificate.
pub fn generated_renewal(facts: Option<&CertFacts>, hostname: &str, now: i64) -> Option<Renewal> {
    let Some(f) = facts else {
        return Some(Renewal::Unreadable);
    };
    let names_host = f
        .common_name
        .as_deref()
        .is_some_and(|cn| cn.eq_ignore_ascii_case(hostname))
        && f.dns_names.iter().any(|d| d.eq_ignore_ascii_case(hostname));
    if !names_host {
        // NC-2.1.3: the certificate names this host, never the software that made it.
        Some(Renewal::WrongName)
    } else if f.not_after - f.not_before > (GENERATED_VALIDITY_DAYS + 2) * DAY {
        Some(Renewal::TooLong)
    } else if f.not_before > now + DAY {
        Some(Renewal::NotYetValid)
    } else if f.not_after - now < RENEW_WITHIN_DAYS * DAY {
        Some(Renewal::Expiring)
    } else {
        None
    }
}

/// A self-signed certificate for `hostname`: subject CN and SAN the host name, valid from a day
/// before `now` (clients with a clock slightly behind) for [`GENERATED_VALIDITY_DAYS`].
/// Returns the certificate and the key, in PEM.
pub fn generate_self_signed(hostname: &str, now: i64) -> Result<(String, String), TlsError> {
    let err = |e: rcgen::Error| TlsError::Generate(e.to_string());
    let at = |secs: i64| {
        time::OffsetDateTime::from_unix_timestamp(secs)
            .map_err(|e| TlsError::Generate(e.to_string()))
    };
    let mut params = rcgen::CertificateParams::new(vec![hostname.to_string()]).map_err(err)?;
    // NC-2.1.3: the subject is this host (rcgen's default names the library).
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, hostname);
    params.distinguished_name = dn;
    params.not_before = at(now - DAY)?;
    params.not_after = at(now + GENERATED_VALIDITY_DAYS * DAY)?;
    let key = rcgen::KeyPair::generate().map_err(err)?;
    let cert = params.self_signed(&key).map_err(err)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// The certificate the listeners serve, replaceable while they run.
#[derive(Debug)]
struct CurrentCert(RwLock<Arc<CertifiedKey>>);

impl CurrentCert {
    fn get(&self) -> Arc<CertifiedKey> {
        match self.0.read() {
            Ok(k) => k.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set(&self, key: Arc<CertifiedKey>) {
        match self.0.write() {
            Ok(mut k) => *k = key,
            Err(poisoned) => *poisoned.into_inner() = key,
        }
    }
}

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }
}

/// Where the certificate comes from.
#[derive(Debug)]
enum Source {
    /// The administrator's files (`tls.cert`, `tls.key`): read, never written.
    Configured { cert: PathBuf, key: PathBuf },
    /// Generated into `dir` for `hostname`, and renewed there.
    Generated { dir: PathBuf, hostname: String },
}

/// What a certificate check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertCheck {
    /// Nothing to do.
    Fine,
    /// The generated certificate was made anew and is now served.
    Renewed(Renewal),
    /// The configured certificate expires within [`RENEW_WITHIN_DAYS`] (negative: has expired).
    ConfiguredExpiring { days_left: i64 },
}

/// The listeners' TLS: the rustls configuration and the certificate it serves.
#[derive(Debug)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
    current: Arc<CurrentCert>,
    source: Source,
}

impl ServerTls {
    /// Loads the configured certificate, or the generated one, generating or renewing it if due.
    pub fn load(config: &Config) -> Result<ServerTls, TlsError> {
        install_provider();
        let source = match (&config.tls.cert, &config.tls.key) {
            (Some(c), Some(k)) => Source::Configured {
                cert: c.get_ref().clone(),
                key: k.get_ref().clone(),
            },
            _ => Source::Generated {
                dir: config.data_dir.join("tls"),
                hostname: config.hostname.get_ref().clone(),
            },
        };
        let now = unix(SystemTime::now());
        let key = match &source {
            Source::Configured { cert, key } => {
                let (k, facts) = load_pair(cert, key)?;
                warn_if_expiring(cert, facts.as_ref(), now);
                k
            }
            Source::Generated { dir, hostname } => {
                let (k, _) = load_generated(dir, hostname, now)?;
                k
            }
        };
        let current = Arc::new(CurrentCert(RwLock::new(Arc::new(key))));
        let mut sc = ServerConfig::builder_with_protocol_versions(VERSIONS)
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        sc.ignore_client_order = true;
        Ok(ServerTls {
            config: Arc::new(sc),
            current,
            source,
        })
    }

    /// NC-2.3.4: the same certificate, for a listener that asks for a client certificate and
    /// verifies it against the CAs in `ca_file` (PEM). A client without a certificate still
    /// completes the handshake (the session decides what it may do); one with a certificate
    /// that does not verify does not.
    pub fn with_client_ca(&self, ca_file: &Path) -> Result<Arc<ServerConfig>, TlsError> {
        let fix = "give the CA certificate(s) (PEM) that issue the client certificates";
        let mut roots = rustls::RootCertStore::empty();
        for c in read_chain(ca_file)? {
            roots.add(c).map_err(|e| file_err(ca_file, e, fix))?;
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
            .allow_unauthenticated()
            .build()
            .map_err(|e| file_err(ca_file, e, fix))?;
        let mut sc = ServerConfig::builder_with_protocol_versions(VERSIONS)
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(self.current.clone());
        sc.ignore_client_order = true;
        Ok(Arc::new(sc))
    }

    /// The rustls configuration for the listeners; it serves the current certificate.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.config.clone()
    }

    /// The certificate served now (leaf first).
    pub fn certificate_chain(&self) -> Vec<CertificateDer<'static>> {
        self.current.get().cert.clone()
    }

    /// Looks at the certificate as of `now`: renews the generated one when due and serves the
    /// new one from the next handshake on; warns about a configured one near its end.
    pub fn check(&self, now: SystemTime) -> Result<CertCheck, TlsError> {
        let now = unix(now);
        match &self.source {
            Source::Configured { cert, .. } => {
                // Read from the file, which the administrator may have replaced meanwhile.
                let facts = read_chain(cert)
                    .ok()
                    .and_then(|c| c.first().and_then(|l| CertFacts::parse(l)));
                Ok(match warn_if_expiring(cert, facts.as_ref(), now) {
                    Some(days_left) => CertCheck::ConfiguredExpiring { days_left },
                    None => CertCheck::Fine,
                })
            }
            Source::Generated { dir, hostname } => match load_generated(dir, hostname, now)? {
                (key, Some(why)) => {
                    self.current.set(Arc::new(key));
                    Ok(CertCheck::Renewed(why))
                }
                (_, None) => Ok(CertCheck::Fine),
            },
        }
    }
}

impl ServerTls {
    /// Reads the certificate and key again (SIGHUP, `systemctl reload`): the configured files,
    /// which the administrator may have replaced, or the generated pair (renewed if due). New
    /// handshakes, on every listener, get what was read; connections already open keep theirs.
    /// An error leaves the current certificate served.
    pub fn reload(&self) -> Result<(), TlsError> {
        match &self.source {
            Source::Configured { cert, key } => {
                let (k, facts) = load_pair(cert, key)?;
                warn_if_expiring(cert, facts.as_ref(), unix(SystemTime::now()));
                self.current.set(Arc::new(k));
                Ok(())
            }
            Source::Generated { .. } => self.check(SystemTime::now()).map(|_| ()),
        }
    }

    /// The configured certificate and key files, or None when the certificate is generated.
    pub fn configured_files(&self) -> Option<(&Path, &Path)> {
        match &self.source {
            Source::Configured { cert, key } => Some((cert, key)),
            Source::Generated { .. } => None,
        }
    }
}

/// Loads the configured certificate, or the generated one (generating or renewing it if due).
pub fn server_config(config: &Config) -> Result<Arc<ServerConfig>, TlsError> {
    Ok(ServerTls::load(config)?.config())
}

/// Checks the certificate every [`CHECK_EVERY`] until shutdown; see [`ServerTls::check`].
pub async fn renew_daily(tls: Arc<ServerTls>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(CHECK_EVERY) => {}
            _ = shutdown.changed() => return,
        }
        let t = tls.clone();
        // Key generation and file writes: off the async workers.
        match tokio::task::spawn_blocking(move || t.check(SystemTime::now())).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "certificate check failed; will try again"),
            Err(e) => tracing::error!(error = %e, "certificate check failed; will try again"),
        }
    }
}

fn unix(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// Logs a warning when a configured certificate ends within [`RENEW_WITHIN_DAYS`]; returns the
/// days left then.
fn warn_if_expiring(path: &Path, facts: Option<&CertFacts>, now: i64) -> Option<i64> {
    let days_left = facts?.days_left(now);
    if days_left >= RENEW_WITHIN_DAYS {
        return None;
    }
    if days_left < 0 {
        tracing::warn!(cert = %path.display(), "the configured TLS certificate has expired; replace it (tls.cert)");
    } else {
        tracing::warn!(cert = %path.display(), days_left, "the configured TLS certificate expires soon; replace it (tls.cert)");
    }
    Some(days_left)
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let fix = "check tls.cert points at a PEM certificate";
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err(path, e, fix))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(path, e, fix))?;
    if chain.is_empty() {
        return Err(TlsError::File {
            path: path.to_path_buf(),
            what: "no certificate in the file".into(),
            fix: "tls.cert must hold a PEM certificate chain, leaf first",
        });
    }
    Ok(chain)
}

/// Reads a certificate chain and its key; also what the leaf says about itself.
fn load_pair(cert: &Path, key: &Path) -> Result<(CertifiedKey, Option<CertFacts>), TlsError> {
    let chain = read_chain(cert)?;
    let facts = CertFacts::parse(&chain[0]);
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        file_err(
            key,
            e,
            "tls.key must hold a PEM private key (PKCS#8, PKCS#1 or SEC1)",
        )
    })?;
    let provider = rustls::crypto::ring::default_provider();
    let certified = CertifiedKey::from_der(chain, key_der, &provider)?;
    Ok((certified, facts))
}

/// The generated certificate as of `now`: the stored one if it is still good, else a new one
/// written in its place (and the reason).
fn load_generated(
    dir: &Path,
    hostname: &str,
    now: i64,
) -> Result<(CertifiedKey, Option<Renewal>), TlsError> {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let why = if !cert.is_file() || !key.is_file() {
        Renewal::Missing
    } else {
        match load_pair(&cert, &key) {
            Ok((k, facts)) => match generated_renewal(facts.as_ref(), hostname, now) {
                None => return Ok((k, None)),
                Some(why) => why,
            },
            // A half-written pair (key and certificate that do not match) is made anew too.
            Err(_) => Renewal::Unreadable,
        }
    };
    let (cert_pem, key_pem) = generate_self_signed(hostname, now)?;
    std::fs::create_dir_all(dir)
        .map_err(|e| file_err(dir, e, "check the data directory is writable"))?;
    // Each file is written beside and renamed into place, so a reader never sees half of one.
    write_private(&key, key_pem.as_bytes())?;
    write_private(&cert, cert_pem.as_bytes())?;
    match why {
        Renewal::Missing => {
            tracing::info!(cert = %cert.display(), "generated a self-signed certificate for {hostname}")
        }
        _ => {
            tracing::info!(cert = %cert.display(), reason = ?why, "renewed the self-signed certificate for {hostname}")
        }
    }
    let (k, _) = load_pair(&cert, &key)?;
    Ok((k, Some(why)))
}

/// The protocol versions every listener offers (AL-1.1: TLS 1.2 or higher).
pub static VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// Installs ring as the process's crypto provider; call once at start-up (idempotent).
pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn file_err(path: &Path, e: impl std::fmt::Display, fix: &'static str) -> TlsError {
    TlsError::File {
        path: path.to_path_buf(),
        what: e.to_string(),
        fix,
    }
}

/// Writes `data` to `path` with mode 0600: to a file beside it, synced, then renamed over it.
fn write_private(path: &Path, data: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".new");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| file_err(&tmp, e, "check the data directory is writable"))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .map_err(|e| file_err(&tmp, e, "check the disk"))?;
    std::fs::rename(&tmp, path)
        .map_err(|e| file_err(path, e, "check the data directory is writable"))
}

/// The name a (verified) client certificate gives: its subject's common name, else its first
/// DNS name, else its serial number in hex.
pub fn certificate_name(cert: &CertificateDer<'_>) -> String {
    let Ok((_, x)) = x509_parser::parse_x509_certificate(cert.as_ref()) else {
        return "unreadable certificate".to_string();
    };
    if let Some(cn) = x
        .subject()
        .iter_common_name()
        .next()
        .and_then(|c| c.as_str().ok())
    {
        return cn.to_string();
    }
    if let Ok(Some(san)) = x.subject_alternative_name() {
        for n in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                return d.to_string();
            }
        }
    }
    format!("serial {}", x.raw_serial_as_string())
}

/// "TLSv1.3 TLS13_AES_256_GCM_SHA384", for the trace and the Received line.
pub fn describe(conn: &rustls::ServerConnection) -> String {
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
        Some(v) => format!("{v:?}"),
        None => "unknown".to_string(),
    };
    let suite = conn
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()))
        .unwrap_or_default();
    format!("{version} {suite}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::extensions::GeneralName;

    const D: i64 = 24 * 60 * 60;
    const HOST: &str = "mail.example.test";

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let r = u32::from_le_bytes(rampart_store::random_bytes::<4>());
            let p =
                std::env::temp_dir().join(format!("rampart-tls-{tag}-{}-{r}", std::process::id()));
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn now() -> i64 {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    fn generated_config(dir: &Path) -> Config {
        let mut c = Config::embedded_default();
        c.data_dir = dir.to_path_buf();
        c
    }

    /// (common name, DNS names, not_before, not_after) of the first certificate in a PEM file.
    fn read_back(path: &Path) -> (String, Vec<String>, i64, i64) {
        let pem = std::fs::read(path).unwrap();
        let (_, p) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
        let cert = p.parse_x509().unwrap();
        let cn = cert.subject().to_string();
        let dns = cert
            .subject_alternative_name()
            .unwrap()
            .map(|san| {
                san.value
                    .general_names
                    .iter()
                    .filter_map(|n| match n {
                        GeneralName::DNSName(d) => Some(d.to_string()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        (
            cn,
            dns,
            cert.validity().not_before.timestamp(),
            cert.validity().not_after.timestamp(),
        )
    }

    /// A certificate for `cn` valid from `nb` to `na` (Unix seconds), PEM certificate and key.
    fn cert_for(cn: &str, nb: i64, na: i64) -> (String, String) {
        let mut p = rcgen::CertificateParams::new(vec![cn.to_string()]).unwrap();
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, cn);
        p.distinguished_name = dn;
        p.not_before = time::OffsetDateTime::from_unix_timestamp(nb).unwrap();
        p.not_after = time::OffsetDateTime::from_unix_timestamp(na).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        (p.self_signed(&key).unwrap().pem(), key.serialize_pem())
    }

    #[test]
    fn nc_2_1_3_generated_certificate_names_the_host_and_lasts_a_year() {
        let dir = TempDir::new("gen");
        let t = now();
        server_config(&generated_config(&dir.0)).unwrap();
        let (subject, dns, nb, na) = read_back(&dir.0.join("tls/cert.pem"));
        // NC-2.1.3: the subject is the host, not the library that made it.
        assert_eq!(subject, format!("CN={HOST}"));
        assert_eq!(dns, vec![HOST.to_string()]);
        assert!(
            (t - D - 60..=t - D + 60).contains(&nb),
            "not_before {nb}, now {t}"
        );
        assert!(
            (t + 365 * D - 60..=t + 365 * D + 60).contains(&na),
            "not_after {na}, now {t}"
        );
    }

    /// A certificate an earlier version generated (subject `rcgen self signed cert`, valid until
    /// 4096) is replaced at start.
    #[test]
    fn nc_2_1_3_old_generated_certificate_is_replaced_on_start() {
        let dir = TempDir::new("old");
        let tls = dir.0.join("tls");
        std::fs::create_dir_all(&tls).unwrap();
        let old = rcgen::generate_simple_self_signed(vec![HOST.to_string()]).unwrap();
        std::fs::write(tls.join("cert.pem"), old.cert.pem()).unwrap();
        std::fs::write(tls.join("key.pem"), old.signing_key.serialize_pem()).unwrap();
        assert!(read_back(&tls.join("cert.pem")).0.contains("rcgen"));
        let t = now();
        server_config(&generated_config(&dir.0)).unwrap();
        let (subject, _, _, na) = read_back(&tls.join("cert.pem"));
        assert_eq!(subject, format!("CN={HOST}"));
        assert!(na <= t + 366 * D, "still valid until {na}");
    }

    #[test]
    fn renewal_decision_at_explicit_times() {
        let t = 1_800_000_000;
        let fresh = CertFacts {
            not_before: t - D,
            not_after: t + 365 * D,
            common_name: Some(HOST.into()),
            dns_names: vec![HOST.into()],
        };
        assert_eq!(generated_renewal(Some(&fresh), HOST, t), None);
        assert_eq!(
            generated_renewal(Some(&fresh), "MAIL.Example.TEST", t),
            None
        );
        // 31 days left: kept; 29 left or expired: renewed.
        assert_eq!(generated_renewal(Some(&fresh), HOST, t + 334 * D), None);
        assert_eq!(
            generated_renewal(Some(&fresh), HOST, t + 336 * D),
            Some(Renewal::Expiring)
        );
        assert_eq!(
            generated_renewal(Some(&fresh), HOST, t + 400 * D),
            Some(Renewal::Expiring)
        );
        assert_eq!(
            generated_renewal(Some(&fresh), HOST, t - 10 * D),
            Some(Renewal::NotYetValid)
        );
        let until_4096 = CertFacts {
            not_before: 157_766_400,   // 1975-01-01, rcgen's default
            not_after: 67_090_118_400, // 4096-01-01
            ..fresh.clone()
        };
        assert_eq!(
            generated_renewal(Some(&until_4096), HOST, t),
            Some(Renewal::TooLong)
        );
        let library = CertFacts {
            common_name: Some("rcgen self signed cert".into()),
            ..fresh.clone()
        };
        assert_eq!(
            generated_renewal(Some(&library), HOST, t),
            Some(Renewal::WrongName)
        );
        assert_eq!(
            generated_renewal(Some(&fresh), "mx2.example.test", t),
            Some(Renewal::WrongName)
        );
        assert_eq!(generated_renewal(None, HOST, t), Some(Renewal::Unreadable));
    }

    /// The daily check renews the generated certificate when due and the listeners serve the new
    /// one; the times are given, not waited for.
    #[test]
    fn generated_certificate_is_renewed_and_served_while_running() {
        let dir = TempDir::new("renew");
        let tls = ServerTls::load(&generated_config(&dir.0)).unwrap();
        let first = tls.certificate_chain();
        let start = SystemTime::now();
        assert_eq!(tls.check(start).unwrap(), CertCheck::Fine);
        assert_eq!(tls.certificate_chain(), first);
        let later = start + Duration::from_secs(340 * D as u64);
        assert_eq!(
            tls.check(later).unwrap(),
            CertCheck::Renewed(Renewal::Expiring)
        );
        let served = tls.certificate_chain();
        assert_ne!(served, first);
        let on_disk: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(dir.0.join("tls/cert.pem"))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
        assert_eq!(served, on_disk);
        let facts = CertFacts::parse(&served[0]).unwrap();
        assert_eq!(facts.not_after, unix(later) + 365 * D);
        assert_eq!(tls.check(later).unwrap(), CertCheck::Fine);
    }

    /// The administrator's certificate is read, warned about near its end, and never rewritten.
    #[test]
    fn configured_certificate_is_never_rewritten() {
        let dir = TempDir::new("admin");
        let t = now();
        let (cert_pem, key_pem) = cert_for(HOST, t - D, t + 10 * D);
        let (cert, key) = (dir.0.join("admin-cert.pem"), dir.0.join("admin-key.pem"));
        std::fs::write(&cert, &cert_pem).unwrap();
        std::fs::write(&key, &key_pem).unwrap();
        let src = format!(
            "hostname = {HOST:?}\ndata_dir = {:?}\n[tls]\ncert = {:?}\nkey = {:?}\n",
            dir.0.join("data"),
            cert,
            key
        );
        let config = Config::parse(&dir.0.join("rampart.toml"), &src).unwrap();
        let tls = ServerTls::load(&config).unwrap();
        let CertCheck::ConfiguredExpiring { days_left } = tls.check(SystemTime::now()).unwrap()
        else {
            panic!("no warning for a certificate ending in 10 days");
        };
        assert!((9..=10).contains(&days_left), "{days_left}");
        let expired = SystemTime::now() + Duration::from_secs(20 * D as u64);
        assert!(matches!(
            tls.check(expired).unwrap(),
            CertCheck::ConfiguredExpiring { days_left } if days_left < 0
        ));
        assert_eq!(std::fs::read_to_string(&cert).unwrap(), cert_pem);
        assert_eq!(std::fs::read_to_string(&key).unwrap(), key_pem);
        assert!(!dir.0.join("data/tls").exists());
    }
}
