//! `rampart sendmail`, also run as `sendmail` and `mailq` (NC-2.1.9): the command cron, `mail`,
//! PHP and scripts call to send, and the server's pickup of what it leaves.
//!
//! ```text
//! program ─stdin─▶ rampart sendmail ─(temp, fsync, rename, fsync dir)─▶ drop directory
//!                        │ poke pickup.sock                                │
//!                        ▼                                                 ▼
//!                  rampart serve: pickup ──submit_via (the submission pipeline)──▶ queue
//! ```
//! The command never talks to the server to send: it writes the message durably and exits 0,
//! whether or not the server runs (Postfix's maildrop is the model). The drop directory's
//! permissions decide who may submit (see `[sendmail]` in the configuration).
//!
//! [`args`] parses the command line, [`message`] prepares the message, [`drop`] is the file
//! format and the durable write, [`bs`] is `-bs` (SMTP on standard input and output), [`pickup`]
//! is the server's side.

pub mod args;
pub mod bs;
pub mod drop;
pub mod message;
pub mod pickup;

use args::{Args, Mode};
use rampart_config::Config;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// sysexits.h, as callers of sendmail read them.
pub const EX_USAGE: u8 = 64;
pub const EX_DATAERR: u8 = 65;
pub const EX_CONFIG: u8 = 78;
pub const EX_SOFTWARE: u8 = 70;
pub const EX_IOERR: u8 = 74;
pub const EX_TEMPFAIL: u8 = 75;

/// The configuration a command started as `sendmail` or `mailq` reads: $RAMPART_CONFIG, else
/// this file.
pub const DEFAULT_CONFIG: &str = "/etc/rampart/rampart.toml";

/// Whether the program was invoked under a sendmail name: Some(true) for `mailq`.
pub fn invoked_as(argv0: &str) -> Option<bool> {
    match Path::new(argv0).file_name()?.to_str()? {
        "sendmail" => Some(false),
        "mailq" => Some(true),
        _ => None,
    }
}

/// The configuration when invoked as `sendmail` (no `--config` on that command line).
pub fn load_config() -> Result<Config, String> {
    let path = std::env::var_os("RAMPART_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    Config::load(&path).map_err(|e| {
        format!("{e} (the sendmail command reads $RAMPART_CONFIG, else {DEFAULT_CONFIG})")
    })
}

/// Runs the command; the exit status is sendmail's (0, or a sysexits code with one line on
/// standard error).
pub fn run(config: &Config, argv: &[String], mailq: bool) -> ExitCode {
    let args = match args::parse(argv, mailq) {
        Ok(a) => a,
        Err(e) => return fail(EX_USAGE, &e.0),
    };
    let result = match args.mode {
        Mode::List => list(config),
        Mode::Smtp => bs::run(config, &args),
        Mode::Deliver => deliver(config, &args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, line)) => fail(code, &line),
    }
}

fn fail(code: u8, line: &str) -> ExitCode {
    eprintln!("sendmail: {line}");
    ExitCode::from(code)
}

/// A failure: the exit code and the line that names the problem.
pub type Failure = (u8, String);

/// `-bm`: one message from standard input into the drop directory.
fn deliver(config: &Config, args: &Args) -> Result<(), Failure> {
    let max = u64::from(config.limits.max_message_size.get());
    let mut raw = Vec::new();
    std::io::stdin()
        .lock()
        .take(max + 1)
        .read_to_end(&mut raw)
        .map_err(|e| (EX_IOERR, format!("cannot read the message: {e}")))?;
    let message = message::normalise(&raw, args.dot_ends);
    let recipients = args.recipients.clone();
    let path = accept(config, args, recipients, message)?;
    if args.verbose {
        eprintln!("sendmail: queued in {}", path.display());
    }
    Ok(())
}

