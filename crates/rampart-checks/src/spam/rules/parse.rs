//! The rule file format (AL-1.2), one statement per line; `#` starts a comment line.
//!
//! ```text
//! header   NAME [READING] FIELD =~ REGEX    a field's decoded value matches (any instance)
//! header   NAME [READING] FIELD !~ REGEX    the field is present and no instance matches
//! header   NAME exists FIELD | absent FIELD
//! body     NAME [READING] REGEX             the body text as a person reads it
//! uri      NAME REGEX                       any URL found in the message
//! raw      NAME REGEX                       the raw message (first 512 KiB)
//! meta     NAME EXPRESSION                  over other rules' names (see `meta`)
//! check    NAME FUNCTION [OP NUMBER]        a built-in measure (see `facts::Func`)
//! score    NAME NUMBER                      points when it matches (default 1)
//! describe NAME TEXT                        what the trace and the documentation say
//! ```
//!
//! Regular expressions are the `regex` crate's (linear time), each bounded in size; `(?i)`
//! makes one case-insensitive. READING `deobf` reads the text through [`super::obfuscate`]
//! first (lower case, `V1AGRA` as `viagra`); `obfuscated` too, but only a match that the plain
//! text does not show counts (the word was disguised); `addr`, on header rules over an address
//! field, reads each address of the field (`local@domain`, lower case) instead of its text. The
//! field `ALL` is every header field as `Name: value` lines.

use regex::bytes::RegexBuilder as BytesRegexBuilder;
use regex::RegexBuilder;

use super::facts::Func;
use super::meta::{self, Cmp};
use super::{HeaderTest, Reading, Test};

/// Compiled size bound for each regular expression (and for its lazy DFA).
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Longest rule name.
pub const MAX_NAME: usize = 64;
/// Longest line.
pub const MAX_LINE: usize = 8 * 1024;

/// One statement of a rule file.
#[derive(Debug)]
pub enum Statement {
    Define(String, Test),
    Score(String, f32),
    Describe(String, String),
}

/// Rule names: a letter or `_` first, then letters, digits and `_`.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME
        && s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses one non-empty, non-comment line. The error names the rule when it got that far.
pub fn statement(line: &str) -> Result<Statement, (Option<String>, String)> {
    if line.len() > MAX_LINE {
        return Err((None, format!("line longer than {MAX_LINE} bytes")));
    }
    let (kind, rest) = word(line);
    let (name, rest) = word(rest);
    if name.is_empty() {
        return Err((None, format!("`{kind}` needs a rule name")));
    }
    if !valid_name(name) {
        return Err((
            None,
            format!("`{name}` is not a rule name (letters, digits and _, at most {MAX_NAME})"),
        ));
    }
    let named = |m: String| (Some(name.to_string()), m);
    let test = match kind {
        "header" => Test::Header(header(rest).map_err(named)?),
        "body" => {
            let (reading, re) = reading(rest);
            if reading == Reading::Addr {
                return Err(named(
                    "`addr` reads address header fields only: use it in a `header` rule".into(),
                ));
            }
            Test::Body {
                re: regex(re).map_err(named)?,
                reading,
                lower: match reading {
                    Reading::Plain => for_lower_case(re),
                    _ => None,
                },
            }
        }
        "uri" => Test::Uri(regex(rest).map_err(named)?),
        "raw" => Test::Raw(
            BytesRegexBuilder::new(nonempty(rest).map_err(named)?)
                .size_limit(REGEX_SIZE_LIMIT)
                .dfa_size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| named(regex_error(&e.to_string())))?,
        ),
        "meta" => Test::Meta(meta::parse(rest).map_err(named)?),
        "check" => check(rest).map_err(named)?,
        "score" => {
            let n: f32 = rest
                .trim()
                .parse()
                .ok()
                .filter(|n: &f32| n.is_finite())
                .ok_or_else(|| named(format!("score `{}` is not a number", rest.trim())))?;
            return Ok(Statement::Score(name.to_string(), n));
        }
        "describe" => return Ok(Statement::Describe(name.to_string(), rest.trim().to_string())),
        other => {
            return Err((
                None,
                format!(
                    "unknown statement `{other}` (header, body, uri, raw, meta, check, score, describe)"
                ),
            ))
        }
    };
    Ok(Statement::Define(name.to_string(), test))
}

fn word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    (&s[..end], &s[end..])
}

fn reading(s: &str) -> (Reading, &str) {
    match word(s) {
        ("deobf", rest) => (Reading::Deobf, rest),
        ("obfuscated", rest) => (Reading::Obfuscated, rest),
        ("addr", rest) => (Reading::Addr, rest),
        _ => (Reading::Plain, s),
    }
}

