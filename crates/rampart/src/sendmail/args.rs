//! The sendmail command line, as programs written for Sendmail and Postfix pass it: short
//! flags that may be grouped (`-ti`), flags whose value follows at once or as the next argument
//! (`-fADDR`, `-f ADDR`), and the classic flags that mean nothing here, accepted and ignored so
//! that callers keep working (NC-2.1.9).

/// What the command is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `-bm` (the default): read one message from standard input.
    Deliver,
    /// `-bs`: speak SMTP on standard input and output.
    Smtp,
    /// `-bp`, or invoked as `mailq`: list what waits.
    List,
}

/// The envelope sender the caller asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    /// No `-f`: the server's configured sender.
    Default,
    /// `-f '<>'`, `-f <>`, `-f ''`: the null sender.
    Null,
    /// `-f ADDR`.
    Address(String),
}

/// The parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub mode: Mode,
    /// `-t`: recipients from To, Cc and Bcc, and the Bcc header removed.
    pub extract: bool,
    pub sender: Sender,
    /// `-F NAME`: the sender's name, for a From header the command writes.
    pub full_name: Option<String>,
    /// Without `-i` or `-oi`, a line holding only "." ends the message.
    pub dot_ends: bool,
    /// `-v`: say what happened on standard error.
    pub verbose: bool,
    pub recipients: Vec<String>,
}

/// A command line the command cannot follow; exit 64 (EX_USAGE) with this line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses the arguments after the program name. `mailq` is the program invoked as `mailq`.
pub fn parse(args: &[String], mailq: bool) -> Result<Args, UsageError> {
    let mut a = Args {
        mode: if mailq { Mode::List } else { Mode::Deliver },
        extract: false,
        sender: Sender::Default,
        full_name: None,
        dot_ends: true,
        verbose: false,
        recipients: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--" {
            a.recipients.extend(it.by_ref().cloned());
            break;
        }
        let Some(cluster) = arg.strip_prefix('-').filter(|c| !c.is_empty()) else {
            a.recipients.push(arg.clone());
            continue;
        };
        for (i, flag) in cluster.char_indices() {
            let rest = &cluster[i + flag.len_utf8()..];
            // The value of a flag that takes one: the rest of this argument, else the next one.
            let mut value = |name: char| -> Result<String, UsageError> {
                if !rest.is_empty() {
                    return Ok(rest.to_string());
                }
                it.next()
                    .cloned()
                    .ok_or_else(|| UsageError(format!("option -{name} needs a value")))
            };
            match flag {
                't' => a.extract = true,
                'i' => a.dot_ends = false,
                'v' => a.verbose = true,
                // -U (initial submission), -n (no aliasing), -m (me too): nothing to change here.
                'U' | 'n' | 'm' => {}
                'f' | 'r' => {
                    a.sender = sender(&value(flag)?)?;
                    break;
                }
                'F' => {
                    a.full_name = Some(value(flag)?);
                    break;
                }
                'b' => {
                    let v = value(flag)?;
                    a.mode = match v.as_str() {
                        "m" => Mode::Deliver,
                        "s" => Mode::Smtp,
                        "p" => Mode::List,
                        _ => {
                            return Err(UsageError(format!(
                                "-b{v} is not supported; use -bm, -bs or -bp"
                            )))
                        }
                    };
                    break;
                }
                'o' => {
                    // -oi as -i; -oem, -odb, -odi and every other option mean nothing here.
                    if value(flag)? == "i" {
                        a.dot_ends = false;
                    }
                    break;
                }
                // -B8BITMIME, -N DSN, -R RET, -V ENVID, -X LOG, -L LABEL, -h HOPS, -C FILE:
                // accepted and ignored.
                'B' | 'N' | 'R' | 'V' | 'X' | 'L' | 'h' | 'C' => {
                    value(flag)?;
                    break;
                }
                // -eX (error mode), -Am/-Ac, -G, -q...: the rest of the argument only.
                'e' | 'A' | 'G' => break,
                other => {
                    return Err(UsageError(format!(
                        "unknown option -{other}; see `rampart sendmail` in the documentation"
                    )))
                }
            }
        }
    }
    Ok(a)
}

