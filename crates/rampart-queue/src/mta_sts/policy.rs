//! The MTA-STS policy file (RFC 8461 section 3.2) and what it allows: parsing and MX matching.
//! No I/O here.

/// What a policy asks of senders (RFC 8461 section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// TLS with a valid certificate for a listed MX, or no delivery.
    Enforce,
    /// Deliver as usual, and report what would have failed.
    Testing,
    /// No policy.
    None,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        }
    }
}

/// A parsed policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    /// MX patterns: a host name, or `*.` and a name (one leftmost label).
    pub mx: Vec<String>,
    /// Seconds the policy may be cached.
    pub max_age: u64,
    /// The policy's lines as served, for reports (RFC 8460 section 4.4 `policy-string`).
    pub lines: Vec<String>,
}

/// RFC 8461 section 3.2: max_age is at most 31557600 seconds (a year).
pub const MAX_AGE_LIMIT: u64 = 31_557_600;

impl Policy {
    /// Parses a policy file. Lines end in CRLF or LF; unknown keys are ignored (section 3.2);
    /// `version`, `mode` and `max_age` are required, and `mx` unless the mode is `none`.
    pub fn parse(text: &str) -> Result<Policy, String> {
        let mut version = None;
        let mut mode = None;
        let mut max_age = None;
        let mut mx = Vec::new();
        let mut lines = Vec::new();
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            lines.push(line.to_string());
            let Some((key, value)) = line.split_once(':') else {
                return Err(format!("a line without a key: {line:?}"));
            };
            let value = value.trim();
            match key.trim() {
                "version" => version = Some(value.to_string()),
                "mode" => {
                    mode = Some(match value {
                        "enforce" => Mode::Enforce,
                        "testing" => Mode::Testing,
                        "none" => Mode::None,
                        other => return Err(format!("unknown mode {other:?}")),
                    })
                }
                "max_age" => {
                    let n: u64 = value
                        .parse()
                        .map_err(|_| format!("max_age is not a number: {value:?}"))?;
                    max_age = Some(n.min(MAX_AGE_LIMIT));
                }
                "mx" => {
                    if value.is_empty() || value.contains(char::is_whitespace) {
                        return Err(format!("bad mx pattern {value:?}"));
                    }
                    mx.push(value.trim_end_matches('.').to_ascii_lowercase())
                }
                _ => {} // section 3.2: extensions are ignored
            }
        }
        if version.as_deref() != Some("STSv1") {
            return Err("version is not STSv1".into());
        }
        let mode = mode.ok_or("no mode")?;
        let max_age = max_age.ok_or("no max_age")?;
        if mx.is_empty() && mode != Mode::None {
            return Err("no mx".into());
        }
        Ok(Policy {
            mode,
            mx,
            max_age,
            lines,
        })
    }

    /// Whether `host` is one of the policy's MX hosts (RFC 8461 section 4.1): equal, or one
    /// label more than a `*.` pattern (the wildcard stands for the leftmost label only).
    pub fn allows_mx(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx.iter().any(|p| match p.strip_prefix("*.") {
            Some(suffix) => host
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
            None => *p == host,
        })
    }
}

/// The `_mta-sts` TXT record (RFC 8461 section 3.1): `v=STSv1; id=...`. Returns the id.
pub fn parse_txt(txt: &str) -> Option<String> {
    let mut fields = txt.split(';').map(str::trim).filter(|f| !f.is_empty());
    if fields.next()? != "v=STSv1" {
        return None;
    }
    let id = fields.find_map(|f| f.strip_prefix("id="))?;
    // id: 1 to 32 letters and digits.
    (!id.is_empty() && id.len() <= 32 && id.chars().all(|c| c.is_ascii_alphanumeric()))
        .then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENFORCE: &str = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n";

    #[test]
    fn rfc8461_3_2_a_policy_parses() {
        let p = Policy::parse(ENFORCE).unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.mx, vec!["mail.example.com", "*.example.net"]);
        assert_eq!(p.max_age, 604_800);
        assert_eq!(p.lines.len(), 5);
        // Unknown keys are extensions, ignored; LF alone ends a line too.
        let p = Policy::parse("version: STSv1\nmode: testing\nfoo: bar\nmx: a.b\nmax_age: 9\n");
        assert_eq!(p.unwrap().mode, Mode::Testing);
    }

    #[test]
    fn rfc8461_3_2_bad_policies_are_refused() {
        for bad in [
            "",
            "version: STSv2\nmode: enforce\nmx: a.b\nmax_age: 1\n",
            "version: STSv1\nmode: enforce\nmax_age: 1\n",
            "version: STSv1\nmode: strict\nmx: a.b\nmax_age: 1\n",
            "version: STSv1\nmode: enforce\nmx: a.b\n",
            "version: STSv1\nmode: enforce\nmx: a.b\nmax_age: soon\n",
            "<html>not a policy</html>",
        ] {
            assert!(Policy::parse(bad).is_err(), "{bad:?}");
        }
        // mode none needs no mx.
        assert!(Policy::parse("version: STSv1\nmode: none\nmax_age: 1\n").is_ok());
    }

    #[test]
    fn rfc8461_4_1_wildcards_match_the_leftmost_label_only() {
        let p = Policy::parse(ENFORCE).unwrap();
        assert!(p.allows_mx("mail.example.com"));
        assert!(p.allows_mx("MAIL.Example.COM."));
        assert!(p.allows_mx("mx1.example.net"));
        assert!(!p.allows_mx("example.net"), "the wildcard needs a label");
        assert!(!p.allows_mx("a.mx1.example.net"), "one label only");
        assert!(!p.allows_mx("other.example.com"));
        assert!(!p.allows_mx("mail.example.com.evil.test"));
    }

    #[test]
    fn rfc8461_3_1_the_txt_record_gives_the_id() {
        assert_eq!(
            parse_txt("v=STSv1; id=20160831085700Z;").as_deref(),
            Some("20160831085700Z")
        );
        assert_eq!(parse_txt("v=STSv1;id=abc").as_deref(), Some("abc"));
        assert_eq!(parse_txt("v=spf1 -all"), None);
        assert_eq!(parse_txt("v=STSv1; id=bad-id"), None);
        assert_eq!(parse_txt("v=STSv1;"), None);
    }
}
