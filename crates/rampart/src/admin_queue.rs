//! `rampart queue`: the queue, and the administrator's actions on one message of it.
//!
//! - `list [--json]`: every recipient, with its status.
//! - `retry ID`: the message's waiting recipients are due now.
//! - `hold ID` / `release ID`: a held message is never attempted until released.
//! - `delete ID`: the message leaves the queue undelivered (no bounce).
//! - `bounce ID`: its waiting recipients fail for good and the sender is told
//!   ([`crate::queue_bounce`], as the console's Bounce button).
//!
//! A running server sees each change at its next look at the queue (within
//! `rampart_queue::RESCAN`). Every action is a trace event.

use crate::admin::{format_time, open, Error};
use clap::Subcommand;
use rampart_config::Config;
use rampart_store::{QueueId, RecipientStatus, Store};

#[derive(Subcommand)]
pub enum QueueCmd {
    /// Every recipient in the queue, with its status.
    List {
        /// One JSON object per recipient: id, recipient, status, attempts, last reply, next
        /// attempt.
        #[arg(long)]
        json: bool,
    },
    /// Deliver a message now: its waiting recipients (deferred ones too) are due at once.
    Retry {
        /// The queue id, as `rampart queue list` shows it.
        id: String,
    },
    /// Hold a message: none of its recipients is attempted until `rampart queue release`.
    Hold {
        /// The queue id, as `rampart queue list` shows it.
        id: String,
    },
    /// Release a message held with `rampart queue hold`: it is due at once. (A message in
    /// quarantine is released with `rampart quarantine release`.)
    Release {
        /// The queue id, as `rampart queue list` shows it.
        id: String,
    },
    /// Delete a message from the queue: its recipients are not delivered and no bounce is sent.
    Delete {
        /// The queue id, as `rampart queue list` shows it.
        id: String,
    },
    /// Bounce a message: its waiting recipients fail for good and the sender is sent a
    /// delivery status notification saying the delivery was cancelled.
    Bounce {
        /// The queue id, as `rampart queue list` shows it.
        id: String,
    },
}

pub fn run(config: &Config, cmd: QueueCmd) -> Result<(), Error> {
    let store = open(config)?;
    match cmd {
        QueueCmd::List { json } => list(&store, json),
        QueueCmd::Retry { id } => {
            act(&store, &id, Store::queue_retry_now)?;
            println!("{}", done_line("retry", &id));
            Ok(())
        }
        QueueCmd::Hold { id } => {
            act(&store, &id, Store::queue_hold)?;
            println!("{}", done_line("hold", &id));
            Ok(())
        }
        QueueCmd::Release { id } => {
            act(&store, &id, Store::queue_release)?;
            println!("{}", done_line("release", &id));
            Ok(())
        }
        QueueCmd::Delete { id } => {
            act(&store, &id, Store::queue_delete)?;
            println!("{}", done_line("delete", &id));
            Ok(())
        }
        QueueCmd::Bounce { id } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the runtime: {e}"))?;
            act(&store, &id, |store, qid| {
                runtime.block_on(crate::queue_bounce::bounce(store, config, qid))
            })?;
            println!("{}", done_line("bounce", &id));
            Ok(())
        }
    }
}

/// Runs one action; an id that is not a queue id, or that no queued message has, is the one
/// clear line.
fn act(
    store: &Store,
    id: &str,
    f: impl FnOnce(&Store, &QueueId) -> rampart_store::Result<bool>,
) -> Result<(), Error> {
    if f(store, &parse_id(id)?)? {
        Ok(())
    } else {
        Err(unknown(id))
    }
}

/// The queue id an administrator typed, or the one clear line.
pub fn parse_id(id: &str) -> Result<QueueId, Error> {
    QueueId::parse(id.trim()).ok_or_else(|| unknown(id))
}

/// No queued message has `id`.
pub fn unknown(id: &str) -> Error {
    format!("no message {id} in the queue; see rampart queue list").into()
}

/// What `rampart queue ACTION ID` prints once done.
pub fn done_line(action: &str, id: &str) -> String {
    match action {
        "retry" => format!("{id}: due now; it is attempted within seconds"),
        "hold" => format!("{id}: held; it is not attempted until `rampart queue release {id}`"),
        "release" => format!("{id}: released; it is attempted within seconds"),
        "delete" => format!("{id}: deleted from the queue"),
        _ => format!("{id}: bounced; the sender is told the delivery was cancelled"),
    }
}

fn list(store: &Store, json: bool) -> Result<(), Error> {
    print_list(store.queue_list()?, json);
    Ok(())
}

/// One line per recipient: queue id, recipient, a one-word label for scripts, the status with its
/// last reply, and the attempts made; or one JSON object per recipient.
pub fn print_list(entries: Vec<rampart_store::QueueEntry>, json: bool) {
    for e in entries {
        if json {
            let (reply, next) = match &e.status {
                RecipientStatus::Delivered(r) => (Some(r.clone()), None),
                RecipientStatus::TemporaryFailure {
                    reply,
                    next_attempt,
                } => (Some(reply.clone()), Some(format_time(*next_attempt))),
                RecipientStatus::PermanentFailure(f) => {
                    (Some(format!("{} {}", f.status, f.reply)), None)
                }
                RecipientStatus::Scheduled | RecipientStatus::Held => (None, None),
            };
            let v = serde_json::json!({
                "id": e.message.0,
                "recipient": e.recipient,
                "status": e.status.label(),
                "attempts": e.attempts,
                "last_reply": reply,
                "next_attempt": next,
            });
            println!("{v}");
        } else {
            println!(
                "{}\t{}\t{}\t{}\t{} attempts",
                e.message,
                e.recipient,
                e.status.label(),
                e.status,
                e.attempts
            );
        }
    }
}
