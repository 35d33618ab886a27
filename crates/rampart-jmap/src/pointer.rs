//! JSON Pointer (RFC 6901) with JMAP's `*` extension (RFC 8620 §3.7), and the token parsing the
//! PatchObject paths share (§5.3).

use serde_json::Value;

/// Why a pointer could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PointerError {
    #[error("a JSON pointer must be empty or start with '/'")]
    NoLeadingSlash,
    #[error("'~' must be followed by '0' or '1'")]
    BadEscape,
    #[error("the path {0:?} does not exist in the value")]
    NotFound(String),
}

/// Splits a pointer into unescaped reference tokens ("" is the whole document).
pub fn tokens(pointer: &str) -> Result<Vec<String>, PointerError> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let rest = pointer
        .strip_prefix('/')
        .ok_or(PointerError::NoLeadingSlash)?;
    rest.split('/').map(unescape).collect()
}

/// RFC 6901 §4: `~1` is '/', `~0` is '~', any other '~' is an error.
pub fn unescape(token: &str) -> Result<String, PointerError> {
    if !token.contains('~') {
        return Ok(token.to_owned());
    }
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return Err(PointerError::BadEscape),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// RFC 6901 §4 array index: "0" or digits without a leading zero, within the array.
pub fn array_index(token: &str, len: usize) -> Option<usize> {
    let ok = token == "0"
        || (!token.is_empty()
            && !token.starts_with('0')
            && token.bytes().all(|b| b.is_ascii_digit()));
    if !ok {
        return None;
    }
    token.parse::<usize>().ok().filter(|&i| i < len)
}

/// Evaluates `pointer` against `value`. RFC 8620 §3.7: a `*` token applied to an array applies
/// the rest of the pointer to every item and collects the results in an array; a result that is
/// itself an array contributes its items (the output is flattened one level per `*`).
pub fn evaluate(value: &Value, pointer: &str) -> Result<Value, PointerError> {
    let toks = tokens(pointer)?;
    eval_tokens(value, &toks).ok_or_else(|| PointerError::NotFound(pointer.to_owned()))
}

fn eval_tokens(mut value: &Value, toks: &[String]) -> Option<Value> {
    // Plain tokens walk iteratively; only `*` over an array recurses, so the depth is bounded by
    // the value's own array nesting, not by the pointer's length.
    for (i, tok) in toks.iter().enumerate() {
        value = match value {
            Value::Array(items) if tok == "*" => {
                let rest = &toks[i + 1..];
                let mut out = Vec::new();
                for item in items {
                    match eval_tokens(item, rest)? {
                        Value::Array(inner) => out.extend(inner),
                        v => out.push(v),
                    }
                }
                return Some(Value::Array(out));
            }
            Value::Array(items) => &items[array_index(tok, items.len())?],
            Value::Object(map) => map.get(tok.as_str())?,
            _ => return None,
        };
    }
    Some(value.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc6901_examples() {
        let doc = json!({"foo": ["bar", "baz"], "": 0, "a/b": 1, "m~n": 8});
        assert_eq!(evaluate(&doc, "").unwrap(), doc);
        assert_eq!(evaluate(&doc, "/foo").unwrap(), json!(["bar", "baz"]));
        assert_eq!(evaluate(&doc, "/foo/0").unwrap(), json!("bar"));
        assert_eq!(evaluate(&doc, "/").unwrap(), json!(0));
        assert_eq!(evaluate(&doc, "/a~1b").unwrap(), json!(1));
        assert_eq!(evaluate(&doc, "/m~0n").unwrap(), json!(8));
    }

    #[test]
    fn bad_pointers_fail() {
        let doc = json!({"foo": ["bar", "baz"]});
        assert_eq!(evaluate(&doc, "foo"), Err(PointerError::NoLeadingSlash));
        assert_eq!(evaluate(&doc, "/m~2n"), Err(PointerError::BadEscape));
        for p in ["/foo/2", "/foo/01", "/foo/-", "/foo/+1", "/bar", "/foo/0/x"] {
            assert!(
                matches!(evaluate(&doc, p), Err(PointerError::NotFound(_))),
                "{p}"
            );
        }
    }

    #[test]
    fn star_maps_over_arrays_and_flattens() {
        // RFC 8620 §3.7: "/list/*/threadId" gives the threadId of every item.
        let doc = json!({"list": [{"id": "a", "threadId": "T1"}, {"id": "b", "threadId": "T2"}]});
        assert_eq!(
            evaluate(&doc, "/list/*/threadId").unwrap(),
            json!(["T1", "T2"])
        );
        // Arrays of arrays are flattened: "/list/*/emailIds" over threads.
        let doc = json!({"list": [{"emailIds": ["e1", "e2"]}, {"emailIds": ["e3"]}]});
        assert_eq!(
            evaluate(&doc, "/list/*/emailIds").unwrap(),
            json!(["e1", "e2", "e3"])
        );
        // One missing item fails the whole evaluation.
        let doc = json!({"list": [{"id": "a"}, {"x": 1}]});
        assert!(evaluate(&doc, "/list/*/id").is_err());
    }

    #[test]
    fn star_on_an_object_is_a_plain_key() {
        let doc = json!({"*": 3});
        assert_eq!(evaluate(&doc, "/*").unwrap(), json!(3));
        assert!(evaluate(&json!({"a": 1}), "/*").is_err());
    }

    #[test]
    fn a_long_pointer_does_not_recurse() {
        let p = "/a".repeat(200_000);
        assert!(evaluate(&json!({"a": 1}), &p).is_err());
    }
}
