//! EmailSubmission (RFC 8621 §7): get, changes, query, queryChanges here; set (sending) in
//! [`set`]. Sending goes through a [`Submitter`], the server's SMTP submission pipeline, so mail
//! sent over JMAP meets every check mail sent over SMTP meets. No delayed send
//! (`maxDelayedSend` 0): every submission is `final` once queued.

mod envelope;
mod on_success;
mod set;
#[cfg(test)]
mod tests_delegates;

use rampart_jmap::args::Args;
use rampart_jmap::methods::changes::{Change, ChangeKind, ChangesArgs, ChangesResponse};
use rampart_jmap::methods::get::{project, select, GetArgs, GetResponse};
use rampart_jmap::methods::query::{
    unsupported_filter, unsupported_sort, Filter, Operator, QueryArgs,
};
use rampart_jmap::methods::query_changes::{AddedItem, QueryChangesArgs, QueryChangesResponse};
use rampart_jmap::{CallContext, MethodError};
use rampart_store::submission::{LogKind, SubKind, Submission};
use serde_json::{json, Map, Value};

use crate::account::resolve;
use crate::error::server_fail;
use crate::ids::{self, SUBMISSION};
use crate::{MailMethods, Responses};

/// The most ids one /changes answer holds.
const MAX_CHANGES: u64 = 1000;
/// The most ids one /query answer holds.
const MAX_QUERY: u64 = 1000;

const PROPERTIES: &[&str] = &[
    "id",
    "identityId",
    "emailId",
    "threadId",
    "envelope",
    "sendAt",
    "undoStatus",
    "deliveryStatus",
    "dsnBlobIds",
    "mdnBlobIds",
];

pub(crate) async fn call(
    m: &MailMethods,
    cx: &mut CallContext,
    method: &str,
    args: Map<String, Value>,
) -> Result<Responses, MethodError> {
    match method {
        "get" => get(m, cx, args).await,
        "changes" => {
            changes(
                m,
                cx,
                args,
                SubKind::Submission,
                SUBMISSION,
                "EmailSubmission",
            )
            .await
        }
        "query" => query(m, cx, args).await,
        "queryChanges" => query_changes(m, cx, args).await,
        "set" => set::set(m, cx, args).await,
        _ => Err(MethodError::unknown_method(&format!(
            "EmailSubmission/{method}"
        ))),
    }
}

/// Sends a message through the server's submission pipeline (implemented by the server over
/// its SMTP submission code): sender alignment (NC-2.1.7), rate limits (NC-2.1.8), the content
/// checks (DLP AL-1.5, antivirus), no automatic forwarding outside (AL-4.2), DKIM signing and
/// the trace, exactly as for SMTP submission.
#[async_trait::async_trait]
pub trait Submitter: Send + Sync {
    /// Queues `message` from `mail_from` to `rcpt_to` as the authenticated `user` (the account
    /// owner; a delegate with send-as rights sends as the owner); the queue id, or the refusal.
    async fn submit(
        &self,
        origin: &rampart_jmap::Origin,
        user: &str,
        mail_from: &str,
        rcpt_to: &[String],
        message: Vec<u8>,
    ) -> Result<String, Refused>;
}

/// Where the pipeline refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusedAt {
    /// The envelope sender (MAIL FROM).
    Sender,
    /// These recipients (RCPT TO); the submission went to none.
    Recipients(Vec<String>),
    /// The message; `header_sender` when its From or Sender header was the reason (NC-2.1.7).
    Message { header_sender: bool },
}

/// Why a submission was refused: the SMTP reply the pipeline gave, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub at: RefusedAt,
    pub code: u16,
    pub enhanced: String,
    pub text: String,
}

