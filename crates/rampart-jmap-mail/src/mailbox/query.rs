//! Mailbox/query and Mailbox/queryChanges (RFC 8621 §2.3, §2.4), and the /queryChanges answer
//! both Mailbox and Email compute from the change log.
//!
//! An account has few mailboxes, so the query runs here over the whole list: filter, sort,
//! and for `sortAsTree` / `filterAsTree` the walk of the tree.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use rampart_jmap::args::Args;
use rampart_jmap::methods::query::{
    unsupported_filter, unsupported_sort, Comparator, Filter, Operator, QueryArgs,
};
use rampart_jmap::methods::query_changes::{AddedItem, QueryChangesArgs, QueryChangesResponse};
use rampart_jmap::{CallContext, MethodError};
use rampart_store::mail::{Kind, MailboxInfo};
use serde_json::{Map, Value};

use super::{mailboxes, ready, state};
use crate::account::{self, MailAccount};
use crate::error::method_error;
use crate::{ids, MailMethods};

/// The most ids one Mailbox/query answer carries (far above any real account's mailboxes).
const MAX_LIMIT: u64 = 10_000;

/// One parsed FilterCondition of RFC 8621 §2.3.
#[derive(Debug, Default)]
struct Cond {
    /// Some(None): top-level mailboxes only.
    parent: Option<Option<i64>>,
    name: Option<String>,
    role: Option<Option<String>>,
    has_any_role: Option<bool>,
    subscribed: Option<bool>,
}

enum F {
    Cond(Cond),
    Op(Operator, Vec<F>),
}

fn wrong(what: &str) -> MethodError {
    MethodError::invalid_arguments(format!("filter: {what}"))
}

fn cond(c: &Map<String, Value>) -> Result<Cond, MethodError> {
    let mut out = Cond::default();
    for (k, v) in c {
        match (k.as_str(), v) {
            // An id that names no mailbox of this account matches nothing: -1 is no mailbox.
            ("parentId", Value::String(s)) => {
                out.parent = Some(Some(ids::parse(ids::MAILBOX, s).unwrap_or(-1)))
            }
            ("parentId", Value::Null) => out.parent = Some(None),
            ("name", Value::String(s)) => out.name = Some(s.to_lowercase()),
            ("role", Value::String(s)) => out.role = Some(Some(s.to_ascii_lowercase())),
            ("role", Value::Null) => out.role = Some(None),
            ("hasAnyRole", Value::Bool(b)) => out.has_any_role = Some(*b),
            ("isSubscribed", Value::Bool(b)) => out.subscribed = Some(*b),
            ("parentId" | "name" | "role" | "hasAnyRole" | "isSubscribed", _) => {
                return Err(wrong(&format!("{k} has the wrong type")))
            }
            _ => return Err(unsupported_filter(format!("unknown condition {k:?}"))),
        }
    }
    Ok(out)
}

fn parse_filter(f: &Filter) -> Result<F, MethodError> {
    Ok(match f {
        Filter::Condition(c) => F::Cond(cond(c)?),
        Filter::Operator(op, subs) => F::Op(
            *op,
            subs.iter().map(parse_filter).collect::<Result<_, _>>()?,
        ),
    })
}

fn matches(f: &F, b: &MailboxInfo) -> bool {
    match f {
        F::Cond(c) => {
            c.parent.is_none_or(|p| p == b.parent)
                && c.name
                    .as_ref()
                    .is_none_or(|n| b.name.to_lowercase().contains(n))
                && c.role.as_ref().is_none_or(|r| *r == b.role)
                && c.has_any_role.is_none_or(|h| h == b.role.is_some())
                && c.subscribed.is_none_or(|s| s == b.subscribed)
        }
        F::Op(Operator::And, subs) => subs.iter().all(|s| matches(s, b)),
        F::Op(Operator::Or, subs) => subs.iter().any(|s| matches(s, b)),
        F::Op(Operator::Not, subs) => !subs.iter().any(|s| matches(s, b)),
    }
}

#[derive(Clone, Copy)]
enum Key {
    SortOrder,
    Name,
}

fn parse_sort(sort: &[Comparator]) -> Result<Vec<(Key, bool)>, MethodError> {
    sort.iter()
        .map(|c| {
            if let Some(k) = c.extra.keys().next() {
                return Err(MethodError::invalid_arguments(format!(
                    "unknown Comparator property {k:?}"
                )));
            }
            let key = match c.property.as_str() {
                "sortOrder" => Key::SortOrder,
                "name" => Key::Name,
                p => return Err(unsupported_sort(format!("cannot sort by {p:?}"))),
            };
            Ok((key, c.is_ascending))
        })
        .collect()
}

fn compare(a: &MailboxInfo, b: &MailboxInfo, sort: &[(Key, bool)]) -> Ordering {
    for (key, asc) in sort {
        let o = match key {
            Key::SortOrder => a.sort_order.cmp(&b.sort_order),
            Key::Name => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
        };
        let o = if *asc { o } else { o.reverse() };
        if o != Ordering::Equal {
            return o;
        }
    }
    // A stable order for ties.
    a.id.cmp(&b.id)
}

