//! onSuccessUpdateEmail and onSuccessDestroyEmail (RFC 8621 §7.5): after a submission is sent,
//! its email is changed (typically moved from Drafts to Sent without `$draft`) or destroyed, as
//! an implicit Email/set whose response follows EmailSubmission/set's. Only `keywords` and
//! `mailboxIds` may be patched; the changes go through the store's MailStore operations.

use rampart_jmap::methods::patch::apply_patch;
use rampart_jmap::methods::set::SetResponse;
use rampart_jmap::{CallContext, MethodError, SetError, SetErrorType};
use rampart_store::mail::Kind;
use rampart_store::mailbox_audit::op;
use rampart_store::MailboxEvent;
use serde_json::{Map, Value};

use crate::account::MailAccount;
use crate::audit::event;
use crate::error::{server_fail, set_error};
use crate::ids;
use crate::MailMethods;

/// `sent`: (#creation id, submission id, email id) of each submission this call sent. The
/// implicit Email/set response arguments, or None when neither argument named one of them.
pub(super) async fn apply(
    m: &MailMethods,
    cx: &CallContext,
    account: &MailAccount,
    update: Option<&Map<String, Value>>,
    destroy: Option<&[String]>,
    sent: &[(String, String, i64)],
) -> Result<Option<Map<String, Value>>, MethodError> {
    let email_of = |key: &str| {
        sent.iter()
            .find(|(cid, id, _)| cid == key || id == key)
            .map(|(_, _, e)| *e)
    };
    let updates: Vec<(i64, &Map<String, Value>)> = update
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((email_of(k)?, v.as_object()?)))
        .collect();
    let destroys: Vec<i64> = destroy
        .into_iter()
        .flatten()
        .filter_map(|k| email_of(k))
        .collect();
    if updates.is_empty() && destroys.is_empty() {
        return Ok(None);
    }
    let old = m
        .store
        .mail_state(&account.owner, Kind::Email)
        .await
        .map_err(|e| server_fail(&e))?;
    let mut r = SetResponse::new(&account.id, Some(old));
    let mut events = Vec::new();
    for (email, patch) in updates {
        let id = ids::email(email);
        if !account.may_write() {
            r.not_updated(
                &id,
                SetError::with(SetErrorType::Forbidden, "you may not change this mailbox"),
            );
            continue;
        }
        match update_one(m, cx, account, email, patch, &mut events).await? {
            Ok(()) => r.updated(&id, None),
            Err(e) => r.not_updated(&id, e),
        }
    }
    for email in destroys {
        let id = ids::email(email);
        if !account.may_write() {
            r.not_destroyed(
                &id,
                SetError::with(SetErrorType::Forbidden, "you may not change this mailbox"),
            );
            continue;
        }
        match m.store.email_destroy(&account.owner, vec![email]).await {
            Ok(done) if done.first() == Some(&true) => {
                events.push(event(cx, account, op::HARD_DELETE, id.clone()));
                r.destroyed(&id);
            }
            Ok(_) => r.not_destroyed(&id, SetError::new(SetErrorType::NotFound)),
            Err(e) => r.not_destroyed(&id, set_error(e)?),
        }
    }
    r.new_state = m
        .store
        .mail_state(&account.owner, Kind::Email)
        .await
        .map_err(|e| server_fail(&e))?;
    m.audit(events).await;
    Ok(Some(r.into_arguments()))
}

/// Applies one patch of `keywords` and `mailboxIds` to an email.
async fn update_one(
    m: &MailMethods,
    cx: &CallContext,
    account: &MailAccount,
    email: i64,
    patch: &Map<String, Value>,
    events: &mut Vec<MailboxEvent>,
) -> Result<Result<(), SetError>, MethodError> {
    let Some(rec) = m
        .store
        .email_get(&account.owner, &[email])
        .await
        .map_err(|e| server_fail(&e))?
        .into_iter()
        .next()
    else {
        return Ok(Err(SetError::new(SetErrorType::NotFound)));
    };
    let mut obj = Map::new();
    obj.insert(
        "keywords".into(),
        Value::Object(
            rec.keywords
                .iter()
                .map(|k| (k.clone(), Value::Bool(true)))
                .collect(),
        ),
    );
    obj.insert(
        "mailboxIds".into(),
        Value::Object(
            rec.mailboxes
                .iter()
                .map(|b| (ids::mailbox(*b), Value::Bool(true)))
                .collect(),
        ),
    );
    if let Err(e) = apply_patch(&mut obj, patch) {
        return Ok(Err(e));
    }
    let other: Vec<String> = obj
        .keys()
        .filter(|k| *k != "keywords" && *k != "mailboxIds")
        .cloned()
        .collect();
    if !other.is_empty() {
        return Ok(Err(SetError::invalid_properties(other)));
    }
    let set_of = |k: &str| -> Option<Vec<String>> {
        let o = obj.get(k)?.as_object()?;
        o.iter()
            .map(|(name, v)| (v == &Value::Bool(true)).then(|| name.clone()))
            .collect()
    };
    let Some(keywords) = set_of("keywords") else {
        return Ok(Err(SetError::invalid_properties(["keywords"])));
    };
    let keywords: Vec<String> = keywords.iter().map(|k| k.to_ascii_lowercase()).collect();
    let mailboxes: Option<Vec<i64>> = set_of("mailboxIds").and_then(|l| {
        l.iter()
            .map(|b| ids::parse(ids::MAILBOX, b))
            .collect::<Option<Vec<_>>>()
    });
    let Some(mailboxes) = mailboxes.filter(|l| !l.is_empty()) else {
        return Ok(Err(SetError::invalid_properties(["mailboxIds"])));
    };
    let id = ids::email(email);
    let mut want_sorted = keywords.clone();
    want_sorted.sort();
    want_sorted.dedup();
    if want_sorted != rec.keywords {
        match m
            .store
            .email_set_keywords(&account.owner, email, want_sorted)
            .await
        {
            Ok(_) => events.push(event(cx, account, op::KEYWORDS, id.clone())),
            Err(e) => return Ok(Err(set_error(e)?)),
        }
    }
    let mut have = rec.mailboxes.clone();
    have.sort();
    let mut want = mailboxes;
    want.sort();
    want.dedup();
    if want != have {
        match m
            .store
            .email_set_mailboxes(&account.owner, email, want.clone())
            .await
        {
            Ok(_) => {
                let to: Vec<String> = want.iter().map(|b| ids::mailbox(*b)).collect();
                events.push(event(
                    cx,
                    account,
                    op::MOVE,
                    format!("{id} to {}", to.join(",")),
                ));
            }
            Err(e) => return Ok(Err(set_error(e)?)),
        }
    }
    Ok(Ok(()))
}
