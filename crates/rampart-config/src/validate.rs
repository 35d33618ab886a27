//! Checks that go beyond types. Every problem is returned, not just the first; each names the key
//! and the line where it is written (or, for a default, the table it belongs to).

use crate::http::HEADER_BYTES_RANGE;
use crate::report::{ConfigError, Locator, Warning};
use crate::server::SMTP_LISTENER_KEYS;
use crate::{CheckName, Config, RateScope, RateWhat, Role};
use std::collections::HashSet;

/// The errors and warnings of a configuration as written (before the default rate limits are
/// merged in).
pub(crate) fn check(config: &Config, loc: &Locator<'_>) -> (Vec<ConfigError>, Vec<Warning>) {
    let mut errors = Vec::new();
    server(config, loc, &mut errors);
    http(config, loc, &mut errors);
    rate_limits(config, loc, &mut errors);
    delivery(config, loc, &mut errors);
    checks(config, loc, &mut errors);
    crate::null_client::check(config, loc, &mut errors);
    crate::mta_sts::check(config, loc, &mut errors);
    crate::mta_sts::check_dnssec(config, loc, &mut errors);
    crate::ids::check(config, loc, &mut errors);
    crate::recipient_verify::check(config, loc, &mut errors);
    crate::passwords::check(config, loc, &mut errors);
    crate::store::check(config, loc, &mut errors);
    crate::reports::check(config, loc, &mut errors);
    let mut warnings = warnings(config, loc);
    crate::relay_domain::check(config, loc, &mut errors, &mut warnings);
    (errors, warnings)
}

fn server(config: &Config, loc: &Locator<'_>, errors: &mut Vec<ConfigError>) {
    if !loc.has("hostname") {
        // A real server greeting as mail.example.test is a trap found only by its peers.
        errors.push(loc.at(
            "hostname",
            "is not set; add `hostname = \"mx.your-domain.example\"` at the top: it is the name in the greeting, EHLO and Received headers",
        ));
    } else if !is_hostname(config.hostname.get_ref()) {
        errors.push(loc.at(
            "hostname",
            format!(
                "`{}` is not a fully qualified host name; use letters, digits, hyphens and dots, e.g. \"mx.agency.example\"",
                config.hostname.get_ref()
            ),
        ));
    }
    match (&config.tls.cert, &config.tls.key) {
        (Some(_), None) => errors.push(loc.at(
            "tls.cert",
            "a certificate is set without its key; add `key = \"/path/key.pem\"` under [tls]",
        )),
        (None, Some(_)) => errors.push(loc.at(
            "tls.key",
            "a key is set without its certificate; add `cert = \"/path/cert.pem\"` under [tls]",
        )),
        _ => {}
    }
    for (name, p) in [("tls.cert", &config.tls.cert), ("tls.key", &config.tls.key)] {
        if let Some(p) = p {
            if !p.get_ref().is_file() {
                errors.push(loc.at(
                    name,
                    format!(
                        "file {} does not exist or is not a regular file; fix the path or create the file",
                        p.get_ref().display()
                    ),
                ));
            }
        }
    }
    let limits = &config.limits;
    if limits.max_line_length.get() < 512 {
        errors.push(loc.at(
            "limits.max_line_length",
            "must be at least 512 (RFC 5321 section 4.5.3.1.4)",
        ));
    }
    if limits.max_recipients.get() < 100 {
        errors.push(loc.at(
            "limits.max_recipients",
            "must be at least 100 (RFC 5321 section 4.5.3.1.8)",
        ));
    }
    if limits.max_connections_per_ip > limits.max_connections {
        errors.push(loc.at(
            "limits.max_connections_per_ip",
            "is larger than limits.max_connections; lower it",
        ));
    }
    if config.trace.retention_days.get() < 90 {
        errors.push(loc.at(
            "trace.retention_days",
            "must be at least 90: NC-2.4.3 requires logs to be kept three months",
        ));
    }
    if let Some(p) = &config.audit.geoip_database {
        if !p.is_file() {
            errors.push(loc.at(
                "audit.geoip_database",
                format!(
                    "{} is not a readable file; give the path of a MaxMind-format city database, or remove the key",
                    p.display()
                ),
            ));
        }
    }
    let mut seen = HashSet::new();
    for (i, l) in config.listeners.iter().enumerate() {
        if !l.role.is_smtp() {
            // A key that would do nothing is refused, not ignored: something else was meant.
            for key in SMTP_LISTENER_KEYS {
                let path = format!("listener.{i}.{key}");
                if loc.has(&path) {
                    errors.push(loc.at(
                        &path,
                        "is an SMTP setting; an https listener has none: remove it (HTTP limits are in [http])",
                    ));
                }
            }
        }
        if l.role != Role::Admin {
            for key in ["allow_remote", "allow"] {
                let path = format!("listener.{i}.{key}");
                if loc.has(&path) {
                    errors.push(loc.at(&path, "is an admin listener setting; remove it here"));
                }
            }
        } else if !l.address.ip().is_loopback() && (!l.allow_remote || l.allow.is_empty()) {
            // The console off loopback only by two deliberate settings: the address, and a
            // list of the networks administrators work from (the audit reports it).
            errors.push(loc.at(
                &format!("listener.{i}.address"),
                format!(
                    "{} is not a loopback address: the admin console listens elsewhere only with allow_remote = true and allow = [\"<network>\", ...] naming the administrators' networks",
                    l.address
                ),
            ));
        }
        if l.address.port() != 0 && !seen.insert(l.address) {
            errors.push(loc.at(
                &format!("listener.{i}.address"),
                format!(
                    "{} is configured twice; give each listener its own address",
                    l.address
                ),
            ));
        }
    }
}

