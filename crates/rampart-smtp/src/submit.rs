//! Submission from inside the server (JMAP's EmailSubmission): the message goes through exactly
//! the code an SMTP submission client meets, because it *is* an SMTP submission. [`submit`] runs
//! a [`Session`] of the submission role, already authenticated as the user, over an in-memory
//! stream, and speaks EHLO, MAIL FROM, RCPT TO and BDAT to it.
//!
//! ```text
//! submit ──duplex──▶ Session (submission role, authenticated)
//!                      MAIL: sender alignment NC-2.1.7, rate limits NC-2.1.8
//!                      RCPT: recipient policy, rate limits
//!                      BDAT: loop check, header policy NC-2.1.7 / AL-4.2, content checks
//!                            (DLP AL-1.5, antivirus, ...), durable commit, trace
//! ```
//! DKIM signing happens at outbound delivery (rampart-queue), as for any submitted mail.

use crate::session::{ServerContext, Session};
use rampart_config::{Listener, Role};
use rampart_store::QueueId;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream};

/// Where in the transaction the session refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// MAIL FROM: the envelope sender (alignment, rate limits).
    Sender,
    /// RCPT TO: these recipients were refused; every other was accepted.
    Recipients(Vec<String>),
    /// The message itself: header policy, content checks, size, storage.
    Message,
}

/// A refusal by the pipeline: the stage and the SMTP reply as the session gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub stage: Stage,
    pub code: u16,
    /// The enhanced status code as sent (`5.7.1`), empty when there was none.
    pub enhanced: String,
    pub text: String,
}

impl Refusal {
    fn new(stage: Stage, r: WireReply) -> Refusal {
        Refusal {
            stage,
            code: r.code,
            enhanced: r.enhanced,
            text: r.text,
        }
    }

    /// A refusal before anything was sent: an address that cannot be written in a command.
    fn syntax(stage: Stage, what: &str) -> Refusal {
        let enhanced = if matches!(stage, Stage::Sender) {
            "5.1.7"
        } else {
            "5.1.3"
        };
        Refusal {
            stage,
            code: 501,
            enhanced: enhanced.into(),
            text: format!("Bad {what} address syntax"),
        }
    }
}

/// The settings of the configured submission listener, or the submission defaults.
fn submission_listener(ctx: &ServerContext) -> Listener {
    ctx.config
        .listeners
        .iter()
        .find(|l| l.role.is_submission())
        .cloned()
        .unwrap_or_else(|| Listener {
            require_tls: true,
            ..Listener::new(Role::Submission, SocketAddr::from(([127, 0, 0, 1], 587)))
        })
}

/// Submits `message` from `mail_from` to `rcpt_to` as the authenticated `user`, whose request
/// came from `peer` (the HTTPS client: the trace, the rate limits and the Received line name
/// it). Returns the queue id once the message is durable, or the refusal.
pub async fn submit(
    ctx: &Arc<ServerContext>,
    peer: SocketAddr,
    user: &str,
    mail_from: &str,
    rcpt_to: &[String],
    message: &[u8],
) -> Result<QueueId, Refusal> {
    submit_via(ctx, &Channel::JMAP, peer, user, mail_from, rcpt_to, message).await
}

/// Where an internal submission came from, as the trace and the Received line name it.
pub struct Channel {
    /// The EHLO name of the internal client (the Received line's `from`).
    pub helo: &'static str,
    /// The session's channel (the Received line's `with` comment).
    pub name: &'static str,
    /// The trace's connect event: "{what} from {ip}, authenticated as {user}".
    pub what: &'static str,
}

impl Channel {
    /// JMAP's EmailSubmission.
    pub const JMAP: Channel = Channel {
        helo: "jmap.internal",
        name: "JMAP over HTTPS",
        what: "submission over JMAP (HTTPS)",
    };
}

