//! `sendmail -bs`: SMTP on standard input and output (NC-2.1.9), for programs that speak SMTP to
//! a pipe. A small server loop: EHLO/HELO, MAIL, RCPT, DATA (dot-unstuffed), RSET, NOOP, QUIT.
//! DATA's message goes to the drop directory like `-bm`'s, and its 250 is sent only once the
//! file is durable. Every reply has its code, enhanced status code (RFC 3463) and a sentence.

use super::args::{Args, Sender};
use super::{Failure, EX_DATAERR, EX_TEMPFAIL, EX_USAGE};
use rampart_config::Config;
use std::io::{BufRead, Write};

/// The longest command line (RFC 5321 section 4.5.3.1.4: 512 octets with CRLF; some slack).
const MAX_COMMAND: usize = 2048;
/// The longest text line inside DATA (RFC 5321 section 4.5.3.1.6 says 1000; the message
/// limit is what matters, so this only bounds one read).
const MAX_DATA_LINE: usize = 64 * 1024;

/// Runs the dialogue on standard input and output until QUIT or end of input.
pub fn run(config: &Config, args: &Args) -> Result<(), Failure> {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    serve(config, args, &mut stdin.lock(), &mut stdout.lock())
        .map_err(|e| (super::EX_IOERR, format!("-bs: {e}")))
}

/// The dialogue over any reader and writer.
pub fn serve(
    config: &Config,
    args: &Args,
    input: &mut impl BufRead,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let host = config.hostname.get_ref().as_str();
    let max = config.limits.max_message_size.get() as usize;
    let reply = |out: &mut dyn Write, code: u16, text: &str| -> std::io::Result<()> {
        write!(out, "{code} {text}\r\n")?;
        out.flush()
    };
    // NC-2.1.3: the greeting names no software.
    reply(out, 220, &format!("{host} ESMTP ready"))?;
    let mut greeted = false;
    let mut sender: Option<Sender> = None;
    let mut rcpts: Vec<String> = Vec::new();
    loop {
        let Some(line) = read_line(input, MAX_COMMAND)? else {
            return Ok(());
        };
        let Ok(line) = String::from_utf8(line) else {
            reply(out, 500, "5.5.2 Command is not UTF-8")?;
            continue;
        };
        let line = line.trim_end_matches(['\r', '\n']);
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                greeted = true;
                (sender, rcpts) = (None, Vec::new());
                write!(
                    out,
                    "250-{host}\r\n250-SIZE {max}\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n"
                )?;
                out.flush()?;
            }
            "HELO" => {
                greeted = true;
                (sender, rcpts) = (None, Vec::new());
                reply(out, 250, host)?;
            }
            "MAIL" if !greeted => reply(out, 503, "5.5.1 Send EHLO or HELO first")?,
            "MAIL" if sender.is_some() => reply(out, 503, "5.5.1 Sender already given")?,
            "MAIL" => match path(rest, "FROM:") {
                Some(a) if a.is_empty() => {
                    sender = Some(Sender::Null);
                    reply(out, 250, "2.1.0 Sender ok")?;
                }
                Some(a) => {
                    sender = Some(Sender::Address(a));
                    reply(out, 250, "2.1.0 Sender ok")?;
                }
                None => reply(out, 501, "5.5.4 Syntax: MAIL FROM:<address>")?,
            },
            "RCPT" if sender.is_none() => reply(out, 503, "5.5.1 Send MAIL first")?,
            "RCPT" => match path(rest, "TO:") {
                Some(a) if a.is_empty() => reply(out, 501, "5.1.3 Recipient may not be empty")?,
                Some(_) if rcpts.len() >= super::drop::MAX_RECIPIENTS => {
                    reply(out, 452, "4.5.3 Too many recipients")?
                }
                Some(a) => {
                    rcpts.push(a);
                    reply(out, 250, "2.1.5 Recipient ok")?;
                }
                None => reply(out, 501, "5.5.4 Syntax: RCPT TO:<address>")?,
            },
            "DATA" if rcpts.is_empty() => reply(out, 503, "5.5.1 Send RCPT first")?,
            "DATA" => {
                reply(out, 354, "End data with <CR><LF>.<CR><LF>")?;
                let Some(message) = read_data(input, max)? else {
                    return Ok(());
                };
                let mut a = args.clone();
                a.extract = false;
                a.sender = sender.take().unwrap_or(Sender::Default);
                let to = std::mem::take(&mut rcpts);
                match message {
                    Err(()) => reply(
                        out,
                        552,
                        &format!("5.3.4 Message larger than {max} bytes; not sent"),
                    )?,
                    Ok(m) => match super::accept(config, &a, to, m) {
                        Ok(p) => {
                            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
                            let id = name.unwrap_or_default();
                            reply(out, 250, &format!("2.0.0 Ok: queued as {id}"))?
                        }
                        Err((code, why)) => {
                            let (c, e) = match code {
                                EX_DATAERR => (552, "5.3.4"),
                                EX_USAGE => (554, "5.5.1"),
                                EX_TEMPFAIL => (451, "4.3.0"),
                                _ => (451, "4.3.0"),
                            };
                            reply(out, c, &format!("{e} {why}"))?
                        }
                    },
                }
            }
            "RSET" => {
                (sender, rcpts) = (None, Vec::new());
                reply(out, 250, "2.0.0 Reset")?;
            }
            "NOOP" => reply(out, 250, "2.0.0 Ok")?,
            "VRFY" => reply(out, 252, "2.5.0 Cannot verify; send and see")?,
            "QUIT" => {
                reply(out, 221, "2.0.0 Bye")?;
                return Ok(());
            }
            _ => reply(out, 500, "5.5.2 Command not recognised")?,
        }
    }
}

