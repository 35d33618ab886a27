//! Conformance checks of [`SpamTokens`](crate::spam_tokens::SpamTokens): lessons counted once
//! per message and scope, a lesson the other way taking back the first (AL-1.2), scopes kept
//! apart, and everything kept across a restart.

use super::Harness;
use crate::spam_tokens::{Lesson, SpamTokens, Trained, TrainedCounts, GLOBAL};
use std::future::Future;

fn lesson(scope: &str, digest: u8, spam: bool, tokens: &[u64]) -> Lesson {
    Lesson {
        scope: scope.into(),
        digest: vec![digest; 32],
        spam,
        tokens: tokens.to_vec(),
        weight: 1,
    }
}

/// AL-1.2: the same message trained twice the same way counts once; trained the other way, its
/// first lesson is undone (its tokens move from one side to the other, nothing stays behind).
pub async fn spam_train_once_and_reverse<H: Harness>(h: &H) {
    let place = h.create().await;
    spam_train_once_and_reverse_on(&*h.open(&place).await).await;
}

/// AL-1.2: a lesson's weight (trained again until no errors) counts its tokens and the message
/// that many times; a weight is only raised the same way (a lower or equal one changes nothing,
/// as a user's move of a message trained in bulk must not undo the bulk lesson), and a lesson
/// the other way takes back all of it.
pub async fn spam_lesson_weights<H: Harness>(h: &H) {
    let place = h.create().await;
    spam_lesson_weights_on(&*h.open(&place).await).await;
}

pub async fn spam_lesson_weights_on<S: SpamTokens + ?Sized>(store: &S) {
    let t = [7u64, 8];
    let weighted = |spam: bool, weight: u32| Lesson {
        weight,
        ..lesson(GLOBAL, 9, spam, &t)
    };
    assert_eq!(
        store.spam_train(weighted(false, 1)).await.unwrap(),
        Trained::New
    );
    assert_eq!(
        store.spam_train(weighted(false, 3)).await.unwrap(),
        Trained::Weighted
    );
    let c = store.spam_token_counts(GLOBAL, &t).await.unwrap();
    assert_eq!(c.trained, TrainedCounts { spam: 0, ham: 3 });
    assert_eq!(c.tokens, vec![(7, 0, 3), (8, 0, 3)], "counted three times");
    for w in [1, 3] {
        assert_eq!(
            store.spam_train(weighted(false, w)).await.unwrap(),
            Trained::Already,
            "weight {w} the same way changes nothing"
        );
    }
    assert_eq!(
        store.spam_train(weighted(true, 1)).await.unwrap(),
        Trained::Reversed
    );
    let c = store.spam_token_counts(GLOBAL, &t).await.unwrap();
    assert_eq!(c.trained, TrainedCounts { spam: 1, ham: 0 });
    assert_eq!(
        c.tokens,
        vec![(7, 1, 0), (8, 1, 0)],
        "all three ham counts taken back"
    );
    assert_eq!(
        store.spam_train(weighted(true, 1000)).await.unwrap(),
        Trained::Weighted
    );
    let c = store.spam_token_counts(GLOBAL, &[7]).await.unwrap();
    assert_eq!(
        c.tokens,
        vec![(7, u64::from(crate::spam_tokens::MAX_WEIGHT), 0)],
        "a weight is at most MAX_WEIGHT"
    );
}

pub async fn spam_train_once_and_reverse_on<S: SpamTokens + ?Sized>(store: &S) {
    let t = [1u64, 2, u64::MAX];
    assert_eq!(
        store.spam_train(lesson(GLOBAL, 1, true, &t)).await.unwrap(),
        Trained::New
    );
    assert_eq!(
        store.spam_train(lesson(GLOBAL, 1, true, &t)).await.unwrap(),
        Trained::Already,
        "the same message trained the same way again changes nothing"
    );
    let c = store
        .spam_token_counts(GLOBAL, &[1, 2, 3, u64::MAX])
        .await
        .unwrap();
    assert_eq!(c.trained, TrainedCounts { spam: 1, ham: 0 });
    assert_eq!(
        c.tokens,
        vec![(1, 1, 0), (2, 1, 0), (u64::MAX, 1, 0)],
        "each token counted once, unseen tokens absent, all 64 bits kept"
    );
    assert_eq!(
        store
            .spam_train(lesson(GLOBAL, 1, false, &t))
            .await
            .unwrap(),
        Trained::Reversed
    );
    let c = store.spam_token_counts(GLOBAL, &t).await.unwrap();
    assert_eq!(
        c.trained,
        TrainedCounts { spam: 0, ham: 1 },
        "the spam lesson was taken back"
    );
    assert_eq!(c.tokens, vec![(1, 0, 1), (2, 0, 1), (u64::MAX, 0, 1)]);
    assert!(
        store.spam_train(lesson(GLOBAL, 9, true, &[])).await.is_ok(),
        "a message without tokens still counts as trained"
    );
    let mut bad = lesson(GLOBAL, 0, true, &t);
    bad.digest.clear();
    assert!(store.spam_train(bad).await.is_err(), "a digest is required");
}

/// A user's lessons stay in the user's scope (in any case of the address); every scope with its
/// counts survives a restart.
pub async fn spam_scopes_apart_and_kept<H: Harness>(h: &H) {
    let place = h.create().await;
    spam_scopes_apart_and_kept_on(|| h.open(&place)).await;
}

/// `open` opens the same store each time it is called (a restart between the calls).
pub async fn spam_scopes_apart_and_kept_on<S, P, F, Fut>(open: F)
where
    S: SpamTokens + ?Sized,
    P: std::ops::Deref<Target = S>,
    F: Fn() -> Fut,
    Fut: Future<Output = P>,
{
    {
        let store = open().await;
        store
            .spam_train(lesson("Alice@Local.Example", 1, true, &[7]))
            .await
            .unwrap();
        store
            .spam_train(lesson(GLOBAL, 1, true, &[7]))
            .await
            .unwrap();
        store
            .spam_train(lesson(GLOBAL, 2, false, &[8]))
            .await
            .unwrap();
        let alice = store
            .spam_token_counts("alice@local.example", &[7, 8])
            .await
            .unwrap();
        assert_eq!(alice.trained, TrainedCounts { spam: 1, ham: 0 });
        assert_eq!(
            alice.tokens,
            vec![(7, 1, 0)],
            "the global ham is not alice's"
        );
        let bob = store
            .spam_token_counts("bob@local.example", &[7])
            .await
            .unwrap();
        assert_eq!(bob.trained, TrainedCounts::default());
        assert!(bob.tokens.is_empty());
    }
    let store = open().await;
    let scopes = store.spam_scopes().await.unwrap();
    assert_eq!(
        scopes,
        vec![
            (GLOBAL.to_string(), TrainedCounts { spam: 1, ham: 1 }),
            (
                "alice@local.example".to_string(),
                TrainedCounts { spam: 1, ham: 0 }
            ),
        ],
        "the lessons survive a restart"
    );
    let c = store.spam_token_counts(GLOBAL, &[7, 8]).await.unwrap();
    assert_eq!(c.tokens, vec![(7, 1, 0), (8, 0, 1)]);
}
