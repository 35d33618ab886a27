//! Applies the [`Modification`]s of a decision to a raw RFC 5322 message.
//!
//! - `AddHeader`: added at the top, in the order given (the first ends up first). CR and LF in
//!   the value are replaced by spaces and an invalid field name is dropped: no header injection.
//! - `RemoveHeader`: every field with that name (case-insensitive) whose unfolded, trimmed value
//!   is one of the listed values; an empty list removes nothing.
//! - `SubjectPrefix`: `prefix + " "` before the Subject's value; a Subject is added when there
//!   is none. Never doubled: a subject that already carries the prefix (after `Re:`/`Fwd:`
//!   markers, see [`crate::external::already_tagged`], RFC 2047 encoded words decoded) is left
//!   alone, so applying twice (receive and delivery) is harmless.
//!
//! The header section is rewritten with CRLF line endings; the body is copied byte for byte.
//!
//! A banner (AL-1.6, optional) is applied separately by [`apply_banner`], because
//! [`Modification`] has no banner variant. It is inserted only into a single-part `text/plain`
//! message in `7bit`/`8bit` (or no) transfer encoding; multipart, HTML, base64 or
//! quoted-printable bodies are left unchanged and [`BannerSkipped`] says why.

use crate::external::already_tagged;
use crate::Modification;

/// One header field as it stands in the message.
struct Field {
    /// The name as written.
    name: String,
    /// Every line of the field without line endings (continuation lines included).
    lines: Vec<Vec<u8>>,
}

impl Field {
    /// The unfolded value, trimmed.
    fn value(&self) -> String {
        let mut v = Vec::new();
        for (i, line) in self.lines.iter().enumerate() {
            let part = if i == 0 {
                line.splitn(2, |&b| b == b':').nth(1).unwrap_or(&[])
            } else {
                line.as_slice()
            };
            v.extend_from_slice(part);
        }
        String::from_utf8_lossy(&v).trim().to_string()
    }
}

/// Header fields (and stray lines, as nameless fields) and where the body starts.
fn split(raw: &[u8]) -> (Vec<Field>, &[u8]) {
    let mut fields: Vec<Field> = Vec::new();
    let mut pos = 0;
    while pos < raw.len() {
        let end = raw[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |i| pos + i + 1);
        let mut line = &raw[pos..end];
        pos = end;
        while let Some(l) = line
            .strip_suffix(b"\n")
            .or_else(|| line.strip_suffix(b"\r"))
        {
            line = l;
        }
        if line.is_empty() {
            return (fields, &raw[pos..]);
        }
        if (line[0] == b' ' || line[0] == b'\t') && !fields.is_empty() {
            fields.last_mut().unwrap().lines.push(line.to_vec());
            continue;
        }
        let name = match line.iter().position(|&b| b == b':') {
            Some(i) => String::from_utf8_lossy(&line[..i]).trim().to_string(),
            None => String::new(),
        };
        fields.push(Field {
            name,
            lines: vec![line.to_vec()],
        });
    }
    (fields, &[])
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| (33..=126).contains(&b) && b != b':')
}

/// A header value safe to write: proper folds (CRLF then space or tab) are kept, any other CR or
/// LF becomes a space, so a value can never start a header field of its own.
fn one_line(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, part) in value.trim().split("\r\n").enumerate() {
        let part = part.replace(['\r', '\n'], " ");
        if i > 0 {
            if part.starts_with([' ', '\t']) && !part.trim().is_empty() {
                out.push_str("\r\n");
            } else {
                out.push(' ');
            }
        }
        out.push_str(&part);
    }
    out
}

/// Decodes RFC 2047 encoded words of a Subject value.
fn decoded_subject(value: &str) -> String {
    let raw = format!("Subject: {value}\r\n\r\n");
    mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .and_then(|m| m.subject().map(str::to_string))
        .unwrap_or_else(|| value.to_string())
}

