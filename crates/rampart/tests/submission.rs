//! Submission (issue 3) end to end with Python's smtplib: AUTH only inside TLS (NC-2.1.4), relay
//! only for authenticated sources (NC-2.1.5), sender alignment (NC-2.1.7), rate limits
//! (NC-2.1.8), no automatic forwarding outside (AL-4.2).

use crate::common;

use common::*;

/// Runs smtplib steps against one server and prints one JSON result per step.
/// Steps: ["ehlo"], ["starttls"], ["login", user, pw], ["cmd", line], ["send", from, [to], msg].
const STEPS: &str = r#"
import json, smtplib, socket, ssl, sys
spec = json.loads(sys.argv[1])
ctx = ssl.create_default_context(cafile=spec["ca"])
class Implicit(smtplib.SMTP_SSL):
    def _get_socket(self, host, port, timeout):
        sock = socket.create_connection((host, port), timeout)
        return self.context.wrap_socket(sock, server_hostname="mail.example.test")
if spec["mode"] == "implicit":
    s = Implicit("127.0.0.1", spec["port"], context=ctx, timeout=30)
else:
    s = smtplib.SMTP("127.0.0.1", spec["port"], timeout=30)
    s._host = "mail.example.test"   # the name the certificate is checked against
out = []
for step in spec["steps"]:
    try:
        if step[0] == "ehlo":
            r = s.ehlo("client.test")
        elif step[0] == "starttls":
            r = s.starttls(context=ctx)
        elif step[0] == "login":
            r = s.login(step[1], step[2])
        elif step[0] == "cmd":
            r = s.docmd(step[1])
        elif step[0] == "send":
            refused = s.sendmail(step[1], step[2], step[3].encode())
            r = (250, json.dumps(refused))
        out.append({"code": r[0], "text": r[1].decode() if isinstance(r[1], bytes) else r[1]})
    except smtplib.SMTPResponseException as e:
        out.append({"code": e.smtp_code, "text": e.smtp_error.decode(errors="replace"), "error": type(e).__name__})
    except smtplib.SMTPRecipientsRefused as e:
        code, text = list(e.recipients.values())[0]
        out.append({"code": code, "text": text.decode(errors="replace"), "error": "SMTPRecipientsRefused"})
    except smtplib.SMTPException as e:
        out.append({"code": 0, "text": str(e), "error": type(e).__name__})
print(json.dumps(out))
"#;

#[derive(Debug)]
struct Step {
    code: u16,
    text: String,
}

fn run(s: &Server, mode: &str, steps: serde_steps::Steps) -> Vec<Step> {
    let port = s
        .listener(if mode == "implicit" {
            "submissions"
        } else {
            "submission"
        })
        .port();
    let spec = format!(
        "{{\"ca\": {:?}, \"mode\": {:?}, \"port\": {port}, \"steps\": {}}}",
        s.ca_file().to_str().unwrap(),
        mode,
        steps.0
    );
    let out = python(STEPS, &[&spec]);
    let text = String::from_utf8(out.stdout).unwrap();
    serde_steps::parse(&text)
}

/// Just enough JSON for the steps and results, to keep the test free of extra crates.
mod serde_steps {
    pub struct Steps(pub String);

    fn q(s: &str) -> String {
        let mut o = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => o.push_str("\\\""),
                '\\' => o.push_str("\\\\"),
                '\r' => o.push_str("\\r"),
                '\n' => o.push_str("\\n"),
                c => o.push(c),
            }
        }
        o.push('"');
        o
    }

    pub fn steps(list: &[Vec<&str>]) -> Steps {
        Steps(format!(
            "[{}]",
            list.iter()
                .map(|step| {
                    if step[0] == "send" {
                        let to: Vec<String> = step[2].split(',').map(q).collect();
                        format!(
                            "[\"send\", {}, [{}], {}]",
                            q(step[1]),
                            to.join(","),
                            q(step[3])
                        )
                    } else {
                        format!(
                            "[{}]",
                            step.iter().map(|s| q(s)).collect::<Vec<_>>().join(",")
                        )
                    }
                })
                .collect::<Vec<_>>()
                .join(",")
        ))
    }

    pub fn parse(json: &str) -> Vec<super::Step> {
        // Each result is {"code": N, "text": "..."(, "error": "...")}; pull code and text out.
        let mut out = Vec::new();
        for obj in json.split("{\"code\": ").skip(1) {
            let code: u16 = obj.split(',').next().unwrap().trim().parse().unwrap();
            let text = obj.split("\"text\": \"").nth(1).map(|t| {
                let mut s = String::new();
                let mut esc = false;
                for c in t.chars() {
                    if esc {
                        s.push(match c {
                            'n' => '\n',
                            'r' => '\r',
                            c => c,
                        });
                        esc = false;
                    } else if c == '\\' {
                        esc = true;
                    } else if c == '"' {
                        break;
                    } else {
                        s.push(c);
                    }
                }
                s
            });
            out.push(super::Step {
                code,
                text: text.unwrap_or_default(),
            });
        }
        out
    }
}