/// `-f`'s value: `<>`, `''` (as a shell without quotes passes it), the empty string and `<>`
/// with spaces are the null sender; `<addr>` is `addr`.
fn sender(v: &str) -> Result<Sender, UsageError> {
    let t = v.trim();
    if t.is_empty() || t == "<>" || t == "''" || t == "\"\"" {
        return Ok(Sender::Null);
    }
    let inner = t
        .strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(t)
        .trim();
    if inner.is_empty() {
        return Ok(Sender::Null);
    }
    if inner
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '<' || c == '>')
    {
        return Err(UsageError(format!("-f {v}: not an address")));
    }
    Ok(Sender::Address(inner.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Args {
        let v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse(&v, false).unwrap()
    }

    fn err(args: &[&str]) -> String {
        let v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse(&v, false).unwrap_err().0
    }

    #[test]
    fn nc_2_1_9_cron_call() {
        // Vixie cron's MAILARGS "-FCronDaemon -odi -oem -oi -t", the form the issue names with
        // -B8BITMIME and -f, and busybox crond's "-t -oem -i".
        let a = p(&["-FCronDaemon", "-i", "-B8BITMIME", "-oem", "-f", "<>", "-t"]);
        assert!(a.extract && !a.dot_ends);
        assert_eq!(a.sender, Sender::Null);
        assert_eq!(a.full_name.as_deref(), Some("CronDaemon"));
        assert!(a.recipients.is_empty());
        let a = p(&["-FCronDaemon", "-odi", "-oem", "-oi", "-t"]);
        assert!(a.extract && !a.dot_ends && a.sender == Sender::Default);
        let a = p(&["-t", "-oem", "-i"]);
        assert!(a.extract && !a.dot_ends);
    }

    #[test]
    fn nc_2_1_9_null_sender_forms() {
        for f in [
            &["-f", "<>"][..],
            &["-f", "''"],
            &["-f", ""],
            &["-f<>"],
            &["-f", "< >"],
            &["-r", "<>"],
        ] {
            assert_eq!(p(f).sender, Sender::Null, "{f:?}");
        }
        assert_eq!(
            p(&["-fbob@example.test"]).sender,
            Sender::Address("bob@example.test".into())
        );
        assert_eq!(
            p(&["-f", "<bob@example.test>"]).sender,
            Sender::Address("bob@example.test".into())
        );
        assert!(err(&["-f", "a b@c"]).contains("not an address"));
        assert!(err(&["-f"]).contains("-f needs a value"));
    }

    #[test]
    fn nc_2_1_9_grouped_and_ignored_flags() {
        let a = p(&["-ti", "alice@example.test"]);
        assert!(a.extract && !a.dot_ends);
        assert_eq!(a.recipients, vec!["alice@example.test"]);
        let a = p(&["-oi", "-t"]);
        assert!(a.extract && !a.dot_ends);
        let a = p(&[
            "-B",
            "8BITMIME",
            "-eq",
            "-odb",
            "-odi",
            "-oQ/x",
            "-N",
            "never",
            "-Rhdrs",
            "-V",
            "id",
            "-Xlog",
            "-U",
            "-Lx",
            "-v",
            "--",
            "-odd@example.test",
        ]);
        assert!(a.verbose && a.dot_ends && !a.extract);
        assert_eq!(a.recipients, vec!["-odd@example.test"]);
        assert_eq!(p(&["-bs"]).mode, Mode::Smtp);
        assert_eq!(p(&["-b", "p"]).mode, Mode::List);
        assert_eq!(p(&["-bm", "x@y"]).mode, Mode::Deliver);
        assert_eq!(parse(&[], true).unwrap().mode, Mode::List);
        assert_eq!(
            p(&["-F", "Cron Daemon"]).full_name.as_deref(),
            Some("Cron Daemon")
        );
        assert!(err(&["-bd"]).contains("-bd is not supported"));
        assert!(err(&["-k"]).contains("unknown option -k"));
        assert!(err(&["-B"]).contains("-B needs a value"));
    }
}
