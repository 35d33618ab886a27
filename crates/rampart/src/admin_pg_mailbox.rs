//! `rampart mailbox list|show|delete|grant|revoke|grants` and `rampart user token add|list|revoke` on the PostgreSQL
//! store (issue 20), with the output and audit events of the embedded store's commands
//! (admin.rs, admin_mailbox.rs): a message delivered by any node is listed, read or deleted
//! with any node's command line, a delegation or a token made with one node's is in force on
//! every node, and the administrator's read, delete, grant, token or revocation is in the shared
//! mailbox audit (AL-3.1) before the command reports success.

use crate::admin::{print_mailbox, Error, MailboxCmd};
use crate::admin_mailbox::{delete_event, deleted_line, no_message, read_event, read_reason};
use crate::admin_mailbox::{granted, no_grant, parse_rights, print_grants, revoked};
use crate::admin_mailbox::{
    no_token, print_token_created, print_tokens, token_created_event, token_revoked_event,
    token_terms, TokenCmd,
};
use rampart_store::api::{Directory, Mailboxes};
use rampart_store::MailboxEvent;
use rampart_store_pg::PgStore;
use std::io::Write;

/// Whether `mailbox` runs here (`mailbox audit` runs in admin_pg_security.rs).
pub fn supported(cmd: &MailboxCmd) -> bool {
    matches!(
        cmd,
        MailboxCmd::List { .. }
            | MailboxCmd::Show { .. }
            | MailboxCmd::Delete { .. }
            | MailboxCmd::Grant { .. }
            | MailboxCmd::Revoke { .. }
            | MailboxCmd::Grants { .. }
    )
}

pub async fn mailbox(store: &PgStore, cmd: &MailboxCmd) -> Result<(), Error> {
    match cmd {
        MailboxCmd::List { user, json } => {
            let user = known_user(store, user).await?;
            print_mailbox(&store.mailbox_list(&user).await?, *json)?;
        }
        MailboxCmd::Show { user, id, reason } => {
            let reason = read_reason(reason)?;
            let user = user.to_ascii_lowercase();
            let Some(bytes) = store.mailbox_message(&user, *id).await? else {
                return Err(no_message(&user, *id));
            };
            // AL-3.1: an administrator's read is recorded before anything is shown.
            record(store, read_event(&user, *id, reason)).await?;
            std::io::stdout().write_all(&bytes)?;
        }
        MailboxCmd::Delete { user, id, reason } => {
            let user = known_user(store, user).await?;
            if !store.mailbox_delete(&user, *id).await? {
                return Err(no_message(&user, *id));
            }
            record(store, delete_event(&user, *id, reason)).await?;
            println!("{}", deleted_line(&user, *id));
        }
        MailboxCmd::Grant {
            owner,
            delegate,
            rights,
        } => {
            let r = parse_rights(rights)?;
            store.grant_set(owner, delegate, r).await?;
            let (event, line) = granted(owner, delegate, r);
            record(store, event).await?;
            println!("{line}");
        }
        MailboxCmd::Revoke { owner, delegate } => {
            let (owner, delegate) = (owner.to_ascii_lowercase(), delegate.to_ascii_lowercase());
            if !store.grant_revoke(&owner, &delegate).await? {
                return Err(no_grant(&owner, &delegate));
            }
            let (event, line) = revoked(&owner, &delegate);
            record(store, event).await?;
            println!("{line}");
        }
        MailboxCmd::Grants { owner, json } => {
            print_grants(&store.grants(owner.as_deref()).await?, *json)?
        }
        MailboxCmd::Audit(_) => return Err(crate::store_cmd::refuse_postgresql_command().into()),
    }
    Ok(())
}

/// `rampart user token ...` on PostgreSQL.
pub async fn token(store: &PgStore, cmd: &TokenCmd) -> Result<(), Error> {
    match cmd {
        TokenCmd::Add {
            address,
            name,
            scope,
            expires,
        } => {
            let (scopes, expires) = token_terms(scope, expires)?;
            let (token, info) = store.token_create(address, name, &scopes, expires).await?;
            record(store, token_created_event(&info)).await?;
            print_token_created(&token, &info);
        }
        TokenCmd::List { address, json } => print_tokens(&store.tokens(address).await?, *json)?,
        TokenCmd::Revoke { address, id } => {
            if !store.token_revoke(address, id).await? {
                return Err(no_token(address, id));
            }
            record(store, token_revoked_event(address, id)).await?;
            println!("token {id} revoked");
        }
    }
    Ok(())
}

/// `user` in lower case, or the error the embedded store gives for an unknown user.
async fn known_user(store: &PgStore, user: &str) -> Result<String, Error> {
    let lower = user.trim().to_ascii_lowercase();
    if !store.users().await?.contains(&lower) {
        return Err(crate::admin_user::no_user(&lower));
    }
    Ok(lower)
}

/// The command has done its work: an event that cannot be stored is an error the
/// administrator sees (an unaudited action must not pass silently).
async fn record(store: &PgStore, e: MailboxEvent) -> Result<(), Error> {
    store
        .insert_mailbox_events(&[e])
        .await
        .map_err(|err| format!("the mailbox audit could not record this: {err}").into())
}
