//! The message as a local program hands it over: lines ending in LF or CRLF, maybe a lone "."
//! as its end, recipients in its headers (`-t`), maybe no From or an unqualified one. Turned
//! here into what the submission pipeline takes: CRLF lines, no Bcc, a From with an address.

/// Reads the message from `input` (already read whole, at most `max + 1` bytes): CRLF line
/// ends; with `dot_ends`, a line holding only "." ends it (sendmail without `-i`).
pub fn normalise(input: &[u8], dot_ends: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() + input.len() / 40);
    let mut lines = input.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let last = lines.peek().is_none();
        if last && line.is_empty() {
            break;
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if dot_ends && line == b"." {
            break;
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The header section's fields, unfolded: (name, value, byte range of the whole field).
fn fields(msg: &[u8]) -> Vec<(String, String, std::ops::Range<usize>)> {
    let mut out: Vec<(String, String, std::ops::Range<usize>)> = Vec::new();
    let mut pos = 0;
    while pos < msg.len() {
        let end = msg[pos..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|i| pos + i + 2)
            .unwrap_or(msg.len());
        let line = &msg[pos..end];
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(text.trim());
                last.2.end = end;
            }
        } else if let Some((name, value)) = text.split_once(':').filter(|(n, _)| {
            !n.is_empty() && !n.contains(|c: char| c.is_whitespace() || c.is_control())
        }) {
            out.push((name.trim().to_string(), value.trim().to_string(), pos..end));
        } else {
            // Not a header line: the body starts here (no blank line before it).
            break;
        }
        pos = end;
    }
    out
}

/// A blank line where the header fields end, when the input has none: text typed into
/// `sendmail bob` without headers is the body, not a broken header (as sendmail treats it).
pub fn ensure_separator(msg: Vec<u8>) -> Vec<u8> {
    let end = fields(&msg).last().map(|f| f.2.end).unwrap_or(0);
    if msg[end..].starts_with(b"\r\n") {
        return msg;
    }
    let mut out = Vec::with_capacity(msg.len() + 2);
    out.extend_from_slice(&msg[..end]);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&msg[end..]);
    out
}

/// `-t`: the addresses of To, Cc and Bcc, and the message without its Bcc fields.
pub fn extract_recipients(msg: &[u8]) -> (Vec<String>, Vec<u8>) {
    let mut rcpts = Vec::new();
    let mut out = Vec::with_capacity(msg.len());
    let mut copied = 0;
    for (name, value, range) in fields(msg) {
        let n = name.to_ascii_lowercase();
        if matches!(n.as_str(), "to" | "cc" | "bcc") {
            rcpts.extend(addresses(&value));
        }
        if n == "bcc" {
            out.extend_from_slice(&msg[copied..range.start]);
            copied = range.end;
        }
    }
    out.extend_from_slice(&msg[copied..]);
    (rcpts, out)
}

/// The addresses of an address list (RFC 5322 section 3.4): `Name <a@b>`, `a@b (comment)`,
/// groups (`team: a@b, c@d;`), quoted names with commas.
pub fn addresses(list: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut angle: Option<String> = None;
    let (mut quoted, mut depth, mut escaped) = (false, 0u32, false);
    let mut flush = |cur: &mut String, angle: &mut Option<String>| {
        let a = angle.take().unwrap_or_else(|| cur.trim().to_string());
        let a = a.trim().trim_start_matches(':').trim().to_string();
        if !a.is_empty() && !a.contains(char::is_whitespace) {
            out.push(a);
        }
        cur.clear();
    };
    let mut in_angle = false;
    for c in list.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted || depth > 0 => escaped = true,
            '"' if depth == 0 && !in_angle => quoted = !quoted,
            '(' if !quoted && !in_angle => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            _ if quoted || depth > 0 => {}
            '<' => {
                in_angle = true;
                angle = Some(String::new());
            }
            '>' => in_angle = false,
            ',' | ';' if !in_angle => flush(&mut cur, &mut angle),
            // A group's name: what came before it is no address.
            ':' if !in_angle && !cur.contains('@') => cur.clear(),
            _ if in_angle => {
                if let Some(a) = angle.as_mut() {
                    a.push(c);
                }
            }
            _ => cur.push(c),
        }
    }
    flush(&mut cur, &mut angle);
    out
}

/// Whether the message has a From field with an address in it.
pub fn from_addresses(msg: &[u8]) -> Option<Vec<String>> {
    fields(msg)
        .into_iter()
        .find(|(n, _, _)| n.eq_ignore_ascii_case("from"))
        .map(|(_, v, _)| addresses(&v))
}