/// What a parsed query asks of the account's mailboxes.
struct MailboxQuery {
    filter: Option<F>,
    sort: Vec<(Key, bool)>,
    sort_as_tree: bool,
    filter_as_tree: bool,
}

impl MailboxQuery {
    fn new(
        filter: &Option<Filter>,
        sort: &[Comparator],
        sort_as_tree: bool,
        filter_as_tree: bool,
    ) -> Result<Self, MethodError> {
        Ok(Self {
            filter: filter.as_ref().map(parse_filter).transpose()?,
            sort: parse_sort(sort)?,
            sort_as_tree,
            filter_as_tree,
        })
    }

    /// The ids of the matching mailboxes, in order.
    fn run(&self, all: &[MailboxInfo]) -> Vec<String> {
        let pass = |b: &MailboxInfo| self.filter.as_ref().is_none_or(|f| matches(f, b));
        let by_id: HashMap<i64, &MailboxInfo> = all.iter().map(|b| (b.id, b)).collect();
        // RFC 8621 §2.3 filterAsTree: a mailbox matches only if every ancestor matches too.
        let included = |b: &MailboxInfo| {
            if !pass(b) {
                return false;
            }
            if !self.filter_as_tree {
                return true;
            }
            let mut at = b.parent;
            let mut seen = HashSet::new();
            while let Some(p) = at {
                let Some(pb) = by_id.get(&p) else { break };
                if !seen.insert(p) || !pass(pb) {
                    return false;
                }
                at = pb.parent;
            }
            true
        };
        let mut sorted: Vec<&MailboxInfo> = all.iter().collect();
        sorted.sort_by(|a, b| compare(a, b, &self.sort));
        if !self.sort_as_tree {
            return sorted
                .into_iter()
                .filter(|b| included(b))
                .map(|b| ids::mailbox(b.id))
                .collect();
        }
        // RFC 8621 §2.3 sortAsTree: parents before children, siblings by the comparators:
        // a depth-first walk over children lists that are each sorted.
        let mut children: HashMap<Option<i64>, Vec<&MailboxInfo>> = HashMap::new();
        for b in &sorted {
            let parent = b.parent.filter(|p| by_id.contains_key(p));
            children.entry(parent).or_default().push(b);
        }
        let mut out = Vec::new();
        let mut stack: Vec<&MailboxInfo> = children
            .get(&None)
            .map(|v| v.iter().rev().copied().collect())
            .unwrap_or_default();
        let mut visited = HashSet::new();
        while let Some(b) = stack.pop() {
            if !visited.insert(b.id) {
                continue;
            }
            if included(b) {
                out.push(ids::mailbox(b.id));
            }
            if let Some(kids) = children.get(&Some(b.id)) {
                stack.extend(kids.iter().rev().copied());
            }
        }
        out
    }
}

pub(super) async fn query(
    m: &MailMethods,
    cx: &CallContext,
    args: Map<String, Value>,
) -> Result<Map<String, Value>, MethodError> {
    let mut a = Args::new(args);
    let q = QueryArgs::parse(&mut a, cx)?;
    let sort_as_tree = a.take_bool_or("sortAsTree", false)?;
    let filter_as_tree = a.take_bool_or("filterAsTree", false)?;
    a.finish()?;
    let mq = MailboxQuery::new(&q.filter, &q.sort, sort_as_tree, filter_as_tree)?;
    let account = account::resolve(cx, &q.account_id)?;
    ready(m, &account).await?;
    let query_state = state(m, &account, Kind::Mailbox).await?;
    let results = mq.run(&mailboxes(m, &account).await?);
    let window = q.window(&results, MAX_LIMIT)?;
    Ok(window.into_arguments(&q, &query_state, true))
}

pub(super) async fn query_changes(
    m: &MailMethods,
    cx: &CallContext,
    args: Map<String, Value>,
) -> Result<Map<String, Value>, MethodError> {
    let mut a = Args::new(args);
    let q = QueryChangesArgs::parse(&mut a, cx)?;
    let sort_as_tree = a.take_bool_or("sortAsTree", false)?;
    let filter_as_tree = a.take_bool_or("filterAsTree", false)?;
    a.finish()?;
    let mq = MailboxQuery::new(&q.filter, &q.sort, sort_as_tree, filter_as_tree)?;
    let account = account::resolve(cx, &q.account_id)?;
    ready(m, &account).await?;
    let new_state = state(m, &account, Kind::Mailbox).await?;
    let results = mq.run(&mailboxes(m, &account).await?);
    // As a tree, a mailbox's place and match depend on its ancestors: a rename or move of one
    // mailbox changes others that the log does not list.
    let computable = !sort_as_tree && !filter_as_tree;
    let (removed, added) = query_changes_from(
        m,
        &account,
        Kind::Mailbox,
        ids::MAILBOX,
        (&q.since_query_state, &new_state),
        &results,
        computable,
        None,
    )
    .await?;
    q.check_max_changes(removed.len() + added.len())?;
    Ok(QueryChangesResponse {
        account_id: account.id,
        old_query_state: q.since_query_state,
        new_query_state: new_state,
        total: q.calculate_total.then_some(results.len() as u64),
        removed,
        added,
    }
    .into_arguments())
}

