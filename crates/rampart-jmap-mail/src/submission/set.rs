//! EmailSubmission/set (RFC 8621 §7.5): create sends through the [`Submitter`]; a submission
//! is `final` at once, so update can only be refused (cannotUnsend) and destroy only forgets
//! the record.

use rampart_jmap::args::Args;
use rampart_jmap::methods::set::{SetArgs, SetResponse};
use rampart_jmap::{CallContext, MethodError, MethodErrorType, SetError, SetErrorType};
use rampart_store::mailbox_audit::op;
use rampart_store::submission::{Identity, SubKind, Submission};
use serde_json::{Map, Value};

use super::envelope::{self, Envelope};
use super::{on_success, state, Refused, RefusedAt};
use crate::account::MailAccount;
use crate::error::server_fail;
use crate::ids::{self, SUBMISSION};
use crate::{MailMethods, Responses};

/// The properties a client may give when creating.
const SETTABLE: &[&str] = &["identityId", "emailId", "envelope", "undoStatus"];

pub(super) async fn set(
    m: &MailMethods,
    cx: &mut CallContext,
    args: Map<String, Value>,
) -> Result<Responses, MethodError> {
    // A delegate sends as the owner only with send-as rights: a read-only grant is forbidden.
    // A send-as grant may leave the mailbox read-only; sending is still what it allows, so the
    // generic /set parser sees the account as writable for this method.
    let granted = args
        .get("accountId")
        .and_then(Value::as_str)
        .and_then(|id| cx.user.account(id))
        .map(|acc| (acc.id.clone(), acc.access, acc.is_read_only));
    let relaxed;
    let parse_cx: &CallContext = match granted {
        Some((_, access, _)) if !access.may_send() => {
            return Err(MethodError::with(
                MethodErrorType::Forbidden,
                "you may read this account but not send as its owner",
            ))
        }
        Some((id, _, true)) => {
            let mut c = cx.clone();
            for acc in c.user.accounts.iter_mut().filter(|acc| acc.id == id) {
                acc.is_read_only = false;
            }
            relaxed = c;
            &relaxed
        }
        _ => cx,
    };
    let mut a = Args::new(args);
    let s = SetArgs::parse(&mut a, parse_cx)?;
    let update_email = a.take_opt_object("onSuccessUpdateEmail")?;
    let destroy_email = a.take_opt_id_refs("onSuccessDestroyEmail")?;
    a.finish()?;
    let account = crate::account::resolve(cx, &s.account_id)?;
    let old = state(m, &account.owner, SubKind::Submission).await?;
    s.check_state(&old)?;
    let mut r = SetResponse::new(&s.account_id, Some(old));
    // (#creation id, submission id, email id) of each submission sent, for onSuccess*.
    let mut sent: Vec<(String, String, i64)> = Vec::new();
    if !s.create.is_empty() {
        let identities = crate::identity::list(m, &account).await?;
        for (cid, o) in &s.create {
            match create(m, cx, &account, &identities, o).await? {
                Ok((sub, extra)) => {
                    let id = ids::make(SUBMISSION, sub.id);
                    r.created(cx, cid, &id, extra);
                    sent.push((format!("#{cid}"), id, sub.email));
                }
                Err(e) => {
                    r.not_created.insert(cid.clone(), e);
                }
            }
        }
    }
    for (raw, patch) in &s.update {
        let id = cx.resolve_id(raw).unwrap_or_else(|| raw.clone());
        // RFC 8621 §7.5: only undoStatus may change, and a final submission cannot be undone.
        let e = if patch.keys().all(|k| k == "undoStatus") {
            SetError::with(
                SetErrorType::Other("cannotUnsend"),
                "the message has been sent: it cannot be unsent",
            )
        } else {
            SetError::invalid_properties(patch.keys().filter(|k| *k != "undoStatus").cloned())
        };
        r.not_updated(&id, e);
    }
    for raw in &s.destroy {
        let Some(id) = cx.resolve_id(raw) else {
            r.not_destroyed(raw, SetError::new(SetErrorType::NotFound));
            continue;
        };
        let done = match ids::parse(SUBMISSION, &id) {
            Some(n) => m
                .store
                .submission_destroy(&account.owner, n)
                .await
                .map_err(|e| server_fail(&e))?,
            None => false,
        };
        if done {
            r.destroyed(&id);
        } else {
            r.not_destroyed(&id, SetError::new(SetErrorType::NotFound));
        }
    }
    r.new_state = state(m, &account.owner, SubKind::Submission).await?;
    let mut out = vec![("EmailSubmission/set".to_string(), r.into_arguments())];
    if let Some(implicit) = on_success::apply(
        m,
        cx,
        &account,
        update_email.as_ref(),
        destroy_email.as_deref(),
        &sent,
    )
    .await?
    {
        out.push(("Email/set".to_string(), implicit));
    }
    Ok(out)
}

