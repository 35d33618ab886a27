//! PatchObject (RFC 8620 §5.3): `{"path/to/property": value}`, each key a JSON Pointer
//! relative to the object (the leading '/' implied); null removes (resets to default).

use serde_json::{Map, Value};

use crate::error::SetError;
use crate::pointer;

/// Applies `patch` to `object`, or fails with invalidPatch and leaves `object` unchanged.
/// RFC 8620 §5.3: a path may not go into an array (arrays are replaced whole), may not use
/// `*`, every part before the last must already exist, and no path may be a prefix of another.
pub fn apply_patch(
    object: &mut Map<String, Value>,
    patch: &Map<String, Value>,
) -> Result<(), SetError> {
    let mut paths: Vec<(Vec<String>, &Value)> = Vec::with_capacity(patch.len());
    for (key, value) in patch {
        let toks = pointer::tokens(&format!("/{key}"))
            .map_err(|e| SetError::invalid_patch(format!("{key:?}: {e}")))?;
        if toks.iter().any(|t| t.is_empty() || t == "*") {
            return Err(SetError::invalid_patch(format!(
                "{key:?} is not a patch path"
            )));
        }
        paths.push((toks, value));
    }
    // Sorted, a path that is a prefix of another sorts right before some path it prefixes.
    let mut sorted: Vec<&Vec<String>> = paths.iter().map(|(p, _)| p).collect();
    sorted.sort();
    for w in sorted.windows(2) {
        if w[1].starts_with(w[0]) {
            return Err(SetError::invalid_patch(format!(
                "{:?} and {:?} overlap",
                w[0].join("/"),
                w[1].join("/")
            )));
        }
    }
    let mut out = object.clone();
    for (toks, value) in paths {
        let Some((last, parents)) = toks.split_last() else {
            continue;
        };
        let mut target = &mut out;
        for t in parents {
            target = match target.get_mut(t.as_str()) {
                Some(Value::Object(m)) => m,
                Some(_) => {
                    return Err(SetError::invalid_patch(format!(
                        "{:?} is not an object (arrays are replaced whole)",
                        t
                    )))
                }
                None => return Err(SetError::invalid_patch(format!("{t:?} does not exist"))),
            };
        }
        if value.is_null() {
            target.remove(last.as_str());
        } else {
            target.insert(last.clone(), value.clone());
        }
    }
    *object = out;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::SetErrorType;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn patches_nested_properties() {
        let mut o = obj(json!({"name": "Inbox", "keywords": {"$seen": true}, "list": [1, 2]}));
        let p = obj(
            json!({"keywords/$flagged": true, "keywords/$seen": null, "name": "X",
            "list": [3]}),
        );
        apply_patch(&mut o, &p).unwrap();
        assert_eq!(
            o,
            obj(json!({"name": "X", "keywords": {"$flagged": true}, "list": [3]}))
        );
    }

    #[test]
    fn escapes_are_json_pointer() {
        let mut o = obj(json!({"keywords": {}}));
        apply_patch(&mut o, &obj(json!({"keywords/a~1b~0c": true}))).unwrap();
        assert_eq!(o["keywords"]["a/b~c"], true);
    }

    #[test]
    fn invalid_patches_change_nothing() {
        let orig = obj(json!({"name": "Inbox", "keywords": {"$seen": true}, "list": [1, 2]}));
        for p in [
            json!({"list/0": 5}),
            json!({"list/*": 5}),
            json!({"missing/x": 1}),
            json!({"name/x": 1}),
            json!({"keywords": {}, "keywords/$seen": false}),
            json!({"keywords/~2": true}),
            json!({"": 1}),
            json!({"keywords/": 1}),
            json!({"name": "ok", "list/1": 0}),
        ] {
            let mut o = orig.clone();
            let e = apply_patch(&mut o, &obj(p.clone())).unwrap_err();
            assert_eq!(e.kind, SetErrorType::InvalidPatch, "{p}");
            assert_eq!(o, orig, "{p} left the object changed");
        }
    }
}
