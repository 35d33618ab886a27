//! A private Postfix (Debian's package) on a loopback port for one test, in its own directory:
//! STARTTLS with the test CA's certificate for mail.example.test, bob a Maildir. What it lets
//! through is the caller's: [`sasl_primary`] (the null client's primary) or [`next_hop`] (the
//! internal server behind the gateway). Stopped on drop.

use super::{start_outside_daemon, PortTaken, TempDir, TestPki};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// master.cf's lines for Postfix's internal services, after a test's own `smtpd` lines.
pub const INTERNAL_SERVICES: &str =
    "pickup unix n - n 60 1 pickup\ncleanup unix n - n - 0 cleanup\n\
     qmgr unix n - n 300 1 qmgr\nrewrite unix - - n - - trivial-rewrite\n\
     bounce unix - - n - 0 bounce\ndefer unix - - n - 0 bounce\n\
     trace unix - - n - 0 bounce\nverify unix - - n - 1 verify\n\
     flush unix n - n 1000? 0 flush\nproxymap unix - - n - - proxymap\n\
     proxywrite unix - - n - 1 proxymap\nshowq unix n - n - - showq\n\
     error unix - - n - - error\nretry unix - - n - - error\n\
     discard unix - - n - - discard\nlocal unix - n n - - local\n\
     anvil unix - - n - 1 anvil\nscache unix - - n - 1 scache\n\
     postlog unix-dgram n - n - 1 postlogd\n";

/// Runs a program of the Postfix set-up (`args[0]` and its arguments); panics with what it said
/// when it fails.
pub fn run(args: &[&str]) {
    let o = std::process::Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

pub struct Postfix {
    pub dir: TempDir,
    pub conf: PathBuf,
    pub port: u16,
    pub maildir: PathBuf,
}

/// SMTP AUTH through the Dovecot SASL protocol at `auth_port`, authenticated clients only.
pub fn sasl_primary(auth_port: u16) -> String {
    format!(
        "smtpd_sasl_auth_enable = yes\nsmtpd_sasl_type = dovecot\nsmtpd_sasl_path = inet:127.0.0.1:{auth_port}\n\
         smtpd_tls_auth_only = yes\n\
         smtpd_recipient_restrictions = permit_sasl_authenticated, reject\n"
    )
}

/// The internal server behind a gateway: mail for `domain` from loopback (the gateway) only.
pub fn next_hop(domain: &str) -> String {
    format!("mydestination = {domain}\nsmtpd_recipient_restrictions = permit_mynetworks, reject\n")
}

impl Postfix {
    /// Starts Postfix with `policy` (main.cf lines) after the common settings; a later line
    /// wins in main.cf, so `policy` may override `mydestination`.
    pub fn start(pki: &TestPki, pki_dir: &Path, policy: &str) -> Postfix {
        let dir = TempDir::new("postfix");
        let d = &dir.0;
        let (conf, maildir) = (d.join("conf"), d.join("maildir"));
        for p in [&conf, &d.join("queue"), &d.join("data"), &maildir] {
            std::fs::create_dir_all(p).unwrap();
        }
        // local(8) delivers as nobody and must reach the Maildir; Postfix owns its data dir.
        run(&["chmod", "755", d.to_str().unwrap()]);
        run(&["chown", "postfix", d.join("data").to_str().unwrap()]);
        run(&["chown", "nobody:nogroup", maildir.to_str().unwrap()]);
        let ca = pki_dir.join("postfix-ca.pem");
        std::fs::write(&ca, &pki.ca_pem).unwrap();
        std::fs::write(
            conf.join("main.cf"),
            format!(
                "compatibility_level = 3.6\nqueue_directory = {q}\ndata_directory = {data}\n\
                 myhostname = mail.example.test\nmydomain = example.test\nmydestination = example.test\n\
                 inet_interfaces = loopback-only\ninet_protocols = ipv4\nmynetworks = 127.0.0.0/8\n\
                 alias_maps = hash:{conf}/aliases\nalias_database = hash:{conf}/aliases\n\
                 maillog_file = {d}/maillog\nmaillog_file_prefixes = {d}\nbiff = no\n\
                 smtpd_tls_security_level = encrypt\nsmtpd_tls_cert_file = {cert}\nsmtpd_tls_key_file = {key}\n\
                 {policy}",
                q = d.join("queue").display(),
                data = d.join("data").display(),
                conf = conf.display(),
                d = d.display(),
                cert = pki.cert.display(),
                key = pki.key.display(),
            ),
        )
        .unwrap();
        std::fs::write(
            conf.join("aliases"),
            format!("bob: {}/\n", maildir.display()),
        )
        .unwrap();
        let c = conf.to_str().unwrap();
        run(&["postalias", "-c", c, &format!("{c}/aliases")]);
        let ports = start_on_ports(&conf, &d.join("maillog"), 1, |ports| {
            format!(
                "127.0.0.1:{} inet n - n - - smtpd\n{INTERNAL_SERVICES}\
                 tlsmgr unix - - n 1000? 1 tlsmgr\n",
                ports[0]
            )
        });
        Postfix {
            dir,
            conf,
            port: ports[0],
            maildir,
        }
    }

    /// The messages in bob's Maildir (new/).
    pub fn messages(&self) -> Vec<String> {
        std::fs::read_dir(self.maildir.join("new"))
            .map(|rd| {
                rd.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("maillog")).unwrap_or_default()
    }
}

/// Starts the private Postfix whose configuration is in `conf` (main.cf, its log in `maillog`),
/// with `master_cf(ports)` as its master.cf, on `n` loopback ports; returns them once each
/// accepts connections (bounded). Postfix must be told its ports: when one is taken before its
/// master binds it, `postfix start` fails and the log says "Address already in use", and it is
/// started again on new ports ([`start_outside_daemon`]: at most five times).
pub fn start_on_ports(
    conf: &Path,
    maillog: &Path,
    n: usize,
    master_cf: impl Fn(&[u16]) -> String,
) -> Vec<u16> {
    use std::process::Command;
    let c = conf.to_str().unwrap();
    start_outside_daemon("postfix", n, |ports| {
        std::fs::write(conf.join("master.cf"), master_cf(ports)).unwrap();
        // This start's words only.
        let _ = std::fs::remove_file(maillog);
        run(&["postfix", "-c", c, "check"]);
        // `postfix start` waits for the master's initialisation (master -w), binding included.
        let start = Command::new("postfix")
            .args(["-c", c, "start"])
            .output()
            .unwrap();
        if !start.status.success() {
            let said = format!(
                "{}{}{}",
                String::from_utf8_lossy(&start.stdout),
                String::from_utf8_lossy(&start.stderr),
                std::fs::read_to_string(maillog).unwrap_or_default()
            );
            if said.contains("Address already in use") {
                return Err(PortTaken(said));
            }
            panic!("postfix start failed: {said}");
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        for &port in ports {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "postfix does not accept on 127.0.0.1:{port}: {}",
                    std::fs::read_to_string(maillog).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(ports.to_vec())
    })
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = std::process::Command::new("postfix")
            .args(["-c", self.conf.to_str().unwrap(), "stop"])
            .output();
    }
}