fn refused_value(e: SetError) -> Value {
    e.to_value()
}

/// Sends one submission; the record and its server-set properties, or the SetError (as a value:
/// invalidRecipients carries the addresses).
async fn create(
    m: &MailMethods,
    cx: &CallContext,
    account: &MailAccount,
    identities: &[Identity],
    o: &Map<String, Value>,
) -> Result<Result<(Submission, Map<String, Value>), Value>, MethodError> {
    let fail = |e: SetError| Ok(Err(refused_value(e)));
    let unknown: Vec<String> = o
        .keys()
        .filter(|k| !SETTABLE.contains(&k.as_str()))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return fail(SetError::invalid_properties(unknown));
    }
    // maxDelayedSend is 0: a submission is final when created.
    if o.get("undoStatus").is_some_and(|u| u != "final") {
        return fail(SetError::with(
            SetErrorType::InvalidProperties,
            "undoStatus must be final: this server does not delay sending",
        ));
    }
    if !account.access.may_send() {
        return fail(SetError::with(
            SetErrorType::Forbidden,
            "you may read this account but not send as its owner",
        ));
    }
    let reference = |k: &str| {
        o.get(k)
            .and_then(Value::as_str)
            .and_then(|s| cx.resolve_id(s))
    };
    let Some(identity) = reference("identityId")
        .and_then(|i| ids::parse(ids::IDENTITY, &i))
        .and_then(|n| identities.iter().find(|i| i.id == n))
    else {
        return fail(SetError::invalid_properties(["identityId"]));
    };
    let Some(email_id) = reference("emailId").and_then(|i| ids::parse(ids::EMAIL, &i)) else {
        return fail(SetError::invalid_properties(["emailId"]));
    };
    let env = match envelope::parse(o) {
        Ok(e) => e,
        Err(e) => return fail(e),
    };
    m.store
        .index_pending(&account.owner)
        .await
        .map_err(crate::error::method_error)?;
    let record = m
        .store
        .email_get(&account.owner, &[email_id])
        .await
        .map_err(|e| server_fail(&e))?
        .into_iter()
        .next();
    let Some(record) = record else {
        return fail(SetError::invalid_properties(["emailId"]));
    };
    let Some(raw) = m
        .store
        .email_raw(&account.owner, email_id)
        .await
        .map_err(|e| server_fail(&e))?
    else {
        return fail(SetError::invalid_properties(["emailId"]));
    };
    let env = env.unwrap_or_else(|| Envelope::default_for(&identity.fields.email, &record));
    if env.rcpt_to.is_empty() {
        return fail(SetError::with(
            SetErrorType::Other("noRecipients"),
            "the envelope has no recipients",
        ));
    }
    let message = envelope::strip_for_sending(&raw);
    if message.len() as u64 > m.max_message_size {
        let mut v = refused_value(SetError::with(
            SetErrorType::TooLarge,
            "the message is larger than this server sends",
        ));
        if let Value::Object(map) = &mut v {
            map.insert("maxSize".into(), m.max_message_size.into());
        }
        return Ok(Err(v));
    }
    let Some(submitter) = &m.submitter else {
        return fail(SetError::with(
            SetErrorType::Other("forbiddenToSend"),
            "sending is not available on this server",
        ));
    };
    let origin = &cx.user.origin;
    // A delegate with send-as rights sends as the owner: the pipeline checks the owner's rights.
    let sent = submitter
        .submit(
            origin,
            &account.owner,
            &env.mail_from,
            &env.rcpt_to,
            message,
        )
        .await;
    let queue_id = match sent {
        Ok(q) => q,
        Err(refused) => return Ok(Err(refusal_value(&refused))),
    };
    let now = rampart_store::now_micros() / 1_000_000;
    let sub = Submission {
        id: 0,
        identity: identity.id,
        email: email_id,
        thread: record.thread,
        envelope: env.to_json().to_string(),
        send_at: now,
        queue_id: queue_id.clone(),
        recipients: env.rcpt_to.clone(),
    };
    let id = m
        .store
        .submission_create(&account.owner, sub.clone())
        .await
        .map_err(|e| server_fail(&e))?;
    // AL-3.1: a send, with the recipient count and the queue id, never the addresses.
    m.audit_one(
        cx,
        account,
        op::SEND,
        format!(
            "{} {} to {} recipient(s), queued as {queue_id}",
            ids::make(SUBMISSION, id),
            ids::email(email_id),
            env.rcpt_to.len()
        ),
    )
    .await;
    let mut extra = Map::new();
    extra.insert("threadId".into(), record.thread.map(ids::thread).into());
    extra.insert("sendAt".into(), crate::vacation::date::format(now).into());
    extra.insert("undoStatus".into(), "final".into());
    Ok(Ok((Submission { id, ..sub }, extra)))
}

