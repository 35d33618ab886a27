//! Split roles (NC-2.3.4) and the gateway in front of a mailbox server (AL-1, AL-1.1), end to
//! end: three `rampart serve` processes on loopback and a DNS server started by the test.
//!
//! ```text
//! Internet client ─25─▶ gateway (every check) ─mutual TLS─▶ store (alice, bob @ example.test)
//! alice on the store ─465─▶ store ─mutual TLS, relay_from─▶ gateway (DKIM) ─25─▶ receiver
//! ```
//!
//! A zone CA made here issues the gateway's server certificate and the client certificates of
//! both nodes; the store's own server certificate comes from the harness.

use crate::clamd;
use crate::common;

use common::*;
use rampart_testdns::TestDns;
use std::path::{Path, PathBuf};

/// The zone CA and the certificates it issued, as PEM files.
struct Zone {
    _dir: TempDir,
    ca: PathBuf,
    gw_cert: PathBuf,
    gw_key: PathBuf,
    gw_client: (PathBuf, PathBuf),
    store_client: (PathBuf, PathBuf),
}

fn zone() -> Zone {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    };
    let dir = TempDir::new("zone");
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name = rcgen::DistinguishedName::new();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Agency Zone CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let issue = |name: &str, file: &str, eku: ExtendedKeyUsagePurpose| -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec![name.to_string()]).unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, name);
        p.extended_key_usages = vec![eku];
        let cert = p.signed_by(&key, &issuer).unwrap();
        let (c, k) = (
            dir.0.join(format!("{file}.pem")),
            dir.0.join(format!("{file}.key")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    };
    let (gw_cert, gw_key) = issue("gw.example.test", "gw", ExtendedKeyUsagePurpose::ServerAuth);
    let gw_client = issue(
        "gw.example.test",
        "gw-client",
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let store_client = issue(
        "store.example.test",
        "store-client",
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let ca_path = dir.0.join("zone-ca.pem");
    std::fs::write(&ca_path, ca.pem()).unwrap();
    Zone {
        _dir: dir,
        ca: ca_path,
        gw_cert,
        gw_key,
        gw_client,
        store_client,
    }
}

/// The gateway and the store name each other, and the receiver stands for the Internet:
/// remote.test's MX is mx.remote.test. down.example.test is a next hop where nothing listens.
fn dns() -> TestDns {
    let lo = "127.0.0.1".parse().unwrap();
    TestDns::builder()
        .a("gw.example.test", lo)
        .a("mail.example.test", lo)
        .a("down.example.test", "127.0.0.2".parse().unwrap())
        .mx("remote.test", 10, "mx.remote.test")
        .a("mx.remote.test", lo)
        // The receiver represents example.test too (the harness's domain): mail claiming it
        // from outside must pass DMARC there, so the gateway's address is authorised.
        .txt("example.test", "v=spf1 ip4:127.0.0.1 -all")
        // The Internet sender is authorised to send from the test's address (no DMARC record:
        // its SPF pass authenticates its From, AL-1.2).
        .txt("remote.test", "v=spf1 ip4:127.0.0.1 -all")
        .start()
}

/// The store: the harness's example.test with alice and bob; its MX (on any port) takes mail
/// only from 127.0.0.1 with a certificate of the zone CA, and it sends through the gateway's
/// inside port.
fn store(zone: &Zone, dns: &TestDns, gw_inside: u16) -> Server {
    let ca = zone.ca.display();
    Server::start_with(Options {
        listener: format!(
            "require_tls = true\naccept_from = [\"127.0.0.1/32\"]\nclient_ca_file = \"{ca}\"\n\
             require_client_cert = true\ntrusted_authserv_ids = [\"gw.example.test\"]\n\
             trust_gateway_verdicts = true\n"
        ),
        top: format!(
            "[dns]\nservers = [\"{}\"]\ntimeout_secs = 2\n\
             [delivery]\nretry_secs = [1]\ntimeout_secs = 10\n\
             [delivery.smarthost]\nhost = \"gw.example.test\"\nport = {gw_inside}\nca_file = \"{ca}\"\n\
             client_cert = \"{}\"\nclient_key = \"{}\"\n\
             [[listener]]\nrole = \"submissions\"\naddress = \"127.0.0.1:0\"\n",
            dns.addr(),
            zone.store_client.0.display(),
            zone.store_client.1.display()
        ),
        ..Default::default()
    })
}

/// The gateway: public MX on any port, the inside port for the store's outbound mail, and
/// example.test as a relay domain forwarded to `hosts` on the store's port.
fn gateway(
    zone: &Zone,
    dns: &TestDns,
    store: &Server,
    hosts: &str,
    gw_inside: u16,
    internet_port: u16,
    av: &Path,
) -> Server {
    let dir = TempDir::new("gw");
    let pki = make_pki(&dir.0);
    let config = dir.0.join("rampart.toml");
    std::fs::write(
        &config,
        format!(
            "hostname = \"gw.example.test\"\ndata_dir = \"data\"\nshutdown_grace_secs = 10\n\
             [log]\nlevel = \"warn\"\n\
             [tls]\ncert = \"{gw_cert}\"\nkey = \"{gw_key}\"\n\
             [dns]\nservers = [\"{dns}\"]\ntimeout_secs = 2\n\
             [delivery]\nport = {internet_port}\nretry_secs = [1]\ntimeout_secs = 10\n\
             [[listener]]\nrole = \"mx\"\naddress = \"127.0.0.1:0\"\n\
             [[listener]]\nrole = \"mx\"\naddress = \"127.0.0.1:{gw_inside}\"\nrequire_tls = true\n\
             client_ca_file = \"{ca}\"\n\
             [listener.relay_from]\nnetworks = [\"127.0.0.1/32\"]\nclient_certificate = true\n\
             [[relay_domain]]\ndomains = [\"example.test\"]\nhosts = {hosts}\nport = {store_port}\n\
             ca_file = \"{store_ca}\"\nclient_cert = \"{client_cert}\"\nclient_key = \"{client_key}\"\n\
             [relay_domain.verify]\nmethod = \"static\"\naddresses = [\"alice@example.test\", \"bob@example.test\"]\n\
             [checks]\ndisabled = []\n[checks.antivirus]\nclamd = \"{av}\"\ntimeout_ms = 20000\n\
             [checks.authentication]\ndns_timeout_ms = 500\n",
            gw_cert = zone.gw_cert.display(),
            gw_key = zone.gw_key.display(),
            dns = dns.addr(),
            ca = zone.ca.display(),
            store_port = store.addr.port(),
            store_ca = store.ca_file().display(),
            client_cert = zone.gw_client.0.display(),
            client_key = zone.gw_client.1.display(),
            av = av.display(),
        ),
    )
    .unwrap();
    let mut s = Server {
        dir,
        config,
        pki,
        addr: "127.0.0.1:1".parse().unwrap(),
        listeners: Vec::new(),
        dns: None,
        child: None,
        stdout: None,
    };
    s.spawn();
    s
}

/// The receiver: remote.test with carol, standing for the Internet.
fn receiver(dns: &TestDns) -> Server {
    let r = Server::start_with(Options {
        top: format!("[dns]\nservers = [\"{}\"]\n", dns.addr()),
        checks: Some("disabled = [\"antivirus\", \"external\"]".into()),
        ..Default::default()
    });
    cli(&r.config, &["domain", "add", "remote.test"], None);
    cli(
        &r.config,
        &["user", "add", "carol@remote.test", "--password-stdin"],
        Some(PASSWORD),
    );
    r
}

fn with_eicar() -> String {
    format!(
        "From: <x@remote.test>\r\nTo: <alice@example.test>\r\nSubject: invoice\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
         --b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"eicar.txt\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b1--\r\n",
        b64(&clamd::eicar())
    )
}

/// One transaction on an open session: the reply to RCPT if refused there, else to the data.
fn transaction(c: &mut Client, from: &str, to: &str, msg: &str) -> (u16, String) {
    c.send(&format!("MAIL FROM:<{from}>"));
    c.expect(250);
    c.send(&format!("RCPT TO:<{to}>"));
    let (code, text) = c.reply().unwrap();
    if code != 250 {
        return (code, text);
    }
    c.send("DATA");
    c.expect(354);
    c.send_raw(msg.as_bytes());
    c.send_raw(b".\r\n");
    c.reply().unwrap()
}

/// The client address 127.0.0.2 on a connection to `addr`: the first line the server sends.
fn greeting_from_other_address(addr: std::net::SocketAddr) -> String {
    let out = python(
        "import socket, sys\ns = socket.socket()\ns.bind(('127.0.0.2', 0))\n\
         s.connect(('127.0.0.1', int(sys.argv[1])))\ns.settimeout(10)\n\
         print(s.recv(512).decode().strip())",
        &[&addr.port().to_string()],
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn nc_2_3_4_gateway_checks_relays_over_mutual_tls_and_the_store_sends_out_through_it() {
    let av = clamd::Clamd::start(&[(
        "test.hdb",
        clamd::hdb_line(&clamd::eicar(), "Eicar-Test-Signature"),
    )]);
    let zone = zone();
    let dns = dns();
    let receiver = receiver(&dns);
    // The store names the gateway's inside port before the gateway starts: held until the
    // gateway listens on it.
    let gw_inside = ClosedPort::for_rampart();
    let store = store(&zone, &dns, gw_inside.port());
    // AL-1: the first next hop is down; the second is used.
    let gw = gateway(
        &zone,
        &dns,
        &store,
        "[\"down.example.test\", \"mail.example.test\"]",
        gw_inside.port(),
        receiver.addr.port(),
        &av.socket,
    );
    let gw_mx = gw.listeners[0].0;

    // From the Internet side: checked at the gateway before its 250.
    let mut c = Client::connect(gw_mx);
    c.expect(220);
    c.send("EHLO client.remote.test");
    c.expect(250);
    let (code, text) = transaction(&mut c, "x@remote.test", "alice@example.test", &with_eicar());
    assert_eq!(code, 554, "EICAR must be refused at the gateway: {text}");
    assert!(text.contains("Eicar-Test-Signature"), "{text}");
    // AL-1: a recipient the next hop does not have is refused at RCPT, never bounced later.
    let (code, text) = transaction(&mut c, "x@remote.test", "nobody@example.test", "");
    assert_eq!(code, 550, "{text}");
    assert!(text.starts_with("5.1.1"), "{text}");
    c.send("RSET");
    c.expect(250);
    let clean = "From: <x@remote.test>\r\nTo: <alice@example.test>\r\nSubject: hello through the gateway\r\n\
                 Message-ID: <split1@remote.test>\r\n\
                 Authentication-Results: evil.example; dkim=pass header.d=example.test\r\n\r\nHello Alice.\r\n";
    let (code, text) = transaction(&mut c, "x@remote.test", "alice@example.test", clean);
    assert_eq!(code, 250, "{text}");
    let gw_qid = text.rsplit(' ').next().unwrap().to_string();
    c.send("QUIT");

    // Delivered into the store's mailbox over verified mutual TLS.
    let got = store.wait_mailbox("alice@example.test", 1);
    let stored = store.show("alice@example.test", got[0].split('\t').next().unwrap());
    assert!(stored.contains("hello through the gateway"), "{stored}");
    // Tagged once, at the gateway (AL-1.6); the store did not tag it again.
    assert_eq!(stored.matches("[External]").count(), 1, "{stored}");
    assert!(
        stored.contains("Authentication-Results: gw.example.test"),
        "{stored}"
    );
    // NC-2.3.4: results from another authserv-id were removed at the store.
    assert!(!stored.contains("evil.example"), "{stored}");

    // Traced on both: the gateway's trace has the store's queue id from its 250.
    let trace = wait_trace(&gw, &["trace", "--queue-id", &gw_qid], "relayed");
    assert!(trace.contains("via mail.example.test (TLSv1."), "{trace}");
    let store_qid = trace
        .split("next hop queue id ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no next hop queue id in {trace}"))
        .to_string();
    wait_trace(&store, &["trace", "--queue-id", &store_qid], "queued");
    // NC-2.3.4: the store did not run the checks again (the checks event has no queue id).
    // AL-1.2: the From the gateway authenticated (SPF pass for remote.test, no DMARC record)
    // is believed from the gateway's own results, so the store's trusted senders work behind
    // it; the forged results of evil.example above were not read.
    let checks = wait_trace(
        &store,
        &["trace"],
        "not run again: checked by the gateway gw.example.test",
    );
    assert!(
        checks.contains("From x@remote.test authenticated by the gateway's results"),
        "{checks}"
    );
    let tls = wait_trace(
        &store,
        &["trace"],
        "client certificate gw.example.test verified",
    );
    assert!(tls.contains("client certificate gw.example.test verified"));

    // NC-2.3.4: the store refuses a client without the certificate, even from the gateway's
    // address, and any client from another address before the greeting.
    let mut direct = Client::connect(store.addr);
    direct.expect(220);
    direct.send("EHLO intruder.test");
    direct.expect(250);
    direct.send("STARTTLS");
    direct.expect(220);
    direct.start_tls_now(store.tls_config(&[&rustls::version::TLS13]));
    direct.send("EHLO intruder.test");
    direct.expect(250);
    direct.send("MAIL FROM:<x@remote.test>");
    let (code, text) = direct.reply().unwrap();
    assert_eq!((code, &text[..5]), (554, "5.7.1"), "{text}");
    let greeting = greeting_from_other_address(store.addr);
    assert!(greeting.starts_with("554 5.7.1"), "{greeting}");

    // Outbound: alice on the store sends to the Internet; the store relays through the
    // gateway (relay_from, its client certificate), which signs with DKIM and delivers.
    let dkim = cli(
        &gw.config,
        &[
            "dkim",
            "generate",
            "--domain",
            "example.test",
            "--selector",
            "gw1",
            "--algorithm",
            "ed25519",
        ],
        None,
    );
    assert!(dkim.contains("gw1._domainkey.example.test"), "{dkim}");
    let mut a = store.login_alice();
    let out = "From: Alice <alice@example.test>\r\nTo: <carol@remote.test>\r\nSubject: out via the gateway\r\n\
               Message-ID: <split2@example.test>\r\n\r\nHello Carol.\r\n";
    let (code, text) = a.send_mail("alice@example.test", &["carol@remote.test"], out);
    assert_eq!(code, 250, "{text}");
    let got = receiver.wait_mailbox("carol@remote.test", 1);
    let arrived = receiver.show("carol@remote.test", got[0].split('\t').next().unwrap());
    assert!(
        arrived.contains("Subject: out via the gateway"),
        "{arrived}"
    );
    assert!(
        arrived.contains("DKIM-Signature:") && arrived.contains("d=example.test"),
        "signed at the gateway: {arrived}"
    );
    let gtrace = wait_trace(&gw, &["trace"], "authenticated as relay:store.example.test");
    assert!(gtrace.contains("relay:store.example.test"), "{gtrace}");
}
