//! TLS to the database (AL-1.1): with `sslmode=verify-full` and the CA that signed the
//! server's certificate, the connection is encrypted (as the server itself reports); with
//! another CA it is refused, never made in clear or unverified.

use rampart_store::api::Directory;
use rampart_store_pg::cluster::Cluster;
use rampart_store_pg::PgStore;

/// A CA and a server certificate for 127.0.0.1 signed by it: (CA PEM, chain PEM, key PEM).
fn pki() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Rampart Test Database CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "db.agency.example");
    let leaf = leaf.signed_by(&key, &issuer).unwrap();
    (ca.pem(), leaf.pem(), key.serialize_pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_encrypts_and_refuses_a_stranger() {
    let (ca, chain, key) = pki();
    let cluster = Cluster::start_tls(&chain, &key);
    let db = cluster.create_database().await;
    let n: [u8; 8] = rampart_store::random_bytes();
    let dir = std::env::temp_dir().join(format!(
        "rampart-pg-tls-{}",
        n[0] as u32 * 256 + n[1] as u32
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, &ca).unwrap();

    let mut opts = cluster.options(&db);
    opts.url = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        cluster.url(&db),
        ca_path.display()
    );
    let store = PgStore::open(&opts)
        .await
        .unwrap_or_else(|e| panic!("TLS with the right CA connects: {e}\n{}", cluster.log()));
    store.add_domain("local.example").await.unwrap();
    let version = store.tls_in_use().await.unwrap();
    assert!(
        matches!(version.as_deref(), Some("TLSv1.2" | "TLSv1.3")),
        "AL-1.1: the server sees TLS 1.2 or higher: {version:?}"
    );

    // Without TLS the same server is reached in clear: the check above is not vacuous.
    let plain = PgStore::open(&cluster.options(&db)).await.unwrap();
    assert_eq!(plain.tls_in_use().await.unwrap(), None);

    // Another CA: refused, with the certificate named.
    let (other_ca, _, _) = pki();
    std::fs::write(&ca_path, &other_ca).unwrap();
    let err = PgStore::open(&opts)
        .await
        .err()
        .expect("a server certificate of another CA is refused");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
