//! The `rampart-testdns` binary, as the bench scripts run it: a records file, the port read from
//! its first line, queries from hickory-resolver, and a stop at end of stdin or on SIGTERM.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;
use rampart_testdns::TestDns;

const BIN: &str = env!("CARGO_BIN_EXE_rampart-testdns");
/// Generous: a loaded CI machine may be slow to start a process; nothing waits this long when
/// things work.
const PATIENCE: Duration = Duration::from_secs(30);

/// A file under the target directory, unique to this test.
fn records_file(test: &str, text: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("testdns-{test}-{}.records", std::process::id()));
    std::fs::write(&path, text).expect("writing the records file");
    path
}

/// A started binary: its address, its stdin (closing it stops the process) and the process.
struct Running {
    addr: SocketAddr,
    stdin: Option<ChildStdin>,
    child: Child,
}

fn start(args: &[&str]) -> Running {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting rampart-testdns");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(PATIENCE)
        .expect("no line from rampart-testdns");
    let addr = line
        .strip_suffix('\n')
        .and_then(|l| l.strip_prefix("listening on "))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .expect("an address after `listening on`");
    Running {
        addr,
        stdin: child.stdin.take(),
        child,
    }
}

/// Waits (up to [`PATIENCE`]) for the process to exit; returns its status and stderr.
fn exit_of(child: Child) -> Output {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    rx.recv_timeout(PATIENCE)
        .expect("rampart-testdns did not exit")
        .expect("waiting for rampart-testdns")
}

fn resolver(addr: SocketAddr) -> TokioResolver {
    let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
    for connection in &mut ns.connections {
        connection.port = addr.port();
    }
    let config = ResolverConfig::from_parts(None, Vec::new(), vec![ns]);
    TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
        .with_options(TestDns::resolver_opts())
        .build()
        .expect("resolver")
}

fn response_code(err: &NetError) -> Option<ResponseCode> {
    match err {
        NetError::Dns(DnsError::NoRecordsFound(nr)) => Some(nr.response_code),
        _ => None,
    }
}

#[tokio::test]
async fn serves_a_records_file_and_stops_at_end_of_stdin() {
    let file = records_file(
        "serve",
        "# the sender domain of the bench scripts\n\
         remote.test TXT \"v=spf1 ip4:127.0.0.0/8 -all\"\n\
         mx.remote.test A 127.0.0.1   # its host\n\
         remote.test MX 10 mx.remote.test\n",
    );
    let mut dns = start(&["--records", file.to_str().unwrap()]);
    assert_eq!(dns.addr.ip(), Ipv4Addr::LOCALHOST);
    assert_ne!(dns.addr.port(), 0);
    let r = resolver(dns.addr);

    let txt = r.txt_lookup("remote.test.").await.unwrap();
    let strings: Vec<String> = txt
        .answers()
        .iter()
        .filter_map(|rec| match &rec.data {
            RData::TXT(t) => Some(t.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(strings, vec!["v=spf1 ip4:127.0.0.0/8 -all".to_string()]);

    let a = r.ipv4_lookup("mx.remote.test.").await.unwrap();
    let ips: Vec<Ipv4Addr> = a
        .answers()
        .iter()
        .filter_map(|rec| match &rec.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect();
    assert_eq!(ips, vec![Ipv4Addr::LOCALHOST]);

    // A definite negative answer, not a timeout: SPF and DMARC see "none" at once.
    let err = r.txt_lookup("_dmarc.remote.test.").await.unwrap_err();
    assert_eq!(response_code(&err), Some(ResponseCode::NXDomain), "{err}");

    drop(dns.stdin.take());
    let out = exit_of(dns.child);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("end of stdin"), "{stderr}");
    let _ = std::fs::remove_file(file);
}

#[tokio::test]
async fn without_records_every_name_is_nxdomain_and_sigterm_stops_it() {
    let dns = start(&[]);
    let r = resolver(dns.addr);
    for name in ["remote.test.", "_dmarc.remote.test.", "example.com."] {
        let err = r.txt_lookup(name).await.unwrap_err();
        assert_eq!(
            response_code(&err),
            Some(ResponseCode::NXDomain),
            "{name}: {err}"
        );
    }

    // kill(1), not libc::kill: the crate forbids unsafe code, tests included.
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &dns.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(kill.success(), "kill -TERM: {kill}");
    let out = exit_of(dns.child);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("SIGTERM"));
    drop(dns.stdin);
}

#[test]
fn a_bad_line_is_reported_with_file_and_line() {
    let file = records_file(
        "bad",
        "# fine\nremote.test TXT \"v=spf1 -all\"\nremote.test A 300.1.1.1\n",
    );
    let child = Command::new(BIN)
        .args(["--records", file.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting rampart-testdns");
    let out = exit_of(child);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        format!(
            "rampart-testdns: {}:3: `300.1.1.1` is not an IPv4 address\n",
            file.display()
        )
    );
    let _ = std::fs::remove_file(file);
}
