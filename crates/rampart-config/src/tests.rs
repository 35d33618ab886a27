//! Parsing, reporting and the example file.

use super::*;
use std::path::Path;

fn parse(src: &str) -> Result<Config, ConfigErrors> {
    Config::parse(Path::new("/etc/rampart/rampart.toml"), src)
}

fn one_line(err: ConfigErrors) -> String {
    assert_eq!(err.0.len(), 1, "{err}");
    let s = err.to_string();
    assert!(!s.contains('\n'), "one line: {s}");
    s
}

#[test]
fn empty_file_listens_nowhere() {
    // NC-2.1.1: nothing listens unless configured.
    let c = parse("hostname = \"mx.a.example\"\n").unwrap();
    assert!(c.listeners.is_empty());
    assert_eq!(c.limits.max_recipients.get(), 100);
}

#[test]
fn embedded_default_is_loopback_only() {
    let c = Config::embedded_default();
    let ports: Vec<u16> = c.listeners.iter().map(|l| l.address.port()).collect();
    assert_eq!(ports, vec![2525, 2587, 2465, 2443, 2444]);
    assert_eq!(c.listeners[3].role, Role::Https);
    assert_eq!(c.listeners[4].role, Role::Admin);
    assert!(c.listeners.iter().all(|l| l.address.ip().is_loopback()));
    // NC-2.1.5: nothing relays unauthenticated by default.
    assert!(c.relay.networks.is_empty());
}

#[test]
fn https_listener_parses_with_default_http_limits() {
    let c = parse(
        "hostname = \"mx.a.example\"\n[[listener]]\nrole = \"https\"\naddress = \"0.0.0.0:443\"\n",
    )
    .unwrap();
    assert_eq!(c.listeners[0].role, Role::Https);
    assert_eq!(c.listeners[0].role.to_string(), "https");
    assert!(!c.listeners[0].role.is_smtp() && !c.listeners[0].role.is_submission());
    // NC-2.1.8: every HTTP limit is on by default.
    assert_eq!(c.http.max_request_body_bytes.get(), 25 * 1024 * 1024);
    assert_eq!(c.http.max_header_bytes.get(), 16 * 1024);
    assert_eq!(c.http.header_read_timeout_secs.get(), 10);
    assert_eq!(c.http.body_read_timeout_secs.get(), 120);
    assert_eq!(c.http.idle_timeout_secs.get(), 60);
    assert_eq!(c.http.max_concurrent_requests.get(), 512);
    assert_eq!(c.http.max_connections.get(), 4096);
}

#[test]
fn https_listener_refuses_smtp_keys_with_file_line_and_key() {
    let err = parse(
        "hostname = \"mx.a.example\"\n[[listener]]\nrole = \"mx\"\naddress = \"0.0.0.0:25\"\nrequire_tls = false\n\
         [[listener]]\nrole = \"https\"\naddress = \"0.0.0.0:443\"\nrequire_tls = true\ngreeting_delay_ms = 5\n",
    )
    .unwrap_err();
    assert_eq!(err.0.len(), 2, "{err}");
    for (e, (line, key)) in err.0.iter().zip([
        (9, "listener[1].require_tls"),
        (10, "listener[1].greeting_delay_ms"),
    ]) {
        assert_eq!(e.line, Some(line), "{e}");
        assert_eq!(e.key.as_deref(), Some(key), "{e}");
        assert!(e.message.contains("SMTP setting"), "{e}");
    }
}

#[test]
fn nc_2_1_8_http_limits_are_read_and_validated() {
    let c = parse(
        "hostname = \"mx.a.example\"\n[http]\nmax_request_body_bytes = 1000\nmax_header_bytes = 2048\n\
         header_read_timeout_secs = 3\nbody_read_timeout_secs = 4\nidle_timeout_secs = 5\n\
         max_concurrent_requests = 6\nmax_connections = 7\n",
    )
    .unwrap();
    let h = &c.http;
    assert_eq!(
        [
            h.max_request_body_bytes.get(),
            h.max_header_bytes.get(),
            h.header_read_timeout_secs.get(),
            h.body_read_timeout_secs.get(),
            h.idle_timeout_secs.get(),
            h.max_concurrent_requests.get(),
            h.max_connections.get(),
        ],
        [1000, 2048, 3, 4, 5, 6, 7]
    );
    // NC-2.1.8: no limit can be switched off with 0.
    let s = one_line(parse("[http]\nbody_read_timeout_secs = 0\n").unwrap_err());
    assert!(s.contains(":2: key `http.body_read_timeout_secs`"), "{s}");
    for bad in ["100", "2000000"] {
        let s = one_line(
            parse(&format!(
                "hostname = \"mx.a.example\"\n[http]\nmax_header_bytes = {bad}\n"
            ))
            .unwrap_err(),
        );
        assert!(
            s.contains(":3: key `http.max_header_bytes`") && s.contains("1024"),
            "{s}"
        );
    }
    let s = one_line(parse("[http]\nmax_body = 5\n").unwrap_err());
    assert!(s.contains(":2: key `http.max_body`"), "{s}");
}

