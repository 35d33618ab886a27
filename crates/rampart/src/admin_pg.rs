//! The administrative commands that run on the PostgreSQL store (issue 20), so any node's
//! configuration administers the one database every node reads:
//! - the directory — `domain add|list|remove`,
//!   `user add|list|delete|send-as|send-as-list|password|disable|enable`, `alias add|list|remove`, `user token add|list|revoke` ([`crate::admin_pg_mailbox`]) — through the Directory trait and the store's account methods (NC-2.1.2:
//!   only accounts the administrator creates exist; the password policy applies as on SQLite);
//! - `trace` (AL-3.1: the whole timeline, whichever nodes received and delivered);
//! - `queue list|retry|hold|release|delete|bounce` (the same rules as on SQLite; a running node
//!   sees a change at its next look at the queue; a bounce's notification is queued in the
//!   commit that fails the recipients, [`crate::queue_bounce`]);
//! - `mailbox list|show|delete|grant|revoke|grants` ([`crate::admin_pg_mailbox`]; AL-3.1: audited as on SQLite);
//! - `quarantine`, `ban` and `mailbox audit` ([`crate::admin_pg_security`]).
//! - `dkim generate|list` (AL-2.2: the key is kept in the database and signs on every node;
//!   [`crate::dkim_pg`]).
//!
//! The other commands still work on the embedded store only and are refused with one line
//! ([`crate::store_cmd::refuse_postgresql`]).

use crate::admin::{print_names, print_pairs, read_password, AliasCmd, DomainCmd, UserCmd};
use crate::admin::{DkimCmd, Error, MailboxCmd, QuarantineCmd, TraceArgs};
use crate::admin_queue::{done_line, parse_id, print_list, unknown, QueueCmd};
use crate::ban::BanCmd;
use rampart_config::Config;
use rampart_store::api::{Directory, Queue, Trace};
use rampart_store_pg::PgStore;