/// [`submit`] for another internal channel (the sendmail command's drop directory).
pub async fn submit_via(
    ctx: &Arc<ServerContext>,
    via: &Channel,
    peer: SocketAddr,
    user: &str,
    mail_from: &str,
    rcpt_to: &[String],
    message: &[u8],
) -> Result<QueueId, Refusal> {
    check_paths(mail_from, rcpt_to)?;
    let channel = via.name.to_string();
    let session =
        Session::authenticated(ctx.clone(), submission_listener(ctx), peer, user, channel);
    // AL-3.1: the trace says where this submission came from.
    session
        .trace(
            "connect",
            format!("{} from {}, authenticated as {user}", via.what, peer.ip()),
            None,
        )
        .await;
    converse_with(session, via, mail_from, rcpt_to, message).await
}

/// A local application's submission on a null client (NC-2.1.9): like a loopback client of the
/// submission listener, without AUTH; the session's null-client rules apply (represented
/// domains only, the envelope sender rewritten to the bounce address, everything to the
/// primary server).
pub async fn submit_local_app(
    ctx: &Arc<ServerContext>,
    via: &Channel,
    mail_from: &str,
    rcpt_to: &[String],
    message: &[u8],
) -> Result<QueueId, Refusal> {
    check_paths(mail_from, rcpt_to)?;
    let peer = SocketAddr::from(([127, 0, 0, 1], 0));
    let session = Session::new(ctx.clone(), submission_listener(ctx), peer);
    session
        .trace("connect", format!("{} on this host", via.what), None)
        .await;
    converse_with(session, via, mail_from, rcpt_to, message).await
}

/// What goes into a command line must not end it or open another.
fn check_paths(mail_from: &str, rcpt_to: &[String]) -> Result<(), Refusal> {
    if !writable_path(mail_from) {
        return Err(Refusal::syntax(Stage::Sender, "sender"));
    }
    if let Some(bad) = rcpt_to.iter().find(|r| r.is_empty() || !writable_path(r)) {
        return Err(Refusal::syntax(
            Stage::Recipients(vec![bad.clone()]),
            "recipient",
        ));
    }
    Ok(())
}

/// Runs `session` over an in-memory stream and submits the message through it.
async fn converse_with(
    mut session: Session,
    via: &Channel,
    mail_from: &str,
    rcpt_to: &[String],
    message: &[u8],
) -> Result<QueueId, Refusal> {
    let (client, mut server) = tokio::io::duplex(64 * 1024);
    let serve = async move {
        if let Err(e) = session.run(&mut server).await {
            tracing::warn!(error = %e, "internal submission session failed");
        }
    };
    let speak = async move {
        let mut client = BufReader::new(client);
        let out = converse(&mut client, via.helo, mail_from, rcpt_to, message).await;
        // QUIT whatever happened, and read the 221 so the session closes cleanly; a session
        // that already ended answers nothing, and dropping the stream ends it either way.
        let _ = command(&mut client, "QUIT\r\n").await;
        out
    };
    let ((), out) = tokio::join!(serve, speak);
    out
}