use serde_steps::steps;

fn submission_server(extra: &str) -> Server {
    submission_server_blocking_after(4, extra)
}

/// A submission server whose [auth] blocks an address after `failures` failures.
fn submission_server_blocking_after(failures: u32, extra: &str) -> Server {
    let dns = rampart_testdns::TestDns::builder().start();
    let top = format!(
        "[dns]\nservers = [\"{}\"]\ntimeout_secs = 2\n\
         [auth]\nfailure_delay_ms = 100\nmax_failure_delay_ms = 400\nblock_after_failures = {failures}\nblock_secs = 60\n\
         {extra}\n\
         [[listener]]\nrole = \"submission\"\naddress = \"127.0.0.1:0\"\n\
         [[listener]]\nrole = \"submissions\"\naddress = \"127.0.0.1:0\"\n",
        dns.addr()
    );
    // The DNS server lives as long as the test process; the server only needs it for relaying.
    std::mem::forget(dns);
    Server::start_with(Options {
        top,
        ..Default::default()
    })
}

fn msg(from: &str, to: &str, extra: &str) -> String {
    format!("From: <{from}>\r\nTo: <{to}>\r\nSubject: submission\r\n{extra}Message-ID: <{}@example.test>\r\n\r\nhello\r\n", std::process::id())
}

#[test]
fn login_after_starttls_and_with_implicit_tls() {
    let s = submission_server("");
    let m = msg("alice@example.test", "bob@example.test", "");
    let r = run(
        &s,
        "starttls",
        steps(&[
            vec!["ehlo"],
            // NC-2.1.4: nothing before TLS.
            vec!["cmd", "MAIL FROM:<alice@example.test>"],
            vec!["cmd", "AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABwdw=="],
            vec!["starttls"],
            vec!["ehlo"],
            vec!["login", "alice@example.test", PASSWORD],
            vec!["send", "alice@example.test", "bob@example.test", &m],
        ]),
    );
    assert!(
        !r[0].text.contains("AUTH"),
        "AUTH advertised before TLS: {}",
        r[0].text
    );
    assert_eq!(
        (r[1].code, r[1].text.as_str()),
        (530, "5.7.0 Must issue a STARTTLS command first")
    );
    assert_eq!(
        (r[2].code, r[2].text.as_str()),
        (530, "5.7.0 Must issue a STARTTLS command first")
    );
    assert_eq!(r[3].code, 220);
    assert!(r[4].text.contains("AUTH PLAIN LOGIN"), "{}", r[4].text);
    assert_eq!(
        (r[5].code, r[5].text.as_str()),
        (235, "2.7.0 Authentication successful")
    );
    assert_eq!((r[6].code, r[6].text.as_str()), (250, "{}"));

    let r = run(
        &s,
        "implicit",
        steps(&[
            vec!["ehlo"],
            vec!["login", "alice@example.test", PASSWORD],
            vec!["send", "alice@example.test", "bob@example.test", &m],
        ]),
    );
    assert!(r[0].text.contains("AUTH PLAIN LOGIN"));
    assert_eq!(r[1].code, 235);
    assert_eq!(r[2].code, 250);
    let got = s.wait_mailbox("bob@example.test", 2);
    let stored = s.show("bob@example.test", got[0].split('\t').next().unwrap());
    assert!(stored.contains("with ESMTPSA id"), "{stored}");
    wait_trace(
        &s,
        &["trace", "--sender", "alice@example.test"],
        "authenticated as alice@example.test",
    );
}

