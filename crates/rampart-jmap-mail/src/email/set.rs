//! Email/set (RFC 8621 §4.6): create (through `create.rs`), update of `keywords` and
//! `mailboxIds` (whole, or by patch paths such as `keywords/$seen` and `mailboxIds/M3`), and
//! destroy. The mailbox audit (AL-3.1) gets one event per kind of change and call, naming the
//! emails and how many, not one event per email.

pub(super) mod audit;

use std::collections::{BTreeSet, HashMap};

use rampart_jmap::args::Args;
use rampart_jmap::methods::patch::apply_patch;
use rampart_jmap::methods::set::{SetArgs, SetResponse};
use rampart_jmap::{CallContext, MethodError, SetError};
use rampart_store::mail::{EmailRecord, Kind};
use serde_json::{Map, Value};

use crate::account::{self, MailAccount};
use crate::error::server_fail;
use crate::mailbox::{mailboxes, ready, set_error, state};
use crate::{ids, MailMethods, Responses};

use audit::Changes;

pub(crate) async fn set(
    m: &MailMethods,
    cx: &mut CallContext,
    args: Map<String, Value>,
) -> Result<Responses, MethodError> {
    let mut a = Args::new(args);
    // RFC 8620 §5.3: more than maxObjectsInSet operations is requestTooLarge (in the parser).
    let s = SetArgs::parse(&mut a, cx)?;
    a.finish()?;
    let account = account::resolve_writable(cx, &s.account_id)?;
    ready(m, &account).await?;
    let old_state = state(m, &account, Kind::Email).await?;
    s.check_state(&old_state)?;
    let mut r = SetResponse::new(&account.id, Some(old_state));
    for (cid, obj) in &s.create {
        match super::create::create(m, cx, &account, cid, obj).await {
            Ok(Value::Object(mut props)) => {
                let Some(Value::String(id)) = props.remove("id") else {
                    return Err(MethodError::server_fail("a created email has no id"));
                };
                r.created(cx, cid, &id, props);
            }
            Ok(_) => return Err(MethodError::server_fail("a created email is not an object")),
            Err(e) => r.not_created(cid, e),
        }
    }
    let mut changes = Changes::default();
    if !s.update.is_empty() {
        update(m, cx, &account, &s.update, &mut r, &mut changes).await?;
    }
    if !s.destroy.is_empty() {
        destroy(m, cx, &account, &s.destroy, &mut r, &mut changes).await?;
    }
    // AL-3.1: moves, copies, soft and hard deletes and keyword changes, one event of each.
    m.audit(changes.events(cx, &account)).await;
    r.new_state = state(m, &account, Kind::Email).await?;
    Ok(vec![("Email/set".into(), r.into_arguments())])
}

/// The email as a patch sees it: only the two properties a client may change.
fn patchable(e: &EmailRecord) -> Map<String, Value> {
    let keywords: Map<String, Value> = e
        .keywords
        .iter()
        .map(|k| (k.clone(), Value::Bool(true)))
        .collect();
    let boxes: Map<String, Value> = e
        .mailboxes
        .iter()
        .map(|b| (ids::mailbox(*b), Value::Bool(true)))
        .collect();
    let mut o = Map::new();
    o.insert("keywords".into(), Value::Object(keywords));
    o.insert("mailboxIds".into(), Value::Object(boxes));
    o
}

/// A mailbox id key: an id, or `#creationId` of a mailbox created earlier in the request.
fn mailbox_key(cx: &CallContext, k: &str) -> String {
    cx.resolve_id(k).unwrap_or_else(|| k.to_owned())
}

/// The patch with keyword paths in lower case (keywords are case-insensitive) and mailbox
/// creation ids resolved; the names of properties a client may not change.
fn normalise(
    cx: &CallContext,
    patch: &Map<String, Value>,
) -> Result<Map<String, Value>, Vec<String>> {
    let mut out = Map::new();
    let mut bad = Vec::new();
    for (k, v) in patch {
        let (prop, rest) = match k.split_once('/') {
            Some((p, r)) => (p, Some(r)),
            None => (k.as_str(), None),
        };
        let key = match (prop, rest) {
            ("keywords", Some(r)) => format!("keywords/{}", r.to_ascii_lowercase()),
            ("mailboxIds", Some(r)) => format!("mailboxIds/{}", mailbox_key(cx, r)),
            ("keywords" | "mailboxIds", None) => k.clone(),
            _ => {
                bad.push(prop.to_owned());
                continue;
            }
        };
        let v = match (prop, rest, v) {
            ("keywords", None, Value::Object(o)) => Value::Object(
                o.iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                    .collect(),
            ),
            ("mailboxIds", None, Value::Object(o)) => Value::Object(
                o.iter()
                    .map(|(k, v)| (mailbox_key(cx, k), v.clone()))
                    .collect(),
            ),
            _ => v.clone(),
        };
        out.insert(key, v);
    }
    if bad.is_empty() {
        Ok(out)
    } else {
        bad.sort();
        bad.dedup();
        Err(bad)
    }
}

/// RFC 8621 §4.1.1: a keyword is 1-255 characters of %x21-7E except `( ) { ] % * " \`.
/// Checked here too, so a bad keyword refuses the whole update before anything is written.
fn is_keyword(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 255
        && k.bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && !b"(){]%*\"\\".contains(&b))
}

