//! The whole conformance suite of the store traits (`rampart_store::conformance_tests!`, every
//! check SQLite passes) against PostgreSQL through `AnyStore`, as the server will hold it: each
//! check on a cluster of its own (started by the test, removed after it), a place being a new
//! database and its options, and a restart being a new `PgStore` on them.

use async_trait::async_trait;
use rampart_store::conformance::Harness;
use rampart_store::AnyStore;
use rampart_store_pg::cluster::Cluster;
use rampart_store_pg::{PgOptions, PgStore};
use std::sync::Arc;

struct Pg {
    cluster: Cluster,
}

impl Pg {
    fn start() -> Pg {
        Pg {
            cluster: Cluster::start(),
        }
    }
}

#[async_trait]
impl Harness for Pg {
    type Place = PgOptions;

    async fn create(&self) -> PgOptions {
        let db = self.cluster.create_database().await;
        self.cluster.options(&db)
    }

    async fn open(&self, place: &PgOptions) -> AnyStore {
        let store = PgStore::open(place)
            .await
            .unwrap_or_else(|e| panic!("the store opens: {e}\n{}", self.cluster.log()));
        Arc::new(store)
    }
}

rampart_store::conformance_tests!(Pg::start());
