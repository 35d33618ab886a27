//! The store traits' conformance suite ([`rampart_store::conformance`]) run against the embedded
//! SQLite backend: a fresh directory per check, reopened for the restart checks.

use async_trait::async_trait;
use rampart_store::conformance::Harness;
use rampart_store::{AnyStore, Sqlite};
use std::path::PathBuf;
use std::sync::Arc;

struct SqliteHarness;

/// A directory removed when the test ends.
struct Place(PathBuf);

impl Drop for Place {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[async_trait]
impl Harness for SqliteHarness {
    type Place = Place;

    async fn create(&self) -> Place {
        let n: [u8; 8] = rampart_store::random_bytes();
        let dir = std::env::temp_dir().join(format!(
            "rampart-conformance-{}",
            n.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Place(dir)
    }

    async fn open(&self, place: &Place) -> AnyStore {
        let (sqlite, _writer_thread) = Sqlite::open(&place.0).expect("the store opens");
        Arc::new(sqlite)
    }
}

rampart_store::conformance_tests!(SqliteHarness);
