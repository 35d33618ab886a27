//! The security administrator's commands on the PostgreSQL store (issue 20), through the store
//! traits, with the output functions of the SQLite path:
//! - `quarantine list|show|release|delete` (Quarantine; AL-1.2, AL-1.4, AL-1.5, AL-2.4): a
//!   release puts the message back on the shared queue, due at once and free of any lease, so
//!   whichever node claims it first delivers it, once; the trace names who released or deleted
//!   it, in the same commit, as on SQLite;
//! - `ban list|add|remove|allow` (Bans; NC-2.4.2): one ban list for every node. A ban or a
//!   lift moves the store's ban generation, which every node reads every `rampart_ids::REFRESH`
//!   and then reloads its list, so a lift on one host is in force on all within about a
//!   second. The SMTP AUTH guard's temporary blocks after failed logins live in each node's
//!   memory: `ban remove` lifts them on every node through an event in the shared IDS log
//!   ([`crate::unblock_watch`]), and at once on the node of this host (its admin socket);
//! - `mailbox audit` (MailboxAudit; AL-3.1): the events every node recorded.

use crate::admin::{self, Error, QuarantineCmd};
use crate::admin_mailbox::{audit_filter, print_audit, AuditArgs};
use crate::ban::{self, BanCmd};
use crate::unblock_watch;
use rampart_config::{Config, IpNet};
use rampart_ids::net::parse_network;
use rampart_store::api::{MailboxAudit, Quarantine, Queue};
use rampart_store::{Bans, IdsEvent, QueueId};
use rampart_store_pg::PgStore;

/// `rampart quarantine ...` on PostgreSQL.
pub async fn quarantine(store: &PgStore, cmd: &QuarantineCmd) -> Result<(), Error> {
    let who = admin::quarantine_actor();
    match cmd {
        QuarantineCmd::List { json } => {
            admin::print_quarantine(&store.quarantine_list().await?, *json)?
        }
        QuarantineCmd::Show { id } => {
            let h = store
                .quarantine_get(id)
                .await?
                .ok_or_else(|| admin::not_in_quarantine(id))?;
            let bytes = store.message_bytes(&QueueId(id.clone()), true).await?;
            admin::print_held(&h, &bytes)?;
        }
        QuarantineCmd::Release { id } => {
            store.quarantine_release(id, &who).await?;
            println!("{}", admin::released_line(id));
        }
        QuarantineCmd::Delete { id } => {
            store.quarantine_delete(id, &who).await?;
            println!("{id} deleted");
        }
    }
    Ok(())
}

/// `rampart ban ...` on PostgreSQL: the same rules as [`crate::ban::run`] on SQLite.
pub async fn ban(config: &Config, store: &PgStore, cmd: &BanCmd) -> Result<(), Error> {
    let now = rampart_store::now_micros();
    match cmd {
        BanCmd::List { json } => ban::print_list(
            config,
            &store.list_active(now).await?,
            store.allowed().await?,
            *json,
        ),
        BanCmd::Add {
            network,
            reason,
            secs,
            permanent,
        } => {
            let net = parse_network(network)?;
            if ban::on_allow_list(config, store.allowed().await?, &net) {
                return Err(ban::not_bannable(&net));
            }
            let b = store
                .ban_network(
                    ban::admin_ban(&net, reason.clone()),
                    ban::ban_length(config, *secs, *permanent, now),
                    now,
                )
                .await?;
            println!("{}", ban::banned_line(&b));
            Ok(())
        }
        BanCmd::Remove { network } => {
            let net = parse_network(network)?;
            let unbanned = store
                .unban_network(&net.to_string(), ban::UNBANNED_BY, now)
                .await?;
            if unbanned {
                println!("unbanned {net}");
            } else {
                println!("{net} was not banned");
            }
            unblock_everywhere(store, &net, now).await?;
            // This host's node at once; the others within a second.
            ban::unblock_here(config, &net);
            println!(
                "every node lifts its blocks after failed logins in {net} within {} s",
                rampart_ids::REFRESH.as_secs().max(1)
            );
            Ok(())
        }
        BanCmd::Allow {
            network,
            note,
            remove,
        } => {
            let net = parse_network(network)?;
            if *remove {
                return ban::disallowed(&net, store.disallow(&net.to_string()).await?);
            }
            let inside = ban::bans_touching(store.list_active(now).await?, &net);
            let lifted = store.allow(&net.to_string(), note, inside, now).await?;
            println!("{}", ban::allowed_line(&net, lifted));
            Ok(())
        }
    }
}

/// Tells every node to lift its SMTP AUTH guard's blocks in `net`: an event in the shared IDS
/// log, which each node reads ([`crate::unblock_watch`]). Read back, since the log's writer
/// only logs its failures, and an administrator's lift must not fail silently.
async fn unblock_everywhere(store: &PgStore, net: &IpNet, now: i64) -> Result<(), Error> {
    let event = IdsEvent {
        ts: now,
        network: net.to_string(),
        event: unblock_watch::EVENT.into(),
        detector: "admin".into(),
        detail: format!(
            "blocks after failed logins in {net} lifted on every node by {}",
            ban::UNBANNED_BY
        ),
    };
    store.ids_record(event.clone()).await;
    let logged = store
        .ids_events_of(unblock_watch::EVENT, now, 1000)
        .await?
        .iter()
        .any(|e| e.ts == now && e.event == event.event && e.network == event.network);
    if !logged {
        return Err(format!(
            "the other nodes could not be told to lift their blocks after failed logins in \
             {net} (the IDS log was not written; see this command's warnings); run it again \
             once the database is reachable"
        )
        .into());
    }
    Ok(())
}

/// `rampart mailbox audit ...` on PostgreSQL.
pub async fn mailbox_audit(config: &Config, store: &PgStore, a: &AuditArgs) -> Result<(), Error> {
    let events = store.mailbox_events(&audit_filter(a)?).await?;
    print_audit(config, &events, a.json)
}
