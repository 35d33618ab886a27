//! The server's side of the drop directory (NC-2.1.9): each file `rampart sendmail` left is
//! submitted through the submission pipeline JMAP uses ([`rampart_smtp::submit::submit_via`]),
//! so sender alignment (NC-2.1.7), rate limits, the content checks and the trace apply as to
//! any submission, and removed only once the queue holds the message.
//!
//! When: at start, whenever the command pokes [`drop::WAKE_SOCKET`], and every
//! `sendmail.scan_interval_secs` in case a poke was missed.
//!
//! Whose message: the file's owner (set by the kernel, not by what the file says) is the local
//! user. The mail is sent as `sendmail.sender`, or else as `<login>@<hostname's domain>` when
//! that domain is local; that account's sending rules apply. The envelope sender is `-f`'s
//! address, or that account's address when `-f` was not given or named the null sender: the
//! submission pipeline refuses a null sender, and a bounce then reaches a mailbox.
//!
//! Exactly once: before submitting, a file is renamed to `.inflight` (and the directory
//! fsynced). One found in that state at start was being submitted at a crash: it is submitted
//! again only if the trace shows no "queued" event for its Message-ID since it was dropped
//! (the command gives every message a Message-ID; the event commits with the message).
//!
//! Refusals: a file the pipeline refuses permanently (5xx), or that is not a drop file, moves
//! to `refused/` with a log line, a trace event and, when possible, a notice to the sender's
//! mailbox. A temporary refusal (4xx) is tried again a minute later.

use super::args::Sender;
use super::drop::{self, Envelope, REFUSED_DIR, WAKE_SOCKET};
use super::message;
use rampart_smtp::submit::{submit_local_app, submit_via, Channel, Refusal};
use rampart_smtp::ServerContext;
use rampart_store::{TraceEvent, TraceFilter};
use std::collections::HashMap;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The submission channel, as the trace and the Received line name it.
const CHANNEL: Channel = Channel {
    helo: "localhost",
    name: "sendmail (local drop directory)",
    what: "submission by the sendmail command",
};
/// How long a temporarily refused file waits before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(60);
/// A temporary file this old was left by a command that died before its rename.
const STALE_TEMP: Duration = Duration::from_secs(24 * 3600);
/// Room for the drop header beside the message itself.
const HEADER_ALLOWANCE: u64 = 1024 * 1024;

/// A name the pickup reads: written by the command (`.msg`), or being submitted (`.inflight`).
pub fn is_message_name(name: &str) -> bool {
    !name.starts_with('.') && (name.ends_with(".msg") || name.ends_with(".inflight"))
}

/// Runs until shutdown. Each scan takes the SMTP listeners' context of the moment, so a
/// reload's checks and limits apply to dropped mail as to SMTP mail.
pub async fn run(server: Arc<rampart_smtp::Server>, mut shutdown: watch::Receiver<bool>) {
    let ctx = server.context();
    let dir = ctx.config.sendmail.drop_dir(&ctx.config.data_dir);
    if let Err(e) = prepare(&dir) {
        tracing::error!(dir = %dir.display(), error = %e, "drop directory unusable; rampart sendmail's messages wait until it is fixed");
        return;
    }
    let socket = bind_wake(&dir);
    let every = Duration::from_secs(u64::from(ctx.config.sendmail.scan_interval_secs.get()));
    let mut later: HashMap<String, Instant> = HashMap::new();
    loop {
        scan(&server.context(), &dir, &mut later, &shutdown).await;
        tokio::select! {
            changed = shutdown.changed() => if changed.is_err() || *shutdown.borrow() { break },
            () = woken(socket.as_ref()) => {}
            () = tokio::time::sleep(every) => {}
        }
    }
    let _ = std::fs::remove_file(dir.join(WAKE_SOCKET));
}

/// The drop directory (mode 3733 when made here: setgid, so dropped files take the service's
/// group and the server can read them without privileges; sticky, so callers cannot remove
/// each other's files) and its `refused/` (0700).
pub(crate) fn prepare(dir: &Path) -> std::io::Result<()> {
    if !dir.is_dir() {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o3733))?;
    }
    let refused = dir.join(REFUSED_DIR);
    match std::fs::symlink_metadata(&refused) {
        Ok(m) if is_ours_alone(&m) => return Ok(()),
        Ok(_) => {
            // Anyone may create names in the drop directory: a `refused` that is a link, a
            // file or a directory others can read was not made here, and refused mail (other
            // users' messages) must not go into it. It is set aside, not followed.
            let aside = dir.join(format!(
                ".refused-untrusted-{}",
                rampart_store::now_micros()
            ));
            tracing::error!(path = %refused.display(), aside = %aside.display(), "the drop directory's refused/ was not made by the server; set aside");
            std::fs::rename(&refused, &aside)?;
        }
        Err(_) => {}
    }
    std::fs::create_dir(&refused)?;
    std::fs::set_permissions(&refused, std::fs::Permissions::from_mode(0o700))
}

