//! What the unit tests share: a store in a temporary directory (removed when dropped) and its
//! owner as a JMAP user.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use rampart_jmap::{Access, Account, Origin, User};
use rampart_store::AnyStore;
use serde_json::Map;

use crate::ids;

/// A store of its own, in a directory removed with it.
pub(crate) struct TempStore {
    pub dir: PathBuf,
    pub store: AnyStore,
}

impl Drop for TempStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh store whose user `owner` has the role mailboxes.
pub(crate) async fn temp_store(prefix: &str, owner: &str) -> TempStore {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let (sqlite, _writer) = rampart_store::Sqlite::open(&dir).unwrap();
    let store: AnyStore = Arc::new(sqlite);
    store.mailbox_ensure(owner).await.unwrap();
    TempStore { dir, store }
}

/// `owner` as the user of their own account, with no capabilities listed (the methods do not
/// read them), coming from `origin`.
pub(crate) fn owner_user(owner: &str, origin: Origin) -> User {
    User {
        username: owner.into(),
        accounts: vec![Account {
            id: ids::account(owner),
            name: owner.into(),
            is_personal: true,
            is_read_only: false,
            account_capabilities: Map::new(),
            owner: owner.into(),
            access: Access::Owner,
        }],
        primary_accounts: BTreeMap::new(),
        origin,
    }
}