/// Rewrites `raw` with `mods` applied (see the module documentation for each kind).
pub fn apply_modifications(raw: &[u8], mods: &[Modification]) -> Vec<u8> {
    let (mut fields, body) = split(raw);
    for m in mods {
        match m {
            Modification::RemoveHeader { name, values } => fields.retain(|f| {
                !(f.name.eq_ignore_ascii_case(name) && values.iter().any(|v| v.trim() == f.value()))
            }),
            Modification::SubjectPrefix(prefix) => {
                let prefix = one_line(prefix);
                if prefix.is_empty() {
                    continue;
                }
                match fields
                    .iter_mut()
                    .find(|f| f.name.eq_ignore_ascii_case("subject"))
                {
                    Some(f) => {
                        if already_tagged(&decoded_subject(&f.value()), &prefix) {
                            continue;
                        }
                        let first = &f.lines[0];
                        let colon = first.iter().position(|&b| b == b':').unwrap_or(0);
                        let rest = &first[colon + 1..];
                        let rest = &rest[rest
                            .iter()
                            .take_while(|&&b| b == b' ' || b == b'\t')
                            .count()..];
                        let mut line = format!("{}: {prefix}", f.name).into_bytes();
                        if !rest.is_empty() {
                            line.push(b' ');
                            line.extend_from_slice(rest);
                        }
                        f.lines[0] = line;
                    }
                    None => fields.push(Field {
                        name: "Subject".into(),
                        lines: vec![format!("Subject: {prefix}").into_bytes()],
                    }),
                }
            }
            Modification::AddHeader { .. } => {}
        }
    }
    let mut out = Vec::with_capacity(raw.len() + 256);
    for m in mods {
        if let Modification::AddHeader { name, value } = m {
            if valid_name(name) {
                out.extend_from_slice(format!("{name}: {}\r\n", one_line(value)).as_bytes());
            }
        }
    }
    write_fields(&mut out, &fields);
    out.extend_from_slice(body);
    out
}

/// Why a banner was not inserted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BannerSkipped {
    /// Multipart, HTML or another non-`text/plain` body.
    NotPlainText(String),
    /// base64 or quoted-printable: the body would have to be re-encoded.
    Encoded(String),
    /// A non-ASCII banner into a body that is not declared UTF-8.
    Charset(String),
    /// The body already starts with the banner.
    AlreadyPresent,
}

/// Inserts `banner` (lines separated by `\n` or `\r\n`) and an empty line at the top of the
/// body, when the message is a single-part `text/plain` in `7bit`/`8bit`/no transfer encoding.
/// A non-ASCII banner also needs `charset=utf-8` and `8bit`. Otherwise the message is left
/// unchanged and the reason returned.
pub fn apply_banner(raw: &[u8], banner: &str) -> Result<Vec<u8>, BannerSkipped> {
    let (fields, body) = split(raw);
    let header = |n: &str| {
        fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(n))
            .map(|f| f.value().to_ascii_lowercase())
    };
    let ctype = header("content-type").unwrap_or_else(|| "text/plain".into());
    let mime = ctype.split(';').next().unwrap_or("").trim().to_string();
    if mime != "text/plain" {
        return Err(BannerSkipped::NotPlainText(mime));
    }
    let cte = header("content-transfer-encoding").unwrap_or_else(|| "7bit".into());
    if cte != "7bit" && cte != "8bit" {
        return Err(BannerSkipped::Encoded(cte));
    }
    if !banner.is_ascii() {
        let utf8 = ctype.split(';').skip(1).any(|p| {
            matches!(
                p.trim().replace('"', "").as_str(),
                "charset=utf-8" | "charset=utf8"
            )
        });
        if !utf8 || cte != "8bit" {
            return Err(BannerSkipped::Charset(ctype));
        }
    }
    let lines: Vec<&str> = banner.lines().map(|l| l.trim_end_matches('\r')).collect();
    let mut text = lines.join("\r\n").into_bytes();
    text.extend_from_slice(b"\r\n\r\n");
    if body.starts_with(&text[..text.len() - 2]) {
        return Err(BannerSkipped::AlreadyPresent);
    }
    let mut out = Vec::with_capacity(raw.len() + text.len());
    write_fields(&mut out, &fields);
    out.extend_from_slice(&text);
    out.extend_from_slice(body);
    Ok(out)
}