#[test]
fn show_leaves_smtp_keys_out_of_an_https_listener_and_reads_back() {
    let c = parse(
        "hostname = \"mx.a.example\"\n[[listener]]\nrole = \"mx\"\naddress = \"0.0.0.0:25\"\n\
         [[listener]]\nrole = \"https\"\naddress = \"0.0.0.0:443\"\n",
    )
    .unwrap();
    let shown = c.to_toml().unwrap();
    assert_eq!(shown.matches("require_tls = false").count(), 1, "{shown}");
    assert!(shown.contains("role = \"https\""), "{shown}");
    assert!(shown.contains("[http]") && shown.contains("max_header_bytes = 16384"));
    let again = parse(&shown).unwrap_or_else(|e| panic!("{e}\n{shown}"));
    assert_eq!(again.to_toml().unwrap(), shown);
}

#[test]
fn networks_parse_and_match() {
    // NC-2.1.5: relay networks, with the workspace's ipnet; a bare address is one host.
    let c = parse(
        "hostname = \"mx.a.example\"\n[relay]\nnetworks = [\"10.1.0.0/16\", \"2001:db8::1\"]\n",
    )
    .unwrap();
    let allows = |ip: &str| c.relay.allows(ip.parse().unwrap());
    assert!(allows("10.1.200.3"));
    assert!(!allows("10.2.0.1"));
    assert!(allows("::ffff:10.1.0.9"), "IPv4-mapped client");
    assert!(allows("2001:db8::1"));
    assert!(!allows("2001:db8::2"));
    let s = one_line(
        parse("hostname = \"mx.a.example\"\n[relay]\nnetworks = [\"10.0.0.0/40\"]\n").unwrap_err(),
    );
    assert!(
        s.contains(":3: key `relay.networks`") && s.contains("prefix"),
        "{s}"
    );
}

#[test]
fn unknown_key_names_key_file_and_line() {
    let s = one_line(
        parse("hostname = \"mx.a.example\"\n\n[limits]\nmax_recipents = 5\n").unwrap_err(),
    );
    assert!(s.contains("rampart.toml:4"), "{s}");
    assert!(s.contains("limits.max_recipents"), "{s}");
    assert!(s.contains("remove it or fix its spelling"), "{s}");
}

#[test]
fn wrong_type_names_key_and_line() {
    let s = one_line(parse("[limits]\nmax_recipients = \"many\"\n").unwrap_err());
    assert!(s.contains(":2: key `limits.max_recipients`"), "{s}");
    assert!(s.contains("invalid type"), "{s}");
}

#[test]
fn zero_is_impossible() {
    let s = one_line(parse("[limits]\nmax_connections = 0\n").unwrap_err());
    assert!(s.contains(":2: key `limits.max_connections`"), "{s}");
}

#[test]
fn missing_certificate_file_is_reported() {
    let err =
        parse("hostname = \"mx.a.example\"\n[tls]\ncert = \"/nonexistent/cert.pem\"\nkey = \"/nonexistent/key.pem\"\n")
            .unwrap_err();
    assert_eq!(err.0.len(), 2, "both files reported: {err}");
    assert_eq!(err.0[0].line, Some(3));
    assert_eq!(err.0[0].key.as_deref(), Some("tls.cert"));
    assert!(err.0[0].message.contains("does not exist"));
    assert_eq!(err.0[1].line, Some(4));
}

#[test]
fn short_retention_is_refused() {
    // NC-2.4.3: three months at least.
    let s =
        one_line(parse("hostname = \"mx.a.example\"\n[trace]\nretention_days = 30\n").unwrap_err());
    assert!(
        s.contains(":3: key `trace.retention_days`") && s.contains("NC-2.4.3"),
        "{s}"
    );
}

#[test]
fn bad_hostname_and_bad_address_are_reported() {
    let s = one_line(parse("hostname = \"not a host\"\n").unwrap_err());
    assert!(s.contains(":1: key `hostname`"), "{s}");
    let s =
        one_line(parse("[[listener]]\nrole = \"mx\"\naddress = \"localhost:25x\"\n").unwrap_err());
    assert!(s.contains(":3: key `listener.address`"), "{s}");
    let s = one_line(
        parse("[[listener]]\nrole = \"imap\"\naddress = \"127.0.0.1:143\"\n").unwrap_err(),
    );
    assert!(s.contains(":2: key `listener.role`"), "{s}");
}

