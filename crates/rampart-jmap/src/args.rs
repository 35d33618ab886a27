//! Strict reading of a method's arguments: each helper takes one argument out of the map and
//! checks its type; [`Args::finish`] refuses whatever is left. Any failure is invalidArguments
//! (RFC 8620 §3.6.2). The generic /get, /set, /query ... parsers are built from these, and the
//! mail methods use them for their own extra arguments before calling `finish`.

use serde_json::{Map, Value};

use crate::error::MethodError;

/// The largest integer JSON can carry exactly, 2^53-1 (RFC 8620 §1.3 Int and UnsignedInt).
pub const MAX_SAFE_INT: i64 = (1 << 53) - 1;

/// RFC 8620 §1.2: an Id is 1 to 255 octets of `A-Za-z0-9`, `-` and `_`.
pub fn is_valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// An Id, or `#` followed by a creation id (§5.3) to be resolved through the call context.
pub fn is_valid_id_or_reference(s: &str) -> bool {
    is_valid_id(s.strip_prefix('#').unwrap_or(s))
}

/// A method's arguments being taken apart.
#[derive(Debug, Clone, Default)]
pub struct Args {
    map: Map<String, Value>,
}

fn wrong(key: &str, what: &str) -> MethodError {
    MethodError::invalid_arguments(format!("the argument {key:?} must be {what}"))
}

impl Args {
    pub fn new(map: Map<String, Value>) -> Self {
        Self { map }
    }

    /// Takes the raw value (absent -> None; null stays `Some(Value::Null)`).
    pub fn take_value(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key)
    }

    /// Takes a value that may be absent or null (both give None).
    fn take_non_null(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key).filter(|v| !v.is_null())
    }

    /// A required `Id`.
    pub fn take_id(&mut self, key: &str) -> Result<String, MethodError> {
        self.take_opt_id(key)?.ok_or_else(|| wrong(key, "an Id"))
    }

    /// An `Id|null`.
    pub fn take_opt_id(&mut self, key: &str) -> Result<Option<String>, MethodError> {
        match self.take_non_null(key) {
            None => Ok(None),
            Some(Value::String(s)) if is_valid_id(&s) => Ok(Some(s)),
            Some(_) => Err(wrong(key, "an Id")),
        }
    }

    /// An `Id[]|null`, where each element may also be a `#creationId` reference.
    pub fn take_opt_id_refs(&mut self, key: &str) -> Result<Option<Vec<String>>, MethodError> {
        match self.take_non_null(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) if is_valid_id_or_reference(&s) => Ok(s),
                    _ => Err(wrong(key, "an array of Ids")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(wrong(key, "an array of Ids or null")),
        }
    }

    /// A required `String`.
    pub fn take_string(&mut self, key: &str) -> Result<String, MethodError> {
        self.take_opt_string(key)?
            .ok_or_else(|| wrong(key, "a String"))
    }

    /// A `String|null`.
    pub fn take_opt_string(&mut self, key: &str) -> Result<Option<String>, MethodError> {
        match self.take_non_null(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(wrong(key, "a String")),
        }
    }

    /// A `String[]|null`.
    pub fn take_opt_strings(&mut self, key: &str) -> Result<Option<Vec<String>>, MethodError> {
        match self.take_non_null(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    _ => Err(wrong(key, "an array of Strings")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(wrong(key, "an array of Strings or null")),
        }
    }

    /// A `Boolean` with a default for absent or null.
    pub fn take_bool_or(&mut self, key: &str, default: bool) -> Result<bool, MethodError> {
        match self.take_non_null(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(b),
            Some(_) => Err(wrong(key, "a Boolean")),
        }
    }

    /// An `Int` (−2^53+1 ..= 2^53−1) with a default for absent or null.
    pub fn take_int_or(&mut self, key: &str, default: i64) -> Result<i64, MethodError> {
        match self.take_non_null(key) {
            None => Ok(default),
            Some(Value::Number(n)) => n
                .as_i64()
                .filter(|i| (-MAX_SAFE_INT..=MAX_SAFE_INT).contains(i))
                .ok_or_else(|| wrong(key, "an Int")),
            Some(_) => Err(wrong(key, "an Int")),
        }
    }

    /// An `UnsignedInt|null` (0 ..= 2^53−1).
    pub fn take_opt_unsigned(&mut self, key: &str) -> Result<Option<u64>, MethodError> {
        match self.take_non_null(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .filter(|&u| u <= MAX_SAFE_INT as u64)
                .map(Some)
                .ok_or_else(|| wrong(key, "an UnsignedInt")),
            Some(_) => Err(wrong(key, "an UnsignedInt")),
        }
    }

    /// An object (`Foo[Bar]`-typed arguments) or null.
    pub fn take_opt_object(
        &mut self,
        key: &str,
    ) -> Result<Option<Map<String, Value>>, MethodError> {
        match self.take_non_null(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(_) => Err(wrong(key, "an object or null")),
        }
    }

    /// What is left, for a data type that reads further properties itself.
    pub fn into_map(self) -> Map<String, Value> {
        self.map
    }

    /// Refuses any argument nobody took: an unknown argument is invalidArguments.
    pub fn finish(self) -> Result<(), MethodError> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(k) => Err(MethodError::invalid_arguments(format!(
                "unknown argument {k:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: Value) -> Args {
        match v {
            Value::Object(m) => Args::new(m),
            _ => Args::default(),
        }
    }

    #[test]
    fn ids_follow_rfc8620_1_2() {
        assert!(is_valid_id("Mabc-_09"));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("a b"));
        assert!(!is_valid_id("é"));
        assert!(!is_valid_id(&"a".repeat(256)));
        assert!(is_valid_id(&"a".repeat(255)));
        assert!(is_valid_id_or_reference("#k1"));
        assert!(!is_valid_id_or_reference("#"));
    }

    #[test]
    fn wrong_types_are_invalid_arguments() {
        let mut a = args(
            json!({"accountId": 5, "ids": "x", "limit": -1, "position": 1.5,
            "flag": "yes", "big": 9007199254740992u64}),
        );
        assert!(a.take_id("accountId").is_err());
        assert!(a.take_opt_id_refs("ids").is_err());
        assert!(a.take_opt_unsigned("limit").is_err());
        assert!(a.take_int_or("position", 0).is_err());
        assert!(a.take_bool_or("flag", false).is_err());
        assert!(a.take_opt_unsigned("big").is_err());
        a.finish().unwrap();
    }

    #[test]
    fn null_means_default_and_unknown_is_refused() {
        let mut a = args(json!({"ids": null, "position": null, "extra": true}));
        assert_eq!(a.take_opt_id_refs("ids").unwrap(), None);
        assert_eq!(a.take_int_or("position", 7).unwrap(), 7);
        assert!(
            a.take_id("accountId").is_err(),
            "a required argument missing"
        );
        let e = a.finish().unwrap_err();
        assert!(e.description.unwrap().contains("extra"));
    }
}
