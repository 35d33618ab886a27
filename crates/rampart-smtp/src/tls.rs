//! TLS for the listeners: TLS 1.2 and 1.3 only (AL-1.1), ring as the one crypto provider.
//!
//! With no certificate configured, a self-signed one for the host name is generated on first
//! start and kept in `data_dir/tls/` (key mode 0600), so the demo offers STARTTLS at once.

use rampart_config::Config;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// The protocol versions every listener offers (AL-1.1: TLS 1.2 or higher).
pub static VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// Installs ring as the process's crypto provider; call once at start-up (idempotent).
pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Loads the configured certificate, or the generated one (generating it if needed).
pub fn server_config(config: &Config) -> Result<Arc<ServerConfig>, TlsError> {
    install_provider();
    let (cert, key) = match (&config.tls.cert, &config.tls.key) {
        (Some(c), Some(k)) => (c.get_ref().clone(), k.get_ref().clone()),
        _ => generate_if_missing(&config.data_dir.join("tls"), config.hostname.get_ref())?,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .map_err(|e| file_err(&cert, e, "check tls.cert points at a PEM certificate"))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(&cert, e, "check tls.cert points at a PEM certificate"))?;
    if chain.is_empty() {
        return Err(TlsError::File {
            path: cert,
            what: "no certificate in the file".into(),
            fix: "tls.cert must hold a PEM certificate chain, leaf first",
        });
    }
    let key = PrivateKeyDer::from_pem_file(&key).map_err(|e| {
        file_err(
            &key,
            e,
            "tls.key must hold a PEM private key (PKCS#8, PKCS#1 or SEC1)",
        )
    })?;
    let mut sc = ServerConfig::builder_with_protocol_versions(VERSIONS)
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    sc.ignore_client_order = true;
    Ok(Arc::new(sc))
}

fn file_err(path: &Path, e: impl std::fmt::Display, fix: &'static str) -> TlsError {
    TlsError::File {
        path: path.to_path_buf(),
        what: e.to_string(),
        fix,
    }
}

fn generate_if_missing(dir: &Path, hostname: &str) -> Result<(PathBuf, PathBuf), TlsError> {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    if cert.is_file() && key.is_file() {
        return Ok((cert, key));
    }
    let ck = rcgen::generate_simple_self_signed(vec![hostname.to_string()])
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    std::fs::create_dir_all(dir)
        .map_err(|e| file_err(dir, e, "check the data directory is writable"))?;
    write_private(&key, ck.signing_key.serialize_pem().as_bytes())?;
    write_private(&cert, ck.cert.pem().as_bytes())?;
    tracing::info!(cert = %cert.display(), "generated a self-signed certificate for {hostname}");
    Ok((cert, key))
}

fn write_private(path: &Path, data: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| file_err(path, e, "check the data directory is writable"))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .map_err(|e| file_err(path, e, "check the disk"))
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