/// RFC 8621 §7.5: the pipeline's SMTP refusal as the SetError a client understands, with the
/// reply's text as its description.
pub(super) fn refusal_value(r: &Refused) -> Value {
    let temporary = (400..500).contains(&r.code);
    let kind = if r.enhanced.ends_with(".3.4") {
        SetErrorType::TooLarge
    } else if r.enhanced.ends_with(".5.3") {
        SetErrorType::Other("tooManyRecipients")
    } else if temporary && r.enhanced.starts_with("4.7.") {
        // NC-2.1.8: a rate limit is answered 451 4.7.1.
        SetErrorType::RateLimit
    } else if temporary {
        SetErrorType::Other("serverUnavailable")
    } else {
        match &r.at {
            RefusedAt::Sender => SetErrorType::Other("forbiddenMailFrom"),
            RefusedAt::Recipients(_) => SetErrorType::Other("invalidRecipients"),
            RefusedAt::Message {
                header_sender: true,
            } => SetErrorType::Other("forbiddenFrom"),
            RefusedAt::Message { .. } => SetErrorType::Other("forbiddenToSend"),
        }
    };
    let description = if r.enhanced.is_empty() {
        format!("{} {}", r.code, r.text)
    } else {
        format!("{} {} {}", r.code, r.enhanced, r.text)
    };
    let mut v = SetError::with(kind, description).to_value();
    if let (RefusedAt::Recipients(list), Value::Object(map)) = (&r.at, &mut v) {
        if kind == SetErrorType::Other("invalidRecipients") {
            map.insert("invalidRecipients".into(), list.clone().into());
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(at: RefusedAt, code: u16, enhanced: &str) -> Value {
        refusal_value(&Refused {
            at,
            code,
            enhanced: enhanced.into(),
            text: "why".into(),
        })
    }

    #[test]
    fn smtp_refusals_map_to_rfc_8621_set_errors() {
        let ty = |v: Value| v["type"].as_str().unwrap_or_default().to_owned();
        let msg = |h| RefusedAt::Message { header_sender: h };
        assert_eq!(ty(r(RefusedAt::Sender, 553, "5.7.1")), "forbiddenMailFrom");
        assert_eq!(ty(r(RefusedAt::Sender, 451, "4.7.1")), "rateLimit");
        assert_eq!(ty(r(msg(true), 550, "5.7.1")), "forbiddenFrom");
        assert_eq!(ty(r(msg(false), 550, "5.7.1")), "forbiddenToSend");
        assert_eq!(ty(r(msg(false), 552, "5.3.4")), "tooLarge");
        assert_eq!(ty(r(RefusedAt::Sender, 552, "5.3.4")), "tooLarge");
        assert_eq!(
            ty(r(RefusedAt::Recipients(vec!["x@y".into()]), 452, "4.5.3")),
            "tooManyRecipients"
        );
        let v = r(RefusedAt::Recipients(vec!["x@y".into()]), 550, "5.1.1");
        assert_eq!(ty(v.clone()), "invalidRecipients");
        assert_eq!(v["invalidRecipients"], serde_json::json!(["x@y"]));
        assert_eq!(v["description"], "550 5.1.1 why");
    }
}