/// The header fields with CRLF endings, then the empty line.
fn write_fields(out: &mut Vec<u8>, fields: &[Field]) {
    for f in fields {
        for line in &f.lines {
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] =
        b"Received: from x\r\n\tby y\r\nFrom: a@sender.example\r\nSubject: Budget\r\n \
        for 2027\r\nX-Spam-Flag: NO\r\nX-Spam-Flag: maybe\r\n\r\nLine one\r\nLine two\r\n";

    fn no_bare_lf(b: &[u8]) -> bool {
        b.iter()
            .enumerate()
            .all(|(i, &c)| c != b'\n' || (i > 0 && b[i - 1] == b'\r'))
    }

    #[test]
    fn al_1_6_prefix_added_once_with_folding_kept() {
        let m = [Modification::SubjectPrefix("[External]".into())];
        let once = apply_modifications(MSG, &m);
        let text = String::from_utf8(once.clone()).unwrap();
        assert!(
            text.contains("Subject: [External] Budget\r\n for 2027\r\n"),
            "{text}"
        );
        let twice = apply_modifications(&once, &m);
        assert_eq!(once, twice, "never doubled");
        assert!(no_bare_lf(&once));
        assert!(once.ends_with(b"\r\n\r\nLine one\r\nLine two\r\n"));
        // Already tagged behind reply markers, and encoded.
        let re = b"Subject: RE: [EXTERNAL] x\r\n\r\nb\r\n";
        assert_eq!(apply_modifications(re, &m), re.to_vec());
        let enc = b"Subject: =?utf-8?q?Fwd=3A_=5BExternal=5D_x?=\r\n\r\nb\r\n";
        assert_eq!(apply_modifications(enc, &m), enc.to_vec());
    }

    #[test]
    fn subject_added_when_missing_and_headers_added_and_removed() {
        let raw = b"From: a@b.example\nTo: c@d.example\n\nbody\n";
        let out = apply_modifications(
            raw,
            &[
                Modification::AddHeader {
                    name: "X-Rampart-Check".into(),
                    value: "one\r\nInjected: yes".into(),
                },
                Modification::AddHeader {
                    name: "Bad Name".into(),
                    value: "dropped".into(),
                },
                Modification::SubjectPrefix("[External]".into()),
            ],
        );
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("X-Rampart-Check: one Injected: yes\r\nFrom: a@b.example\r\n"),
            "{text}"
        );
        assert!(
            text.contains("\r\nSubject: [External]\r\n\r\nbody\n"),
            "{text}"
        );
        assert!(!text.contains("Bad Name"));

        let out = apply_modifications(
            MSG,
            &[Modification::RemoveHeader {
                name: "x-spam-flag".into(),
                values: vec!["NO".into()],
            }],
        );
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("X-Spam-Flag: NO"));
        assert!(text.contains("X-Spam-Flag: maybe"));
        assert!(text.contains("Received: from x\r\n\tby y\r\n"));
    }

    #[test]
    fn al_1_6_banner_on_plain_text_only() {
        let banner = "CAUTION: external sender.\nDo not click links you did not expect.";
        let out = apply_banner(MSG, banner).unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.ends_with(
            "\r\n\r\nCAUTION: external sender.\r\nDo not click links you did not expect.\r\n\r\nLine one\r\nLine two\r\n"
        ), "{text}");
        assert!(no_bare_lf(&out));
        assert_eq!(
            apply_banner(&out, banner),
            Err(BannerSkipped::AlreadyPresent)
        );

        let multipart =
            b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n";
        assert!(matches!(
            apply_banner(multipart, banner),
            Err(BannerSkipped::NotPlainText(_))
        ));
        let b64 = b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\naGk=\r\n";
        assert!(matches!(
            apply_banner(b64, banner),
            Err(BannerSkipped::Encoded(_))
        ));
        let latin = b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\nhi\r\n";
        assert!(matches!(
            apply_banner(latin, "Achtung: extern \u{2014}"),
            Err(BannerSkipped::Charset(_))
        ));
        let utf8 = b"Content-Type: text/plain; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\nhi\r\n";
        assert!(apply_banner(utf8, "Achtung: extern \u{2014}").is_ok());
    }
}

#[cfg(test)]
mod fold_tests {
    use super::*;

    #[test]
    fn folds_survive_injections_do_not() {
        let mods = [Modification::AddHeader {
            name: "Authentication-Results".into(),
            value: "mx.example;\r\n\tspf=pass\r\nX-Injected: yes".into(),
        }];
        let out = apply_modifications(b"Subject: s\r\n\r\nbody\r\n", &mods);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("Authentication-Results: mx.example;\r\n\tspf=pass X-Injected: yes\r\nSubject: s\r\n"), "{text:?}");
    }
}