/// `FROM:<a@b> SIZE=1` to `a@b`; None when it is not a path.
fn path(rest: &str, keyword: &str) -> Option<String> {
    let rest = rest.trim_start();
    let head = rest.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = rest[keyword.len()..].trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    let a = &inner[..end];
    if a.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return None;
    }
    Some(a.to_string())
}

/// One line, at most `max` bytes (a longer one is cut into pieces); None at end of input.
fn read_line(input: &mut impl BufRead, max: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let n = std::io::Read::take(&mut *input, max as u64).read_until(b'\n', &mut line)?;
    Ok((n > 0).then_some(line))
}

/// DATA's lines up to the lone "." (dot-unstuffed, CRLF): Ok(message), or Err(()) when it grew
/// past `max` (read to its end all the same, so the dialogue stays in step); None at end of
/// input before the ".".
#[allow(clippy::type_complexity)]
fn read_data(input: &mut impl BufRead, max: usize) -> std::io::Result<Option<Result<Vec<u8>, ()>>> {
    let mut msg = Vec::new();
    let mut too_big = false;
    loop {
        let Some(line) = read_line(input, MAX_DATA_LINE)? else {
            return Ok(None);
        };
        let body = line.strip_suffix(b"\n").unwrap_or(&line);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        if body == b"." {
            return Ok(Some(if too_big { Err(()) } else { Ok(msg) }));
        }
        // RFC 5321 section 4.5.2: a leading dot was doubled by the client.
        let body = body.strip_prefix(b".").unwrap_or(body);
        if msg.len() + body.len() + 2 > max {
            too_big = true;
            msg = Vec::new();
        }
        if !too_big {
            msg.extend_from_slice(body);
            msg.extend_from_slice(b"\r\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nc_2_1_9_paths_and_dot_unstuffing() {
        assert_eq!(
            path("FROM:<a@b.test> SIZE=10", "FROM:"),
            Some("a@b.test".into())
        );
        assert_eq!(path("from: <>", "FROM:"), Some(String::new()));
        assert_eq!(path("TO:a@b", "TO:"), None);
        assert_eq!(path("TO:<a b@c>", "TO:"), None);
        let mut input = &b"..leading\r\nplain\n.\r\nQUIT\r\n"[..];
        let m = read_data(&mut input, 1000).unwrap().unwrap().unwrap();
        assert_eq!(m, b".leading\r\nplain\r\n");
        let mut input = &b"0123456789\r\n.\r\n"[..];
        assert_eq!(read_data(&mut input, 5).unwrap(), Some(Err(())));
        let mut input = &b"no end\r\n"[..];
        assert_eq!(read_data(&mut input, 100).unwrap(), None);
    }
}