#[test]
fn example_file_is_valid_and_complete() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rampart.example.toml");
    let src = std::fs::read_to_string(&path).unwrap();
    // The example shows real certificate paths commented out, so it loads as written.
    let c = Config::parse(&path, &src).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.listeners.len(), 4);
    assert_eq!(c.listeners[3].role, Role::Https);
    let missing: Vec<String> = documented_keys()
        .into_iter()
        .filter(|k| !example_mentions(&src, k))
        .collect();
    assert!(
        missing.is_empty(),
        "rampart.example.toml does not show: {missing:?}"
    );
}

/// Whether the example writes `key` (as `key =`, `# key =`, or a table header).
fn example_mentions(src: &str, key: &str) -> bool {
    let leaf = key.rsplit('.').next().unwrap_or(key);
    src.lines().any(|l| {
        let l = l.trim_start_matches(['#', ' ']);
        l.starts_with(&format!("{leaf} =")) || l.starts_with(&format!("{leaf}=")) || {
            let header = l.trim_matches(['[', ']']);
            header == key || header.ends_with(&format!(".{leaf}"))
        }
    })
}

/// Every key the configuration has: the fields declared in this crate's sources, and every key
/// of the effective default configuration (which includes the checks' own sections), plus the
/// optional tables that are unset by default.
fn documented_keys() -> Vec<String> {
    let mut keys = std::collections::BTreeSet::new();
    for src in [
        include_str!("lib.rs"),
        include_str!("server.rs"),
        include_str!("http.rs"),
        include_str!("relay.rs"),
        include_str!("delivery.rs"),
    ] {
        let mut in_struct = false;
        let mut rename = None;
        for line in src.lines() {
            let t = line.trim();
            if t.starts_with("pub struct ") {
                in_struct = t.ends_with('{');
            } else if t == "}" {
                in_struct = false;
            } else if in_struct && t.contains("rename = \"") {
                rename = t.split('"').nth(1).map(str::to_string);
            } else if in_struct && t.starts_with("pub ") && t.contains(':') {
                let name = t.trim_start_matches("pub ").split(':').next().unwrap();
                keys.insert(rename.take().unwrap_or_else(|| name.to_string()));
            }
        }
    }
    let mut shown = Config::embedded_default();
    shown.run_as = Some("rampart".into());
    shown.checks.notify = Some("security@agency.example".into());
    shown.checks.spam.tag_subject_prefix = Some("[SPAM]".into());
    shown.checks.external.banner = Some("CAUTION".into());
    shown.checks.authentication.authserv_id = Some("mx.agency.example".into());
    let value: toml::Table = toml::from_str(&shown.to_toml().unwrap()).unwrap();
    walk("", &toml::Value::Table(value), &mut keys);
    keys.into_iter().collect()
}

fn walk(prefix: &str, v: &toml::Value, keys: &mut std::collections::BTreeSet<String>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                keys.insert(key.clone());
                walk(&key, v, keys);
            }
        }
        toml::Value::Array(a) => {
            if let Some(first @ toml::Value::Table(_)) = a.first() {
                walk(prefix, first, keys);
            }
        }
        _ => {}
    }
}

#[test]
fn admin_listener_off_loopback_needs_allow_remote_and_networks() {
    let base = "hostname = \"mx.a.example\"\n[[listener]]\nrole = \"admin\"\n";
    let c = parse(&format!("{base}address = \"127.0.0.1:2444\"\n")).unwrap();
    assert_eq!(c.listeners[0].role, Role::Admin);
    assert!(!c.listeners[0].role.is_smtp());
    // Refused at start: a public address without both settings.
    for extra in ["", "allow_remote = true\n", "allow = [\"10.0.8.0/24\"]\n"] {
        let e = parse(&format!("{base}address = \"0.0.0.0:2444\"\n{extra}")).unwrap_err();
        assert!(e.to_string().contains("allow_remote = true"), "{e}");
    }
    let c = parse(&format!(
        "{base}address = \"0.0.0.0:2444\"\nallow_remote = true\nallow = [\"10.0.8.0/24\"]\n"
    ))
    .unwrap();
    let l = &c.listeners[0];
    assert!(l.admin_allows("10.0.8.7".parse().unwrap()));
    assert!(l.admin_allows("127.0.0.1".parse().unwrap()));
    assert!(!l.admin_allows("192.0.2.1".parse().unwrap()));
    // Shown and loaded again.
    let shown = c.to_toml().unwrap();
    assert!(
        shown.contains("allow_remote = true") && shown.contains("10.0.8.0/24"),
        "{shown}"
    );
    // Not a setting of other listeners.
    let e = parse("hostname = \"mx.a.example\"\n[[listener]]\nrole = \"https\"\naddress = \"0.0.0.0:443\"\nallow_remote = true\n").unwrap_err();
    assert!(e.to_string().contains("admin listener setting"), "{e}");
}
