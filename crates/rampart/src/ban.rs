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
use rampart_store::{Allowed, BanLength, NetBan, NewBan, Store};

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
        BanCmd::List { json } => print_list(
            config,
            &store.ids_list_active(now)?,
            store.ids_allowed()?,
            json,
        ),
        BanCmd::Add {
            network,
            reason,
            secs,
            permanent,
        } => {
            let net = parse_network(&network)?;
            if on_allow_list(config, store.ids_allowed()?, &net) {
                return Err(not_bannable(&net));
            }
            let b = store.ids_ban(
                admin_ban(&net, reason),
                ban_length(config, secs, permanent, now),
                now,
            )?;
            println!("{}", banned_line(&b));
            Ok(())
        }
        BanCmd::Remove { network } => {
            let net = parse_network(&network)?;
            let unbanned = store.ids_unban(&net.to_string(), UNBANNED_BY, now)?;
            removed(config, &net, unbanned)
        }
        BanCmd::Allow {
            network,
            note,
            remove,
        } => {
            let net = parse_network(&network)?;
            if remove {
                return disallowed(&net, disallow(&store, &net)?);
            }
            let lifted = allow(&store, &net, &note, now)?;
            println!("{}", allowed_line(&net, lifted));
            Ok(())
        }
    }
}

/// Who lifts a ban with `rampart ban remove`, as the trace and the IDS log name them.
pub const UNBANNED_BY: &str = "the administrator";

/// `rampart ban list [--json]`: the bans in force, then the allow-list (the configuration's and
/// the store's `stored`).
pub fn print_list(
    config: &Config,
    bans: &[NetBan],
    stored: Vec<Allowed>,
    json: bool,
) -> Result<(), Error> {
    let mut allow: Vec<String> = config.ids.allow.iter().map(|n| n.to_string()).collect();
    allow.extend(stored.into_iter().map(|a| a.network));
    if json {
        let v = serde_json::json!({ "bans": bans, "allow": allow });
        println!("{v}");
        return Ok(());
    }
    if bans.is_empty() {
        println!("no bans in force");
    }
    for b in bans {
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

/// The ban `rampart ban add` asks for.
pub fn admin_ban(net: &IpNet, reason: String) -> NewBan {
    NewBan {
        network: net.to_string(),
        reason,
        detector: "admin".into(),
        evidence: "rampart ban add".into(),
    }
}

/// How long: `--permanent`, `--secs N`, or else the configured escalation (ids.ban_secs).
pub fn ban_length(config: &Config, secs: Option<u64>, permanent: bool, now: i64) -> BanLength {
    match (secs, permanent) {
        (_, true) => BanLength::Until(None),
        (Some(s), _) => BanLength::Until(Some(
            now.saturating_add(i64::try_from(s).unwrap_or(i64::MAX / 1_000_000) * 1_000_000),
        )),
        (None, false) => rampart_ids::ladder(&config.ids),
    }
}

/// What `rampart ban add` answers.
pub fn banned_line(b: &NetBan) -> String {
    let until = b.expires.map_or("permanently".to_string(), |e| {
        format!("until {}", format_time(e))
    });
    format!("banned {} {until}", b.network)
}

/// `rampart ban add` of a network the allow-list covers.
pub fn not_bannable(net: &IpNet) -> Error {
    format!("{net} is on the allow-list; it cannot be banned").into()
}

/// The end of `rampart ban remove NET` once the ban itself is lifted (`unbanned`, or there was
/// none): the running server of this host is asked to lift its SMTP AUTH guard's temporary
/// blocks in NET (they live in its memory, not in the store); an error when neither was there.
pub fn removed(config: &Config, net: &IpNet, unbanned: bool) -> Result<(), Error> {
    if unbanned {
        println!("unbanned {net}");
    }
    let blocks = unblock_here(config, net);
    if unbanned || blocks > 0 {
        Ok(())
    } else {
        Err(format!("{net} is neither banned nor blocked; see rampart ban list").into())
    }
}

/// Asks the running server of this host (its admin socket) to lift its SMTP AUTH guard's
/// blocks in `net`, and says how many addresses were blocked; 0 when no server runs.
pub fn unblock_here(config: &Config, net: &IpNet) -> u64 {
    let blocks = match crate::admin_socket::request(&config.data_dir, &format!("unblock {net}")) {
        Ok(Some(v)) => v.get("unblocked").and_then(|n| n.as_u64()).unwrap_or(0),
        Ok(None) => 0,
        Err(e) => {
            eprintln!("the running server could not be asked to lift its AUTH blocks: {e}");
            0
        }
    };
    if blocks > 0 {
        println!("lifted the block of {blocks} address(es) after failed logins in {net}");
    }
    blocks
}

/// What `rampart ban allow NET` answers.
pub fn allowed_line(net: &IpNet, lifted: usize) -> String {
    format!("{net} allowed; {lifted} ban(s) lifted")
}

/// The end of `rampart ban allow NET --remove`: whether NET was on the stored allow-list.
pub fn disallowed(net: &IpNet, was: bool) -> Result<(), Error> {
    if was {
        println!("{net} removed from the allow-list");
        return Ok(());
    }
    Err(format!("{net} is not on the stored allow-list").into())
}

/// The bans in force inside `net` or around it: those `rampart ban allow NET` lifts.
pub fn bans_touching(bans: Vec<NetBan>, net: &IpNet) -> Vec<String> {
    bans.into_iter()
        .filter(|b| {
            b.network
                .parse::<IpNet>()
                .is_ok_and(|n| net.contains(&n) || n.contains(net))
        })
        .map(|b| b.network)
        .collect()
}

/// Whether the allow-list (the configuration's and the store's `stored`) covers `net`.
pub fn on_allow_list(config: &Config, stored: Vec<Allowed>, net: &IpNet) -> bool {
    let mut nets: Vec<IpNet> = config.ids.allow.clone();
    nets.extend(
        stored
            .into_iter()
            .filter_map(|a| a.network.parse::<IpNet>().ok()),
    );
    nets.iter().any(|a| a.contains(net) || net.contains(a))
}

/// Puts `net` on the stored allow-list and lifts the bans in force inside it (or around it);
/// how many were lifted. `rampart ban allow` and the console's bans page.
pub fn allow(
    store: &Store,
    net: &IpNet,
    note: &str,
    now: i64,
) -> Result<usize, rampart_store::StoreError> {
    let inside = bans_touching(store.ids_list_active(now)?, net);
    store.ids_allow(&net.to_string(), note, &inside)
}

/// Takes `net` off the stored allow-list; false when it was not on it.
pub fn disallow(store: &Store, net: &IpNet) -> Result<bool, rampart_store::StoreError> {
    store.ids_disallow(&net.to_string())
}