#[test]
fn wrong_passwords_are_slowed_then_the_address_is_refused() {
    let s = submission_server("");
    // One AUTH PLAIN per attempt (smtplib's login() would try PLAIN and then LOGIN: two failures).
    // "\0alice@example.test\0not the password N", N = 0..3: four different wrong passwords
    // (the same one again would count once, NC-2.4.1).
    let wrong = |plain: &'static str| vec!["cmd", plain];
    let r = run(
        &s,
        "implicit",
        steps(&[
            vec!["ehlo"],
            wrong("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABub3QgdGhlIHBhc3N3b3JkIDA="),
            wrong("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABub3QgdGhlIHBhc3N3b3JkIDE="),
            wrong("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABub3QgdGhlIHBhc3N3b3JkIDI="),
            wrong("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABub3QgdGhlIHBhc3N3b3JkIDM="),
            vec!["login", "alice@example.test", PASSWORD],
        ]),
    );
    for (i, step) in r[1..5].iter().enumerate() {
        assert_eq!(
            (step.code, step.text.as_str()),
            (535, "5.7.8 Authentication credentials invalid"),
            "attempt {i}"
        );
    }
    // The fifth try, even with the right password, is refused: the address is blocked.
    assert_eq!(r[5].code, 454, "{:?}", r[5]);
    assert!(r[5].text.starts_with("4.7.0"));
    // The delays grew: 100, 200, 400 ms (capped), recorded in the trace.
    let t = wait_trace(&s, &["trace", "--client", "127.0.0.1"], "address blocked");
    for d in ["after 100 ms", "after 200 ms", "after 400 ms"] {
        assert!(t.contains(d), "{d} missing:\n{t}");
    }
    // A new connection from the blocked address is turned away at once.
    let mut c = Client::connect(s.listener("submission"));
    let text = c.expect(421);
    assert!(text.starts_with("4.7.0"), "{text}");
}

#[test]
fn unauthenticated_relay_is_refused() {
    let s = submission_server("");
    let r = run(
        &s,
        "starttls",
        steps(&[
            vec!["ehlo"],
            vec!["starttls"],
            vec!["ehlo"],
            vec!["cmd", "MAIL FROM:<alice@example.test>"],
        ]),
    );
    assert_eq!(
        (r[3].code, r[3].text.as_str()),
        (530, "5.7.0 Authentication required")
    );
    // On the MX port, mail for other domains is refused (NC-2.1.6 still holds there).
    let mut c = s.ehlo();
    c.send("MAIL FROM:<alice@example.test>");
    c.expect(250);
    c.send("RCPT TO:<someone@remote.test>");
    assert!(c.expect(550).starts_with("5.7.1 Relaying denied"));
}

#[test]
fn spoofed_senders_are_refused() {
    let s = submission_server("");
    cli(
        &s.config,
        &[
            "user",
            "send-as",
            "alice@example.test",
            "office@example.test",
        ],
        None,
    );
    let login = vec!["login", "alice@example.test", PASSWORD];
    let header_from_bob = msg("bob@example.test", "bob@example.test", "");
    let sender_bob = msg(
        "alice@example.test",
        "bob@example.test",
        "Sender: <bob@example.test>\r\n",
    );
    let as_office = msg("office@example.test", "bob@example.test", "");
    let as_team = msg("team@example.test", "bob@example.test", "");
    let r = run(
        &s,
        "implicit",
        steps(&[
            vec!["ehlo"],
            login,
            vec!["cmd", "MAIL FROM:<bob@example.test>"],
            vec!["cmd", "MAIL FROM:<alice@elsewhere.test>"],
            vec!["cmd", "MAIL FROM:<>"],
            vec![
                "send",
                "alice@example.test",
                "bob@example.test",
                &header_from_bob,
            ],
            vec![
                "send",
                "alice@example.test",
                "bob@example.test",
                &sender_bob,
            ],
            vec![
                "send",
                "office@example.test",
                "bob@example.test",
                &as_office,
            ],
            vec!["send", "alice@example.test", "bob@example.test", &as_team],
        ]),
    );
    // NC-2.1.7: envelope sender.
    assert_eq!(r[2].code, 553);
    assert_eq!(
        r[2].text,
        "5.7.1 Sender address <bob@example.test> is not one you may send as"
    );
    assert_eq!(r[3].code, 553);
    assert_eq!(r[4].code, 553);
    // NC-2.1.7: header From and Sender, at the end of DATA.
    assert_eq!(
        (r[5].code, r[5].text.as_str()),
        (
            550,
            "5.7.1 Header From <bob@example.test> is not an address you may send as"
        )
    );
    assert_eq!(
        (r[6].code, r[6].text.as_str()),
        (
            550,
            "5.7.1 Header Sender <bob@example.test> is not an address you may send as"
        )
    );
    // A send-as grant and an alias that reaches alice are hers to use.
    assert_eq!(r[7].code, 250, "{:?}", r[7]);
    assert_eq!(r[8].code, 250, "{:?}", r[8]);
    assert_eq!(s.wait_mailbox("bob@example.test", 2).len(), 2);
}