/// Adds (or, when the one there names no domain, replaces) the From field with `address`,
/// named `name` if given: cron writes `From: root (Cron Daemon)`, `mail` writes none.
pub fn set_from(msg: &[u8], address: &str, name: Option<&str>) -> Vec<u8> {
    let field = match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => format!("From: {} <{address}>\r\n", quote_name(n)),
        None => format!("From: <{address}>\r\n"),
    };
    let mut out = Vec::with_capacity(msg.len() + field.len());
    out.extend_from_slice(field.as_bytes());
    let mut copied = 0;
    for (n, _, range) in fields(msg) {
        if n.eq_ignore_ascii_case("from") {
            out.extend_from_slice(&msg[copied..range.start]);
            copied = range.end;
        }
    }
    out.extend_from_slice(&msg[copied..]);
    out
}

/// Adds a field at the top when the message has none of that name (Message-ID, Date).
pub fn add_if_missing(msg: Vec<u8>, name: &str, value: &str) -> Vec<u8> {
    if fields(&msg)
        .iter()
        .any(|(n, _, _)| n.eq_ignore_ascii_case(name))
    {
        return msg;
    }
    let mut out = format!("{name}: {value}\r\n").into_bytes();
    out.extend_from_slice(&msg);
    out
}

/// A display name as a quoted string when it needs one (RFC 5322 section 3.2.4).
fn quote_name(n: &str) -> String {
    let clean: String = n.chars().filter(|c| !c.is_control()).collect();
    if clean
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == ' ' || "!#$%&'*+-/=?^_`{|}~".contains(c))
    {
        clean
    } else {
        format!("\"{}\"", clean.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nc_2_1_9_lone_dot_ends_without_i() {
        let input = b"Subject: x\n\nline one\n.\nafter\n";
        assert_eq!(normalise(input, true), b"Subject: x\r\n\r\nline one\r\n");
        assert_eq!(
            normalise(input, false),
            b"Subject: x\r\n\r\nline one\r\n.\r\nafter\r\n"
        );
        assert_eq!(normalise(b"a\r\nb", false), b"a\r\nb\r\n");
    }

    #[test]
    fn nc_2_1_9_t_takes_to_cc_bcc_and_drops_bcc() {
        let msg = normalise(
            b"From: a@example.test\nTo: \"Bob, B\" <bob@example.test>, carol@x.test (C)\n\
              Bcc: hidden@example.test,\n secret@example.test\nCc: team: d@x.test, e@x.test;\n\
              Subject: s\n\nBcc: not a header\n",
            false,
        );
        let (rcpts, out) = extract_recipients(&msg);
        assert_eq!(
            rcpts,
            vec![
                "bob@example.test",
                "carol@x.test",
                "hidden@example.test",
                "secret@example.test",
                "d@x.test",
                "e@x.test"
            ]
        );
        let text = String::from_utf8(out).unwrap();
        assert!(
            !text.contains("hidden") && !text.contains("secret"),
            "{text}"
        );
        assert!(text.contains("Cc: team:") && text.ends_with("\r\nBcc: not a header\r\n"));
        assert_eq!(addresses("undisclosed-recipients:;"), Vec::<String>::new());
    }

    #[test]
    fn nc_2_1_9_text_without_headers_is_the_body() {
        let plain = normalise(b"just a line\nand another\n", false);
        assert_eq!(
            ensure_separator(plain),
            b"\r\njust a line\r\nand another\r\n"
        );
        let headed = normalise(b"Subject: x\nbody without blank line\n", false);
        assert_eq!(
            ensure_separator(headed),
            b"Subject: x\r\n\r\nbody without blank line\r\n"
        );
        let fine = normalise(b"Subject: x\n\nbody\n", false);
        assert_eq!(ensure_separator(fine.clone()), fine);
        assert_eq!(ensure_separator(Vec::new()), b"\r\n");
        let with_from = set_from(
            &ensure_separator(normalise(b"hi\n", false)),
            "a@b.test",
            None,
        );
        assert_eq!(with_from, b"From: <a@b.test>\r\n\r\nhi\r\n");
    }

    #[test]
    fn nc_2_1_9_from_added_or_qualified() {
        let cron = normalise(b"From: root (Cron Daemon)\nTo: root\n\nout\n", false);
        assert_eq!(from_addresses(&cron), Some(vec!["root".to_string()]));
        let fixed = set_from(&cron, "alice@example.test", Some("CronDaemon"));
        assert_eq!(
            String::from_utf8(fixed).unwrap(),
            "From: CronDaemon <alice@example.test>\r\nTo: root\r\n\r\nout\r\n"
        );
        let none = normalise(b"To: bob@example.test\n\nhi\n", false);
        assert_eq!(from_addresses(&none), None);
        let fixed = set_from(&none, "alice@example.test", Some("A \"q\" <x>"));
        assert!(fixed.starts_with(b"From: \"A \\\"q\\\" <x>\" <alice@example.test>\r\n"));
        let with_id = add_if_missing(fixed, "Message-ID", "<1@h>");
        assert!(with_id.starts_with(b"Message-ID: <1@h>\r\n"));
        let again = add_if_missing(with_id.clone(), "message-id", "<2@h>");
        assert_eq!(again, with_id);
    }
}
