//! DKIM signing keys kept in the store, for installations whose nodes must all sign with the
//! same keys (AL-2.2, the NC guideline on signatures; issue 20).
//!
//! The embedded store keeps none: one node signs with the key files of its own data directory
//! (`data_dir/dkim/`, rampart-queue's `dkim` module), and [`DkimKeys`] on SQLite answers `None`
//! ("ask the files"). A shared store (PostgreSQL) keeps them in a table, so a key generated with
//! one node's command line signs the mail of every node. The private key is a PEM text (PKCS#1
//! for RSA, PKCS#8 for Ed25519); this crate neither parses nor prints it.

use crate::sqlite::Sqlite;
use crate::{Result, StoreError};
use async_trait::async_trait;

/// One signing key as the store keeps it.
#[derive(Clone, PartialEq, Eq)]
pub struct DkimKey {
    /// The signing domain (d=), lower case.
    pub domain: String,
    /// The selector (s=): one DNS label.
    pub selector: String,
    /// `rsa` or `ed25519`.
    pub algorithm: String,
    /// The private key, PEM.
    pub private_key_pem: String,
    /// Microseconds since the epoch.
    pub created: i64,
}

/// Never prints the private key (a key listed or logged by mistake is a key to rotate).
impl std::fmt::Debug for DkimKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimKey")
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .field("algorithm", &self.algorithm)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

/// What changes whenever a key is added or removed: (how many keys, the newest one's creation).
pub type KeysStamp = (i64, i64);

/// The store's DKIM keys. `None` from a reader: this store keeps none, the node's files are
/// the keys (the embedded store).
#[async_trait]
pub trait DkimKeys: Send + Sync {
    /// Every key, by domain and selector.
    async fn dkim_keys(&self) -> Result<Option<Vec<DkimKey>>>;
    /// A cheap look at whether the keys changed since a reader last read them: a signer asks it
    /// before it re-reads every key.
    async fn dkim_keys_stamp(&self) -> Result<Option<KeysStamp>>;
    /// Adds a key; an error naming the selector when the domain has a key of that selector
    /// already (a selector is one DNS record: rotation is a new selector).
    async fn dkim_key_add(&self, key: DkimKey) -> Result<()>;
}

/// The embedded store: the keys are the files of the data directory.
#[async_trait]
impl DkimKeys for Sqlite {
    async fn dkim_keys(&self) -> Result<Option<Vec<DkimKey>>> {
        Ok(None)
    }

    async fn dkim_keys_stamp(&self) -> Result<Option<KeysStamp>> {
        Ok(None)
    }

    async fn dkim_key_add(&self, _key: DkimKey) -> Result<()> {
        Err(StoreError::Invalid(
            "the embedded store keeps DKIM keys as files of the data directory \
             (`rampart dkim generate` writes them there)"
                .into(),
        ))
    }
}