/// A command that may run on PostgreSQL ([`DirectoryCmd::supported`] says whether it does).
pub enum DirectoryCmd<'a> {
    Domain(&'a DomainCmd),
    User(&'a UserCmd),
    Alias(&'a AliasCmd),
    Trace(&'a TraceArgs),
    Queue(&'a QueueCmd),
    Quarantine(&'a QuarantineCmd),
    Ban(&'a BanCmd),
    Mailbox(&'a MailboxCmd),
    Dkim(&'a DkimCmd),
}

impl DirectoryCmd<'_> {
    /// Whether this command runs on PostgreSQL.
    pub fn supported(&self) -> bool {
        matches!(
            self,
            DirectoryCmd::Domain(_)
                | DirectoryCmd::User(
                    UserCmd::Add { .. }
                        | UserCmd::List { .. }
                        | UserCmd::SendAs { .. }
                        | UserCmd::SendAsList { .. }
                        | UserCmd::Password { .. }
                        | UserCmd::Disable { .. }
                        | UserCmd::Enable { .. }
                        | UserCmd::Token(_)
                        | UserCmd::Delete { .. }
                )
                | DirectoryCmd::Alias(_)
                | DirectoryCmd::Trace(_)
                | DirectoryCmd::Dkim(_)
                | DirectoryCmd::Queue(
                    QueueCmd::List { .. }
                        | QueueCmd::Retry { .. }
                        | QueueCmd::Hold { .. }
                        | QueueCmd::Release { .. }
                        | QueueCmd::Delete { .. }
                        | QueueCmd::Bounce { .. }
                )
                | DirectoryCmd::Quarantine(_)
                | DirectoryCmd::Ban(_)
                | DirectoryCmd::Mailbox(MailboxCmd::Audit(_))
        ) || matches!(self, DirectoryCmd::Mailbox(c) if crate::admin_pg_mailbox::supported(c))
    }
}

/// Runs a supported directory command on the configured PostgreSQL database.
pub fn run(config: &Config, cmd: DirectoryCmd<'_>) -> Result<(), Error> {
    // The password is asked for before the database is opened, as on SQLite.
    let password = match &cmd {
        DirectoryCmd::User(UserCmd::Add { password_stdin, .. }) => {
            let p = read_password(*password_stdin, "the new user")?;
            crate::password_policy::check_password(&config.passwords, &p)?;
            Some(p)
        }
        _ => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let store = crate::store_cmd::open_pg(config).await?;
        execute(config, &store, cmd, password).await
    })
}

async fn execute(
    config: &Config,
    store: &PgStore,
    cmd: DirectoryCmd<'_>,
    password: Option<String>,
) -> Result<(), Error> {
    match cmd {
        DirectoryCmd::Domain(DomainCmd::Add { name, postmaster }) => {
            store.add_domain(name).await?;
            let name = name.to_ascii_lowercase();
            if let Some(target) = postmaster {
                for local in ["postmaster", "abuse"] {
                    store.add_alias(&format!("{local}@{name}"), target).await?;
                }
            }
            println!("domain {name} added");
        }
        DirectoryCmd::Domain(DomainCmd::List { json }) => {
            print_names(store.domains().await?, "domain", *json)
        }
        DirectoryCmd::Domain(DomainCmd::Remove { name, force }) => {
            crate::admin_user::print_domain_removed(&store.remove_domain(name, *force).await?)
        }
        DirectoryCmd::Alias(AliasCmd::Remove { alias, target }) => {
            let removed = store.remove_alias(alias, target.as_deref()).await?;
            crate::admin_user::print_aliases_removed(alias, &removed);
        }
        DirectoryCmd::User(UserCmd::Add { address, .. }) => {
            store
                .add_user(address, password.as_deref().unwrap_or_default())
                .await?;
            println!("user {} added", address.to_ascii_lowercase());
        }
        DirectoryCmd::User(UserCmd::Password {
            address,
            password_stdin,
        }) => {
            // Unknown users are named before a password is asked for, as on SQLite.
            let lower = address.to_ascii_lowercase();
            if !store.users().await?.contains(&lower) {
                return Err(rampart_store::directory::no_user(&lower).into());
            }
            let password = read_password(*password_stdin, &lower)?;
            crate::password_policy::check_password(&config.passwords, &password)?;
            store.set_password(address, &password).await?;
            println!("{}", crate::admin::password_line(address));
        }
        DirectoryCmd::User(UserCmd::Disable { address }) => {
            store.set_disabled(address, true).await?;
            println!("{}", crate::admin_mailbox::disabled_line(address, true));
        }
        DirectoryCmd::User(UserCmd::Enable { address }) => {
            store.set_disabled(address, false).await?;
            println!("{}", crate::admin_mailbox::disabled_line(address, false));
        }
        DirectoryCmd::User(UserCmd::Delete {
            address,
            purge_mail,
        }) => {
            // Unknown users are named as on SQLite.
            let lower = address.trim().to_ascii_lowercase();
            if !store.users().await?.contains(&lower) {
                return Err(crate::admin_user::no_user(&lower));
            }
            let gone = store.delete_user(&lower, *purge_mail).await?;
            crate::admin_user::print_user_deleted(&gone);
        }
        DirectoryCmd::User(UserCmd::Token(c)) => crate::admin_pg_mailbox::token(store, c).await?,
        DirectoryCmd::User(UserCmd::List { json }) => {
            print_names(store.users().await?, "address", *json)
        }
        DirectoryCmd::User(UserCmd::SendAs {
            user,
            address,
            remove,
        }) => {
            if *remove {
                store.remove_send_as(user, address).await?;
            } else {
                store.add_send_as(user, address).await?;
            }
            println!("{}", crate::admin::send_as_line(user, address, *remove));
        }
        DirectoryCmd::User(UserCmd::SendAsList { json }) => {
            print_pairs(store.send_as_grants().await?, ("user", "address"), *json)
        }
        DirectoryCmd::Alias(AliasCmd::Add { alias, target }) => {
            store.add_alias(alias, target).await?;
            println!(
                "alias {} -> {} added",
                alias.to_ascii_lowercase(),
                target.to_ascii_lowercase()
            );
        }
        DirectoryCmd::Alias(AliasCmd::List { json }) => {
            print_pairs(store.aliases().await?, ("alias", "target"), *json)
        }
        DirectoryCmd::Trace(a) => {
            let (filter, json) = crate::admin::trace_filter(a.clone())?;
            crate::admin::print_trace(store.trace(&filter).await?, json, filter.limit)?;
        }
        DirectoryCmd::Queue(QueueCmd::List { json }) => {
            print_list(store.queue_list().await?, *json)
        }
        DirectoryCmd::Queue(
            cmd @ (QueueCmd::Retry { id }
            | QueueCmd::Hold { id }
            | QueueCmd::Release { id }
            | QueueCmd::Delete { id }),
        ) => {
            let qid = parse_id(id)?;
            let (action, known) = match cmd {
                QueueCmd::Retry { .. } => ("retry", store.queue_retry_now(&qid).await?),
                QueueCmd::Hold { .. } => ("hold", store.queue_hold(&qid).await?),
                QueueCmd::Release { .. } => ("release", store.queue_release(&qid).await?),
                _ => ("delete", store.queue_delete(&qid).await?),
            };
            if !known {
                return Err(unknown(id));
            }
            println!("{}", done_line(action, id));
        }
        DirectoryCmd::Queue(QueueCmd::Bounce { id }) => {
            let qid = parse_id(id)?;
            if !crate::queue_bounce::bounce_pg(store, config, &qid).await? {
                return Err(unknown(id));
            }
            println!("{}", done_line("bounce", id));
        }
        DirectoryCmd::Quarantine(c) => crate::admin_pg_security::quarantine(store, c).await?,
        DirectoryCmd::Ban(c) => crate::admin_pg_security::ban(config, store, c).await?,
        DirectoryCmd::Mailbox(MailboxCmd::Audit(a)) => {
            crate::admin_pg_security::mailbox_audit(config, store, a).await?
        }
        DirectoryCmd::Mailbox(c) if crate::admin_pg_mailbox::supported(c) => {
            crate::admin_pg_mailbox::mailbox(store, c).await?
        }
        DirectoryCmd::Dkim(c) => crate::dkim_pg::run(store, &config.data_dir, c).await?,
        _ => return Err(crate::store_cmd::refuse_postgresql_command().into()),
    }
    Ok(())
}
