//! `rampart ban`: intrusion prevention's bans and allow-list (NC-2.4.2).
//!
//! - `list [--json]`: the bans in force, with reason, detector, expiry, repeat count and
//!   evidence, then the allow-list (the configuration's and the store's).
//! - `add NET [--reason R] [--secs N | --permanent]`: bans an address or network (the address
//!   alone for `192.0.2.7`); without `--secs`, the configured escalation decides.
//! - `remove NET`: lifts a ban, and the running server's temporary blocks of the addresses in
//!   NET after failed logins (SMTP AUTH guard, asked over the admin socket).
//! - `allow NET [--note N] [--remove]`: adds a network that is never banned (lifting the bans
//!   inside it), or removes it.
//!
//! Every ban and unban goes to the trace in the same commit. A running server notices within
//! `rampart_ids::REFRESH` (it polls the store's ban generation, one row).

use crate::admin::format_time;
use clap::Subcommand;
use rampart_config::{Config, IpNet};
use rampart_ids::net::parse_network;
use rampart_store::{BanLength, NewBan, Store};

type Error = Box<dyn std::error::Error>;

#[derive(Subcommand)]
pub enum BanCmd {
    /// The bans in force and the allow-list.
    List {
        /// One JSON object: {"bans": [...], "allow": [...]}.
        #[arg(long)]
        json: bool,
    },
    /// Ban an address or network.
    Add {
        /// An address (192.0.2.7) or a network (192.0.2.0/24).
        network: String,
        /// Why, recorded with the ban and in the trace.
        #[arg(long, default_value = "banned by the administrator")]
        reason: String,
        /// Seconds; without it the configured escalation (ids.ban_secs) applies.
        #[arg(long, conflicts_with = "permanent")]
        secs: Option<u64>,
        /// Until lifted with `rampart ban remove`.
        #[arg(long)]
        permanent: bool,
    },
    /// Unblock an address or network: lifts its ban (as listed), and asks the running server
    /// to clear the temporary block its SMTP AUTH guard holds on the address after failed
    /// logins.
    Remove {
        /// An address or network, as `rampart ban list` shows it.
        network: String,
    },
    /// Never ban this network (lifts the bans inside it); --remove takes it off the list.
    Allow {
        /// An address or network.
        network: String,
        /// Why it is allowed (kept with the entry).
        #[arg(long, default_value = "allowed by the administrator")]
        note: String,
        /// Take NETWORK off the stored allow-list instead.
        #[arg(long)]
        remove: bool,
    },
}

pub fn run(config: &Config, cmd: BanCmd) -> Result<(), Error> {
    let store = Store::open(&config.data_dir)
        .map_err(|e| format!("cannot open {}: {e}", config.data_dir.display()))?;
    let now = rampart_store::now_micros();
    match cmd {
        BanCmd::List { json } => {
            let bans = store.ids_list_active(now)?;
            let mut allow: Vec<String> = config.ids.allow.iter().map(|n| n.to_string()).collect();
            allow.extend(store.ids_allowed()?.into_iter().map(|a| a.network));
            if json {
                let v = serde_json::json!({ "bans": bans, "allow": allow });
                println!("{v}");
                return Ok(());
            }
            if bans.is_empty() {
                println!("no bans in force");
            }
            for b in &bans {
                let until = b.expires.map_or("permanent".to_string(), |e| {
                    format!("until {}", format_time(e))
                });
                println!(
                    "{}  {until}  ban {}  [{}] {}\n    evidence: {}",
                    b.network, b.repeats, b.detector, b.reason, b.evidence
                );
            }
            for a in allow {
                println!("allowed: {a}");
            }
            Ok(())
        }
        BanCmd::Add {
            network,
            reason,
            secs,
            permanent,
        } => {
            let net = parse_network(&network)?;
            if allowed(config, &store, &net)? {
                return Err(format!("{net} is on the allow-list; it cannot be banned").into());
            }
            let length =
                match (secs, permanent) {
                    (_, true) => BanLength::Until(None),
                    (Some(s), _) => BanLength::Until(Some(now.saturating_add(
                        i64::try_from(s).unwrap_or(i64::MAX / 1_000_000) * 1_000_000,
                    ))),
                    (None, false) => rampart_ids::ladder(&config.ids),
                };
            let b = store.ids_ban(
                NewBan {
                    network: net.to_string(),
                    reason,
                    detector: "admin".into(),
                    evidence: "rampart ban add".into(),
                },
                length,
                now,
            )?;
            let until = b.expires.map_or("permanently".to_string(), |e| {
                format!("until {}", format_time(e))
            });
            println!("banned {} {until}", b.network);
            Ok(())
        }
        BanCmd::Remove { network } => {
            let net = parse_network(&network)?;
            let unbanned = store.ids_unban(&net.to_string(), "the administrator", now)?;
            if unbanned {
                println!("unbanned {net}");
            }
            // The SMTP AUTH guard's temporary blocks (failed logins) live in the running
            // server: it is asked to forget them, so one command clears every block.
            let blocks =
                match crate::admin_socket::request(&config.data_dir, &format!("unblock {net}")) {
                    Ok(Some(v)) => v.get("unblocked").and_then(|n| n.as_u64()).unwrap_or(0),
                    Ok(None) => 0,
                    Err(e) => {
                        eprintln!(
                            "the running server could not be asked to lift its AUTH blocks: {e}"
                        );
                        0
                    }
                };
            if blocks > 0 {
                println!("lifted the block of {blocks} address(es) after failed logins in {net}");
            }
            if unbanned || blocks > 0 {
                Ok(())
            } else {
                Err(format!("{net} is neither banned nor blocked; see rampart ban list").into())
            }
        }
        BanCmd::Allow {
            network,
            note,
            remove,
        } => {
            let net = parse_network(&network)?;
            if remove {
                if disallow(&store, &net)? {
                    println!("{net} removed from the allow-list");
                    return Ok(());
                }
                return Err(format!("{net} is not on the stored allow-list").into());
            }
            let lifted = allow(&store, &net, &note, now)?;
            println!("{net} allowed; {lifted} ban(s) lifted");
            Ok(())
        }
    }
}

/// Puts `net` on the stored allow-list and lifts the bans in force inside it (or around it);
/// how many were lifted. `rampart ban allow` and the console's bans page.
pub fn allow(
    store: &Store,
    net: &IpNet,
    note: &str,
    now: i64,
) -> Result<usize, rampart_store::StoreError> {
    let inside: Vec<String> = store
        .ids_list_active(now)?
        .into_iter()
        .filter(|b| {
            b.network
                .parse::<IpNet>()
                .is_ok_and(|n| net.contains(&n) || n.contains(net))
        })
        .map(|b| b.network)
        .collect();
    store.ids_allow(&net.to_string(), note, &inside)
}

/// Takes `net` off the stored allow-list; false when it was not on it.
pub fn disallow(store: &Store, net: &IpNet) -> Result<bool, rampart_store::StoreError> {
    store.ids_disallow(&net.to_string())
}

fn allowed(config: &Config, store: &Store, net: &IpNet) -> Result<bool, Error> {
    let mut nets: Vec<IpNet> = config.ids.allow.clone();
    nets.extend(
        store
            .ids_allowed()?
            .into_iter()
            .filter_map(|a| a.network.parse::<IpNet>().ok()),
    );
    Ok(nets.iter().any(|a| a.contains(net) || net.contains(a)))
}
