//! TrustedSender/get and TrustedSender/set (AL-1.2), this server's own JMAP extension
//! ([`TRUSTED`]): the senders the account owner trusts (`rampart_store::trusted_senders`).
//! Mail tagged as spam from a trusted address goes to the owner's Inbox rather than Junk, but
//! only when its From was authenticated on arrival, so a forged From earns nothing. A move out
//! of Junk adds one (email/junk.rs); here the owner lists them, removes one, or adds one.
//!
//! A TrustedSender: `id`, `email` (the address, lower case) and `added` (UTCDate). An address
//! is not a JMAP Id (RFC 8620 §1.2 allows letters, digits, `-` and `_` only), so the id is `t`
//! and 16 hex digits of a 64-bit FNV-1a hash of the address: stable, and unique within one
//! account's list in practice (a collision, which only the owner's own list could make, would
//! name two of their own senders alike).
//! /set creates with `email` only; there is nothing to update. A delegate's account does not
//! offer it: the list is the owner's judgement.

use rampart_jmap::args::Args;
use rampart_jmap::methods::get::{project, GetArgs, GetResponse};
use rampart_jmap::methods::set::{SetArgs, SetResponse};
use rampart_jmap::{CallContext, MethodError, SetError, SetErrorType};
use serde_json::{json, Map, Value};

use crate::error::server_fail;
use crate::vacation::date;
use crate::{MailMethods, Responses};

const PROPERTIES: &[&str] = &["id", "email", "added"];

pub(crate) async fn call(
    m: &MailMethods,
    cx: &mut CallContext,
    method: &str,
    args: Map<String, Value>,
) -> Result<Responses, MethodError> {
    match method {
        "get" => get(m, cx, args).await,
        "set" => set(m, cx, args).await,
        _ => Err(MethodError::unknown_method(&format!(
            "TrustedSender/{method}"
        ))),
    }
}

/// 64-bit FNV-1a over `bytes`.
fn fnv(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The JMAP id of a trusted address.
fn id_of(address: &str) -> String {
    format!("t{:016x}", fnv(address.bytes()))
}

/// The list and its state (which changes with any addition, confirmation or removal).
async fn list(m: &MailMethods, owner: &str) -> Result<(Vec<(String, i64)>, String), MethodError> {
    let l = m
        .store
        .trusted_senders(owner)
        .await
        .map_err(|e| server_fail(&e))?;
    let h = fnv(l
        .iter()
        .flat_map(|(a, t)| a.bytes().chain([0]).chain(t.to_le_bytes())));
    let state = format!("{}-{h:016x}", l.len());
    Ok((l, state))
}

fn to_json(address: &str, added: i64) -> Map<String, Value> {
    match json!({"id": id_of(address), "email": address, "added": utc(added)}) {
        Value::Object(o) => o,
        _ => Map::new(),
    }
}

async fn get(
    m: &MailMethods,
    cx: &mut CallContext,
    args: Map<String, Value>,
) -> Result<Responses, MethodError> {
    let mut a = Args::new(args);
    let g = GetArgs::parse(&mut a, cx)?;
    a.finish()?;
    let props = g.properties_or(PROPERTIES, PROPERTIES)?;
    let account = crate::account::resolve(cx, &g.account_id)?;
    crate::account::owner_only(&account, "the trusted senders")?;
    let (all, state) = list(m, &account.owner).await?;
    let mut not_found = g.unresolved.clone();
    let list = match &g.ids {
        None => all
            .iter()
            .map(|(a, t)| project(&to_json(a, *t), &props))
            .collect(),
        Some(ids) => ids
            .iter()
            .filter_map(|id| match all.iter().find(|(a, _)| id_of(a) == *id) {
                Some((a, t)) => Some(project(&to_json(a, *t), &props)),
                None => {
                    not_found.push(id.clone());
                    None
                }
            })
            .collect(),
    };
    let r = GetResponse {
        account_id: g.account_id,
        state,
        list,
        not_found,
    };
    Ok(vec![("TrustedSender/get".into(), r.into_arguments())])
}

/// An address as a trusted sender ([`rampart_store::trusted_senders::valid_address`]).
fn address(v: Option<&Value>) -> Option<String> {
    rampart_store::trusted_senders::valid_address(v?.as_str()?)
}

async fn set(
    m: &MailMethods,
    cx: &mut CallContext,
    args: Map<String, Value>,
) -> Result<Responses, MethodError> {
    let mut a = Args::new(args);
    let s = SetArgs::parse(&mut a, cx)?;
    a.finish()?;
    let account = crate::account::resolve_writable(cx, &s.account_id)?;
    crate::account::owner_only(&account, "the trusted senders")?;
    let (before, old) = list(m, &account.owner).await?;
    s.check_state(&old)?;
    let mut r = SetResponse::new(&s.account_id, Some(old));
    for (cid, o) in &s.create {
        let extra: Vec<String> = o
            .keys()
            .filter(|k| k.as_str() != "email")
            .cloned()
            .collect();
        let Some(addr) = address(o.get("email")).filter(|_| extra.is_empty()) else {
            let mut bad = extra;
            if address(o.get("email")).is_none() {
                bad.push("email".into());
            }
            r.not_created(cid, SetError::invalid_properties(bad));
            continue;
        };
        let added = m
            .store
            .trust_sender(&account.owner, &addr)
            .await
            .map_err(|e| server_fail(&e))?;
        r.created(cx, cid, &id_of(&addr), json_added(added));
    }
    for (id, _) in &s.update {
        r.not_updated(
            id,
            SetError::with(
                SetErrorType::Forbidden,
                "a trusted sender has nothing to change: destroy it, or create another",
            ),
        );
    }
    for id in &s.destroy {
        let Some((addr, _)) = before.iter().find(|(a, _)| id_of(a) == *id) else {
            r.not_destroyed(id, SetError::new(SetErrorType::NotFound));
            continue;
        };
        m.store
            .untrust_sender(&account.owner, addr)
            .await
            .map_err(|e| server_fail(&e))?;
        r.destroyed(id);
    }
    r.new_state = list(m, &account.owner).await?.1;
    Ok(vec![("TrustedSender/set".into(), r.into_arguments())])
}

/// A store time (microseconds) as a UTCDate.
fn utc(micros: i64) -> String {
    date::format(micros.div_euclid(1_000_000))
}

/// The server-set properties of a created TrustedSender.
fn json_added(added: i64) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("added".into(), utc(added).into());
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn al_1_2_trusted_sender_addresses_are_plain_addresses() {
        let ok = |s: &str| address(Some(&Value::from(s)));
        assert_eq!(
            ok(" News@Letters.Example "),
            Some("news@letters.example".into())
        );
        for bad in [
            "",
            "news",
            "@letters.example",
            "news@localhost",
            "a b@x.example",
            "<a@x.example>",
            "a@x.example,b@y.example",
        ] {
            assert_eq!(ok(bad), None, "{bad:?}");
        }
        assert_eq!(address(Some(&json!(5))), None);
        assert_eq!(address(None), None);
    }

    #[test]
    fn al_1_2_trusted_sender_ids_are_jmap_ids() {
        let id = id_of("news@letters.example");
        assert_eq!(id.len(), 17);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
        assert_eq!(id, id_of("news@letters.example"), "stable");
        assert_ne!(id, id_of("news@letters.example.org"));
    }
}