/// A submission as JMAP shows it.
fn to_json(s: &Submission) -> Map<String, Value> {
    let envelope: Value = serde_json::from_str(&s.envelope).unwrap_or(Value::Null);
    let mut status = Map::new();
    for r in &s.recipients {
        status.insert(
            r.clone(),
            json!({
                "smtpReply": format!("250 2.0.0 Ok: queued as {}", s.queue_id),
                "delivered": "queued",
                "displayed": "unknown",
            }),
        );
    }
    let v = json!({
        "id": ids::make(SUBMISSION, s.id),
        "identityId": ids::make(ids::IDENTITY, s.identity),
        "emailId": ids::email(s.email),
        "threadId": s.thread.map(ids::thread),
        "envelope": envelope,
        "sendAt": crate::vacation::date::format(s.send_at),
        "undoStatus": "final",
        "deliveryStatus": status,
        "dsnBlobIds": [],
        "mdnBlobIds": [],
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

async fn all(m: &MailMethods, owner: &str) -> Result<Vec<Submission>, MethodError> {
    m.store
        .submission_list(owner)
        .await
        .map_err(|e| server_fail(&e))
}

pub(crate) async fn state(
    m: &MailMethods,
    owner: &str,
    kind: SubKind,
) -> Result<String, MethodError> {
    m.store
        .sub_state(owner, kind)
        .await
        .map_err(|e| server_fail(&e))
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
    let account = resolve(cx, &g.account_id)?;
    let subs = all(m, &account.owner).await?;
    let st = state(m, &account.owner, SubKind::Submission).await?;
    let (chosen, not_found) = select(&g, cx, &subs, |id| {
        ids::parse(SUBMISSION, id).and_then(|n| subs.iter().find(|s| s.id == n))
    })?;
    let list = chosen
        .into_iter()
        .map(|s| project(&to_json(s), &props))
        .collect();
    let r = GetResponse {
        account_id: g.account_id,
        state: st,
        list,
        not_found,
    };
    Ok(vec![("EmailSubmission/get".into(), r.into_arguments())])
}

/// /changes for Identity and EmailSubmission from the store's change log.
pub(crate) async fn changes(
    m: &MailMethods,
    cx: &mut CallContext,
    args: Map<String, Value>,
    kind: SubKind,
    letter: char,
    type_name: &str,
) -> Result<Responses, MethodError> {
    let mut a = Args::new(args);
    let c = ChangesArgs::parse(&mut a, cx)?;
    a.finish()?;
    let account = resolve(cx, &c.account_id)?;
    if kind == SubKind::Identity {
        // The own identity exists before the first state is handed out.
        crate::identity::list(m, &account).await?;
    }
    let current = state(m, &account.owner, kind).await?;
    let log = m
        .store
        .sub_changes(&account.owner, kind, &c.since_state)
        .await
        .map_err(|e| server_fail(&e))?
        .ok_or_else(MethodError::cannot_calculate_changes)?;
    let log: Vec<Change> = log
        .into_iter()
        .map(|e| Change {
            id: ids::make(letter, e.id),
            kind: match e.kind {
                LogKind::Created => ChangeKind::Created,
                LogKind::Updated => ChangeKind::Updated,
                LogKind::Destroyed => ChangeKind::Destroyed,
            },
            state: e.state.to_string(),
        })
        .collect();
    let r = ChangesResponse::from_log(&c, &log, &current, MAX_CHANGES)?;
    Ok(vec![(format!("{type_name}/changes"), r.into_arguments())])
}

/// A parsed filter condition (RFC 8621 §7.3).
#[derive(Default)]
struct Condition {
    identity_ids: Option<Vec<i64>>,
    email_ids: Option<Vec<i64>>,
    thread_ids: Option<Vec<i64>>,
    undo_status: Option<String>,
    before: Option<i64>,
    after: Option<i64>,
}

fn id_list(v: &Value, letter: char, key: &str) -> Result<Vec<i64>, MethodError> {
    let Value::Array(items) = v else {
        return Err(MethodError::invalid_arguments(format!(
            "{key} must be an array of ids"
        )));
    };
    // An id of the wrong form names nothing: it matches nothing.
    Ok(items
        .iter()
        .filter_map(|i| i.as_str().and_then(|s| ids::parse(letter, s)))
        .chain(std::iter::once(-1))
        .collect())
}

fn condition(c: &Map<String, Value>) -> Result<Condition, MethodError> {
    let mut out = Condition::default();
    for (k, v) in c {
        match k.as_str() {
            "identityIds" => out.identity_ids = Some(id_list(v, ids::IDENTITY, k)?),
            "emailIds" => out.email_ids = Some(id_list(v, ids::EMAIL, k)?),
            "threadIds" => out.thread_ids = Some(id_list(v, ids::THREAD, k)?),
            "undoStatus" => match v.as_str() {
                Some(s @ ("pending" | "final" | "canceled")) => {
                    out.undo_status = Some(s.to_owned())
                }
                _ => return Err(MethodError::invalid_arguments("undoStatus is not valid")),
            },
            "before" | "after" => {
                let t = v
                    .as_str()
                    .and_then(crate::vacation::date::parse)
                    .ok_or_else(|| {
                        MethodError::invalid_arguments(format!("{k} is not a UTCDate"))
                    })?;
                if k == "before" {
                    out.before = Some(t);
                } else {
                    out.after = Some(t);
                }
            }
            other => return Err(unsupported_filter(format!("no filter {other:?}"))),
        }
    }
    Ok(out)
}

fn matches(f: &Filter, s: &Submission) -> Result<bool, MethodError> {
    Ok(match f {
        Filter::Operator(op, subs) => {
            let mut results = Vec::with_capacity(subs.len());
            for sub in subs {
                results.push(matches(sub, s)?);
            }
            match op {
                Operator::And => results.iter().all(|r| *r),
                Operator::Or => results.iter().any(|r| *r),
                Operator::Not => !results.iter().any(|r| *r),
            }
        }
        Filter::Condition(c) => {
            let c = condition(c)?;
            c.identity_ids.is_none_or(|l| l.contains(&s.identity))
                && c.email_ids.is_none_or(|l| l.contains(&s.email))
                && c.thread_ids
                    .is_none_or(|l| s.thread.is_some_and(|t| l.contains(&t)))
                && c.undo_status.is_none_or(|u| u == "final")
                && c.before.is_none_or(|b| s.send_at < b)
                && c.after.is_none_or(|a| s.send_at >= a)
        }
    })
}

/// The matching submissions' ids in the requested order (ties by id).
fn run_query(
    subs: &[Submission],
    filter: Option<&Filter>,
    sort: &[rampart_jmap::methods::query::Comparator],
) -> Result<Vec<String>, MethodError> {
    for c in sort {
        if !["emailId", "threadId", "sentAt"].contains(&c.property.as_str()) {
            return Err(unsupported_sort(format!("cannot sort by {:?}", c.property)));
        }
    }
    let mut hits = Vec::new();
    for s in subs {
        if filter.map(|f| matches(f, s)).transpose()?.unwrap_or(true) {
            hits.push(s);
        }
    }
    hits.sort_by(|a, b| {
        for c in sort {
            let o = match c.property.as_str() {
                "emailId" => a.email.cmp(&b.email),
                "threadId" => a.thread.cmp(&b.thread),
                _ => a.send_at.cmp(&b.send_at),
            };
            let o = if c.is_ascending { o } else { o.reverse() };
            if o.is_ne() {
                return o;
            }
        }
        a.id.cmp(&b.id)
    });
    Ok(hits
        .into_iter()
        .map(|s| ids::make(SUBMISSION, s.id))
        .collect())
}

async fn query(
    m: &MailMethods,
    cx: &mut CallContext,
    args: Map<String, Value>,
) -> Result<Responses, MethodError> {
    let mut a = Args::new(args);
    let q = QueryArgs::parse(&mut a, cx)?;
    a.finish()?;
    let account = resolve(cx, &q.account_id)?;
    let subs = all(m, &account.owner).await?;
    let st = state(m, &account.owner, SubKind::Submission).await?;
    let results = run_query(&subs, q.filter.as_ref(), &q.sort)?;
    let w = q.window(&results, MAX_QUERY)?;
    Ok(vec![(
        "EmailSubmission/query".into(),
        w.into_arguments(&q, &st, true),
    )])
}

/// RFC 8620 §5.6 from the change log: a submission's sort and filter properties never change
/// after it is created, so the results changed only by submissions created (added where they
/// now sort) and destroyed (removed) since the old state.
async fn query_changes(
    m: &MailMethods,
    cx: &mut CallContext,
    args: Map<String, Value>,
) -> Result<Responses, MethodError> {
    let mut a = Args::new(args);
    let q = QueryChangesArgs::parse(&mut a, cx)?;
    a.finish()?;
    let account = resolve(cx, &q.account_id)?;
    let log = m
        .store
        .sub_changes(&account.owner, SubKind::Submission, &q.since_query_state)
        .await
        .map_err(|e| server_fail(&e))?
        .ok_or_else(MethodError::cannot_calculate_changes)?;
    let subs = all(m, &account.owner).await?;
    let st = state(m, &account.owner, SubKind::Submission).await?;
    let results = run_query(&subs, q.filter.as_ref(), &q.sort)?;
    let mut removed = Vec::new();
    let mut added = Vec::new();
    for e in &log {
        let id = ids::make(SUBMISSION, e.id);
        match e.kind {
            LogKind::Destroyed | LogKind::Updated => {
                if !removed.contains(&id) {
                    removed.push(id);
                }
            }
            LogKind::Created => {
                if let Some(i) = results.iter().position(|r| *r == id) {
                    // §5.6: an added id is also reported as removed.
                    if !removed.contains(&id) {
                        removed.push(id.clone());
                    }
                    added.push(AddedItem {
                        id,
                        index: i as u64,
                    });
                }
            }
        }
    }
    if let Some(up_to) = &q.up_to_id {
        if let Some(limit) = results.iter().position(|r| r == up_to) {
            added.retain(|a| a.index <= limit as u64);
        }
    }
    added.sort_by_key(|a| a.index);
    q.check_max_changes(removed.len() + added.len())?;
    let r = QueryChangesResponse {
        account_id: q.account_id.clone(),
        old_query_state: q.since_query_state.clone(),
        new_query_state: st,
        total: q.calculate_total.then_some(results.len() as u64),
        removed,
        added,
    };
    Ok(vec![(
        "EmailSubmission/queryChanges".into(),
        r.into_arguments(),
    )])
}
