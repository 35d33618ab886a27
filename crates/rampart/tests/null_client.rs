//! The null-client mode (issue 15, NC-2.1.9): a `rampart serve` with `[null_client]` in front
//! of a primary that is a second `rampart serve` with a submission listener (STARTTLS with the
//! test CA, AUTH). Local applications submit over loopback without TLS or AUTH; the primary
//! receives every message, with the bounce address as envelope sender.

use crate::common;

use common::postfix::{self, Postfix};
use common::*;
use rampart_testdns::TestDns;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The primary: example.test with alice and bob, a submission listener (on `port`, 0: any), and
/// bounces@, cron@, monitor@ and root@example.test aliases of alice, so alice (the null client's login)
/// may send as them.
fn primary(port: u16) -> Server {
    let p = Server::start_with(Options {
        top: format!("[[listener]]\nrole = \"submission\"\naddress = \"127.0.0.1:{port}\"\n"),
        ..Default::default()
    });
    // The addresses the null client's applications use are the null client's login's at the
    // primary (NC-2.1.7 there too: the primary checks the From header of what it relays).
    for a in ["bounces", "cron", "monitor", "root"] {
        cli(
            &p.config,
            &[
                "alias",
                "add",
                &format!("{a}@example.test"),
                "alice@example.test",
            ],
            None,
        );
    }
    p
}

/// DNS for the null client: the primary's name (its certificate's) is 127.0.0.1.
fn dns() -> TestDns {
    TestDns::builder()
        .a("mail.example.test", "127.0.0.1".parse().unwrap())
        .start()
}

/// The null client's secrets: the password file (mode 0600) and the primary's CA.
struct Secrets {
    dir: TempDir,
    password_file: PathBuf,
}

fn secrets(mode: u32) -> Secrets {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("ncsecret");
    let password_file = dir.0.join("primary.password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
    std::fs::set_permissions(&password_file, std::fs::Permissions::from_mode(mode)).unwrap();
    Secrets { dir, password_file }
}

/// The `[null_client]` section for a primary on `port`, its certificate checked against
/// `ca_file` (None: the system's roots).
fn null_client_toml(port: u16, ca_file: Option<&Path>, password_file: &Path) -> String {
    let ca = ca_file
        .map(|c| format!("ca_file = \"{}\"\n", c.display()))
        .unwrap_or_default();
    format!(
        "[null_client]\ndomains = [\"example.test\"]\nbounce_address = \"bounces@example.test\"\n\
         username = \"alice@example.test\"\npassword_file = \"{}\"\n{ca}\
         [[null_client.primary]]\nhost = \"mail.example.test\"\nport = {port}\ntls = \"starttls\"\n",
        password_file.display()
    )
}

/// A null client (the harness's server: its mx listener on 127.0.0.1:0, a submission listener
/// on 127.0.0.1:0, and example.test with alice and bob in its own store, which it must not
/// deliver to).
fn null_client(dns: &TestDns, port: u16, ca_file: Option<&Path>, secrets: &Secrets) -> Server {
    let top = format!(
        "{}[dns]\nservers = [\"{}\"]\ntimeout_secs = 2\n\
         [delivery]\nretry_secs = [1]\ntimeout_secs = 10\n\
         [[listener]]\nrole = \"submission\"\naddress = \"127.0.0.1:0\"\n",
        null_client_toml(port, ca_file, &secrets.password_file),
        dns.addr()
    );
    Server::start_with(Options {
        top,
        ..Default::default()
    })
}

/// A local application's session on the null client's submission listener: greeting and EHLO
/// read, no STARTTLS, no AUTH.
fn local_app(s: &Server) -> Client {
    let mut c = Client::connect(s.listener("submission"));
    c.expect(220);
    c.send("EHLO app01.example.test");
    c.expect(250);
    c
}

/// A local application's message: no TLS, no AUTH, over loopback. Returns the queue id.
fn submit(s: &Server, from: &str, to: &str, id: &str) -> String {
    let mut c = local_app(s);
    let body = format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: null client {id}\r\n\
         Message-ID: <{id}@example.test>\r\n\r\ndisk almost full\r\n"
    );
    let (code, text) = c.send_mail(from, &[to], &body);
    assert_eq!(code, 250, "{text}");
    c.send("QUIT");
    text.rsplit(' ').next().unwrap().to_string()
}

