//! Email/query and Email/queryChanges (RFC 8621 §4.4, §4.5) over the store's query, which
//! filters, sorts, collapses threads and cuts the window in one statement.

mod filter;

use rampart_jmap::args::Args;
use rampart_jmap::methods::query::{QueryArgs, QueryWindow};
use rampart_jmap::methods::query_changes::{QueryChangesArgs, QueryChangesResponse};
use rampart_jmap::{CallContext, MethodError};
use rampart_store::mail::{EmailQuery, Kind};
use serde_json::{Map, Value};

use crate::account;
use crate::error::method_error;
use crate::mailbox::{query_changes_from, ready, state};
use crate::{ids, MailMethods, Responses};

/// The most ids one Email/query answer carries; a larger limit is lowered and the response says
/// so in `limit` (RFC 8620 §5.5).
pub(crate) const MAX_LIMIT: u64 = 1_000;

pub(crate) async fn query(
    m: &MailMethods,
    cx: &mut CallContext,
    args: Map<String, Value>,
) -> Result<Responses, MethodError> {
    let mut a = Args::new(args);
    let q = QueryArgs::parse(&mut a, cx)?;
    let collapse = a.take_bool_or("collapseThreads", false)?;
    a.finish()?;
    let (filter, sort) = filter::filter_and_sort(cx, q.filter.as_ref(), &q.sort)?;
    let (own, _) = filter::dependence(filter.as_ref(), &sort);
    let account = account::resolve(cx, &q.account_id)?;
    ready(m, &account).await?;
    let query_state = state(m, &account, Kind::Email).await?;
    let anchor = match &q.anchor {
        // An id that is no email of this account is not in the results.
        Some(a) => Some(
            ids::parse(ids::EMAIL, a)
                .ok_or_else(|| method_error(rampart_store::mail::MailError::AnchorNotFound))?,
        ),
        None => None,
    };
    let (limit, capped) = match q.limit {
        Some(l) if l <= MAX_LIMIT => (l, None),
        _ => (MAX_LIMIT, Some(MAX_LIMIT)),
    };
    let sq = EmailQuery {
        filter,
        sort,
        collapse_threads: collapse,
        position: q.position,
        anchor,
        anchor_offset: q.anchor_offset,
        limit: Some(limit as usize),
    };
    let r = m
        .store
        .email_query(&account.owner, &sq)
        .await
        .map_err(method_error)?;
    let window = QueryWindow {
        position: r.position,
        ids: r.ids.into_iter().map(ids::email).collect(),
        total: r.total,
        limit: capped,
    };
    let mut out = window.into_arguments(&q, &query_state, own && !collapse);
    out.insert("collapseThreads".into(), collapse.into());
    Ok(vec![("Email/query".into(), out)])
}

pub(crate) async fn query_changes(
    m: &MailMethods,
    cx: &mut CallContext,
    args: Map<String, Value>,
) -> Result<Responses, MethodError> {
    let mut a = Args::new(args);
    let q = QueryChangesArgs::parse(&mut a, cx)?;
    let collapse = a.take_bool_or("collapseThreads", false)?;
    a.finish()?;
    let (filter, sort) = filter::filter_and_sort(cx, q.filter.as_ref(), &q.sort)?;
    let (own, immutable) = filter::dependence(filter.as_ref(), &sort);
    let account = account::resolve(cx, &q.account_id)?;
    ready(m, &account).await?;
    let new_state = state(m, &account, Kind::Email).await?;
    // The whole current result: where each changed email now sits.
    let sq = EmailQuery {
        filter,
        sort,
        collapse_threads: collapse,
        ..EmailQuery::default()
    };
    let all = m
        .store
        .email_query(&account.owner, &sq)
        .await
        .map_err(method_error)?;
    let results: Vec<String> = all.ids.into_iter().map(ids::email).collect();
    // RFC 8620 §5.6 upToId: only for a query on immutable properties; an id no longer in the
    // results gives no cut.
    let up_to = match (&q.up_to_id, immutable && !collapse) {
        (Some(u), true) => results.iter().position(|r| r == u),
        _ => None,
    };
    // collapseThreads and the thread keyword conditions make an email's match depend on the
    // other emails of its thread, which the log does not list: cannotCalculateChanges (RFC
    // 8620 §5.6 allows it) once anything changed.
    let (removed, added) = query_changes_from(
        m,
        &account,
        Kind::Email,
        ids::EMAIL,
        (&q.since_query_state, &new_state),
        &results,
        own && !collapse,
        up_to,
    )
    .await?;
    q.check_max_changes(removed.len() + added.len())?;
    let out = QueryChangesResponse {
        account_id: account.id,
        old_query_state: q.since_query_state,
        new_query_state: new_state,
        total: q.calculate_total.then_some(results.len() as u64),
        removed,
        added,
    }
    .into_arguments();
    Ok(vec![("Email/queryChanges".into(), out)])
}
