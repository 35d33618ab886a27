//! Records written as text, one per line: what the `rampart-testdns` binary reads from
//! `--records FILE`. A small subset of the zone-file idea, not RFC 1035 master-file syntax.
//!
//! ```text
//! # A comment; also allowed after a record.
//! remote.test       TXT     "v=spf1 ip4:127.0.0.0/8 -all"
//! key._domainkey.x  TXT     "v=DKIM1; k=rsa; " "p=MIIB..."   # several strings, kept apart
//! mx.remote.test    A       127.0.0.1
//! mx.remote.test    AAAA    ::1
//! remote.test       MX      10 mx.remote.test
//! nomail.test       NULLMX                                   # MX 0 . (RFC 7505)
//! www.remote.test   CNAME   mx.remote.test
//! 127.0.0.1         PTR     mx.remote.test                   # the owner is the address
//! ```
//!
//! Types are case-insensitive. TXT values are quoted; inside quotes `\"` is a quote and `\\` a
//! backslash. Names may end with a dot or not.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_server::proto::rr::Name;

use crate::Record;

/// What is wrong with one line of a records file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Line number, from 1.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Parses a whole file; stops at the first bad line.
pub fn parse(text: &str) -> Result<Vec<Record>, ParseError> {
    let mut records = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let parsed = parse_line(line).map_err(|message| ParseError {
            line: index + 1,
            message,
        })?;
        records.extend(parsed);
    }
    Ok(records)
}

/// One line: `None` when it is blank or a comment.
fn parse_line(line: &str) -> Result<Option<Record>, String> {
    let tokens = tokenize(line)?;
    let Some((owner, rest)) = tokens.split_first() else {
        return Ok(None);
    };
    let owner = word(owner, "the name")?;
    let Some((rtype, args)) = rest.split_first() else {
        return Err(format!("`{owner}` has no record type"));
    };
    let rtype = word(rtype, "the record type")?.to_ascii_uppercase();
    let record = match rtype.as_str() {
        "TXT" => {
            let name = name(owner)?;
            if args.is_empty() {
                return Err("TXT needs at least one quoted string".into());
            }
            let strings = args
                .iter()
                .map(|t| match t {
                    Token::Quoted(s) => Ok(s.clone()),
                    Token::Word(w) => Err(format!("TXT strings are quoted: `\"{w}\"`")),
                })
                .collect::<Result<Vec<String>, String>>()?;
            Record::txt(&name, strings)
        }
        "A" => {
            let [ip] = arity(args, "A", "an IPv4 address")?;
            let ip: Ipv4Addr = ip
                .parse()
                .map_err(|_| format!("`{ip}` is not an IPv4 address"))?;
            Record::a(&name(owner)?, ip)
        }
        "AAAA" => {
            let [ip] = arity(args, "AAAA", "an IPv6 address")?;
            let ip: Ipv6Addr = ip
                .parse()
                .map_err(|_| format!("`{ip}` is not an IPv6 address"))?;
            Record::aaaa(&name(owner)?, ip)
        }
        "MX" => {
            let [preference, exchange] = arity(args, "MX", "a preference and a host")?;
            let preference: u16 = preference
                .parse()
                .map_err(|_| format!("MX preference `{preference}` is not a number 0-65535"))?;
            Record::mx(&name(owner)?, preference, &name(exchange)?)
        }
        "NULLMX" => {
            let [] = arity(args, "NULLMX", "nothing")?;
            Record::null_mx(&name(owner)?)
        }
        "CNAME" => {
            let [target] = arity(args, "CNAME", "a target name")?;
            Record::cname(&name(owner)?, &name(target)?)
        }
        "PTR" => {
            let [host] = arity(args, "PTR", "a host name")?;
            let ip: IpAddr = owner
                .parse()
                .map_err(|_| format!("a PTR line starts with an IP address, not `{owner}`"))?;
            Record::ptr(ip, &name(host)?)
        }
        other => {
            return Err(format!(
                "unknown record type `{other}` (TXT, A, AAAA, MX, NULLMX, CNAME or PTR)"
            ))
        }
    };
    Ok(Some(record))
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
}

