//! `/query` (RFC 8620 §5.5): filter trees, sort comparators, and the window of results.

use serde_json::{Map, Value};

use crate::args::Args;
use crate::engine::CallContext;
use crate::error::{MethodError, MethodErrorType};

/// How deep a filter tree may nest; deeper is unsupportedFilter (serde_json stops at 128 anyway).
pub const MAX_FILTER_DEPTH: usize = 16;

/// A FilterOperator's operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    And,
    Or,
    Not,
}

/// A filter: an operator over sub-filters, or a condition the data type defines.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Operator(Operator, Vec<Filter>),
    Condition(Map<String, Value>),
}

impl Filter {
    /// Parses a filter. An object with `operator` is a FilterOperator and must have exactly
    /// `operator` (AND, OR or NOT) and `conditions` (an array of filters): anything else is
    /// invalidArguments; too deep a tree is unsupportedFilter.
    pub fn parse(v: Value) -> Result<Self, MethodError> {
        Self::parse_at(v, 0)
    }

    fn parse_at(v: Value, depth: usize) -> Result<Self, MethodError> {
        if depth > MAX_FILTER_DEPTH {
            return Err(MethodError::with(
                MethodErrorType::UnsupportedFilter,
                "the filter nests too deep",
            ));
        }
        let Value::Object(mut m) = v else {
            return Err(MethodError::invalid_arguments("a filter must be an object"));
        };
        let Some(op) = m.remove("operator") else {
            return Ok(Self::Condition(m));
        };
        let op = match op.as_str() {
            Some("AND") => Operator::And,
            Some("OR") => Operator::Or,
            Some("NOT") => Operator::Not,
            _ => {
                return Err(MethodError::invalid_arguments(
                    "operator must be AND, OR or NOT",
                ))
            }
        };
        let Some(Value::Array(conds)) = m.remove("conditions") else {
            return Err(MethodError::invalid_arguments(
                "a FilterOperator needs a conditions array",
            ));
        };
        if let Some(k) = m.keys().next() {
            return Err(MethodError::invalid_arguments(format!(
                "unknown FilterOperator property {k:?}"
            )));
        }
        let conditions = conds
            .into_iter()
            .map(|c| Self::parse_at(c, depth + 1))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::Operator(op, conditions))
    }

    /// Visits every condition; the data type's `check` returns unsupportedFilter for one it
    /// cannot handle (see [`unsupported_filter`]).
    pub fn check_conditions(&self, check: &mut ConditionCheck<'_>) -> Result<(), MethodError> {
        match self {
            Self::Condition(c) => check(c),
            Self::Operator(_, subs) => subs.iter().try_for_each(|f| f.check_conditions(check)),
        }
    }
}

/// A data type's check of one filter condition.
pub type ConditionCheck<'a> = dyn FnMut(&Map<String, Value>) -> Result<(), MethodError> + 'a;

pub fn unsupported_filter(description: impl Into<String>) -> MethodError {
    MethodError::with(MethodErrorType::UnsupportedFilter, description)
}

pub fn unsupported_sort(description: impl Into<String>) -> MethodError {
    MethodError::with(MethodErrorType::UnsupportedSort, description)
}

/// A sort Comparator.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparator {
    pub property: String,
    pub is_ascending: bool,
    pub collation: Option<String>,
    /// Properties a data type adds (RFC 8621's `keyword`); the type checks them.
    pub extra: Map<String, Value>,
}

/// /query arguments some clients repeat inside a Comparator (see [`parse_sort`]).
const QUERY_ARGUMENTS: [&str; 5] = [
    "position",
    "anchor",
    "anchorOffset",
    "limit",
    "calculateTotal",
];

/// Parses `sort`: each comparator needs a `property`; `isAscending` is a Boolean (default
/// true); a `collation` the server does not list is unsupportedSort (§5.5).
pub fn parse_sort(v: Option<Value>, cx: &CallContext) -> Result<Vec<Comparator>, MethodError> {
    let items = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(MethodError::invalid_arguments(
                "sort must be an array or null",
            ))
        }
    };
    items
        .into_iter()
        .map(|c| {
            let Value::Object(m) = c else {
                return Err(MethodError::invalid_arguments(
                    "a Comparator must be an object",
                ));
            };
            let mut a = Args::new(m);
            let property = a.take_string("property")?;
            let is_ascending = a.take_bool_or("isAscending", true)?;
            let collation = a.take_opt_string("collation")?;
            if let Some(col) = &collation {
                if !cx.limits.collation_algorithms.iter().any(|c| c == col) {
                    return Err(unsupported_sort(format!("unsupported collation {col:?}")));
                }
            }
            let mut extra = a.into_map();
            // jmapc (PyPI) puts the query's own arguments into every Comparator; they mean
            // nothing there and are dropped. Any other unknown member is the data type's to
            // accept or refuse.
            for q in QUERY_ARGUMENTS {
                extra.remove(q);
            }
            Ok(Comparator {
                property,
                is_ascending,
                collation,
                extra,
            })
        })
        .collect()
}