/// A real directory (not a link) owned by this process's user and closed to everyone else.
fn is_ours_alone(m: &std::fs::Metadata) -> bool {
    m.file_type().is_dir() && m.uid() == effective_uid() && m.mode() & 0o077 == 0
}

#[allow(unsafe_code)]
fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The socket the command pokes; anyone who may drop a file may poke (mode 0666 inside the
/// drop directory, whose own mode decides who reaches it).
fn bind_wake(dir: &Path) -> Option<tokio::net::UnixDatagram> {
    let path = dir.join(WAKE_SOCKET);
    let _ = std::fs::remove_file(&path);
    match tokio::net::UnixDatagram::bind(&path) {
        Ok(s) => {
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666));
            Some(s)
        }
        Err(e) => {
            tracing::warn!(error = %e, path = %path.display(), "no wake-up socket; the drop directory is scanned every few seconds only");
            None
        }
    }
}

/// Returns when a poke arrives (all pokes waiting are read); never without a socket.
async fn woken(socket: Option<&tokio::net::UnixDatagram>) {
    let Some(s) = socket else {
        return std::future::pending().await;
    };
    let mut buf = [0u8; 16];
    let _ = s.recv(&mut buf).await;
    while s.try_recv(&mut buf).is_ok() {}
}

/// One pass over the directory, oldest file first.
async fn scan(
    ctx: &Arc<ServerContext>,
    dir: &Path,
    later: &mut HashMap<String, Instant>,
    shutdown: &watch::Receiver<bool>,
) {
    let d = dir.to_path_buf();
    let names = tokio::task::spawn_blocking(move || list(&d)).await;
    let names = match names {
        Ok(Ok(n)) => n,
        Ok(Err(e)) => {
            tracing::error!(dir = %dir.display(), error = %e, "cannot read the drop directory");
            return;
        }
        Err(_) => return,
    };
    let now = Instant::now();
    later.retain(|n, at| *at > now && names.contains(n));
    for name in names {
        if *shutdown.borrow() {
            return;
        }
        if later.contains_key(&name) {
            continue;
        }
        if let Outcome::Later = pick_up(ctx, dir, &name).await {
            later.insert(name, Instant::now() + RETRY_AFTER);
        }
    }
}

/// The message files, sorted (their names start with the time); stale temporary files go.
fn list(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(".tmp-") {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > STALE_TEMP);
            if old {
                let _ = std::fs::remove_file(e.path());
            }
        } else if is_message_name(&name) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

enum Outcome {
    Done,
    Later,
}

/// A drop file as read: its owner and bytes.
struct Dropped {
    owner: u32,
    bytes: Vec<u8>,
}

