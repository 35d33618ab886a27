//! The JMAP request parser and result-reference resolver (issue #12 item 2).
//!
//! Input: the bytes as a JMAP API request body, as `POST /jmap/api` hands them over.
//!
//! What must hold: no panic; a parsed request never has more calls than maxCallsInRequest;
//! written out again it parses to the same request; every call's arguments go through result
//! reference resolution against the responses so far (each call answered as Core/echo, or with
//! its error), and a resolved call has no `#` argument left that was one before; an argument
//! `patch` applied to an argument `object` (PatchObject, RFC 8620 §5.3) either succeeds or leaves
//! the object unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_jmap::methods::patch::apply_patch;
use rampart_jmap::reference::resolve_arguments;
use rampart_jmap::{parse_request, Invocation, ParseLimits};
use serde_json::{json, Value};

const LIMITS: ParseLimits = ParseLimits { max_size_request: 1 << 20, max_calls_in_request: 64 };

fuzz_target!(|data: &[u8]| {
    let Ok(req) = parse_request(data, &LIMITS) else {
        return;
    };
    assert!(req.method_calls.len() <= LIMITS.max_calls_in_request);

    let calls: Vec<Value> = req
        .method_calls
        .iter()
        .map(|c| json!([c.name, c.arguments, c.call_id]))
        .collect();
    let mut again = json!({"using": req.using, "methodCalls": calls});
    if let Some(ids) = &req.created_ids {
        again["createdIds"] = json!(ids);
    }
    let reparsed = parse_request(again.to_string().as_bytes(), &LIMITS)
        .expect("a request written out parses again");
    assert_eq!(reparsed, req);

    let mut responses: Vec<Invocation> = Vec::new();
    for call in req.method_calls {
        let refs: Vec<String> = call.arguments.keys().filter(|k| k.starts_with('#')).cloned().collect();
        match resolve_arguments(call.arguments, &responses) {
            Ok(mut args) => {
                for r in &refs {
                    // "##x" resolves into an argument named "#x"; "#x" itself must be gone.
                    assert!(!args.contains_key(r.as_str()) || refs.contains(&format!("#{r}")));
                }
                if let (Some(Value::Object(obj)), Some(Value::Object(patch))) =
                    (args.get("object").cloned(), args.get("patch"))
                {
                    let mut patched = obj.clone();
                    if apply_patch(&mut patched, patch).is_err() {
                        assert_eq!(patched, obj, "a failed patch changed the object");
                    }
                }
                args.remove("patch");
                responses.push(Invocation { name: "Core/echo".into(), arguments: args, call_id: call.call_id });
            }
            Err(e) => responses.push(Invocation {
                name: "error".into(),
                arguments: e.to_arguments(),
                call_id: call.call_id,
            }),
        }
    }
});