/// NC-2.1.8: the HTTPS limits. Zero is impossible by type; what is left is the header size.
fn http(config: &Config, loc: &Locator<'_>, errors: &mut Vec<ConfigError>) {
    let header = config.http.max_header_bytes.get();
    if !HEADER_BYTES_RANGE.contains(&header) {
        errors.push(loc.at(
            "http.max_header_bytes",
            format!(
                "must be from {} to {} bytes; 16384 suits browsers",
                HEADER_BYTES_RANGE.start(),
                HEADER_BYTES_RANGE.end()
            ),
        ));
    }
}

/// NC-2.1.8: a limit that cannot mean what was meant is an error, not a silent block or no-op.
fn rate_limits(config: &Config, loc: &Locator<'_>, errors: &mut Vec<ConfigError>) {
    let mut seen = HashSet::new();
    for (i, r) in config.rate_limits.iter().enumerate() {
        let key = |k: &str| format!("rate_limit.{i}.{k}");
        if r.limit == 0 {
            errors.push(loc.at(
                &key("limit"),
                "must be at least 1 (0 would refuse everything); to loosen a limit, raise it",
            ));
        }
        if r.window_secs == 0 {
            errors.push(loc.at(&key("window_secs"), "must be at least 1 second"));
        }
        if r.what == RateWhat::Connections && matches!(r.scope, RateScope::User | RateScope::Domain)
        {
            errors.push(loc.at(
                &key("what"),
                "connections are counted per `ip` or `global` only; change scope or what",
            ));
        }
        if !seen.insert((r.scope, r.what)) {
            errors.push(
                loc.at(
                    &key("scope"),
                    format!(
                        "a second limit on {:?} {:?}; keep one [[rate_limit]] per scope and what",
                        r.scope, r.what
                    )
                    .to_lowercase(),
                ),
            );
        }
    }
}

fn delivery(config: &Config, loc: &Locator<'_>, errors: &mut Vec<ConfigError>) {
    let d = &config.delivery;
    if d.port == 0 {
        errors.push(loc.at(
            "delivery.port",
            "must be a port from 1 to 65535 (25 on the Internet)",
        ));
    }
    if d.tls_reports_hour > 23 {
        errors.push(loc.at(
            "delivery.tls_reports_hour",
            "must be an hour from 0 to 23 (UTC)",
        ));
    }
    if d.retry_secs.is_empty() || d.retry_secs.contains(&0) {
        errors.push(loc.at(
            "delivery.retry_secs",
            "must list at least one interval, each above 0 seconds",
        ));
    }
    for (key, v) in [
        ("delivery.lifetime_secs", d.lifetime_secs),
        ("delivery.timeout_secs", d.timeout_secs),
        ("delivery.max_connections", u64::from(d.max_connections)),
        (
            "delivery.max_connections_per_domain",
            u64::from(d.max_connections_per_domain),
        ),
        ("dns.timeout_secs", config.dns.timeout_secs),
    ] {
        if v == 0 {
            errors.push(loc.at(key, "must be at least 1"));
        }
    }
    if let Some(s) = &d.smarthost {
        if s.port == 0 {
            errors.push(loc.at(
                "delivery.smarthost.port",
                "must be a port from 1 to 65535 (587 for STARTTLS, 465 for implicit TLS)",
            ));
        }
        if s.username.is_some() != s.password_file.is_some() {
            errors.push(loc.at(
                "delivery.smarthost.password_file",
                "username and password_file go together; set both or neither",
            ));
        }
        if s.client_cert.is_some() != s.client_key.is_some() {
            errors.push(loc.at(
                "delivery.smarthost.client_key",
                "client_cert and client_key go together; set both or neither",
            ));
        }
        for (key, p) in [
            ("delivery.smarthost.client_cert", &s.client_cert),
            ("delivery.smarthost.client_key", &s.client_key),
        ] {
            if let Some(p) = p.as_ref().filter(|p| !p.is_file()) {
                errors.push(loc.at(key, format!("{} is not a readable file", p.display())));
            }
        }
    }
}