/// Opens without following a link and without blocking on a FIFO: the directory is writable by
/// every local user, so a name there may point anywhere.
fn read_dropped(path: &Path, max: u64) -> Result<Dropped, String> {
    use std::io::Read;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot open: {e}"))?;
    let meta = f.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > max {
        return Err(format!("{} bytes, more than the limit", meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    f.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    Ok(Dropped {
        owner: meta.uid(),
        bytes,
    })
}

/// Submits one file.
async fn pick_up(ctx: &Arc<ServerContext>, dir: &Path, name: &str) -> Outcome {
    let path = dir.join(name);
    let max = u64::from(ctx.config.limits.max_message_size.get()) + HEADER_ALLOWANCE;
    let p = path.clone();
    let read = match tokio::task::spawn_blocking(move || read_dropped(&p, max)).await {
        Ok(r) => r,
        Err(_) => return Outcome::Later,
    };
    let dropped = match read {
        Ok(d) => d,
        // Gone meanwhile (another pass took it): nothing to do.
        Err(e) if !path.exists() => {
            tracing::debug!(file = name, error = %e, "drop file gone");
            return Outcome::Done;
        }
        Err(e) => return refuse(ctx, dir, name, None, &e).await,
    };
    let (env, body) = match drop::decode(&dropped.bytes) {
        Ok(x) => x,
        Err(e) => return refuse(ctx, dir, name, None, &e).await,
    };
    let login = crate::sendmail::login_of(dropped.owner);
    if env.uid != dropped.owner {
        // The owner is what the kernel says; the header only what the writer claimed.
        tracing::warn!(
            file = name,
            owner = dropped.owner,
            claimed = env.uid,
            "drop file's Uid is not its owner; the owner counts"
        );
    }
    let identity = match identity(ctx, login.as_deref()).await {
        Ok(i) => i,
        Err(e) => return refuse(ctx, dir, name, None, &e).await,
    };
    let message_id = message_id_of(body);
    let path = if name.ends_with(".inflight") {
        if already_queued(ctx, message_id.as_deref(), env.time).await {
            tracing::info!(
                file = name,
                "already queued before a restart; removing the drop file"
            );
            remove(dir, &path).await;
            return Outcome::Done;
        }
        path
    } else {
        match mark_inflight(dir, name).await {
            Some(p) => p,
            None => return Outcome::Later,
        }
    };
    let (mail_from, rcpts, msg) = submission(&env, &identity, body);
    let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // NC-2.1.9: a null client has no accounts; its local applications submit as loopback
    // clients do, under the null-client rules (represented domains, the bounce address).
    let submitted = if ctx.config.null_client.is_some() {
        submit_local_app(ctx, &CHANNEL, &mail_from, &rcpts, &msg).await
    } else {
        submit_via(ctx, &CHANNEL, peer, &identity, &mail_from, &rcpts, &msg).await
    };
    match submitted {
        Ok(id) => {
            ctx.queue_notify.notify_one();
            let mut e = TraceEvent::new(
                "pickup",
                format!(
                    "from the drop directory ({file}), uid {} ({})",
                    dropped.owner,
                    login.as_deref().unwrap_or("?")
                ),
            );
            e.queue_id = Some(id.0.clone());
            e.message_id = message_id;
            e.sender = Some(mail_from);
            ctx.store.record(e).await;
            tracing::info!(file, queue_id = %id, user = login.as_deref().unwrap_or("?"), "picked up from the drop directory");
            remove(dir, &path).await;
            Outcome::Done
        }
        Err(r) if r.code < 500 => {
            tracing::warn!(file, code = r.code, reason = %r.text, "drop file refused for now; trying again later");
            Outcome::Later
        }
        Err(r) => {
            let why = describe(&r);
            refuse(ctx, dir, &file, Some((&env, &identity)), &why).await
        }
    }
}

/// Renames `name` to its `.inflight` name, durably, before it is submitted.
async fn mark_inflight(dir: &Path, name: &str) -> Option<PathBuf> {
    let inflight = dir.join(format!("{}.inflight", name.trim_end_matches(".msg")));
    let (from, to, d) = (dir.join(name), inflight.clone(), dir.to_path_buf());
    let moved = tokio::task::spawn_blocking(move || {
        std::fs::rename(&from, &to).and_then(|()| drop::sync_dir(&d))
    })
    .await;
    if !matches!(moved, Ok(Ok(()))) {
        tracing::warn!(
            file = name,
            "cannot mark the drop file in flight; trying later"
        );
        return None;
    }
    Some(inflight)
}

/// What is submitted for a drop file sent as `identity`: envelope sender, recipients, message.
fn submission(env: &Envelope, identity: &str, body: &[u8]) -> (String, Vec<String>, Vec<u8>) {
    let domain = identity
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or_default();
    // Unqualified addresses (cron's `To: root`) are the sender's domain's, as in Postfix.
    let rcpts = env
        .recipients
        .iter()
        .map(|r| {
            if r.contains('@') {
                r.clone()
            } else {
                format!("{r}@{domain}")
            }
        })
        .collect();
    let from_ok = message::from_addresses(body)
        .is_some_and(|a| !a.is_empty() && a.iter().all(|x| x.contains('@')));
    let msg = if from_ok {
        body.to_vec()
    } else {
        message::set_from(body, identity, env.full_name.as_deref())
    };
    let mail_from = match &env.sender {
        Sender::Address(a) => a.clone(),
        Sender::Null | Sender::Default => identity.to_string(),
    };
    (mail_from, rcpts, msg)
}

/// The account local mail is sent as: `sendmail.sender`, else `login@<hostname's domain>`
/// when that domain is local.
async fn identity(ctx: &ServerContext, login: Option<&str>) -> Result<String, String> {
    if let Some(s) = &ctx.config.sendmail.sender {
        return Ok(s.clone());
    }
    let host = ctx.config.hostname.get_ref();
    let domain = host.split_once('.').map(|(_, d)| d).unwrap_or(host);
    let login = login.ok_or("the file's owner has no login name")?;
    // A null client represents domains without holding them: the login at the host's domain
    // when it is represented, else the bounce address (NC-2.1.9).
    if let Some(nc) = &ctx.config.null_client {
        let own = format!("{login}@{domain}");
        if nc.represents(&own) {
            return Ok(own);
        }
        return nc
            .bounce_address
            .clone()
            .ok_or_else(|| "null_client.bounce_address is not set".to_owned());
    }
    match ctx.store.is_local_domain(domain).await {
        Ok(true) => Ok(format!("{login}@{domain}")),
        Ok(false) => Err(format!(
            "sendmail.sender is not set and {domain} (from hostname) is not a local domain"
        )),
        Err(e) => Err(format!("cannot look up {domain}: {e}")),
    }
}

/// The Message-ID (without angle brackets), as the trace records it.
fn message_id_of(msg: &[u8]) -> Option<String> {
    let head_end = msg
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(msg.len());
    let head = String::from_utf8_lossy(&msg[..head_end]);
    let mut lines = head.split("\r\n").peekable();
    while let Some(l) = lines.next() {
        let Some((n, v)) = l.split_once(':') else {
            continue;
        };
        if n.trim().eq_ignore_ascii_case("message-id") {
            let mut v = v.trim().to_string();
            while let Some(next) = lines.peek().filter(|n| n.starts_with([' ', '\t'])) {
                v.push_str(next.trim());
                lines.next();
            }
            let v = v
                .trim_start_matches('<')
                .trim_end_matches('>')
                .trim()
                .to_string();
            return (!v.is_empty()).then_some(v);
        }
    }
    None
}

/// Whether the trace shows this message queued since it was dropped.
async fn already_queued(ctx: &ServerContext, message_id: Option<&str>, dropped: i64) -> bool {
    let Some(id) = message_id else { return false };
    let filter = TraceFilter {
        message_id: Some(id.to_string()),
        since: Some((dropped - 60) * 1_000_000),
        limit: 100,
        ..TraceFilter::default()
    };
    match ctx.store.trace(&filter).await {
        Ok(events) => events
            .iter()
            .any(|e| e.event == "queued" && e.message_id.as_deref() == Some(id)),
        Err(e) => {
            tracing::warn!(error = %e, "trace lookup failed; submitting the drop file again");
            false
        }
    }
}

fn describe(r: &Refusal) -> String {
    format!("{} {} {}", r.code, r.enhanced, r.text).replace("  ", " ")
}

/// Removes a submitted file and makes that durable.
async fn remove(dir: &Path, path: &Path) {
    let (p, d) = (path.to_path_buf(), dir.to_path_buf());
    let _ = tokio::task::spawn_blocking(move || {
        std::fs::remove_file(&p).and_then(|()| drop::sync_dir(&d))
    })
    .await;
}

/// Moves a file the pipeline refused to `refused/`, says why, and tells the sender.
async fn refuse(
    ctx: &Arc<ServerContext>,
    dir: &Path,
    name: &str,
    sent: Option<(&Envelope, &str)>,
    why: &str,
) -> Outcome {
    let kept = format!(
        "{}.msg",
        name.trim_end_matches(".inflight").trim_end_matches(".msg")
    );
    let (from, to): (PathBuf, PathBuf) = (dir.join(name), dir.join(REFUSED_DIR).join(&kept));
    let (d, r) = (dir.to_path_buf(), dir.join(REFUSED_DIR));
    let moved = tokio::task::spawn_blocking(move || {
        std::fs::rename(&from, &to)
            .and_then(|()| drop::sync_dir(&r))
            .and_then(|()| drop::sync_dir(&d))
    })
    .await;
    if !matches!(moved, Ok(Ok(()))) {
        tracing::error!(file = name, "cannot move a refused drop file to refused/");
        return Outcome::Later;
    }
    tracing::warn!(file = %kept, reason = why, "drop file refused; kept in {}/", REFUSED_DIR);
    let mut e = TraceEvent::new(
        "pickup",
        format!("drop file {kept} refused: {why}; kept in {REFUSED_DIR}/"),
    );
    if let Some((env, identity)) = sent {
        e.sender = Some(identity.to_string());
        e.recipient = env.recipients.first().cloned();
        notify_sender(ctx, identity, env, &kept, why).await;
    }
    ctx.store.record(e).await;
    Outcome::Done
}

/// A notice to the local sender's mailbox (from the null sender, so it never bounces again).
async fn notify_sender(ctx: &Arc<ServerContext>, to: &str, env: &Envelope, file: &str, why: &str) {
    let host = ctx.config.hostname.get_ref();
    let now = rampart_store::now_micros() / 1_000_000;
    let id = format!("{now}.{}.refused@{host}", file.trim_end_matches(".msg"));
    let body = format!(
        "From: \"Mail Delivery System\" <MAILER-DAEMON@{host}>\r\nTo: <{to}>\r\n\
         Subject: Undelivered Mail: sendmail message refused\r\nDate: {date}\r\n\
         Message-ID: <{id}>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         A message handed to the sendmail command was refused and not sent.\r\n\r\n\
         Reason: {why}\r\nRecipients: {rcpts}\r\nDrop file: {file} (kept in {REFUSED_DIR}/)\r\n",
        date = rampart_store::rfc5322_date(now),
        rcpts = env.recipients.join(", "),
    );
    match ctx
        .store
        .enqueue_generated(
            to,
            body.into_bytes(),
            id,
            &format!("sendmail refusal notice for {file}"),
        )
        .await
    {
        Ok(_) => ctx.queue_notify.notify_one(),
        Err(e) => tracing::warn!(error = %e, to, "the refusal notice could not be queued"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nc_2_1_9_null_sender_and_unqualified_addresses() {
        let env = Envelope {
            uid: 0,
            user: "root".into(),
            time: 0,
            sender: Sender::Null,
            full_name: Some("CronDaemon".into()),
            recipients: vec!["root".into(), "bob@example.test".into()],
        };
        let body = b"From: root (Cron Daemon)\r\nTo: root\r\n\r\nx\r\n";
        let (from, rcpts, msg) = submission(&env, "alice@example.test", body);
        // The null sender goes as the account, so the pipeline takes it and a bounce arrives.
        assert_eq!(from, "alice@example.test");
        assert_eq!(rcpts, vec!["root@example.test", "bob@example.test"]);
        assert!(msg.starts_with(b"From: CronDaemon <alice@example.test>\r\nTo: root\r\n"));
        let env = Envelope {
            sender: Sender::Address("bob@example.test".into()),
            ..env
        };
        let body = b"From: Bob <bob@example.test>\r\n\r\nx\r\n";
        let (from, _, msg) = submission(&env, "alice@example.test", body);
        assert_eq!(from, "bob@example.test");
        assert_eq!(msg, body, "a qualified From is left as written");
    }

    #[test]
    fn nc_2_1_9_names_and_message_ids() {
        assert!(is_message_name("1-2-ab.msg"));
        assert!(is_message_name("1-2-ab.inflight"));
        assert!(!is_message_name(".tmp-1-2-ab"));
        assert!(!is_message_name("pickup.sock"));
        assert!(!is_message_name("refused"));
        assert_eq!(
            message_id_of(b"Subject: x\r\nMessage-ID:\r\n <1.a@h>\r\n\r\nMessage-ID: <no>\r\n"),
            Some("1.a@h".into())
        );
        assert_eq!(message_id_of(b"Subject: x\r\n\r\n"), None);
    }

    #[test]
    fn nc_2_1_9_a_planted_refused_link_is_not_followed() {
        let base =
            std::env::temp_dir().join(format!("rampart-refused-unit-{}", std::process::id()));
        let (dir, target) = (base.join("drop"), base.join("elsewhere"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&target).unwrap();
        std::os::unix::fs::symlink(&target, dir.join(REFUSED_DIR)).unwrap();
        prepare(&dir).unwrap();
        let m = std::fs::symlink_metadata(dir.join(REFUSED_DIR)).unwrap();
        assert!(is_ours_alone(&m), "a real 0700 directory replaced the link");
        // An open one, as another user could make it, is replaced too.
        std::fs::remove_dir(dir.join(REFUSED_DIR)).unwrap();
        std::fs::create_dir(dir.join(REFUSED_DIR)).unwrap();
        std::fs::set_permissions(
            dir.join(REFUSED_DIR),
            std::fs::Permissions::from_mode(0o777),
        )
        .unwrap();
        prepare(&dir).unwrap();
        let m = std::fs::symlink_metadata(dir.join(REFUSED_DIR)).unwrap();
        assert_eq!(m.mode() & 0o777, 0o700);
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn nc_2_1_9_fifo_and_links_are_not_read() {
        let dir = std::env::temp_dir().join(format!("rampart-pickup-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let link = dir.join("l.msg");
        std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
        assert!(read_dropped(&link, 1 << 20).is_err());
        let fifo = dir.join("f.msg");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        #[allow(unsafe_code)]
        // SAFETY: a valid NUL-terminated path.
        let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
        assert_eq!(rc, 0);
        assert_eq!(
            read_dropped(&fifo, 1 << 20).err().as_deref(),
            Some("not a regular file")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