/// The `filter` and `sort` arguments, which /query and /queryChanges share.
pub(crate) fn take_filter_and_sort(
    args: &mut Args,
    cx: &CallContext,
) -> Result<(Option<Filter>, Vec<Comparator>), MethodError> {
    let filter = match args.take_value("filter") {
        None | Some(Value::Null) => None,
        Some(v) => Some(Filter::parse(v)?),
    };
    let sort = parse_sort(args.take_value("sort"), cx)?;
    Ok((filter, sort))
}

/// The arguments of a /query call.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryArgs {
    pub account_id: String,
    pub filter: Option<Filter>,
    pub sort: Vec<Comparator>,
    pub position: i64,
    pub anchor: Option<String>,
    pub anchor_offset: i64,
    pub limit: Option<u64>,
    pub calculate_total: bool,
}

impl QueryArgs {
    pub fn parse(args: &mut Args, cx: &CallContext) -> Result<Self, MethodError> {
        let account_id = args.take_id("accountId")?;
        let (filter, sort) = take_filter_and_sort(args, cx)?;
        let position = args.take_int_or("position", 0)?;
        let anchor = args.take_opt_id("anchor")?;
        let anchor_offset = args.take_int_or("anchorOffset", 0)?;
        let limit = args.take_opt_unsigned("limit")?;
        let calculate_total = args.take_bool_or("calculateTotal", false)?;
        cx.account(&account_id)?;
        Ok(Self {
            account_id,
            filter,
            sort,
            position,
            anchor,
            anchor_offset,
            limit,
            calculate_total,
        })
    }

    /// Cuts the window out of the full, filtered and sorted result (§5.5). With an anchor, its
    /// index plus anchorOffset (clamped at 0) is the position and `position` is ignored; an
    /// anchor not in the results is anchorNotFound. A negative position counts from the end,
    /// clamped at 0. `server_max` caps the limit, and then the response says so in `limit`.
    pub fn window(&self, results: &[String], server_max: u64) -> Result<QueryWindow, MethodError> {
        let total = results.len();
        let start = match &self.anchor {
            Some(anchor) => {
                let Some(i) = results.iter().position(|r| r == anchor) else {
                    return Err(MethodError::new(MethodErrorType::AnchorNotFound));
                };
                clamp_index(i as i64 + self.anchor_offset)
            }
            None if self.position < 0 => clamp_index(total as i64 + self.position),
            None => clamp_index(self.position),
        };
        let (limit, capped) = match self.limit {
            Some(l) if l <= server_max => (l, None),
            _ => (server_max, Some(server_max)),
        };
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let ids: Vec<String> = results.iter().skip(start).take(limit).cloned().collect();
        Ok(QueryWindow {
            position: start.min(total) as u64,
            ids,
            total: total as u64,
            limit: capped,
        })
    }
}

fn clamp_index(i: i64) -> usize {
    usize::try_from(i.max(0)).unwrap_or(usize::MAX)
}

/// The window of a /query result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryWindow {
    pub position: u64,
    pub ids: Vec<String>,
    pub total: u64,
    /// Set when the server lowered the client's limit (§5.5).
    pub limit: Option<u64>,
}

impl QueryWindow {
    /// The /query response arguments.
    pub fn into_arguments(
        self,
        args: &QueryArgs,
        query_state: &str,
        can_calculate_changes: bool,
    ) -> Map<String, Value> {
        let mut m = super::object([
            ("accountId", args.account_id.clone().into()),
            ("queryState", query_state.into()),
            ("canCalculateChanges", can_calculate_changes.into()),
            ("position", self.position.into()),
            ("ids", self.ids.into()),
        ]);
        if args.calculate_total {
            m.insert("total".into(), self.total.into());
        }
        if let Some(l) = self.limit {
            m.insert("limit".into(), l.into());
        }
        m
    }
}

#[cfg(test)]
mod tests;