/// The keywords and mailboxes of the patched object, or the property that is wrong: every
/// value must be `true` (RFC 8621 §4.1.1), every keyword well formed, a mailbox one of the
/// account's, and an email stays in at least one.
fn read_back(
    o: &Map<String, Value>,
    known: &BTreeSet<i64>,
) -> Result<(BTreeSet<String>, BTreeSet<i64>), SetError> {
    let all_true = |m: &Map<String, Value>| m.values().all(|v| v == &Value::Bool(true));
    let keywords = match o.get("keywords") {
        Some(Value::Object(k)) if all_true(k) && k.keys().all(|k| is_keyword(k)) => {
            k.keys().cloned().collect()
        }
        _ => return Err(SetError::invalid_properties(["keywords"])),
    };
    let boxes: Option<BTreeSet<i64>> = match o.get("mailboxIds") {
        Some(Value::Object(b)) if all_true(b) && !b.is_empty() => b
            .keys()
            .map(|k| ids::parse(ids::MAILBOX, k).filter(|n| known.contains(n)))
            .collect(),
        _ => None,
    };
    let Some(boxes) = boxes else {
        return Err(SetError::invalid_properties(["mailboxIds"]));
    };
    Ok((keywords, boxes))
}

async fn update(
    m: &MailMethods,
    cx: &CallContext,
    account: &MailAccount,
    updates: &[(String, Map<String, Value>)],
    r: &mut SetResponse,
    changes: &mut Changes,
) -> Result<(), MethodError> {
    let boxes = mailboxes(m, account).await?;
    let known: BTreeSet<i64> = boxes.iter().map(|b| b.id).collect();
    changes.trash = boxes
        .iter()
        .find(|b| b.role.as_deref() == Some("trash"))
        .map(|b| b.id);
    let role = |r: &str| {
        boxes
            .iter()
            .find(|b| b.role.as_deref() == Some(r))
            .map(|b| b.id)
    };
    let junk_boxes = super::junk::JunkBoxes {
        junk: role("junk"),
        trash: role("trash"),
    };
    let resolved: Vec<(String, Option<i64>)> = updates
        .iter()
        .map(|(raw, _)| {
            let id = cx.resolve_id(raw).unwrap_or_else(|| raw.clone());
            let n = ids::parse(ids::EMAIL, &id);
            (id, n)
        })
        .collect();
    let wanted: Vec<i64> = resolved.iter().filter_map(|(_, n)| *n).collect();
    let records: HashMap<i64, EmailRecord> = m
        .store
        .email_get(&account.owner, &wanted)
        .await
        .map_err(|e| server_fail(&e))?
        .into_iter()
        .map(|e| (e.id, e))
        .collect();
    for ((shown, n), (_, patch)) in resolved.iter().zip(updates) {
        let Some(e) = n.and_then(|n| records.get(&n)) else {
            r.not_updated(shown, SetError::not_found());
            continue;
        };
        let patch = match normalise(cx, patch) {
            Ok(p) => p,
            Err(bad) => {
                r.not_updated(shown, SetError::invalid_properties(bad));
                continue;
            }
        };
        let mut o = patchable(e);
        if let Err(err) = apply_patch(&mut o, &patch) {
            r.not_updated(shown, err);
            continue;
        }
        let (keywords, new_boxes) = match read_back(&o, &known) {
            Ok(v) => v,
            Err(err) => {
                r.not_updated(shown, err);
                continue;
            }
        };
        let old_kw: BTreeSet<String> = e.keywords.iter().cloned().collect();
        let old_boxes: BTreeSet<i64> = e.mailboxes.iter().copied().collect();
        // Mailboxes first: a refusal there leaves the keywords as they were too.
        if new_boxes != old_boxes {
            let list: Vec<i64> = new_boxes.iter().copied().collect();
            if let Err(err) = m
                .store
                .email_set_mailboxes(&account.owner, e.id, list)
                .await
            {
                r.not_updated(shown, set_error(err)?);
                continue;
            }
            changes.moved(e.id, &old_boxes, &new_boxes);
            // AL-1.2: into Junk teaches spam, out of it teaches ham.
            if let Some(spam) = super::junk::lesson_of(junk_boxes, &old_boxes, &new_boxes) {
                super::junk::train(m, &account.owner, e.id, spam).await;
            }
        }
        if keywords != old_kw {
            let list: Vec<String> = keywords.iter().cloned().collect();
            if let Err(err) = m.store.email_set_keywords(&account.owner, e.id, list).await {
                r.not_updated(shown, set_error(err)?);
                continue;
            }
            changes.keywords(e.id, &old_kw, &keywords);
        }
        r.updated(shown, None);
    }
    Ok(())
}

async fn destroy(
    m: &MailMethods,
    cx: &CallContext,
    account: &MailAccount,
    raw: &[String],
    r: &mut SetResponse,
    changes: &mut Changes,
) -> Result<(), MethodError> {
    let resolved: Vec<(String, Option<i64>)> = raw
        .iter()
        .map(|raw| {
            let id = cx.resolve_id(raw).unwrap_or_else(|| raw.clone());
            let n = ids::parse(ids::EMAIL, &id);
            (id, n)
        })
        .collect();
    let mut numbers: Vec<i64> = resolved.iter().filter_map(|(_, n)| *n).collect();
    numbers.sort_unstable();
    numbers.dedup();
    let found = m
        .store
        .email_destroy(&account.owner, numbers.clone())
        .await
        .map_err(crate::error::method_error)?;
    let gone: HashMap<i64, bool> = numbers.into_iter().zip(found).collect();
    for (shown, n) in resolved {
        match n.and_then(|n| gone.get(&n).copied().filter(|g| *g).map(|_| n)) {
            Some(n) => {
                r.destroyed(&shown);
                changes.destroyed.push(n);
            }
            None => r.not_destroyed(&shown, SetError::not_found()),
        }
    }
    Ok(())
}
