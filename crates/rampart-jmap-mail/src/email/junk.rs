//! Training the spam classifier from the user's own judgement (AL-1.2): an email moved into
//! the Junk mailbox (role `junk`) is learned as spam, one moved out of Junk into any mailbox but
//! the Trash as ham. Lessons go into the account owner's counts and the installation's; the
//! store remembers each message, so moving it back and forth teaches only its last place.
//!
//! The webmail moves mail with the same Email/set, so it trains the same way. A failure to
//! train is logged; the move itself stands.

use std::collections::BTreeSet;

use rampart_checks::spam::bayes;
use rampart_store::spam_tokens::{Lesson, GLOBAL};
use rampart_store::AnyStore;

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
pub(crate) async fn train(store: &AnyStore, owner: &str, id: i64, spam: bool) {
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
    for scope in [GLOBAL, owner] {
        let lesson = Lesson {
            scope: scope.to_string(),
            digest: l.digest.clone(),
            spam,
            tokens: l.tokens.clone(),
        };
        if let Err(e) = store.spam_train(lesson).await {
            tracing::warn!(error = %e, account = owner, "spam training");
        }
    }
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