fn nonempty(s: &str) -> Result<&str, String> {
    let s = s.trim();
    if s.is_empty() {
        Err("a regular expression is missing".into())
    } else {
        Ok(s)
    }
}

/// For a case-insensitive body expression (`(?i)` then plain ASCII), the same expression
/// without the flag, to be searched in the body in lower case ([`super::lower_case`]); `None`
/// when the two could disagree.
///
/// Why: the regex crate finds a case-insensitive alternation of phrases by first looking for
/// short prefixes in every mix of cases, and on ordinary prose those turn up at almost every
/// word (issue 23: one default rule took 146 µs on a 15 KB letter, 2.5 µs this way).
///
/// When they agree: every letter of the expression is a lower-case ASCII letter, which under
/// `(?i)` matches itself and its capital only (the body is NFKC-normalised, so the Kelvin sign
/// and the long s, the other two members of those case classes, are gone), and the lower-case
/// body has exactly those capitals lowered. Left out, so never rewritten: capitals anywhere in
/// the expression (`\B`, `\D`, `\P{..}`, `\W` …), Unicode classes (`\p{..}`) and POSIX
/// classes (`[:upper:]`) that name a case, escapes that spell a character by number (`\x41`,
/// `\u{..}`), flag groups other than `(?:`, which could turn case-sensitivity back on, and
/// anything not ASCII.
pub fn for_lower_case(pattern: &str) -> Option<regex::Regex> {
    let rest = pattern.trim().strip_prefix("(?i)")?;
    let ok = rest.is_ascii()
        && !rest.bytes().any(|b| b.is_ascii_uppercase())
        && !["\\p", "[:", "\\x", "\\u"].iter().any(|s| rest.contains(s))
        && rest
            .match_indices("(?")
            .all(|(i, _)| rest[i..].starts_with("(?:"));
    if !ok {
        return None;
    }
    regex(rest).ok()
}

fn regex(s: &str) -> Result<regex::Regex, String> {
    RegexBuilder::new(nonempty(s)?)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| regex_error(&e.to_string()))
}

/// regex's messages span several lines (the pattern, a caret, the cause): keep the cause.
fn regex_error(text: &str) -> String {
    let cause = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("error:"))
        .map(|l| l.trim().trim_start_matches("error:").trim().to_string())
        .unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "));
    format!("not a valid regular expression ({cause})")
}

fn field_name(f: &str) -> Result<String, String> {
    if f.is_empty() || !f.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
        return Err(format!("`{f}` is not a header field name"));
    }
    Ok(f.to_ascii_lowercase())
}

fn header(rest: &str) -> Result<HeaderTest, String> {
    let (first, after) = word(rest);
    match first {
        "exists" | "absent" => {
            let (field, tail) = word(after);
            if !tail.trim().is_empty() {
                return Err(format!("unexpected `{}` after the field name", tail.trim()));
            }
            let field = field_name(field)?;
            Ok(if first == "exists" {
                HeaderTest::Exists(field)
            } else {
                HeaderTest::Absent(field)
            })
        }
        _ => {
            let (reading, rest) = reading(rest);
            let (field, after) = word(rest);
            let field = field_name(field)?;
            if reading == Reading::Addr && !super::ADDRESS_FIELDS.contains(&field.as_str()) {
                return Err(format!(
                    "`addr` reads address fields only ({}), not `{field}`",
                    super::ADDRESS_FIELDS.join(", ")
                ));
            }
            let (op, re) = word(after);
            let negate = match op {
                "=~" => false,
                "!~" => true,
                _ => {
                    return Err(format!(
                        "expected `=~` or `!~` after `{field}`, or `exists FIELD` / `absent FIELD`"
                    ))
                }
            };
            Ok(HeaderTest::Match {
                field,
                re: regex(re)?,
                negate,
                reading,
            })
        }
    }
}

fn check(rest: &str) -> Result<Test, String> {
    let (f, after) = word(rest);
    let func = Func::by_name(f).ok_or_else(|| {
        let known: Vec<&str> = Func::ALL.iter().map(|(n, _)| *n).collect();
        format!("unknown function `{f}` (one of {})", known.join(", "))
    })?;
    let (op, after) = word(after);
    if op.is_empty() {
        return Ok(Test::Check(func, Cmp::Gt, 0.0));
    }
    let cmp = Cmp::parse(op).ok_or_else(|| format!("`{op}` is not a comparison"))?;
    let (n, tail) = word(after);
    let n: f64 = n
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite())
        .ok_or_else(|| format!("`{n}` is not a number"))?;
    if !tail.trim().is_empty() {
        return Err(format!("unexpected `{}` after the number", tail.trim()));
    }
    Ok(Test::Check(func, cmp, n))
}