/// NC-2.1.7: a send-as grant is listed, withdrawn with `user send-as --remove` (a trace event
/// records it), and the address is refused again at the next MAIL; withdrawing it twice is one
/// line naming the missing grant.
#[test]
fn nc_2_1_7_a_withdrawn_send_as_grant_is_refused_again() {
    let s = submission_server("");
    let grant = [
        "user",
        "send-as",
        "alice@example.test",
        "office@example.test",
    ];
    let out = cli(&s.config, &grant, None);
    assert_eq!(
        out.trim(),
        "alice@example.test may now send as office@example.test"
    );
    let listed = cli(&s.config, &["user", "send-as-list"], None);
    assert_eq!(listed.trim(), "alice@example.test -> office@example.test");
    let json = cli(&s.config, &["user", "send-as-list", "--json"], None);
    assert_eq!(
        json.trim(),
        r#"{"address":"office@example.test","user":"alice@example.test"}"#
    );
    let as_office = vec!["cmd", "MAIL FROM:<office@example.test>"];
    let login = vec!["login", "alice@example.test", PASSWORD];
    let r = run(
        &s,
        "implicit",
        steps(&[vec!["ehlo"], login.clone(), as_office.clone()]),
    );
    assert_eq!(r[2].code, 250, "{:?}", r[2]);

    let mut remove = grant.to_vec();
    remove.push("--remove");
    let out = cli(&s.config, &remove, None);
    assert_eq!(
        out.trim(),
        "alice@example.test may no longer send as office@example.test"
    );
    assert_eq!(cli(&s.config, &["user", "send-as-list"], None).trim(), "");
    let r = run(&s, "implicit", steps(&[vec!["ehlo"], login, as_office]));
    assert_eq!(r[2].code, 553, "{:?}", r[2]);
    let again = cli_raw(&s.config, &remove, None);
    assert!(!again.status.success());
    assert_eq!(
        String::from_utf8_lossy(&again.stderr).trim(),
        "error: alice@example.test has no grant to send as office@example.test"
    );
    wait_trace(
        &s,
        &["trace", "--sender", "office@example.test"],
        "alice@example.test may no longer send as office@example.test; removed by the administrator",
    );
}

#[test]
fn rate_limit_answers_451() {
    let s = submission_server(
        "[[rate_limit]]\nscope = \"user\"\nwhat = \"messages\"\nlimit = 2\nwindow_secs = 3600\n",
    );
    let m = msg("alice@example.test", "bob@example.test", "");
    let send = vec!["send", "alice@example.test", "bob@example.test", m.as_str()];
    let r = run(
        &s,
        "implicit",
        steps(&[
            vec!["ehlo"],
            vec!["login", "alice@example.test", PASSWORD],
            send.clone(),
            send.clone(),
            send.clone(),
        ]),
    );
    assert_eq!((r[2].code, r[3].code), (250, 250));
    assert_eq!(r[4].code, 451, "{:?}", r[4]);
    assert!(
        r[4].text.starts_with("4.7.1 Rate limit reached"),
        "{}",
        r[4].text
    );
    wait_trace(
        &s,
        &["trace", "--sender", "alice@example.test"],
        "451 4.7.1 Rate limit reached",
    );
}

