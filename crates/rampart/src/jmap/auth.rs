//! Who may use JMAP: HTTP Basic against the same Argon2id accounts as SMTP AUTH, through the
//! same guard (NC-2.1.4: the same growing delays and blocks, whatever the service), and the
//! accounts a user reaches.

use rampart_jmap::http::Credentials;
use rampart_jmap::{Access, Account, Origin, User};
use rampart_jmap_mail::ids;

use super::JmapBackend;

/// The user the credentials prove, or None.
pub(super) async fn authenticate(
    b: &JmapBackend,
    credentials: &Credentials,
    origin: &Origin,
) -> Option<User> {
    let Credentials::Basic { username, password } = credentials else {
        return None;
    };
    let ip = origin.ip?;
    let guard = &b.ctx.auth_guard;
    // NC-2.1.8: counted against the address, and a hashing slot, before any hash.
    let attempt = guard.begin(ip).ok()?;
    let slot = attempt.hash_slot().await.ok()?;
    let store = b.store.clone();
    let (u, p) = (username.clone(), password.clone());
    let ok = tokio::spawn(async move {
        let _slot = slot;
        store.verify_password(&u, &p).await
    })
    .await
    .ok()?;
    match ok {
        Ok(true) => {
            attempt.succeeded(username);
            let address = username.to_ascii_lowercase();
            if let Err(e) = b.store.mailbox_ensure(&address).await {
                tracing::error!(error = %e, "the role mailboxes could not be created");
                return None;
            }
            Some(user_for(&address))
        }
        Ok(false) => {
            let (delay, _blocked) = attempt.failed(username);
            tokio::time::sleep(delay).await;
            None
        }
        Err(e) => {
            tracing::error!(error = %e, "password check failed");
            None
        }
    }
}

/// The user `address` with their own account.
pub(super) fn user_for(address: &str) -> User {
    let id = ids::account(address);
    let account = Account {
        id: id.clone(),
        name: address.to_owned(),
        is_personal: true,
        is_read_only: false,
        account_capabilities: rampart_jmap_mail::account_capabilities(Access::Owner),
        owner: address.to_owned(),
        access: Access::Owner,
    };
    let primary_accounts = account
        .account_capabilities
        .keys()
        .map(|c| (c.clone(), id.clone()))
        .collect();
    User {
        username: address.to_owned(),
        accounts: vec![account],
        primary_accounts,
        origin: Origin::default(),
    }
}