/// Splits a line at white space; `"..."` is one token; `#` outside quotes ends the line.
fn tokenize(line: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '#' {
            break;
        } else if c == '"' {
            chars.next();
            let mut value = String::new();
            loop {
                match chars.next() {
                    None => return Err("a quoted string is not closed".into()),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(e @ ('"' | '\\')) => value.push(e),
                        Some(e) => {
                            return Err(format!("unknown escape `\\{e}` (only \\\" and \\\\)"))
                        }
                        None => return Err("a quoted string is not closed".into()),
                    },
                    Some(other) => value.push(other),
                }
            }
            tokens.push(Token::Quoted(value));
        } else {
            let mut value = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '"' || c == '#' {
                    break;
                }
                value.push(c);
                chars.next();
            }
            tokens.push(Token::Word(value));
        }
    }
    Ok(tokens)
}

fn word<'a>(token: &'a Token, what: &str) -> Result<&'a str, String> {
    match token {
        Token::Word(w) => Ok(w),
        Token::Quoted(q) => Err(format!("{what} must not be quoted: `\"{q}\"`")),
    }
}

/// The arguments after the type, as exactly `N` unquoted words.
fn arity<'a, const N: usize>(
    args: &'a [Token],
    rtype: &str,
    wants: &str,
) -> Result<[&'a str; N], String> {
    let words = args
        .iter()
        .map(|t| word(t, "an argument"))
        .collect::<Result<Vec<&str>, String>>()?;
    words
        .try_into()
        .map_err(|got: Vec<&str>| format!("{rtype} takes {wants}, got `{}`", got.join(" ")))
}

/// A DNS name as written (checked, so that the server never sees one it cannot encode).
fn name(text: &str) -> Result<String, String> {
    Name::from_str_relaxed(text)
        .map(|_| text.to_string())
        .map_err(|e| format!("`{text}` is not a DNS name: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_record_type() {
        let text = "\
# comment line

remote.test   txt  \"v=spf1 ip4:127.0.0.0/8 -all\"   # trailing comment
k._domainkey.remote.test TXT \"a \\\"b\\\" \\\\ c\" \"#not a comment\"
mx.remote.test. A 127.0.0.1
mx.remote.test AAAA ::1
remote.test MX 10 mx.remote.test
nomail.test NULLMX
www.remote.test CNAME mx.remote.test
127.0.0.1 PTR mx.remote.test
";
        let records = parse(text).unwrap();
        assert_eq!(
            records,
            vec![
                Record::txt("remote.test", "v=spf1 ip4:127.0.0.0/8 -all"),
                Record::txt(
                    "k._domainkey.remote.test",
                    ["a \"b\" \\ c", "#not a comment"]
                ),
                Record::a("mx.remote.test.", Ipv4Addr::LOCALHOST),
                Record::aaaa("mx.remote.test", Ipv6Addr::LOCALHOST),
                Record::mx("remote.test", 10, "mx.remote.test"),
                Record::null_mx("nomail.test"),
                Record::cname("www.remote.test", "mx.remote.test"),
                Record::ptr(IpAddr::V4(Ipv4Addr::LOCALHOST), "mx.remote.test"),
            ]
        );
        assert_eq!(parse("").unwrap(), vec![]);
    }

    #[test]
    fn bad_lines_name_their_number_and_problem() {
        let cases = [
            ("a.test", "has no record type"),
            ("a.test TXT v=spf1", "quoted"),
            ("a.test TXT", "at least one quoted string"),
            ("a.test TXT \"open", "not closed"),
            ("a.test TXT \"\\n\"", "unknown escape"),
            ("a.test A 1.2.3", "not an IPv4 address"),
            ("a.test A 1.2.3.4 5.6.7.8", "A takes an IPv4 address"),
            ("a.test AAAA 1.2.3.4", "not an IPv6 address"),
            ("a.test MX host", "MX takes a preference and a host"),
            ("a.test MX 70000 host", "not a number"),
            ("a.test NULLMX 0", "NULLMX takes nothing"),
            ("a.test PTR host", "starts with an IP address"),
            ("a.test SRV 1 2 3 host", "unknown record type `SRV`"),
            ("a..test A 1.2.3.4", "not a DNS name"),
            ("\"a.test\" A 1.2.3.4", "the name must not be quoted"),
        ];
        for (line, wanted) in cases {
            let err = parse(&format!("# first\n\n{line}\n")).unwrap_err();
            assert_eq!(err.line, 3, "{line}");
            assert!(err.message.contains(wanted), "{line}: {err}");
        }
    }
}