/// RFC 8620 §5.6 from the change log, for a query whose state is the type's state and where
/// whether a record matches, and where it sorts, depends on that record alone (`computable`):
/// every record changed since the old state is `removed` (the RFC allows ids that were not in
/// the old results), and each created or updated one in the current `results` is `added` at
/// its index. With `up_to` (the index of the client's upToId, for a query on immutable
/// properties only), additions after it are left out. Otherwise, once anything changed, the
/// answer is cannotCalculateChanges.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn query_changes_from(
    m: &MailMethods,
    account: &MailAccount,
    kind: Kind,
    letter: char,
    (since, now): (&str, &str),
    results: &[String],
    computable: bool,
    up_to: Option<usize>,
) -> Result<(Vec<String>, Vec<AddedItem>), MethodError> {
    if since == now {
        return Ok((Vec::new(), Vec::new()));
    }
    let ch = m
        .store
        .mail_changes(&account.owner, kind, since, None)
        .await
        .map_err(method_error)?;
    if !computable {
        return Err(MethodError::cannot_calculate_changes());
    }
    let index: HashMap<&str, usize> = results
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let mut removed = Vec::new();
    let mut added = Vec::new();
    for n in ch.updated.iter().chain(&ch.destroyed) {
        removed.push(ids::make(letter, *n));
    }
    for n in ch.created.iter().chain(&ch.updated) {
        let id = ids::make(letter, *n);
        if let Some(&i) = index.get(id.as_str()) {
            if up_to.is_none_or(|u| i <= u) {
                added.push(AddedItem {
                    id,
                    index: i as u64,
                });
            }
        }
    }
    added.sort_by_key(|a| a.index);
    Ok((removed, added))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b(id: i64, name: &str, parent: Option<i64>, sort_order: i64) -> MailboxInfo {
        MailboxInfo {
            id,
            name: name.into(),
            parent,
            role: None,
            sort_order,
            subscribed: true,
            total_emails: 0,
            unread_emails: 0,
            total_threads: 0,
            unread_threads: 0,
        }
    }

    fn run(
        filter: Option<Value>,
        by_name: bool,
        tree: (bool, bool),
        all: &[MailboxInfo],
    ) -> Vec<String> {
        let filter = filter.map(|f| Filter::parse(f).unwrap());
        let sort = if by_name {
            vec![Comparator {
                property: "name".into(),
                is_ascending: true,
                collation: None,
                extra: Map::new(),
            }]
        } else {
            Vec::new()
        };
        MailboxQuery::new(&filter, &sort, tree.0, tree.1)
            .unwrap()
            .run(all)
    }

    #[test]
    fn trees_sort_parents_first_and_filter_through_ancestors() {
        // a(1) > [c(3) > [b(5)], b(2)]; top-level z(4).
        let all = [
            b(1, "a", None, 0),
            b(2, "b", Some(1), 0),
            b(3, "c", Some(1), 0),
            b(4, "z", None, 0),
            b(5, "b", Some(3), 0),
        ];
        assert_eq!(
            run(None, true, (false, false), &all),
            ["M1", "M2", "M5", "M3", "M4"]
        );
        // RFC 8621 §2.3 sortAsTree: depth first, siblings by name.
        assert_eq!(
            run(None, true, (true, false), &all),
            ["M1", "M2", "M3", "M5", "M4"]
        );
        // filterAsTree: "b" under "c" matches, but "c" does not.
        let named_b = json!({"name": "b"});
        assert_eq!(
            run(Some(named_b.clone()), true, (false, false), &all),
            ["M2", "M5"]
        );
        assert!(run(Some(named_b), true, (false, true), &all).is_empty());
        let not_c = json!({"operator": "NOT", "conditions": [{"name": "c"}]});
        assert_eq!(
            run(Some(not_c), true, (true, true), &all),
            ["M1", "M2", "M4"]
        );
    }

    #[test]
    fn unknown_conditions_and_sorts_are_refused() {
        let f = Filter::parse(json!({"totalEmails": 1})).unwrap();
        let e = MailboxQuery::new(&Some(f), &[], false, false)
            .err()
            .unwrap();
        assert_eq!(e.kind, rampart_jmap::MethodErrorType::UnsupportedFilter);
        let f = Filter::parse(json!({"isSubscribed": "yes"})).unwrap();
        let e = MailboxQuery::new(&Some(f), &[], false, false)
            .err()
            .unwrap();
        assert_eq!(e.kind, rampart_jmap::MethodErrorType::InvalidArguments);
    }
}