/// The client's side of the exchange.
async fn converse(
    io: &mut BufReader<DuplexStream>,
    helo: &str,
    mail_from: &str,
    rcpt_to: &[String],
    message: &[u8],
) -> Result<QueueId, Refusal> {
    let lost = |stage: Stage| {
        Refusal::new(
            stage,
            WireReply {
                code: 451,
                enhanced: "4.3.0".into(),
                text: "The submission session ended unexpectedly; try again later".into(),
            },
        )
    };
    let r = command(io, &format!("EHLO {helo}\r\n"))
        .await
        .ok_or_else(|| lost(Stage::Sender))?;
    if r.code != 250 {
        return Err(Refusal::new(Stage::Sender, r));
    }
    let utf8 = !mail_from.is_ascii() || rcpt_to.iter().any(|r| !r.is_ascii());
    let mail = format!(
        "MAIL FROM:<{mail_from}> SIZE={}{}\r\n",
        message.len(),
        if utf8 { " SMTPUTF8" } else { "" }
    );
    let r = command(io, &mail)
        .await
        .ok_or_else(|| lost(Stage::Sender))?;
    if r.code != 250 {
        return Err(Refusal::new(Stage::Sender, r));
    }
    let mut refused = Vec::new();
    let mut first_refusal = None;
    for rcpt in rcpt_to {
        let r = command(io, &format!("RCPT TO:<{rcpt}>\r\n"))
            .await
            .ok_or_else(|| lost(Stage::Recipients(Vec::new())))?;
        if r.code != 250 {
            refused.push(rcpt.clone());
            first_refusal.get_or_insert(r);
        }
    }
    // All or nothing: a submission is sent to every recipient it names or to none.
    if let Some(r) = first_refusal {
        let _ = command(io, "RSET\r\n").await;
        return Err(Refusal::new(Stage::Recipients(refused), r));
    }
    // BDAT (RFC 3030): the message goes as it is, no dot-stuffing to get wrong.
    let head = format!("BDAT {} LAST\r\n", message.len());
    let w = io.get_mut();
    let sent = async {
        w.write_all(head.as_bytes()).await?;
        w.write_all(message).await?;
        w.flush().await
    };
    sent.await.map_err(|_| lost(Stage::Message))?;
    let r = read_reply(io).await.ok_or_else(|| lost(Stage::Message))?;
    if r.code != 250 {
        return Err(Refusal::new(Stage::Message, r));
    }
    // "250 2.0.0 Ok: queued as ID" (reply::queued).
    match r.text.rsplit_once("queued as ") {
        Some((_, id)) if !id.trim().is_empty() => Ok(QueueId(id.trim().to_owned())),
        _ => Err(lost(Stage::Message)),
    }
}

/// One reply as read from the session.
struct WireReply {
    code: u16,
    enhanced: String,
    text: String,
}

/// Sends `line` and reads the reply; None when the session ended.
async fn command(io: &mut BufReader<DuplexStream>, line: &str) -> Option<WireReply> {
    io.get_mut().write_all(line.as_bytes()).await.ok()?;
    io.get_mut().flush().await.ok()?;
    read_reply(io).await
}

async fn read_reply(io: &mut BufReader<DuplexStream>) -> Option<WireReply> {
    let mut text = Vec::new();
    loop {
        let mut line = String::new();
        if io.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']);
        let code: u16 = line.get(..3)?.parse().ok()?;
        let last = line.as_bytes().get(3) != Some(&b'-');
        text.push(line.get(4..).unwrap_or("").to_owned());
        if last {
            let all = text.join(" ");
            let (enhanced, rest) = split_enhanced(&all);
            return Some(WireReply {
                code,
                enhanced,
                text: rest,
            });
        }
    }
}

/// `5.7.1 Some text` into ("5.7.1", "Some text").
fn split_enhanced(s: &str) -> (String, String) {
    let (first, rest) = s.split_once(' ').unwrap_or((s, ""));
    let parts: Vec<&str> = first.split('.').collect();
    let is_code = parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if is_code {
        (first.to_owned(), rest.to_owned())
    } else {
        (String::new(), s.to_owned())
    }
}

/// An address that can stand between `<` and `>` in a command without changing it.
fn writable_path(a: &str) -> bool {
    !a.chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '<' || c == '>')
}

/// Whether a refusal at the message stage was about the From or Sender header (NC-2.1.7), as
/// the session words it in its header policy; a content check's refusal is not.
pub fn is_header_sender_refusal(r: &Refusal) -> bool {
    r.stage == Stage::Message
        && r.code >= 500
        && (r.text.starts_with("Header From ")
            || r.text.starts_with("Header Sender ")
            || r.text.starts_with("Message has no From header"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_and_paths() {
        assert_eq!(
            split_enhanced("5.7.1 Header From <x@y> is not"),
            ("5.7.1".into(), "Header From <x@y> is not".into())
        );
        assert_eq!(
            split_enhanced("mail.example.test"),
            (String::new(), "mail.example.test".into())
        );
        assert!(writable_path("alice@example.test"));
        assert!(writable_path(""));
        for bad in ["a>@b", "a@b> SIZE=1", "a\r\nRCPT TO:<x@y>", "a b@c"] {
            assert!(!writable_path(bad), "{bad:?}");
        }
    }
}
