//! The generic arguments and responses of RFC 8620 §5's standard methods, for the data layers
//! to build their `Foo/get`, `Foo/changes`, `Foo/set`, `Foo/query` and `Foo/queryChanges` on.
//! Each `parse` takes the arguments it knows out of an [`Args`](crate::args::Args) and checks
//! them strictly; the caller takes its own extra arguments and then calls `finish`.

pub mod changes;
pub mod get;
pub mod patch;
pub mod query;
pub mod query_changes;
pub mod set;

use serde_json::{Map, Value};

/// Turns a list of `(key, value)` into a response arguments object.
pub(crate) fn object<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}
