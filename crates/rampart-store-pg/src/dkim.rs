//! DKIM signing keys on PostgreSQL ([`rampart_store::dkim_keys`]): one table every node reads,
//! so a key generated with any node's `rampart dkim generate` signs the mail of all of them
//! (AL-2.2). Each node's signer (rampart-queue's outbound delivery) asks [`DkimKeys::dkim_keys_stamp`]
//! before it re-reads the keys; see docs/SCALING.md for who can read the private keys.

use crate::{db, is_unique_violation, PgStore};
use async_trait::async_trait;
use rampart_store::dkim_keys::{DkimKey, DkimKeys, KeysStamp};
use rampart_store::{Result, StoreError};

#[async_trait]
impl DkimKeys for PgStore {
    async fn dkim_keys(&self) -> Result<Option<Vec<DkimKey>>> {
        let c = self.conn(&self.sessions).await?;
        let rows = c
            .query(
                "SELECT domain, selector, algorithm, private_key_pem, created FROM dkim_keys
                 ORDER BY domain COLLATE \"C\", selector COLLATE \"C\"",
                &[],
            )
            .await
            .map_err(db)?;
        Ok(Some(
            rows.iter()
                .map(|r| DkimKey {
                    domain: r.get(0),
                    selector: r.get(1),
                    algorithm: r.get(2),
                    private_key_pem: r.get(3),
                    created: r.get(4),
                })
                .collect(),
        ))
    }

    async fn dkim_keys_stamp(&self) -> Result<Option<KeysStamp>> {
        let c = self.conn(&self.sessions).await?;
        let row = c
            .query_one(
                "SELECT count(*), coalesce(max(created), 0) FROM dkim_keys",
                &[],
            )
            .await
            .map_err(db)?;
        Ok(Some((row.get(0), row.get(1))))
    }

    async fn dkim_key_add(&self, key: DkimKey) -> Result<()> {
        let domain = key.domain.to_ascii_lowercase();
        let c = self.conn(&self.sessions).await?;
        match c
            .execute(
                "INSERT INTO dkim_keys (domain, selector, algorithm, private_key_pem, created)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &domain,
                    &key.selector,
                    &key.algorithm,
                    &key.private_key_pem,
                    &key.created,
                ],
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Invalid(format!(
                "a key for selector {} of {domain} exists already in the shared database; \
                 choose a new selector to rotate",
                key.selector
            ))),
            Err(e) => Err(db(e)),
        }
    }
}