/// Checks and writes one message (from `-bm` or `-bs`); returns the drop file once durable.
pub fn accept(
    config: &Config,
    args: &Args,
    mut recipients: Vec<String>,
    message: Vec<u8>,
) -> Result<PathBuf, Failure> {
    let max = config.limits.max_message_size.get() as usize;
    if message.len() > max {
        // Refused here, so nothing is left in the drop directory that the server would refuse.
        return Err((
            EX_DATAERR,
            format!("message larger than {max} bytes (limits.max_message_size); not sent"),
        ));
    }
    let message = if args.extract {
        let (found, without_bcc) = message::extract_recipients(&message);
        recipients.extend(found);
        without_bcc
    } else {
        message
    };
    let message = message::ensure_separator(message);
    let mut seen = std::collections::HashSet::new();
    recipients.retain(|r| seen.insert(r.to_ascii_lowercase()));
    if recipients.is_empty() {
        return Err((
            EX_USAGE,
            "no recipients: name them on the command line, or give -t and To, Cc or Bcc headers"
                .into(),
        ));
    }
    let time = rampart_store::now_micros() / 1_000_000;
    let host = config.hostname.get_ref();
    let mut r = [0u8; 8];
    getrandom::fill(&mut r).map_err(|e| (EX_SOFTWARE, format!("no random bytes: {e}")))?;
    let tag: String = r.iter().map(|b| format!("{b:02x}")).collect();
    // Every message gets a Message-ID: the server recognises by it a message it queued just
    // before a crash, so a restart does not send it twice.
    let message = message::add_if_missing(message, "Message-ID", &format!("<{time}.{tag}@{host}>"));
    let message = message::add_if_missing(message, "Date", &rampart_store::rfc5322_date(time));
    let uid = current_uid();
    let env = drop::Envelope {
        uid,
        user: login_of(uid).unwrap_or_else(|| uid.to_string()),
        time,
        sender: args.sender.clone(),
        full_name: args.full_name.clone(),
        recipients,
    };
    let dir = config.sendmail.drop_dir(&config.data_dir);
    ensure_drop_dir(&dir).map_err(|e| (EX_TEMPFAIL, e))?;
    let path = drop::write(&dir, &env, &message).map_err(|e| (EX_TEMPFAIL, e))?;
    drop::wake(&dir);
    Ok(path)
}

/// Creates the drop directory when it is missing, mode 3733 (see the module doc); an existing
/// one is left as the administrator set it.
fn ensure_drop_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o3733)))
        .map_err(|e| format!("no drop directory {} ({e}); start rampart serve once, or create it mode 3733 owned by the service user and its group", dir.display()))
}

/// `-bp` and `mailq`: the drop directory, then the queue when this user may read it.
fn list(config: &Config) -> Result<(), Failure> {
    let dir = config.sendmail.drop_dir(&config.data_dir);
    match std::fs::read_dir(&dir) {
        Ok(entries) => {
            let mut names: Vec<_> = entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| pickup::is_message_name(n))
                .collect();
            names.sort();
            println!(
                "drop directory {}: {} message(s)",
                dir.display(),
                names.len()
            );
            for n in names {
                let line = std::fs::read(dir.join(&n))
                    .map_err(|e| e.to_string())
                    .and_then(|b| drop::decode(&b).map(|(e, _)| e))
                    .map(|e| {
                        let sender = match e.sender {
                            args::Sender::Default => "(default)".to_string(),
                            args::Sender::Null => "<>".to_string(),
                            args::Sender::Address(a) => format!("<{a}>"),
                        };
                        format!("{}\t{sender}\t{}", e.user, e.recipients.join(", "))
                    })
                    .unwrap_or_else(|e| format!("unreadable: {e}"));
                println!("{n}\t{line}");
            }
        }
        Err(e) => println!("drop directory {}: not readable ({e})", dir.display()),
    }
    let queue = match config.store.backend {
        rampart_config::StoreBackend::Sqlite if config.data_dir.is_dir() => {
            crate::admin_queue::run(config, crate::admin::QueueCmd::List { json: false })
        }
        rampart_config::StoreBackend::Sqlite => Ok(()),
        // Issue 20: the queue every node shares.
        rampart_config::StoreBackend::Postgresql => {
            let cmd = crate::admin::QueueCmd::List { json: false };
            crate::admin_pg::run(config, crate::admin_pg::DirectoryCmd::Queue(&cmd))
        }
    };
    if let Err(e) = queue {
        println!("queue: not readable ({e})");
    }
    Ok(())
}

/// The real uid of this process.
#[allow(unsafe_code)]
pub fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// The login name of `uid` (passwd database), if it has one.
#[allow(unsafe_code)]
pub fn login_of(uid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: an all-zero passwd is a valid value for getpwuid_r to fill.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call and buf's length is passed; the strings
    // written point into buf, which outlives their use below.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
        return None;
    }
    // SAFETY: pw_name is a NUL-terminated string inside buf (checked non-null above).
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    name.to_str().ok().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nc_2_1_9_invoked_names() {
        assert_eq!(invoked_as("/usr/sbin/sendmail"), Some(false));
        assert_eq!(invoked_as("sendmail"), Some(false));
        assert_eq!(invoked_as("/usr/bin/mailq"), Some(true));
        assert_eq!(invoked_as("/usr/bin/rampart"), None);
        assert_eq!(login_of(0).as_deref(), Some("root"));
    }
}
