//! Applies the [`Modification`]s of a decision to a raw RFC 5322 message.
//!
//! - `AddHeader`: added at the top, in the order given (the first ends up first). CR and LF in
//!   the value are replaced by spaces and an invalid field name is dropped: no header injection.
//! - `RemoveFields`: the fields at these indexes of the header section as read by
//!   [`crate::message::read`], each only if it carries the given name (case-insensitive).
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
use crate::message::{read_headers, Headers};
use crate::Modification;

/// One header field being rewritten: the field as written (name, colon, value, folds), without
/// its final CRLF.
struct Field {
    name: String,
    text: Vec<u8>,
}

impl Field {
    /// The unfolded value, trimmed.
    fn value(&self) -> String {
        let text = String::from_utf8_lossy(&self.text);
        let v = text.split_once(':').map_or("", |(_, v)| v);
        v.replace("\r\n", "").trim().to_string()
    }
}

/// The fields of the one reading of the header section, as written.
fn fields_of(headers: &Headers<'_>) -> Vec<Field> {
    headers
        .fields
        .iter()
        .map(|f| Field {
            name: f.name.to_string(),
            text: format!("{}:{}", f.name, f.value).into_bytes(),
        })
        .collect()
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

/// Rewrites `raw` with `mods` applied (see the module documentation for each kind). `headers`
/// is the reading of `raw`'s header section the checks saw ([`crate::message::read`]): the
/// indexes of [`Modification::RemoveFields`] point into it.
pub fn apply_modifications(raw: &[u8], headers: &Headers<'_>, mods: &[Modification]) -> Vec<u8> {
    let mut fields: Vec<Option<Field>> = fields_of(headers).into_iter().map(Some).collect();
    let body = raw.get(headers.body_offset..).unwrap_or_default();
    for m in mods {
        match m {
            Modification::RemoveFields { name, indices } => {
                for &i in indices {
                    // The index names a field of this name, or nothing is removed.
                    if fields
                        .get(i)
                        .and_then(|f| f.as_ref())
                        .is_some_and(|f| f.name.eq_ignore_ascii_case(name))
                    {
                        fields[i] = None;
                    }
                }
            }
            Modification::SubjectPrefix(prefix) => {
                let prefix = one_line(prefix);
                if prefix.is_empty() {
                    continue;
                }
                match fields
                    .iter_mut()
                    .flatten()
                    .find(|f| f.name.eq_ignore_ascii_case("subject"))
                {
                    Some(f) => {
                        if already_tagged(&decoded_subject(&f.value()), &prefix) {
                            continue;
                        }
                        let colon = f.text.iter().position(|&b| b == b':').unwrap_or(0);
                        let rest = &f.text[colon + 1..];
                        let rest = &rest[rest
                            .iter()
                            .take_while(|&&b| b == b' ' || b == b'\t')
                            .count()..];
                        let mut text = format!("{}: {prefix}", f.name).into_bytes();
                        if !rest.is_empty() {
                            text.push(b' ');
                            text.extend_from_slice(rest);
                        }
                        f.text = text;
                    }
                    None => fields.push(Some(Field {
                        name: "Subject".into(),
                        text: format!("Subject: {prefix}").into_bytes(),
                    })),
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
    let kept: Vec<Field> = fields.into_iter().flatten().collect();
    write_fields(&mut out, &kept);
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
    /// The header section does not read one way (never the case for a message the normaliser
    /// accepted).
    Unreadable,
}

/// Inserts `banner` (lines separated by `\n` or `\r\n`) and an empty line at the top of the
/// body, when the message is a single-part `text/plain` in `7bit`/`8bit`/no transfer encoding.
/// A non-ASCII banner also needs `charset=utf-8` and `8bit`. Otherwise the message is left
/// unchanged and the reason returned.
pub fn apply_banner(raw: &[u8], banner: &str) -> Result<Vec<u8>, BannerSkipped> {
    let headers = read_headers(raw).map_err(|_| BannerSkipped::Unreadable)?;
    let fields = fields_of(&headers);
    let body = raw.get(headers.body_offset..).unwrap_or_default();
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
    // Any CR, LF or CRLF in the configured banner is a line break: never a bare CR in the
    // message (found by fuzz/fuzz_targets/modify.rs).
    let banner = banner.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = banner.lines().collect();
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
        out.extend_from_slice(&f.text);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies `mods` on the strict reading of `raw`, as the pipeline does.
    pub(super) fn apply(raw: &[u8], mods: &[Modification]) -> Vec<u8> {
        let headers = read_headers(raw).expect("a test message reads one way");
        apply_modifications(raw, &headers, mods)
    }

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
        let once = apply(MSG, &m);
        let text = String::from_utf8(once.clone()).unwrap();
        assert!(
            text.contains("Subject: [External] Budget\r\n for 2027\r\n"),
            "{text}"
        );
        let twice = apply(&once, &m);
        assert_eq!(once, twice, "never doubled");
        assert!(no_bare_lf(&once));
        assert!(once.ends_with(b"\r\n\r\nLine one\r\nLine two\r\n"));
        // Already tagged behind reply markers, and encoded.
        let re = b"Subject: RE: [EXTERNAL] x\r\n\r\nb\r\n";
        assert_eq!(apply(re, &m), re.to_vec());
        let enc = b"Subject: =?utf-8?q?Fwd=3A_=5BExternal=5D_x?=\r\n\r\nb\r\n";
        assert_eq!(apply(enc, &m), enc.to_vec());
    }

    #[test]
    fn subject_added_when_missing_and_headers_added_and_removed() {
        let raw = b"From: a@b.example\r\nTo: c@d.example\r\n\r\nbody\n";
        let out = apply(
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

        let out = apply(
            MSG,
            &[Modification::RemoveFields {
                name: "x-spam-flag".into(),
                indices: vec![3, 0],
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
mod banner_tests {
    use super::*;

    #[test]
    fn al_1_6_a_cr_in_the_banner_is_a_line_break_not_a_bare_cr() {
        let out =
            apply_banner(b"From: a@b.example\r\n\r\nbody\r\n", "one\rtwo\r\nthree\n").unwrap();
        assert!(
            crate::message::read(&out).is_ok(),
            "{:?}",
            String::from_utf8_lossy(&out)
        );
        assert!(out.ends_with(b"\r\n\r\none\r\ntwo\r\nthree\r\n\r\nbody\r\n"));
    }
}

#[cfg(test)]
mod fold_tests {
    use super::tests::apply;
    use super::*;

    #[test]
    fn folds_survive_injections_do_not() {
        let mods = [Modification::AddHeader {
            name: "Authentication-Results".into(),
            value: "mx.example;\r\n\tspf=pass\r\nX-Injected: yes".into(),
        }];
        let out = apply(b"Subject: s\r\n\r\nbody\r\n", &mods);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("Authentication-Results: mx.example;\r\n\tspf=pass X-Injected: yes\r\nSubject: s\r\n"), "{text:?}");
    }
}
