//! `/queryChanges` (RFC 8620 §5.6).

use serde_json::{Map, Value};

use crate::args::Args;
use crate::engine::CallContext;
use crate::error::{MethodError, MethodErrorType};

use super::query::{parse_sort, Comparator, Filter};

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
        let filter = match args.take_value("filter") {
            None | Some(Value::Null) => None,
            Some(v) => Some(Filter::parse(v)?),
        };
        let sort = parse_sort(args.take_value("sort"), cx)?;
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
