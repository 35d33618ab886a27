//! AL-1.2: the classifier's tokeniser is versioned. Lessons an older tokeniser taught stay in the
//! store but no longer count, and `rampart spam status` and `rampart audit` say so and ask for
//! retraining; lessons of the current version count as before.

use crate::common;

use common::{cli, cli_raw, TempDir};
use rampart_store::{Lesson, SpamTokens, Sqlite, Trained};

#[test]
fn al_1_2_bayes_lessons_of_an_older_tokeniser_are_reported_for_retraining() {
    let dir = TempDir::new("bayes-version");
    let data = dir.0.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let config = dir.0.join("rampart.toml");
    std::fs::write(
        &config,
        format!(
            "hostname = \"mx.example.test\"\ndata_dir = \"{}\"\n\
             [checks.spam.bayes]\nmin_spam = 1\nmin_ham = 1\n",
            data.display()
        ),
    )
    .unwrap();

    // What a version 1 installation holds: lessons whose tokens carry no version marker.
    let (store, writer) = Sqlite::open(&data).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for (i, spam) in [(1u8, true), (2, true), (3, true), (4, false), (5, false)] {
            let l = Lesson {
                scope: String::new(),
                digest: vec![0xee, i],
                spam,
                tokens: vec![u64::from(i), 1000 + u64::from(i)],
                weight: 1,
            };
            assert_eq!(store.spam_train(l).await.unwrap(), Trained::New);
        }
    });
    drop(store);
    writer.join().unwrap();

    let status = cli(&config, &["spam", "status"], None);
    assert!(
        status.contains("installation: 0 spam, 0 ham trained (not yet in effect"),
        "old lessons do not count: {status}"
    );
    assert!(
        status.contains(
            "installation: 3 spam and 2 ham trained with an older tokeniser no longer count"
        ),
        "{status}"
    );
    let audit = cli_raw(&config, &["audit"], None);
    let report = String::from_utf8_lossy(&audit.stdout);
    assert!(
        report.contains(
            "3 spam and 2 ham lessons of the installation were trained with an older tokeniser"
        ),
        "{report}"
    );

    // Retrained with the current tokeniser: those lessons count, the old ones are still named.
    let spam = dir.0.join("spam.eml");
    std::fs::write(
        &spam,
        "From: <promo@offers.test>\r\nSubject: lottery winner\r\nMessage-ID: <s1@offers.test>\r\n\r\n\
         Claim your lottery prize now.\r\n",
    )
    .unwrap();
    let ham = dir.0.join("ham.eml");
    std::fs::write(
        &ham,
        "From: <carol@partner.test>\r\nSubject: meeting minutes\r\nMessage-ID: <h1@partner.test>\r\n\r\n\
         The minutes of the budget meeting are attached.\r\n",
    )
    .unwrap();
    let out = cli(
        &config,
        &[
            "spam",
            "train",
            "--spam",
            spam.to_str().unwrap(),
            "--ham",
            ham.to_str().unwrap(),
            // Each message counted once (not trained again until no errors), so the counts
            // below are the messages.
            "--tune-passes",
            "0",
        ],
        None,
    );
    assert!(
        out.contains("installation: 1 spam, 1 ham trained (in effect)"),
        "{out}"
    );
    assert!(
        out.contains("installation: 3 spam and 2 ham trained with an older tokeniser"),
        "{out}"
    );
}