/// Polls `user`'s mailbox at `s` until it holds `n` messages, within a bound generous enough
/// for a retry on a loaded machine.
fn wait_mailbox(s: &Server, user: &str, n: usize) -> Vec<String> {
    for _ in 0..600 {
        let m = s.mailbox(user);
        if m.len() >= n {
            return m;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "{user} never had {n} messages: {:?}\nqueue:\n{}\ntrace:\n{}",
        s.mailbox(user),
        cli(&s.config, &["queue", "list"], None),
        cli(&s.config, &["trace", "--client", "127.0.0.1"], None)
    );
}

/// Polls `rampart trace ARGS` at `s` until it shows `needle`, within the same generous bound
/// (a delivery attempt on a loaded machine can take longer than the harness's wait_trace allows).
fn trace_until(s: &Server, args: &[&str], needle: &str) -> String {
    let mut out = String::new();
    for _ in 0..600 {
        out = cli(&s.config, args, None);
        if out.contains(needle) {
            return out;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("`{needle}` never appeared in `rampart {args:?}`:\n{out}");
}

fn stored(s: &Server, user: &str, line: &str) -> String {
    s.show(user, line.split('\t').next().unwrap())
}

#[test]
fn nc_2_1_9_loopback_submission_reaches_the_primary_with_the_bounce_address() {
    let p = primary(0);
    let dns = dns();
    let sec = secrets(0o600);
    let ca = p.ca_file();
    let nc = null_client(&dns, p.listener("submission").port(), Some(&ca), &sec);
    // bob@example.test is a user of the null client's own store too: it goes to the primary.
    let qid = submit(&nc, "cron@example.test", "bob@example.test", "nc1");
    // Relayed by the null client (a failure shows its trace: why not).
    trace_until(&nc, &["trace", "--queue-id", &qid], "relayed");
    let got = wait_mailbox(&p, "bob@example.test", 1);
    let msg = stored(&p, "bob@example.test", &got[0]);
    assert!(
        msg.starts_with("Return-Path: <bounces@example.test>\r\n"),
        "{msg}"
    );
    assert!(msg.contains("Subject: null client nc1"), "{msg}");
    // The primary took it over TLS, authenticated as the null client's user.
    let t = trace_until(&p, &["trace", "--client", "127.0.0.1"], "authenticated as");
    assert!(t.contains("alice@example.test"), "{t}");
    // The null client kept the original sender in its trace, and relayed over verified TLS.
    let t = trace_until(&nc, &["trace", "--queue-id", &qid], "relayed");
    assert!(
        t.contains("MAIL FROM:<cron@example.test>")
            && t.contains("rewritten to <bounces@example.test>"),
        "{t}"
    );
    assert!(t.contains("via mail.example.test (TLSv1."), "{t}");
    // No local mailbox got it.
    assert!(nc.mailbox("bob@example.test").is_empty());
}

#[test]
fn nc_2_1_9_a_represented_domain_user_goes_to_the_primary_not_a_local_mailbox() {
    let p = primary(0);
    let dns = dns();
    let sec = secrets(0o600);
    let ca = p.ca_file();
    let nc = null_client(&dns, p.listener("submission").port(), Some(&ca), &sec);
    submit(&nc, "monitor@example.test", "alice@example.test", "nc2");
    let got = wait_mailbox(&p, "alice@example.test", 1);
    assert!(stored(&p, "alice@example.test", &got[0]).contains("Subject: null client nc2"));
    assert!(
        nc.mailbox("alice@example.test").is_empty(),
        "delivered locally by the null client"
    );
}

#[test]
fn nc_2_1_9_a_dsn_goes_to_the_bounce_address_through_the_primary() {
    let p = primary(0);
    let dns = dns();
    let sec = secrets(0o600);
    let ca = p.ca_file();
    let nc = null_client(&dns, p.listener("submission").port(), Some(&ca), &sec);
    // The primary has no such user: 550 at RCPT, a permanent failure for the null client.
    let qid = submit(&nc, "cron@example.test", "nosuch@example.test", "nc5");
    let t = trace_until(&nc, &["trace", "--queue-id", &qid], "DSN ");
    assert!(t.contains("queued for <bounces@example.test>"), "{t}");
    // bounces@example.test is alice's at the primary: the DSN is there, not in the null
    // client's own mailbox for alice.
    let got = wait_mailbox(&p, "alice@example.test", 1);
    let dsn = stored(&p, "alice@example.test", &got[0]);
    assert!(
        dsn.contains("Final-Recipient: rfc822; nosuch@example.test"),
        "{dsn}"
    );
    assert!(
        dsn.contains("Subject: Undelivered Mail Returned to Sender"),
        "{dsn}"
    );
    assert!(nc.mailbox("alice@example.test").is_empty());
}

#[test]
fn nc_2_1_7_a_sender_outside_the_represented_domains_is_refused() {
    let dns = dns();
    let sec = secrets(0o600);
    // The primary is never asked: its port is closed.
    let closed = ClosedPort::new();
    let nc = null_client(&dns, closed.port(), None, &sec);
    // The envelope sender.
    let mut c = local_app(&nc);
    c.send("MAIL FROM:<someone@other.test>");
    let r = c.expect(550);
    assert!(r.contains("5.7.1") && r.contains("not in a domain"), "{r}");
    // The From header, with a represented envelope sender.
    c.send("MAIL FROM:<cron@example.test>");
    c.expect(250);
    c.send("RCPT TO:<bob@example.test>");
    c.expect(250);
    c.send("DATA");
    c.expect(354);
    c.send_raw(b"From: <spoof@other.test>\r\nSubject: x\r\n\r\nbody\r\n.\r\n");
    let r = c.expect(550);
    assert!(r.contains("5.7.1") && r.contains("Header From"), "{r}");
}

#[test]
fn al_1_1_an_unverifiable_primary_certificate_keeps_the_message_queued() {
    let p = primary(0);
    let dns = dns();
    let sec = secrets(0o600);
    // No ca_file: the system's roots, which do not know the test CA.
    let nc = null_client(&dns, p.listener("submission").port(), None, &sec);
    let qid = submit(&nc, "cron@example.test", "bob@example.test", "nc3");
    let t = trace_until(&nc, &["trace", "--queue-id", &qid], "deferred");
    assert!(t.to_ascii_lowercase().contains("certificate"), "{t}");
    let q = cli(&nc.config, &["queue", "list"], None);
    assert!(q.contains("bob@example.test\tqueued"), "{q}");
    assert!(p.mailbox("bob@example.test").is_empty(), "delivered anyway");
}

#[test]
fn nc_2_1_9_primary_down_then_up_delivers_from_the_queue() {
    // The primary's port, held while the primary is down.
    let reserved = ClosedPort::for_rampart();
    let port = reserved.port();
    let dns = dns();
    let sec = secrets(0o600);
    // The CA the primary will have is not known before it starts: a primary started now, and
    // stopped at once, gives its certificate files; restarted, it keeps them.
    let mut p = primary(port);
    let ca = p.ca_file();
    assert!(p.terminate().success());
    let nc = null_client(&dns, port, Some(&ca), &sec);
    let qid = submit(&nc, "cron@example.test", "bob@example.test", "nc4");
    let t = trace_until(&nc, &["trace", "--queue-id", &qid], "deferred");
    assert!(t.contains("next attempt in 1 s"), "{t}");
    p.spawn();
    let got = wait_mailbox(&p, "bob@example.test", 1);
    assert!(stored(&p, "bob@example.test", &got[0]).contains("Subject: null client nc4"));
    trace_until(&nc, &["trace", "--queue-id", &qid], "relayed");
}

#[test]
fn nc_2_1_9_kill_9_with_messages_queued_then_all_delivered() {
    // The primary's port, held while the primary is down.
    let reserved = ClosedPort::for_rampart();
    let port = reserved.port();
    let dns = dns();
    let sec = secrets(0o600);
    let mut p = primary(port);
    let ca = p.ca_file();
    assert!(p.terminate().success());
    let mut nc = null_client(&dns, port, Some(&ca), &sec);
    let qids: Vec<String> = (1..=3)
        .map(|i| {
            submit(
                &nc,
                "cron@example.test",
                "bob@example.test",
                &format!("crash{i}"),
            )
        })
        .collect();
    for qid in &qids {
        trace_until(&nc, &["trace", "--queue-id", qid], "deferred");
    }
    nc.kill9();
    // While the null client is down, local programs go on handing mail to sendmail: it waits
    // in the drop directory (the command exits 0 only once the file is durable).
    for i in 1..=2 {
        let out = sendmail_cron(&nc, &format!("dropped{i}"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    p.spawn();
    nc.spawn();
    let got = wait_mailbox(&p, "bob@example.test", 5);
    assert_eq!(got.len(), 5, "{got:?}");
    for qid in &qids {
        trace_until(&nc, &["trace", "--queue-id", qid], "relayed");
    }
    for i in 1..=2 {
        let subject = format!("Subject: Cron <root@app01> dropped{i}");
        assert!(
            got.iter()
                .any(|m| stored(&p, "bob@example.test", m).contains(&subject)),
            "{subject} missing"
        );
    }
}

/// `rampart sendmail` as cron calls it on the null client `s` (`-f <>`, `-t`, unqualified From
/// and To), with `subject` after "Cron <root@app01> ".
fn sendmail_cron(s: &Server, subject: &str) -> std::process::Output {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
        .arg("--config")
        .arg(&s.config)
        .args([
            "sendmail",
            "-FCronDaemon",
            "-i",
            "-B8BITMIME",
            "-oem",
            "-f",
            "<>",
            "-t",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        format!(
            "From: root (Cron Daemon)\nTo: bob\nSubject: Cron <root@app01> {subject}\n\n{subject} done\n"
        )
        .as_bytes(),
    )
    .unwrap();
    child.wait_with_output().unwrap()
}

/// A configuration of a null client with `listener` as its one listener's address, the bounce
/// address line `bounce` and the password file's `mode`; returns what `config check` and
/// `serve` printed, after asserting both failed.
fn refused(listener: &str, bounce: &str, mode: u32) -> String {
    let sec = secrets(mode);
    let dir = TempDir::new("ncrefused");
    let config = dir.0.join("rampart.toml");
    let nc = null_client_toml(587, None, &sec.password_file)
        .replace("bounce_address = \"bounces@example.test\"\n", bounce);
    std::fs::write(
        &config,
        format!(
            "hostname = \"app01.example.test\"\ndata_dir = \"data\"\n\
             [[listener]]\nrole = \"submission\"\naddress = \"{listener}\"\n{nc}"
        ),
    )
    .unwrap();
    let mut out = String::new();
    for args in [&["config", "check"][..], &["serve"][..]] {
        let o = cli_raw(&config, args, None);
        assert!(!o.status.success(), "{args:?} succeeded");
        out.push_str(&String::from_utf8_lossy(&o.stdout));
        out.push_str(&String::from_utf8_lossy(&o.stderr));
    }
    drop(sec.dir);
    out
}

const BOUNCE: &str = "bounce_address = \"bounces@example.test\"\n";

#[test]
fn nc_2_1_9_a_listener_on_all_addresses_is_refused_at_start() {
    let out = refused("0.0.0.0:0", BOUNCE, 0o600);
    let line = out.lines().find(|l| l.contains("NC-2.1.9")).expect(&out);
    assert!(
        line.contains("listener[0].address") && line.contains("0.0.0.0"),
        "{out}"
    );
}

#[test]
fn nc_2_1_9_a_listener_on_a_public_address_is_refused_at_start() {
    let out = refused("192.0.2.10:587", BOUNCE, 0o600);
    let line = out.lines().find(|l| l.contains("NC-2.1.9")).expect(&out);
    assert!(line.contains("192.0.2.10:587"), "{out}");
}

#[test]
fn nc_2_1_9_a_missing_or_invalid_bounce_address_is_refused_at_start() {
    let out = refused("127.0.0.1:0", "", 0o600);
    assert!(
        out.lines()
            .any(|l| l.contains("null_client.bounce_address") && l.contains("is not set")),
        "{out}"
    );
    let out = refused(
        "127.0.0.1:0",
        "bounce_address = \"not an address\"\n",
        0o600,
    );
    assert!(
        out.lines()
            .any(|l| l.contains("null_client.bounce_address") && l.contains("not a valid address")),
        "{out}"
    );
    let out = refused(
        "127.0.0.1:0",
        "bounce_address = \"bounces@other.test\"\n",
        0o600,
    );
    assert!(
        out.lines().any(|l| l.contains("null_client.bounce_address")
            && l.contains("not in null_client.domains")),
        "{out}"
    );
}

#[test]
fn nc_2_1_9_a_password_file_readable_by_others_is_refused_at_start() {
    let out = refused("127.0.0.1:0", BOUNCE, 0o644);
    let line = out
        .lines()
        .find(|l| l.contains("null_client.password_file"))
        .expect(&out);
    assert!(
        line.contains("primary.password") && line.contains("chmod 600"),
        "{out}"
    );
}

/// The server side of the Dovecot authentication protocol (version 1.2), as Postfix's
/// `smtpd_sasl_type = dovecot` speaks it: PLAIN only, `user`/`password` the one valid pair.
/// Returns its port; the thread ends with the test process.
fn dovecot_auth(user: &'static str, password: &'static str) -> u16 {
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
                    let f: Vec<&str> = line.split('\t').collect();
                    if f.first() != Some(&"AUTH") || f.len() < 3 {
                        continue;
                    }
                    let id = f[1];
                    let resp = f.iter().find_map(|x| x.strip_prefix("resp="));
                    let want = base64(format!("\0{user}\0{password}").as_bytes());
                    let answer = if f[2] == "PLAIN" && resp == Some(want.as_str()) {
                        format!("OK\t{id}\tuser={user}\n")
                    } else {
                        format!("FAIL\t{id}\n")
                    };
                    if conn.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

#[test]
fn nc_2_1_9_postfix_as_the_primary() {
    // Never skipped: scripts/test.sh installs Debian's postfix.
    assert!(
        Path::new("/usr/sbin/postfix").exists(),
        "postfix is not installed: run scripts/test.sh (it installs Debian's postfix package)"
    );
    let pki_dir = TempDir::new("pfpki");
    let pki = make_pki(&pki_dir.0);
    let auth = dovecot_auth("alice@example.test", PASSWORD);
    let pf = Postfix::start(&pki, &pki_dir.0, &postfix::sasl_primary(auth));
    let dns = dns();
    let sec = secrets(0o600);
    let ca = pki_dir.0.join("postfix-ca.pem");
    let nc = null_client(&dns, pf.port, Some(&ca), &sec);
    let qid = submit(&nc, "cron@example.test", "bob@example.test", "pf1");
    let mut got = Vec::new();
    for _ in 0..600 {
        got = pf.messages();
        if !got.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let msg = got.first().unwrap_or_else(|| {
        panic!(
            "nothing in Postfix's Maildir; log:\n{}\ntrace:\n{}",
            pf.log(),
            cli(&nc.config, &["trace", "--queue-id", &qid], None)
        )
    });
    let t = trace_until(&nc, &["trace", "--queue-id", &qid], "relayed");
    assert!(t.contains("via mail.example.test (TLSv1."), "{t}");
    assert!(
        msg.starts_with("Return-Path: <bounces@example.test>\n"),
        "{msg}"
    );
    assert!(msg.contains("Subject: null client pf1"), "{msg}");
    // Postfix saw an authenticated client over TLS.
    let log = pf.log();
    assert!(log.contains("sasl_username=alice@example.test"), "{log}");
}

/// Standard base64 with padding (RFC 4648), for the SASL response above.
fn base64(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `rampart sendmail` on a null client, called as cron calls it: the message goes from the drop
/// directory to the primary with the bounce address as envelope sender, never to a local
/// mailbox, though the null client holds no account to send as (NC-2.1.9).
#[test]
fn nc_2_1_9_sendmail_on_a_null_client_reaches_the_primary() {
    let p = primary(0);
    let dns = dns();
    let sec = secrets(0o600);
    let ca = p.ca_file();
    let nc = null_client(&dns, p.listener("submission").port(), Some(&ca), &sec);
    let out = sendmail_cron(&nc, "backup");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = wait_mailbox(&p, "bob@example.test", 1);
    let msg = stored(&p, "bob@example.test", &got[0]);
    assert!(
        msg.starts_with("Return-Path: <bounces@example.test>\r\n"),
        "{msg}"
    );
    assert!(msg.contains("Subject: Cron <root@app01> backup"), "{msg}");
    // cron's unqualified From and To are the represented domain's.
    assert!(
        msg.contains("From: CronDaemon <root@example.test>"),
        "{msg}"
    );
    assert!(nc.mailbox("bob@example.test").is_empty());
}