/// The checks' own settings, validated here so that a bad one is reported like any other key
/// instead of surfacing at `serve` as one string without a line.
fn checks(config: &Config, loc: &Locator<'_>, errors: &mut Vec<ConfigError>) {
    let checks = &config.checks;
    let mut seen = HashSet::new();
    for (i, name) in checks.disabled.iter().enumerate() {
        if !seen.insert(*name) {
            errors.push(loc.at(
                &format!("checks.disabled.{i}"),
                format!("`{name}` is listed twice; list each check once"),
            ));
        }
    }
    for (key, message) in rampart_checks::dlp::config_problems(&checks.dlp) {
        errors.push(loc.at(&format!("checks.dlp.{key}"), message));
    }
    // AL-1.2: spam rule files, each bad line named by file, line and rule.
    for (key, message) in rampart_checks::spam::rules::config_problems(&checks.spam.rule_files) {
        errors.push(loc.at(&format!("checks.spam.{key}"), message));
    }
    // AL-1.2: Rspamd's addresses, and its controller's password file.
    if let Some(r) = &checks.spam.rspamd {
        for (key, message) in r.problems() {
            errors.push(loc.at(&format!("checks.spam.rspamd.{key}"), message));
        }
    }
    // AL-2.4: the authentication check's own settings (the ARC key is read here too).
    if checks.enabled(CheckName::Authentication) {
        for (key, message) in checks.authentication.problems() {
            errors.push(loc.at(&format!("checks.authentication.{key}"), message));
        }
    }
}

/// Settings that weaken the server: it starts, and says so loudly.
fn warnings(config: &Config, loc: &Locator<'_>) -> Vec<Warning> {
    let mut warnings = Vec::new();
    let checks = &config.checks;
    for (i, name) in checks.disabled.iter().enumerate() {
        warnings.push(Warning(loc.at(
            &format!("checks.disabled.{i}"),
            format!("the {name} check is switched off; mail is not inspected by it and the audit reports it"),
        )));
    }
    // A check's own `enabled = false` switches it off as surely as `disabled` does.
    for (key, on) in [
        ("checks.urls.enabled", checks.urls.enabled),
        ("checks.spam.enabled", checks.spam.enabled),
        ("checks.dlp.enabled", checks.dlp.enabled),
        ("checks.external.enabled", checks.external.enabled),
        ("checks.dlp.ssn.enabled", checks.dlp.ssn.enabled),
        (
            "checks.dlp.payment_card.enabled",
            checks.dlp.payment_card.enabled,
        ),
        (
            "checks.dlp.aba_routing.enabled",
            checks.dlp.aba_routing.enabled,
        ),
    ] {
        if !on {
            warnings.push(Warning(loc.at(
                key,
                "is false: this check is switched off; the audit reports it",
            )));
        }
    }
    // AL-1.3: a feed file that is not there lists nothing; the check runs as if it were empty.
    if checks.enabled(CheckName::Urls) && checks.urls.enabled {
        for (i, feed) in checks.urls.feeds.iter().enumerate() {
            if !feed.is_file() {
                warnings.push(Warning(loc.at(
                    &format!("checks.urls.feeds.{i}"),
                    format!(
                        "feed file {} does not exist (yet); until it does, it lists nothing",
                        feed.display()
                    ),
                )));
            }
        }
    }
    // AL-1.2: an allow rule on the sender's address that a forged From would earn.
    for (key, message) in rampart_checks::spam::rules::config_warnings(&checks.spam.rule_files) {
        warnings.push(Warning(loc.at(&format!("checks.spam.{key}"), message)));
    }
    // Without the reserve, a nearly full disk is met only by writes that fail (452 4.3.1 after
    // the data, not at MAIL), and the store's own writes may find no room.
    if config.limits.min_free_space == 0 {
        warnings.push(Warning(loc.at(
            "limits.min_free_space",
            "is 0: MAIL is not refused when the data directory's filesystem is nearly full; the audit reports it",
        )));
    }
    // NC-2.3.2: fail_open lets mail through unscanned whenever clamd is unavailable.
    if checks.antivirus.fail_open && checks.enabled(CheckName::Antivirus) {
        warnings.push(Warning(loc.at(
            "checks.antivirus.fail_open",
            "is true: mail passes unscanned while clamd is down (breaks NC-2.3.2); the audit reports it",
        )));
    }
    // NC-2.4.4: signatures are to be updated weekly; a longer allowance is reported.
    if config.freshness.above_allowed() {
        warnings.push(Warning(loc.at(
            "freshness.max_age_days",
            format!(
                "is {}: more than {} days lets stale signatures and feeds pass unreported (breaks NC-2.4.4); every freshness check reports it",
                config.freshness.max_age_days,
                crate::integrity::MAX_AGE_DAYS_ALLOWED
            ),
        )));
    }
    warnings
}

/// A host name of at least two labels, LDH rules (RFC 1123).
pub fn is_hostname(name: &str) -> bool {
    name.len() <= 253
        && name.contains('.')
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}
