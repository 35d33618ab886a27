//! `/queryChanges` (RFC 8620 §5.6).

use serde_json::{Map, Value};

use crate::args::Args;
use crate::engine::CallContext;
use crate::error::{MethodError, MethodErrorType};

use super::query::{take_filter_and_sort, Comparator, Filter};

/// The arguments of a /queryChanges call.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryChangesArgs {
    pub account_id: String,
    pub filter: Option<Filter>,
    pub sort: Vec<Comparator>,
    pub since_query_state: String,
    pub max_changes: Option<u64>,
    pub up_to_id: Option<String>,
    pub calculate_total: bool,
}

impl QueryChangesArgs {
    pub fn parse(args: &mut Args, cx: &CallContext) -> Result<Self, MethodError> {
        let account_id = args.take_id("accountId")?;
        let (filter, sort) = take_filter_and_sort(args, cx)?;
        let since_query_state = args.take_string("sinceQueryState")?;
        let max_changes = args.take_opt_unsigned("maxChanges")?;
        if max_changes == Some(0) {
            return Err(MethodError::invalid_arguments(
                "maxChanges must be greater than 0",
            ));
        }
        let up_to_id = args.take_opt_id("upToId")?;
        let calculate_total = args.take_bool_or("calculateTotal", false)?;
        cx.account(&account_id)?;
        Ok(Self {
            account_id,
            filter,
            sort,
            since_query_state,
            max_changes,
            up_to_id,
            calculate_total,
        })
    }

    /// RFC 8620 §5.6: more changes than maxChanges is tooManyChanges (unlike /changes).
    pub fn check_max_changes(&self, changes: usize) -> Result<(), MethodError> {
        match self.max_changes {
            Some(m) if changes as u64 > m => Err(MethodError::new(MethodErrorType::TooManyChanges)),
            _ => Ok(()),
        }
    }
}

/// One id added to the query results, at its index in the new results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedItem {
    pub id: String,
    pub index: u64,
}

/// The /queryChanges response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryChangesResponse {
    pub account_id: String,
    pub old_query_state: String,
    pub new_query_state: String,
    pub total: Option<u64>,
    pub removed: Vec<String>,
    pub added: Vec<AddedItem>,
}

impl QueryChangesResponse {
    pub fn into_arguments(self) -> Map<String, Value> {
        let added: Vec<Value> = self
            .added
            .into_iter()
            .map(|a| {
                Value::Object(super::object([
                    ("id", a.id.into()),
                    ("index", a.index.into()),
                ]))
            })
            .collect();
        let mut m = super::object([
            ("accountId", self.account_id.into()),
            ("oldQueryState", self.old_query_state.into()),
            ("newQueryState", self.new_query_state.into()),
            ("removed", self.removed.into()),
            ("added", added.into()),
        ]);
        if let Some(t) = self.total {
            m.insert("total".into(), t.into());
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use serde_json::json;

    use super::*;
    use crate::session::{Account, CoreCapability, User};

    fn cx() -> CallContext {
        let user = User {
            username: "alice".into(),
            accounts: vec![Account {
                id: "A1".into(),
                name: "alice".into(),
                is_personal: true,
                is_read_only: false,
                account_capabilities: Map::new(),
                ..Default::default()
            }],
            primary_accounts: BTreeMap::new(),
            origin: Default::default(),
        };
        CallContext::new(user, CoreCapability::default(), BTreeSet::new())
    }

    fn parse(v: Value) -> Result<QueryChangesArgs, MethodError> {
        let Value::Object(m) = v else {
            unreachable!("test arguments are objects")
        };
        let mut a = Args::new(m);
        let q = QueryChangesArgs::parse(&mut a, &cx())?;
        a.finish()?;
        Ok(q)
    }

    #[test]
    fn arguments_are_strict() {
        let q = parse(
            json!({"accountId": "A1", "sinceQueryState": "q1", "maxChanges": 5,
            "upToId": "N3", "calculateTotal": true, "filter": {"text": "x"}}),
        )
        .unwrap();
        assert_eq!(q.max_changes, Some(5));
        assert_eq!(q.up_to_id.as_deref(), Some("N3"));
        for (bad, kind) in [
            (
                json!({"accountId": "A1"}),
                MethodErrorType::InvalidArguments,
            ),
            (
                json!({"accountId": "A1", "sinceQueryState": 1}),
                MethodErrorType::InvalidArguments,
            ),
            (
                json!({"accountId": "A1", "sinceQueryState": "q", "maxChanges": 0}),
                MethodErrorType::InvalidArguments,
            ),
            (
                json!({"accountId": "A1", "sinceQueryState": "q", "upToId": "a b"}),
                MethodErrorType::InvalidArguments,
            ),
            (
                json!({"accountId": "A1", "sinceQueryState": "q", "other": 1}),
                MethodErrorType::InvalidArguments,
            ),
            (
                json!({"accountId": "B1", "sinceQueryState": "q"}),
                MethodErrorType::AccountNotFound,
            ),
        ] {
            assert_eq!(parse(bad.clone()).unwrap_err().kind, kind, "{bad}");
        }
    }

    #[test]
    fn too_many_changes_and_the_response_shape() {
        let q =
            parse(json!({"accountId": "A1", "sinceQueryState": "q1", "maxChanges": 2})).unwrap();
        assert!(q.check_max_changes(2).is_ok());
        assert_eq!(
            q.check_max_changes(3).unwrap_err().kind,
            MethodErrorType::TooManyChanges
        );
        let r = QueryChangesResponse {
            account_id: "A1".into(),
            old_query_state: "q1".into(),
            new_query_state: "q2".into(),
            total: Some(3),
            removed: vec!["N1".into()],
            added: vec![AddedItem {
                id: "N4".into(),
                index: 0,
            }],
        };
        assert_eq!(
            Value::Object(r.into_arguments()),
            json!({"accountId": "A1", "oldQueryState": "q1", "newQueryState": "q2", "total": 3,
                "removed": ["N1"], "added": [{"id": "N4", "index": 0}]})
        );
    }
}
