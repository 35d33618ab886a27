//! The daily TLS report (AL-1.1, RFC 8460) sent end to end by `rampart report tls --send-now`,
//! which runs the code of the server's daily schedule:
//!
//! - `mailto:`: a message of its own, queued and delivered by the sending Rampart to the
//!   receiving one, DKIM-signed (checked by dkimpy), with the section 5.3 headers and the gzip'd
//!   JSON as `application/tlsrpt+gzip` (opened here, its counts checked);
//! - `https:`: POSTed as `application/tlsrpt+gzip` to an HTTPS server on loopback (Python's
//!   http.server with TLS), the body checked;
//! - a day's report goes once per destination (a second run for the same day sends nothing),
//!   and never to a domain without a `_smtp._tls` record.
//!
//! A day cannot pass in a test: the counts the deliveries made today are moved to yesterday in
//! the sender's database (the only way the test reaches into it), as if the day had ended.

use crate::common;
use crate::sts;

use common::*;
use rampart_testdns::Record;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use sts::*;

/// An HTTPS server on 127.0.0.1 (Python's http.server) that stores each POST as
/// `post<N>.body` and `post<N>.meta` (path, then content type) in its directory, and answers 200.
struct PostServer {
    child: Child,
    port: u16,
    dir: PathBuf,
    /// The CA that signed its certificate for `reports.remote.test` (PEM).
    ca_pem: String,
}

impl Drop for PostServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const POST_SERVER: &str = r#"
import http.server, os, ssl, sys
d = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', '0')))
        n = len([f for f in os.listdir(d) if f.endswith('.meta')])
        with open(os.path.join(d, 'post%d.body' % n), 'wb') as f:
            f.write(body)
        with open(os.path.join(d, 'tmp.meta'), 'w') as f:
            f.write(self.path + '\n' + self.headers.get('Content-Type', '') + '\n')
        os.rename(os.path.join(d, 'tmp.meta'), os.path.join(d, 'post%d.meta' % n))
        self.send_response(200)
        self.send_header('Content-Length', '0')
        self.end_headers()
    def log_message(self, *args):
        pass
