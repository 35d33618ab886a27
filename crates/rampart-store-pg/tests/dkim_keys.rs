//! DKIM keys on PostgreSQL (AL-2.2, issue 20): a key added through one node's store is read by
//! another's, the stamp a signer asks moves when a key is added, and a second key of a selector
//! is refused with a sentence that names it.

use rampart_store::dkim_keys::{DkimKey, DkimKeys};
use rampart_store_pg::cluster::Cluster;
use rampart_store_pg::PgStore;

fn key(domain: &str, selector: &str, algorithm: &str, created: i64) -> DkimKey {
    DkimKey {
        domain: domain.into(),
        selector: selector.into(),
        algorithm: algorithm.into(),
        private_key_pem: format!(
            "-----BEGIN PRIVATE KEY-----\n{selector}\n-----END PRIVATE KEY-----\n"
        ),
        created,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_added_on_one_node_is_read_on_the_other() {
    let cluster = Cluster::start();
    let db = cluster.create_database().await;
    let a = PgStore::open(&cluster.options(&db)).await.unwrap();
    let b = PgStore::open(&cluster.options(&db)).await.unwrap();

    assert_eq!(b.dkim_keys().await.unwrap(), Some(vec![]));
    let empty = b.dkim_keys_stamp().await.unwrap();
    assert_eq!(empty, Some((0, 0)));

    a.dkim_key_add(key("Example.TEST", "s2", "ed25519", 20))
        .await
        .unwrap();
    a.dkim_key_add(key("example.test", "s1", "rsa", 10))
        .await
        .unwrap();
    let stamp = b.dkim_keys_stamp().await.unwrap();
    assert_eq!(stamp, Some((2, 20)), "the stamp moves with each key added");

    // By domain and selector; the domain in lower case; the PEM as it was given.
    let keys = b.dkim_keys().await.unwrap().unwrap();
    assert_eq!(
        keys,
        vec![
            key("example.test", "s1", "rsa", 10),
            key("example.test", "s2", "ed25519", 20)
        ]
    );
    // Debug output (logs) names the key, never its private part.
    let shown = format!("{:?}", keys[0]);
    assert!(
        shown.contains("s1") && !shown.contains("PRIVATE"),
        "{shown}"
    );

    // One key per selector (one DNS record), whichever algorithm; the rows stay as they were.
    let err = b
        .dkim_key_add(key("example.test", "s1", "ed25519", 30))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("selector s1 of example.test exists already"),
        "{err}"
    );
    assert_eq!(a.dkim_keys_stamp().await.unwrap(), stamp);

    // The schema refuses an algorithm nothing could sign with.
    let err = a
        .dkim_key_add(key("example.test", "s3", "dsa", 40))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("23514"), "a check violation: {err}");
}
