//! `rampart audit --remote` (issue 18, item 4) against servers we did not write: Debian's Postfix
//! started by the test in its own directory, once as Debian ships it and once hardened, and
//! against `rampart serve`. The binary's JSON is read back and each finding checked by its
//! control and check name.

use crate::common;

use common::*;
use rampart_testdns::Record;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A finding as the binary prints it.
#[derive(Debug, Clone)]
struct F {
    control: String,
    check: String,
    status: String,
    evidence: String,
}

/// Runs `rampart audit --remote ADDR --json ARGS`; returns the exit code and the findings.
fn audit(addr: &str, args: &[&str]) -> (i32, Vec<F>) {
    let out = Command::new(BIN)
        .args([
            "audit",
            "--remote",
            addr,
            "--json",
            "--rate",
            "50",
            "--timeout",
            "15",
        ])
        .args(args)
        .output()
        .unwrap();
    let code = out.status.code().unwrap_or(-1);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}), exit {code}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let s = |f: &Value, k: &str| f[k].as_str().unwrap_or_default().to_string();
    let findings = v
        .as_array()
        .unwrap()
        .iter()
        .map(|f| F {
            control: s(f, "control"),
            check: s(f, "check"),
            status: s(f, "status"),
            evidence: s(f, "evidence"),
        })
        .collect();
    (code, findings)
}

fn show(fs: &[F]) -> String {
    fs.iter()
        .map(|f| {
            format!(
                "{} | {} | {} | {}\n",
                f.control, f.check, f.status, f.evidence
            )
        })
        .collect()
}

/// The status of the one finding with this control and check.
fn status(fs: &[F], control: &str, check: &str) -> String {
    let m: Vec<&F> = fs
        .iter()
        .filter(|f| f.control == control && f.check == check)
        .collect();
    assert_eq!(m.len(), 1, "{control} {check}:\n{}", show(fs));
    m[0].status.clone()
}

/// Which of Debian's defaults the Postfix keeps.
#[derive(Clone, Copy, PartialEq)]
enum Profile {
    Debian,
    Hardened,
}

/// A private Postfix (Debian's package) on loopback: an MX port and a submission port, each
/// smtpd; SASL through the Dovecot protocol answered by [`dovecot_auth`]. Stopped on drop.
struct Postfix {
    dir: TempDir,
    conf: PathBuf,
    port: u16,
    submission: u16,
}

