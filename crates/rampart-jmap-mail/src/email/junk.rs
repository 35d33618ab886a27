//! Training the spam classifier from the user's own judgement (AL-1.2): an email moved into
//! the Junk mailbox (role `junk`) is learned as spam, one moved out of Junk into any mailbox but
//! the Trash as ham. Lessons go into the account owner's counts and the installation's; the
//! store remembers each message, so moving it back and forth teaches only its last place.
//!
//! The webmail moves mail with the same Email/set, so it trains the same way. A failure to
//! train is logged; the move itself stands.
//!
//! Each lesson is also a trace event (AL-3.1), `trained`, with the message's Message-ID, its
//! Return-Path as the sender and the account as the recipient: the message's timeline shows the
//! user's correction, and the system report (AL-3.2) counts mail moved out of and into Junk,
//! the false positives and misses the users saw.
//!
//! The move also judges the sender (`rampart_store::trusted_senders`): out of Junk, the
//! message's From is trusted when its domain was authenticated on arrival, so that user's
//! later tagged mail from it is delivered to the Inbox; into Junk, it is no longer trusted. The
//! trace event says which.
//!
//! When Rspamd runs beside Rampart with its controller configured (`[checks.spam.rspamd]
//! controller`), the same correction is posted to its `/learnspam` or `/learnham`, after the
//! move has answered; what Rspamd said is a second `trained` event ("Rspamd learned it …" or
//! "Rspamd could not learn it: …"), which the report does not count again.

use std::collections::BTreeSet;

use rampart_checks::spam::bayes;
use rampart_checks::spam::rspamd::{self, Learned};
use rampart_store::spam_tokens::{Lesson, Trained, GLOBAL};
use rampart_store::summary::{MOVED_INTO_JUNK, MOVED_OUT_OF_JUNK, TRAINED};
use rampart_store::{TraceEvent, TrustChange};

/// The Junk and Trash mailboxes of an account, by id.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct JunkBoxes {
    pub junk: Option<i64>,
    pub trash: Option<i64>,
}

/// What a move teaches: Some(true) spam, Some(false) ham, None nothing.
pub(crate) fn lesson_of(
    boxes: JunkBoxes,
    old: &BTreeSet<i64>,
    new: &BTreeSet<i64>,
) -> Option<bool> {
    let junk = boxes.junk?;
    match (old.contains(&junk), new.contains(&junk)) {
        (false, true) => Some(true),
        (true, false) if !boxes.trash.is_some_and(|t| new.contains(&t)) => Some(false),
        _ => None,
    }
}

/// Learns email `id` of `owner` as spam or ham.
pub(crate) async fn train(m: &crate::MailMethods, owner: &str, id: i64, spam: bool) {
    let store = &m.store;
    // AL-1.2: out of Junk, its authenticated sender is trusted; into Junk, no longer. Judged
    // first: it needs the store's record of the message, not a reading of it.
    let trust = match store.judge_sender(owner, id, !spam).await {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!(error = %e, account = owner, "trusted senders");
            None
        }
    };
    let raw = match store.email_raw(owner, id).await {
        Ok(Some(raw)) => raw,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, account = owner, "spam training: reading the email");
            return;
        }
    };
    let Some(l) = bayes::lesson(&raw) else {
        tracing::info!(
            account = owner,
            email = id,
            "spam training: the email could not be read"
        );
        return;
    };
    let mut learned = false;
    for scope in [GLOBAL, owner] {
        let lesson = Lesson {
            scope: scope.to_string(),
            digest: l.digest.clone(),
            spam,
            tokens: l.tokens.clone(),
            weight: 1,
        };
        match store.spam_train(lesson).await {
            // A lesson that changed nothing (this user trained this message the same way
            // before) is no correction to report; another user's lesson of the same message
            // is theirs, and this one counts.
            Ok(t) => learned |= scope == owner && t != Trained::Already,
            Err(e) => tracing::warn!(error = %e, account = owner, "spam training"),
        }
    }
    if !learned {
        return;
    }
    let event = lesson_event(&l, owner, spam, trust.as_ref());
    store.record(event.clone()).await;
    // AL-1.2: the correction teaches Rspamd's Bayes too, without holding up the move.
    let Some(cfg) = m.rspamd.as_ref().and_then(|now| now()) else {
        return;
    };
    if cfg.controller.is_none() {
        return;
    }
    let store = store.clone();
    tokio::spawn(async move {
        let kind = if spam { "spam" } else { "ham" };
        let detail = match rspamd::learn(&cfg, spam, &raw).await {
            Ok(Some(Learned::Now)) => format!("Rspamd learned it as {kind} (AL-1.2)"),
            Ok(Some(Learned::Already)) => {
                format!("Rspamd had learned it as {kind} already (AL-1.2)")
            }
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "spam training: Rspamd");
                format!("Rspamd could not learn it as {kind}: {e} (AL-1.2)")
            }
        };
        // Its own time: Rspamd answered after the move was recorded.
        store
            .record(TraceEvent {
                ts: rampart_store::now_micros(),
                detail,
                ..event
            })
            .await;
    });
}

/// AL-3.1: the trace event of a lesson a move taught, with the Message-ID and Return-Path the
/// lesson's one read of the message found.
fn lesson_event(
    l: &bayes::Lesson,
    owner: &str,
    spam: bool,
    trust: Option<&TrustChange>,
) -> TraceEvent {
    let mut detail = if spam {
        format!("{MOVED_INTO_JUNK} in the mailbox of {owner}: learned as spam (AL-1.2)")
    } else {
        format!("{MOVED_OUT_OF_JUNK} in the mailbox of {owner}: learned as ham (AL-1.2)")
    };
    match trust {
        Some(TrustChange::Trusted(a)) => detail.push_str(&format!(
            "; its authenticated sender {} is trusted from now on",
            printable(a, 300)
        )),
        Some(TrustChange::Distrusted(a)) => detail.push_str(&format!(
            "; its authenticated sender {} is no longer trusted",
            printable(a, 300)
        )),
        Some(TrustChange::NotAuthenticated) if !spam => {
            detail.push_str("; its sender was not authenticated, so it is not trusted")
        }
        _ => {}
    }
    TraceEvent {
        message_id: l.message_id.as_deref().map(|id| printable(id, 998)),
        sender: l.return_path.as_deref().map(|s| printable(s, 300)),
        recipient: Some(owner.to_string()),
        ..TraceEvent::new(TRAINED, detail)
    }
}

/// At most `max` characters, control characters left out: header values go into the trace.
fn printable(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn al_1_2_moves_into_and_out_of_junk_teach() {
        let b = JunkBoxes {
            junk: Some(5),
            trash: Some(6),
        };
        let set = |v: &[i64]| v.iter().copied().collect::<BTreeSet<i64>>();
        assert_eq!(
            lesson_of(b, &set(&[1]), &set(&[5])),
            Some(true),
            "into Junk: spam"
        );
        assert_eq!(
            lesson_of(b, &set(&[5]), &set(&[1])),
            Some(false),
            "out to Inbox: ham"
        );
        assert_eq!(
            lesson_of(b, &set(&[5]), &set(&[6])),
            None,
            "spam thrown away: nothing"
        );
        assert_eq!(
            lesson_of(b, &set(&[1]), &set(&[2])),
            None,
            "Junk not involved"
        );
        assert_eq!(
            lesson_of(JunkBoxes::default(), &set(&[1]), &set(&[5])),
            None
        );
    }
}