srv = http.server.HTTPServer(('127.0.0.1', 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;

impl PostServer {
    fn start(dir: &Path) -> PostServer {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name = rcgen::DistinguishedName::new();
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Report Endpoint Test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["reports.remote.test".to_string()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let posts = dir.join("posts");
        std::fs::create_dir_all(&posts).unwrap();
        let (cert, keyfile) = (dir.join("reports-cert.pem"), dir.join("reports-key.pem"));
        std::fs::write(&cert, leaf.pem()).unwrap();
        std::fs::write(&keyfile, key.serialize_pem()).unwrap();
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(POST_SERVER)
            .arg(&posts)
            .arg(&cert)
            .arg(&keyfile)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the POST server's port");
        PostServer {
            child,
            port,
            dir: posts,
            ca_pem: ca.pem(),
        }
    }

    /// (path, content type, body) of each POST received, in order.
    fn posts(&self) -> Vec<(String, String, Vec<u8>)> {
        (0..)
            .map_while(|n| {
                let meta = std::fs::read_to_string(self.dir.join(format!("post{n}.meta"))).ok()?;
                let body = std::fs::read(self.dir.join(format!("post{n}.body"))).unwrap();
                let mut lines = meta.lines();
                let path = lines.next().unwrap_or_default().to_string();
                let ctype = lines.next().unwrap_or_default().to_string();
                Some((path, ctype, body))
            })
            .collect()
    }
}

/// Runs SQL on the sender's database with sqlite3 (waiting for the server's writer).
fn sql(s: &Server, statement: &str) -> String {
    let out = Command::new("sqlite3")
        .arg("-cmd")
        .arg(".timeout 10000")
        .arg(s.data_dir().join("rampart.db"))
        .arg(statement)
        .output()
        .expect("sqlite3");
    assert!(
        out.status.success(),
        "{statement}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Ends the day: today's outcome counts become yesterday's.
fn end_the_day(s: &Server) {
    sql(s, "UPDATE tls_outcomes SET day = day - 1");
}

/// The reports sent for remote.test, read from the received message by Python: the section
/// 5.3 headers, the gzip'd JSON's counts, and dkimpy's verdict on the signature.
const CHECK_MESSAGE: &str = r#"
import sys, email, gzip, json, dkim
raw = open(sys.argv[1], 'rb').read()
raw = raw.split(b'\r\n', 1)[1] if raw.startswith(b'Return-Path:') else raw
m = email.message_from_bytes(raw)
print(m.get_content_type(), m.get_param('report-type'))
print('domain', m['TLS-Report-Domain'])
print('submitter', m['TLS-Report-Submitter'])
print('subject', str(email.header.make_header(email.header.decode_header(m['Subject']))))
parts = [p for p in m.walk() if p.get_content_type() == 'application/tlsrpt+gzip']
print('parts', len(parts), parts[0].get_filename() if parts else None)
r = json.loads(gzip.decompress(parts[0].get_payload(decode=True)))
print('report-id', r['report-id'])
for p in r['policies']:
    s = p['summary']
    print(p['policy']['policy-domain'], p['policy']['policy-type'],
          s['total-successful-session-count'], s['total-failure-session-count'])
    for f in p.get('failure-details', []):
        print(' ', f['result-type'], f['failed-session-count'])
keys = {sys.argv[2].encode(): sys.argv[3].encode()}
print('dkim', dkim.verify(raw, dnsfunc=lambda name, timeout=5: keys.get(name, b'')))
"#;

/// Two deliveries under remote.test's MTA-STS testing policy to an MX whose certificate names
/// another host make a day of two certificate-host-mismatch failures; its report goes to both
/// destinations of remote.test's `_smtp._tls` record, and to nobody for norua.test.
#[test]
fn al_1_1_rfc8460_the_daily_report_is_mailed_signed_and_posted_once() {
    let dns = dns("mx.remote.test", "1");
    let policy = PolicyServer::start(Answer::policy("testing", "mx.remote.test"));
    let r = receiver(&dns);
    cli(
        &r.config,
        &["user", "add", "tlsrpt@remote.test", "--password-stdin"],
        Some(PASSWORD),
    );
    let s = sender(&dns, &r, &policy, "tls_reports_hour = 23\n");
    let post = PostServer::start(&s.dir.0);
    // The report endpoint's CA joins those the sender trusts (read by each `--send-now`).
    let ca_file = r.dir.0.join("sts-ca.pem");
    let mut cas = std::fs::read_to_string(&ca_file).unwrap();
    cas.push_str(&post.ca_pem);
    std::fs::write(&ca_file, cas).unwrap();
    dns.add(Record::a(
        "reports.remote.test",
        "127.0.0.1".parse().unwrap(),
    ));
    dns.add(Record::txt(
        "_smtp._tls.remote.test",
        format!(
            "v=TLSRPTv1; rua=mailto:tlsrpt@remote.test,https://reports.remote.test:{}/v1/tlsrpt",
            post.port
        )
        .as_str(),
    ));
    // The report message is signed with example.test's key, as all mail from there.
    let key = cli(
        &s.config,
        &[
            "dkim",
            "generate",
            "--domain",
            "example.test",
            "--selector",
            "tls",
            "--algorithm",
            "rsa",
        ],
        None,
    );
    let line = key.lines().find(|l| l.contains(" IN TXT ")).unwrap();
    let (key_name, key_value) = line.split_once(" IN TXT ").unwrap();
    let key_value: String = key_value.split('"').skip(1).step_by(2).collect();
    // Published, so that the receiver (which also serves example.test) finds the From aligned.
    dns.add(Record::txt(
        key_name.trim_end_matches('.'),
        key_value.as_str(),
    ));

    for (i, id) in ["sent1", "sent2"].iter().enumerate() {
        let qid = submit(&s, id);
        r.wait_mailbox("carol@remote.test", i + 1);
        wait_trace(&s, &["trace", "--queue-id", &qid], "relayed");
    }
    end_the_day(&s);
    // Yesterday's outcomes of a domain that publishes no _smtp._tls record.
    sql(
        &s,
        "INSERT INTO tls_outcomes VALUES ((strftime('%s','now') / 86400) - 1, 'norua.test', \
         'no-policy-found', '', 'mx.norua.test', 'success', '127.0.0.1', '', 3)",
    );

    // RFC 8460 section 3: one report, to each of the two destinations; none for norua.test.
    let out = cli(&s.config, &["report", "tls", "--send-now"], None);
    assert_eq!(out.trim(), "2 TLS reports sent", "{out}");
    assert_eq!(
        sql(&s, "SELECT policy_domain, rua FROM tls_reports_sent ORDER BY rua"),
        format!(
            "remote.test|https://reports.remote.test:{}/v1/tlsrpt\nremote.test|mailto:tlsrpt@remote.test",
            post.port
        )
    );
    assert_eq!(
        sql(
            &s,
            "SELECT count(*) FROM tls_outcomes WHERE policy_domain = 'norua.test'"
        ),
        "0",
        "norua.test's counts are dropped, not kept for a report"
    );

    // https: POSTed as application/tlsrpt+gzip, the body the gzip'd report.
    let posts = post.posts();
    assert_eq!(posts.len(), 1, "one POST");
    let (path, ctype, body) = &posts[0];
    assert_eq!(path, "/v1/tlsrpt");
    assert_eq!(ctype, "application/tlsrpt+gzip");
    let gz = s.dir.0.join("posted.json.gz");
    std::fs::write(&gz, body).unwrap();
    let posted = python(
        "import sys, gzip, json\nr = json.loads(gzip.decompress(open(sys.argv[1], 'rb').read()))\n\
         p = r['policies'][0]\nprint(len(r['policies']), p['policy']['policy-domain'], \
         p['policy']['policy-type'], p['summary']['total-successful-session-count'], \
         p['summary']['total-failure-session-count'], p['failure-details'][0]['result-type'])",
        &[gz.to_str().unwrap()],
    );
    assert_eq!(
        String::from_utf8_lossy(&posted.stdout).trim(),
        "1 remote.test sts 0 2 certificate-host-mismatch",
        "{}",
        String::from_utf8_lossy(&posted.stderr)
    );

    // mailto: delivered by the sender's queue to the receiver, where it is stored.
    let got = r.wait_mailbox("tlsrpt@remote.test", 1);
    let stored = r.show("tlsrpt@remote.test", got[0].split('\t').next().unwrap());
    let file = r.dir.0.join("report.eml");
    std::fs::write(&file, &stored).unwrap();
    let checked = python(
        CHECK_MESSAGE,
        &[file.to_str().unwrap(), key_name, &key_value],
    );
    let text = String::from_utf8_lossy(&checked.stdout).to_string();
    let mut lines = text.lines();
    let mut next = || lines.next().unwrap_or_default().to_string();
    let err = String::from_utf8_lossy(&checked.stderr).to_string();
    assert_eq!(next(), "multipart/report tlsrpt", "{text}{err}");
    assert_eq!(next(), "domain remote.test", "{text}");
    assert_eq!(next(), "submitter example.test", "{text}");
    let subject = next();
    assert!(
        subject
            .starts_with("subject Report Domain: remote.test Submitter: example.test Report-ID: <"),
        "{subject}"
    );
    let parts = next();
    assert!(
        parts.starts_with("parts 1 example.test!remote.test!") && parts.ends_with(".json.gz"),
        "{parts}"
    );
    let report_id = next();
    assert!(report_id.starts_with("report-id "), "{report_id}");
    assert!(subject.contains(&format!("<{}>", &report_id["report-id ".len()..])));
    assert_eq!(next(), "remote.test sts 0 2", "{text}");
    assert_eq!(next(), "  certificate-host-mismatch 2", "{text}");
    assert_eq!(next(), "dkim True", "dkimpy: {text}{err}");

    // RFC 8460 section 4: one report per day. Counts that still reach a day already reported
    // (here, the report's own delivery moved back to it) make no second report anywhere.
    wait_trace(
        &s,
        &["trace", "--recipient", "tlsrpt@remote.test"],
        "relayed",
    );
    end_the_day(&s);
    assert_ne!(
        sql(
            &s,
            "SELECT count(*) FROM tls_outcomes WHERE policy_domain = 'remote.test'"
        ),
        "0"
    );
    let out = cli(&s.config, &["report", "tls", "--send-now"], None);
    assert_eq!(out.trim(), "0 TLS reports sent", "{out}");
    assert_eq!(post.posts().len(), 1, "no second POST");
    assert_eq!(sql(&s, "SELECT count(*) FROM tls_reports_sent"), "2");
}