fn run(args: &[&str]) {
    let o = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

impl Postfix {
    /// `pki`: the test CA's certificate (hardened); Debian's run makes a self-signed RSA one as
    /// Debian's ssl-cert package does for snakeoil.
    fn start(profile: Profile, pki: &TestPki) -> Postfix {
        assert!(
            Path::new("/usr/sbin/postfix").exists(),
            "postfix is not installed: run scripts/test.sh (it installs Debian's postfix package)"
        );
        let dir = TempDir::new("auditpf");
        let d = &dir.0;
        let conf = d.join("conf");
        for p in [&conf, &d.join("queue"), &d.join("data"), &d.join("maildir")] {
            std::fs::create_dir_all(p).unwrap();
        }
        run(&["chmod", "755", d.to_str().unwrap()]);
        run(&["chown", "postfix", d.join("data").to_str().unwrap()]);
        run(&[
            "chown",
            "nobody:nogroup",
            d.join("maildir").to_str().unwrap(),
        ]);
        let (cert, key) = match profile {
            Profile::Debian => {
                let (c, k) = (d.join("snakeoil.pem"), d.join("snakeoil.key"));
                run(&[
                    "openssl",
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "30",
                    "-subj",
                    "/CN=mail.example.test",
                    "-keyout",
                    k.to_str().unwrap(),
                    "-out",
                    c.to_str().unwrap(),
                ]);
                (c, k)
            }
            Profile::Hardened => (pki.cert.clone(), pki.key.clone()),
        };
        let auth = dovecot_auth();
        // Common to both: a private instance. mynetworks names no loopback address: the audit
        // probes as a stranger would, not as a trusted local client (Debian's default
        // mynetworks holds 127.0.0.0/8, which would make every relay trick "accepted").
        let mut main = format!(
            "compatibility_level = 3.6\nqueue_directory = {q}\ndata_directory = {data}\n\
             myhostname = mail.example.test\nmydomain = example.test\n\
             mydestination = $myhostname, example.test, localhost\n\
             inet_interfaces = loopback-only\ninet_protocols = ipv4\nmynetworks = 192.0.2.0/24\n\
             alias_maps = hash:{conf}/aliases\nalias_database = hash:{conf}/aliases\n\
             maillog_file = {d}/maillog\nmaillog_file_prefixes = {d}\nbiff = no\n\
             smtpd_tls_cert_file = {cert}\nsmtpd_tls_key_file = {key}\n\
             smtpd_tls_security_level = may\n\
             smtpd_sasl_type = dovecot\nsmtpd_sasl_path = inet:127.0.0.1:{auth}\n",
            q = d.join("queue").display(),
            data = d.join("data").display(),
            conf = conf.display(),
            d = d.display(),
            cert = cert.display(),
            key = key.display(),
        );
        main.push_str(match profile {
            // Debian 12's main.cf as installed: the banner names the software and the
            // distribution; VRFY, TLS protocols, bare newlines and relay restrictions are
            // Postfix 3.7's defaults (smtpd_tls_protocols = >=TLSv1, smtpd_forbid_bare_newline
            // = no, defer_unauth_destination).
            Profile::Debian => "smtpd_banner = $myhostname ESMTP $mail_name (Debian/GNU)\n",
            Profile::Hardened => {
                "smtpd_banner = $myhostname ESMTP\ndisable_vrfy_command = yes\n\
                 smtpd_tls_protocols = >=TLSv1.2\nsmtpd_tls_mandatory_protocols = >=TLSv1.2\n\
                 smtpd_tls_auth_only = yes\nsmtpd_forbid_bare_newline = yes\n\
                 smtpd_forbid_bare_newline_exclusions =\n\
                 smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination\n"
            }
        });
        std::fs::write(conf.join("main.cf"), main).unwrap();
        // The submission service as Debian's master.cf comments it out, but with AUTH on and
        // smtpd_tls_auth_only left to main.cf: Debian's default is `no`, so AUTH is offered
        // before STARTTLS; the hardened main.cf says `yes`.
        // The smuggling probe writes to postmaster: a Maildir, not a person.
        std::fs::write(
            conf.join("aliases"),
            format!("postmaster: {}/\n", d.join("maildir").display()),
        )
        .unwrap();
        let c = conf.to_str().unwrap();
        run(&["postalias", "-c", c, &format!("{c}/aliases")]);
        // The MX port and the submission port.
        let ports = postfix::start_on_ports(&conf, &d.join("maillog"), 2, |ports| {
            let (port, submission) = (ports[0], ports[1]);
            format!(
                "127.0.0.1:{port} inet n - n - - smtpd\n\
                 127.0.0.1:{submission} inet n - n - - smtpd -o syslog_name=postfix/submission \
                 -o smtpd_sasl_auth_enable=yes \
                 -o smtpd_client_restrictions=permit_sasl_authenticated,reject\n\
                 {}tlsmgr unix - - n 1000? 1 tlsmgr\n",
                postfix::INTERNAL_SERVICES
            )
        });
        Postfix {
            dir,
            conf,
            port: ports[0],
            submission: ports[1],
        }
    }

    /// The messages in the postmaster's Maildir (new/).
    fn postmaster(&self) -> Vec<String> {
        std::fs::read_dir(self.dir.0.join("maildir/new"))
            .map(|rd| {
                rd.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("maillog")).unwrap_or_default()
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = Command::new("postfix")
            .args(["-c", self.conf.to_str().unwrap(), "stop"])
            .output();
    }
}

/// The server side of the Dovecot authentication protocol's handshake (version 1.2), enough for
/// Postfix to learn the mechanisms and advertise AUTH; every authentication fails (the audit
/// never logs in).
fn dovecot_auth() -> u16 {
    use std::io::{BufRead, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let hello = "VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nSPID\t1\nCUID\t1\n\
                             COOKIE\t0123456789abcdef0123456789abcdef\nDONE\n";
                if conn.write_all(hello.as_bytes()).is_err() {
                    return;
                }
                let reader = std::io::BufReader::new(conn.try_clone().unwrap());
                for line in reader.lines() {
                    let Ok(line) = line else { return };
                    if let Some(id) = line
                        .strip_prefix("AUTH\t")
                        .and_then(|r| r.split('\t').next())
                    {
                        if conn.write_all(format!("FAIL\t{id}\n").as_bytes()).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    port
}

/// Checks named by control that Debian's defaults fail and the hardened Postfix passes.
const WEAK_IN_DEBIAN: &[(&str, &str)] = &[
    ("NC-2.1.3", "greeting"),
    ("NC-2.2-commands", "VRFY answers"),
    ("AL-1.1", "TLS 1.0 refused"),
    ("AL-1.1", "TLS 1.1 refused"),
    ("NC-2.1.7", "smuggling <LF>.<LF>"),
    ("NC-2.1.7", "smuggling <LF>.<CRLF>"),
    ("NC-2.1.7", "smuggling <CRLF>.<LF>"),
];

fn postfix_audit(profile: Profile) -> (Postfix, i32, Vec<F>) {
    let pki_dir = TempDir::new("auditpki");
    let pki = make_pki(&pki_dir.0);
    let ca = pki_dir.0.join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let pf = Postfix::start(profile, &pki);
    let sub = pf.submission.to_string();
    // An empty zone: every lookup answers NXDOMAIN at once (the domain's records are not what
    // these tests are about; a silent port would make each lookup wait for its timeout).
    let dns = rampart_testdns::TestDns::builder().start();
    let dns_addr = dns.addr().to_string();
    let (code, fs) = audit(
        &format!("127.0.0.1:{}", pf.port),
        &[
            "--submission-port",
            &sub,
            "--domain",
            "example.test",
            "--dns",
            &dns_addr,
            "--ca-file",
            ca.to_str().unwrap(),
        ],
    );
    eprintln!("{}", show(&fs));
    (pf, code, fs)
}

/// Postfix as Debian installs it: the audit finds the software in the banner (NC-2.1.3), VRFY
/// telling users apart (NC-2.2), TLS 1.0 and 1.1 accepted (AL-1.1), AUTH before STARTTLS on
/// submission (NC-2.1.4) and the bare-LF smuggling variants (NC-2.1.7).
#[test]
fn nc_2_1_3_nc_2_2_al_1_1_nc_2_1_4_nc_2_1_7_postfix_debian_defaults_fail() {
    let (pf, code, fs) = postfix_audit(Profile::Debian);
    for (control, check) in WEAK_IN_DEBIAN {
        assert_eq!(
            status(&fs, control, check),
            "fail",
            "{control} {check}:\n{}\n{}",
            show(&fs),
            pf.log()
        );
    }
    let sub = format!("AUTH before STARTTLS (submission port {})", pf.submission);
    assert_eq!(status(&fs, "NC-2.1.4", &sub), "fail", "{}", show(&fs));
    let greeting = fs.iter().find(|f| f.check == "greeting").unwrap();
    assert!(greeting.evidence.contains("Postfix"), "{greeting:?}");
    // The snakeoil certificate (self-signed, and marked as a CA, which WebPKI refuses as a
    // server's certificate): never a pass.
    assert_ne!(status(&fs, "AL-1.1", "certificate chain and name"), "pass");
    assert_eq!(code, 1, "{}", show(&fs));
    // The smuggling probes' messages reach the postmaster's Maildir, the Subject saying what
    // they are (polled: local delivery is Postfix's own, after the session).
    let mut got = Vec::new();
    for _ in 0..600 {
        got = pf.postmaster();
        if !got.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        got.iter()
            .any(|m| m.contains("Subject: rampart audit test: SMTP smuggling probe")),
        "{got:?}\n{}",
        pf.log()
    );
}

/// The same Postfix hardened: none of those findings.
#[test]
fn nc_2_1_3_nc_2_2_al_1_1_nc_2_1_4_nc_2_1_7_postfix_hardened_passes() {
    let (pf, _code, fs) = postfix_audit(Profile::Hardened);
    for (control, check) in WEAK_IN_DEBIAN {
        assert_eq!(
            status(&fs, control, check),
            "pass",
            "{control} {check}:\n{}\n{}",
            show(&fs),
            pf.log()
        );
    }
    let sub = format!("AUTH before STARTTLS (submission port {})", pf.submission);
    assert_eq!(status(&fs, "NC-2.1.4", &sub), "pass", "{}", show(&fs));
    assert_eq!(status(&fs, "AL-1.1", "certificate chain and name"), "pass");
    // Every relay trick refused with 5xx.
    for f in fs.iter().filter(|f| f.check.starts_with("relay:")) {
        assert_eq!(f.status, "pass", "{f:?}");
    }
}

/// `rampart serve` with its defaults, a submission listener and the domain's records published:
/// every probe passes (or does not apply). The auditing host is on the intrusion prevention's
/// allow-list, as an agency's scanner must be: the relay tricks and the smuggling attempts are
/// attacks, and without it the IDS bans the auditor halfway through (NC-2.4.2 at work).
#[test]
fn rampart_serve_passes_every_remote_probe() {
    let s = Server::start_with(Options {
        top: "[ids]\nallow = [\"127.0.0.0/8\"]\n[[listener]]\nrole = \"submission\"\naddress = \"127.0.0.1:0\"\n".into(),
        // NC-2.1.8: with no greeting delay the early-talker check refuses only input that has
        // already arrived when the greeting goes out, which the probe's EHLO sent right after
        // connecting usually is, but not on a loaded machine; a pause makes the probe's outcome
        // certain.
        listener: "greeting_delay_ms = 250\n".into(),
        ..Default::default()
    });
    // RFC 5321 4.5.1: the domain's postmaster, which the smuggling probe writes to.
    cli(
        &s.config,
        &[
            "alias",
            "add",
            "postmaster@example.test",
            "alice@example.test",
        ],
        None,
    );
    let dns = s.dns.as_ref().unwrap();
    for r in [
        Record::txt("example.test", "v=spf1 mx -all"),
        Record::txt(
            "rampart._domainkey.example.test",
            "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        ),
        Record::txt(
            "_dmarc.example.test",
            "v=DMARC1; p=reject; rua=mailto:postmaster@example.test",
        ),
        Record::txt("_mta-sts.example.test", "v=STSv1; id=20261203"),
        Record::txt(
            "_smtp._tls.example.test",
            "v=TLSRPTv1; rua=mailto:postmaster@example.test",
        ),
    ] {
        dns.add(r);
    }
    let ca = s.ca_file();
    let (code, fs) = audit(
        &s.addr.to_string(),
        &[
            "--submission-port",
            &s.listener("submission").port().to_string(),
            "--domain",
            "example.test",
            "--dns",
            &dns.addr().to_string(),
            "--dkim-selector",
            "rampart",
            "--ca-file",
            ca.to_str().unwrap(),
        ],
    );
    let bad: Vec<&F> = fs
        .iter()
        .filter(|f| f.status != "pass" && f.status != "not-applicable")
        .collect();
    assert!(bad.is_empty(), "not passing: {bad:#?}\nall:\n{}", show(&fs));
    assert_eq!(code, 0, "{}", show(&fs));
    // Each family of probes ran.
    for control in [
        "NC-2.1.3",
        "NC-2.2-commands",
        "NC-2.1.6",
        "NC-2.1.4",
        "AL-1.1",
        "NC-2.1.8",
        "NC-2.1.7",
        "AL-2.1",
        "AL-2.2",
        "AL-2.3",
    ] {
        assert!(
            fs.iter().any(|f| f.control == control),
            "{control}:\n{}",
            show(&fs)
        );
    }
}

/// Nothing listening: the audit could not run, exit 2, no findings pretending otherwise.
#[test]
fn an_unreachable_host_exits_2() {
    let closed = ClosedPort::new();
    let out = Command::new(BIN)
        .args(["audit", "--remote", &closed.addr().to_string(), "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("could not audit"),
        "{out:?}"
    );
}