#[test]
fn auto_forwarded_mail_to_outside_is_refused() {
    let s = submission_server("");
    let fwd_out = msg(
        "alice@example.test",
        "someone@remote.test",
        "Auto-Submitted: auto-forwarded\r\n",
    );
    let fwd_in = msg(
        "alice@example.test",
        "bob@example.test",
        "Auto-Submitted: auto-forwarded\r\n",
    );
    let r = run(
        &s,
        "implicit",
        steps(&[
            vec!["ehlo"],
            vec!["login", "alice@example.test", PASSWORD],
            vec![
                "send",
                "alice@example.test",
                "someone@remote.test",
                &fwd_out,
            ],
            vec!["send", "alice@example.test", "bob@example.test", &fwd_in],
        ]),
    );
    // AL-4.2
    assert_eq!(r[2].code, 550, "{:?}", r[2]);
    assert!(
        r[2].text.starts_with("5.7.1 Automatically forwarded mail"),
        "{}",
        r[2].text
    );
    assert_eq!(
        r[3].code, 250,
        "inside the organisation it is fine: {:?}",
        r[3]
    );
    wait_trace(
        &s,
        &["trace", "--sender", "alice@example.test"],
        "Automatically forwarded mail",
    );
}

/// Opens N implicit-TLS connections, says EHLO on each, then sends the same AUTH line on all of
/// them at once (a barrier) and prints each reply's first line, one per line.
const PARALLEL_AUTH: &str = r#"
import base64, socket, ssl, sys, threading
port, ca, n, user = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
def reply(f):
    while True:
        l = f.readline().decode()
        if len(l) < 4 or l[3] != "-":
            return l.strip()
conns = []
for _ in range(n):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), 60),
                        server_hostname="mail.example.test")
    f = s.makefile("rb")
    assert reply(f).startswith("220"), "no greeting"
    s.sendall(b"EHLO client.test\r\n")
    assert reply(f).startswith("250"), "no EHLO"
    conns.append((s, f))
barrier = threading.Barrier(n)
out = [None] * n
def attempt(i):
    s, f = conns[i]
    barrier.wait()
    # A different wrong password on each (the same one again would count once).
    plain = base64.b64encode(f"\0{user}\0not the password {i}".encode())
    s.sendall(b"AUTH PLAIN " + plain + b"\r\n")
    out[i] = reply(f)
threads = [threading.Thread(target=attempt, args=(i,)) for i in range(n)]
for t in threads: t.start()
for t in threads: t.join()
print("\n".join(out))
"#;

#[test]
fn nc_2_1_8_parallel_wrong_passwords_hash_at_most_the_limit() {
    const LIMIT: usize = 10;
    const PARALLEL: usize = 30;
    let s = submission_server_blocking_after(LIMIT as u32, "");
    let port = s.listener("submissions").port().to_string();
    let out = python(
        PARALLEL_AUTH,
        &[
            &port,
            s.ca_file().to_str().unwrap(),
            &PARALLEL.to_string(),
            "alice@example.test",
        ],
    );
    let replies = String::from_utf8(out.stdout).unwrap();
    let invalid = replies
        .lines()
        .filter(|l| *l == "535 5.7.8 Authentication credentials invalid")
        .count();
    let refused = replies
        .lines()
        .filter(|l| {
            *l == "454 4.7.0 Too many failed authentications from your address; try again later"
        })
        .count();
    // NC-2.1.8: attempts in progress count against the address before any hash: 10 passwords
    // are checked, the other 20 get the block's reply. (The 10 fit the server's hashing slots
    // and their queue, at least 2 x (1 + 4), so none is refused as busy.)
    assert_eq!(
        (invalid, refused),
        (LIMIT, PARALLEL - LIMIT),
        "replies:\n{replies}"
    );
    // The trace witnesses each attempt: as many checked (and failed) as the limit, no more.
    let mut trace = String::new();
    for _ in 0..200 {
        trace = cli(&s.config, &["trace", "--client", "127.0.0.1"], None);
        let checked = trace.matches("failed for alice@example.test").count();
        let turned_away = trace
            .matches("refused: too many attempts from the address in progress or failed")
            .count();
        if checked + turned_away >= PARALLEL {
            assert_eq!((checked, turned_away), (LIMIT, PARALLEL - LIMIT), "{trace}");
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!("not every attempt was traced:\n{trace}");
}
