//! Recipient verification for relay domains (issue 14; NC-2.1.6, AL-1) against real servers on
//! loopback: OpenLDAP's slapd (Debian's package) with a generated directory and TLS, and a
//! `rampart serve` as the next hop of a callout, reached through a TCP proxy that counts the
//! connections.
//!
//! Most tests drive `rampart_smtp::verify::RecipientVerifier` directly; one speaks SMTP to a
//! gateway whose relay domain is verified in the directory (250, 550 5.1.1, 451 4.4.3).

use crate::common;

use common::{start_outside_daemon, ClosedPort, PortTaken, Server, TempDir};
use rampart_config::RelayDomain;
use rampart_smtp::verify::{RecipientVerifier, Verification};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A CA and a leaf for `localhost`, `mail.example.test` and 127.0.0.1, as PEM files in `dir`:
/// (ca, cert, key).
fn pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name = rcgen::DistinguishedName::new();
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Verify Test CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf =
        CertificateParams::new(vec!["localhost".into(), "mail.example.test".into()]).unwrap();
    leaf.subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    leaf.distinguished_name = rcgen::DistinguishedName::new();
    leaf.distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    let leaf = leaf.signed_by(&key, &issuer).unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&paths.0, ca.pem()).unwrap();
    std::fs::write(&paths.1, leaf.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

fn ring() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A relay domain for example.test whose `verify` table is `verify` (JSON).
fn relay_domain(port: u16, ca: &Path, verify: serde_json::Value) -> RelayDomain {
    serde_json::from_value(serde_json::json!({
        "domains": ["example.test"],
        "hosts": ["localhost"],
        "port": port,
        "ca_file": ca,
        "verify": verify,
    }))
    .unwrap()
}

fn unavailable(v: &Verification) -> bool {
    matches!(v, Verification::Unavailable(_))
}

// ---- LDAP ----------------------------------------------------------------------------------

const SUFFIX: &str = "dc=example,dc=test";
const ADMIN: &str = "cn=admin,dc=example,dc=test";

/// A private slapd: its own configuration, directory and TLS certificate, on two loopback
/// ports (LDAPS and ldap:// for StartTLS). Killed when dropped.
struct Slapd {
    dir: TempDir,
    child: Option<Child>,
    ldaps: u16,
    ldap: u16,
    ca: PathBuf,
}

impl Slapd {
    fn start() -> Slapd {
        let dir = TempDir::new("slapd");
        let d = dir.0.clone();
        let (ca, cert, key) = pki(&d);
        std::fs::create_dir_all(d.join("db")).unwrap();
        let conf = d.join("slapd.conf");
        std::fs::write(
            &conf,
            format!(
                "include /etc/ldap/schema/core.schema\n\
                 include /etc/ldap/schema/cosine.schema\n\
                 include /etc/ldap/schema/inetorgperson.schema\n\
                 include {d}/ad.schema\n\
                 pidfile {d}/slapd.pid\n\
                 modulepath /usr/lib/ldap\nmoduleload back_mdb\n\
                 TLSCACertificateFile {ca}\nTLSCertificateFile {cert}\nTLSCertificateKeyFile {key}\n\
                 database mdb\nmaxsize 10485760\nsuffix \"{SUFFIX}\"\nrootdn \"{ADMIN}\"\nrootpw secret\n\
                 directory {d}/db\n",
                d = d.display(),
                ca = ca.display(),
                cert = cert.display(),
                key = key.display(),
            ),
        )
        .unwrap();
        // Active Directory's alias attribute, as AD matches it: without regard to case.
        std::fs::write(
            d.join("ad.schema"),
            "attributetype ( 1.3.6.1.4.1.55555.1.1 NAME 'proxyAddresses' EQUALITY caseIgnoreMatch \
             SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )\n\
             objectclass ( 1.3.6.1.4.1.55555.2.1 NAME 'adMailUser' SUP top AUXILIARY MAY proxyAddresses )\n",
        )
        .unwrap();
        std::fs::write(
            d.join("data.ldif"),
            format!(
                "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n\
                 dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people\n\n\
                 dn: uid=alice,ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: alice\ncn: Alice\nsn: A\n\
                 mail: alice@example.test\n\n\
                 dn: uid=carol,ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nobjectClass: adMailUser\n\
                 uid: carol\ncn: Carol\nsn: C\nmail: carol.primary@corp.example\n\
                 proxyAddresses: SMTP:carol.primary@corp.example\nproxyAddresses: smtp:carol@example.test\n\n\
                 dn: uid=dave,ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: dave\ncn: Dave\nsn: D\n\
                 mail: dave@agency.test\n"
            ),
        )
        .unwrap();
        let out = Command::new("/usr/sbin/slapadd")
            .arg("-f")
            .arg(&conf)
            .arg("-l")
            .arg(d.join("data.ldif"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "slapadd: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // slapd must be told its ports; one may be taken before slapd binds it, and slapd then
        // exits saying so: started again on new ports (start_outside_daemon's bounded retry).
        let (pidfile, log) = (d.join("slapd.pid"), d.join("slapd.log"));
        let (child, ldaps, ldap) = start_outside_daemon("slapd", 2, |ports| {
            let (ldaps, ldap) = (ports[0], ports[1]);
            let _ = std::fs::remove_file(&pidfile);
            let mut child = Command::new("/usr/sbin/slapd")
                .arg("-f")
                .arg(&conf)
                .arg("-h")
                .arg(format!(
                    "ldaps://127.0.0.1:{ldaps}/ ldap://127.0.0.1:{ldap}/"
                ))
                // In the foreground; level 256 (stats) logs a failed bind too.
                .arg("-d")
                .arg("256")
                .stdout(Stdio::null())
                .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
                .spawn()
                .unwrap();
            // The pid file is written once the listeners are bound: from then on the ports are
            // slapd's, and answering on them is slapd answering.
            if wait_pidfile(&mut child, &pidfile)
                && wait_listening(&mut child, ldaps)
                && wait_listening(&mut child, ldap)
            {
                return Ok((child, ldaps, ldap));
            }
            let _ = child.kill();
            let _ = child.wait();
            let said = std::fs::read_to_string(&log).unwrap_or_default();
            if said.contains("Address already in use") {
                return Err(PortTaken(said));
            }
            panic!("slapd did not start:\n{said}");
        });
        Slapd {
            dir,
            child: Some(child),
            ldaps,
            ldap,
            ca,
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn password_file(&self, password: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = self.dir.0.join(format!("bind-{}.pw", password.len()));
        std::fs::write(&p, format!("{password}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        p
    }

    fn verifier(&self, url: String, password: &str, ca: &Path) -> RecipientVerifier {
        let rd = relay_domain(
            25,
            ca,
            serde_json::json!({
                "method": "ldap",
                "url": url,
                "ca_file": ca,
                "bind_dn": ADMIN,
                "bind_password_file": self.password_file(password),
                "base_dn": SUFFIX,
                "timeout_secs": 5,
            }),
        );
        RecipientVerifier::new(&rd, "mx.gateway.test").unwrap()
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls until `child` has written its pid to `path`, or exits, within a bound.
fn wait_pidfile(child: &mut Child, path: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    let pid = child.id().to_string();
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if std::fs::read_to_string(path).is_ok_and(|p| p.trim() == pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Polls until `port` accepts a connection, or the child exits, within a bound.
fn wait_listening(child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nc_2_1_6_ldap_known_unknown_and_unavailable() {
    ring();
    let mut slapd = Slapd::start();
    let v = slapd.verifier(
        format!("ldaps://127.0.0.1:{}", slapd.ldaps),
        "secret",
        &slapd.ca.clone(),
    );
    assert_eq!(v.verify("alice@example.test").await, Verification::Known);
    // Active Directory style: an alias in proxyAddresses (default filter).
    assert_eq!(v.verify("carol@example.test").await, Verification::Known);
    assert_eq!(v.verify("nobody@example.test").await, Verification::Unknown);
    // RFC 4515 escaping: without it the filter would read (mail=*)(mail=*@example.test) and
    // match every entry.
    assert_eq!(
        v.verify("*)(mail=*@example.test").await,
        Verification::Unknown
    );
    assert_eq!(v.verify("*@example.test").await, Verification::Unknown);

    slapd.stop();
    // A new question cannot be answered: 451, never a 250.
    let down = v.verify("bob@example.test").await;
    assert!(unavailable(&down), "{down:?}");
    // Answers already given are remembered for their lifetimes.
    assert_eq!(v.verify("alice@example.test").await, Verification::Known);
    assert_eq!(v.verify("nobody@example.test").await, Verification::Unknown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn al_1_1_ldap_starttls_bind_and_certificate() {
    ring();
    let slapd = Slapd::start();
    let ca = slapd.ca.clone();
    // ldap:// is always upgraded with StartTLS.
    let v = slapd.verifier(format!("ldap://127.0.0.1:{}", slapd.ldap), "secret", &ca);
    assert_eq!(v.verify("alice@example.test").await, Verification::Known);
    assert_eq!(v.verify("nobody@example.test").await, Verification::Unknown);

    // A refused bind is no answer.
    let v = slapd.verifier(format!("ldaps://127.0.0.1:{}", slapd.ldaps), "wrong", &ca);
    let r = v.verify("alice@example.test").await;
    assert!(unavailable(&r), "{r:?}");

    // A directory whose certificate the configured CA did not sign is not trusted.
    let other = TempDir::new("otherca");
    let (other_ca, _, _) = pki(&other.0);
    let v = slapd.verifier(
        format!("ldaps://127.0.0.1:{}", slapd.ldaps),
        "secret",
        &other_ca,
    );
    let r = v.verify("alice@example.test").await;
    assert!(unavailable(&r), "{r:?}");
}

// ---- Callout -------------------------------------------------------------------------------

/// A TCP proxy on 127.0.0.1 to `to`, counting the connections it accepts. It lives as long as
/// the test's runtime.
async fn counting_proxy(to: SocketAddr) -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(to).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (port, count)
}

/// A `rampart serve` with example.test (alice, bob) whose certificate also names localhost,
/// signed by a CA the test writes: the callout's next hop.
/// At the gateway's MX listener, over SMTP: a relay domain's recipient known to the directory
/// is accepted, an unknown one refused with 550 5.1.1 (no backscatter, no harvest), and with
/// slapd stopped a new one gets 451 4.4.3, never a 250 (AL-1, NC-2.1.6).
#[test]
fn nc_2_1_6_gateway_rcpt_answers_from_the_directory() {
    let mut slapd = Slapd::start();
    let pw = slapd.password_file("secret");
    let top = format!(
        "[[relay_domain]]\ndomains = [\"agency.test\"]\nhosts = [\"localhost\"]\nca_file = \"{ca}\"\n\
         [relay_domain.verify]\nmethod = \"ldap\"\nurl = \"ldaps://127.0.0.1:{port}\"\nca_file = \"{ca}\"\n\
         bind_dn = \"{ADMIN}\"\nbind_password_file = \"{pw}\"\nbase_dn = \"{SUFFIX}\"\ntimeout_secs = 5\n",
        ca = slapd.ca.display(),
        port = slapd.ldaps,
        pw = pw.display(),
    );
    let s = Server::start_with(common::Options {
        top,
        ..Default::default()
    });
    let mut c = s.ehlo();
    c.send("MAIL FROM:<someone@example.net>");
    c.expect(250);
    c.send("RCPT TO:<dave@agency.test>");
    c.expect(250);
    c.send("RCPT TO:<nobody@agency.test>");
    let r = c.expect(550);
    assert!(r.contains("5.1.1"), "{r}");
    slapd.stop();
    c.send("RCPT TO:<erin@agency.test>");
    let r = c.expect(451);
    assert!(r.contains("4.4.3"), "{r}");
}

fn next_hop() -> (Server, PathBuf) {
    let mut s = Server::start();
    // pki() writes cert.pem and key.pem where the server's configuration points: restart on them.
    let (ca, _, _) = pki(&s.dir.0);
    s.terminate();
    s.spawn();
    (s, ca)
}

fn callout_domain(port: u16, ca: &Path, positive: u64, negative: u64) -> RecipientVerifier {
    let rd = relay_domain(
        port,
        ca,
        serde_json::json!({
            "method": "callout",
            "positive_cache_secs": positive,
            "negative_cache_secs": negative,
            "timeout_secs": 10,
        }),
    );
    RecipientVerifier::new(&rd, "mx.gateway.test").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nc_2_1_6_callout_answers_cached_with_their_lifetimes() {
    ring();
    let (mut s, ca) = next_hop();
    let (port, connections) = counting_proxy(s.addr).await;
    let v = callout_domain(port, &ca, 3600, 3600);

    assert_eq!(v.verify("alice@example.test").await, Verification::Known);
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    assert_eq!(v.verify("nobody@example.test").await, Verification::Unknown);
    assert_eq!(connections.load(Ordering::SeqCst), 2);
    // Cache hits: the same answers without a connection to the next hop.
    assert_eq!(v.verify("alice@example.test").await, Verification::Known);
    assert_eq!(v.verify("nobody@example.test").await, Verification::Unknown);
    // The domain is folded for the cache, the local part is not: a new question.
    let _ = v.verify("Alice@EXAMPLE.test").await;
    assert_eq!(connections.load(Ordering::SeqCst), 3);

    // The next hop goes down: cached answers stand, a new address is unavailable (451).
    s.terminate();
    assert_eq!(v.verify("alice@example.test").await, Verification::Known);
    let r = v.verify("bob@example.test").await;
    assert!(unavailable(&r), "{r:?}");
    // Unavailable is not remembered: the next RCPT asks again.
    let before = connections.load(Ordering::SeqCst);
    let r = v.verify("bob@example.test").await;
    assert!(unavailable(&r), "{r:?}");
    assert_eq!(connections.load(Ordering::SeqCst), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nc_2_1_6_callout_cache_expires() {
    ring();
    let (_s, ca) = next_hop();
    let (port, connections) = counting_proxy(_s.addr).await;
    // Known answers kept one second; unknown ones not at all.
    let v = callout_domain(port, &ca, 1, 0);
    assert_eq!(v.verify("bob@example.test").await, Verification::Known);
    assert_eq!(v.verify("bob@example.test").await, Verification::Known);
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    assert_eq!(v.verify("nobody@example.test").await, Verification::Unknown);
    assert_eq!(v.verify("nobody@example.test").await, Verification::Unknown);
    assert_eq!(connections.load(Ordering::SeqCst), 3);
    // The positive lifetime runs out (real time: this is the behaviour under test, not a wait
    // for another task).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(v.verify("bob@example.test").await, Verification::Known);
    assert_eq!(connections.load(Ordering::SeqCst), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nc_2_1_6_callout_next_hop_down_is_unavailable() {
    ring();
    let dir = TempDir::new("callout-down");
    let (ca, _, _) = pki(&dir.0);
    // Nothing listens there.
    let closed = ClosedPort::new();
    let v = callout_domain(closed.port(), &ca, 3600, 3600);
    let r = v.verify("alice@example.test").await;
    assert!(unavailable(&r), "{r:?}");
    assert_eq!(
        r.refusal().unwrap().line(),
        "451 4.4.3 Recipient cannot be verified now, try again later"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn al_1_1_callout_refuses_an_unverified_next_hop() {
    ring();
    // The next hop's certificate is signed by the harness's CA, not the one configured here.
    let s = Server::start();
    let dir = TempDir::new("callout-ca");
    let (other_ca, _, _) = pki(&dir.0);
    let (port, _) = counting_proxy(s.addr).await;
    let v = callout_domain(port, &other_ca, 3600, 3600);
    let r = v.verify("alice@example.test").await;
    assert!(unavailable(&r), "{r:?}");
}
