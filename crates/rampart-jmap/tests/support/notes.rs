//! A small data type for tests: notes with one `text` property, served through the generic
//! /get, /set and /query helpers, so the engine is exercised the way the mail layer will use it.
//! Shared by the engine's unit tests and the HTTP tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::{json, Map, Value};

use rampart_jmap::args::Args;
use rampart_jmap::methods::get::{check_get_all, GetArgs, GetResponse};
use rampart_jmap::methods::patch::apply_patch;
use rampart_jmap::methods::query::{unsupported_filter, unsupported_sort, QueryArgs};
use rampart_jmap::methods::set::{SetArgs, SetResponse};
use rampart_jmap::{CallContext, MethodError, Methods, SetError};

pub const NOTES: &str = "urn:example:notes";

#[derive(Default)]
struct Store {
    /// Changes exactly when a note is created, updated or destroyed.
    state: u64,
    next_id: u64,
    notes: BTreeMap<(String, String), Map<String, Value>>,
}

#[derive(Default)]
pub struct Notes {
    store: Mutex<Store>,
}

fn valid_note(n: &Map<String, Value>) -> Result<(), SetError> {
    let bad: Vec<&str> = n
        .iter()
        .filter(|(k, v)| !(k.as_str() == "text" && v.is_string()))
        .map(|(k, _)| k.as_str())
        .collect();
    if bad.is_empty() && n.contains_key("text") {
        Ok(())
    } else if bad.is_empty() {
        Err(SetError::invalid_properties(["text"]))
    } else {
        Err(SetError::invalid_properties(bad))
    }
}

impl Notes {
    pub fn state(&self) -> String {
        format!("s{}", self.store.lock().unwrap().state)
    }

    fn get(
        &self,
        cx: &mut CallContext,
        args: Map<String, Value>,
    ) -> Result<Map<String, Value>, MethodError> {
        let mut a = Args::new(args);
        let g = GetArgs::parse(&mut a, cx)?;
        a.finish()?;
        let props = g.properties_or(&["id", "text"], &["id", "text"])?;
        let st = self.store.lock().unwrap();
        let ids: Vec<String> = match &g.ids {
            Some(ids) => ids.clone(),
            None => {
                let all: Vec<String> = st
                    .notes
                    .keys()
                    .filter(|(acc, _)| *acc == g.account_id)
                    .map(|(_, id)| id.clone())
                    .collect();
                check_get_all(all.len(), cx)?;
                all
            }
        };
        let mut list = Vec::new();
        let mut not_found = g.unresolved.clone();
        for id in ids {
            match st.notes.get(&(g.account_id.clone(), id.clone())) {
                Some(n) => {
                    let mut o = Map::new();
                    for p in &props {
                        if p == "id" {
                            o.insert("id".into(), id.clone().into());
                        } else if let Some(v) = n.get(p) {
                            o.insert(p.clone(), v.clone());
                        }
                    }
                    list.push(Value::Object(o));
                }
                None => not_found.push(id),
            }
        }
        Ok(GetResponse {
            account_id: g.account_id,
            state: format!("s{}", st.state),
            list,
            not_found,
        }
        .into_arguments())
    }

    fn set(
        &self,
        cx: &mut CallContext,
        args: Map<String, Value>,
    ) -> Result<Map<String, Value>, MethodError> {
        let mut a = Args::new(args);
        let s = SetArgs::parse(&mut a, cx)?;
        a.finish()?;
        let mut st = self.store.lock().unwrap();
        let old = format!("s{}", st.state);
        s.check_state(&old)?;
        let mut resp = SetResponse::new(&s.account_id, Some(old));
        let mut changed = false;
        for (cid, props) in &s.create {
            if let Err(e) = valid_note(props) {
                resp.not_created(cid, e);
                continue;
            }
            st.next_id += 1;
            let id = format!("N{}", st.next_id);
            st.notes
                .insert((s.account_id.clone(), id.clone()), props.clone());
            resp.created(cx, cid, &id, Map::new());
            changed = true;
        }
        for (raw, patch) in &s.update {
            let Some(id) = cx.resolve_id(raw) else {
                resp.not_updated(raw, SetError::not_found());
                continue;
            };
            let key = (s.account_id.clone(), id.clone());
            let Some(mut note) = st.notes.get(&key).cloned() else {
                resp.not_updated(&id, SetError::not_found());
                continue;
            };
            if let Err(e) = apply_patch(&mut note, patch).and_then(|()| valid_note(&note)) {
                resp.not_updated(&id, e);
                continue;
            }
            st.notes.insert(key, note);
            resp.updated(&id, None);
            changed = true;
        }
        for raw in &s.destroy {
            let id = cx.resolve_id(raw).unwrap_or_else(|| raw.clone());
            if st
                .notes
                .remove(&(s.account_id.clone(), id.clone()))
                .is_some()
            {
                resp.destroyed(&id);
                changed = true;
            } else {
                resp.not_destroyed(&id, SetError::not_found());
            }
        }
        if changed {
            st.state += 1;
        }
        resp.new_state = format!("s{}", st.state);
        Ok(resp.into_arguments())
    }

    fn query(
        &self,
        cx: &mut CallContext,
        args: Map<String, Value>,
    ) -> Result<Map<String, Value>, MethodError> {
        let mut a = Args::new(args);
        let q = QueryArgs::parse(&mut a, cx)?;
        a.finish()?;
        if let Some(f) = &q.filter {
            f.check_conditions(&mut |c| match (c.len(), c.get("text")) {
                (1, Some(Value::String(_))) => Ok(()),
                _ => Err(unsupported_filter("only {\"text\": String} conditions")),
            })?;
        }
        if let Some(c) = q
            .sort
            .iter()
            .find(|c| c.property != "text" || !c.extra.is_empty())
        {
            return Err(unsupported_sort(format!("cannot sort by {:?}", c.property)));
        }
        let st = self.store.lock().unwrap();
        let ids: Vec<String> = st
            .notes
            .keys()
            .filter(|(acc, _)| *acc == q.account_id)
            .map(|(_, id)| id.clone())
            .collect();
        let w = q.window(&ids, 100)?;
        Ok(w.into_arguments(&q, &format!("s{}", st.state), false))
    }
}

#[async_trait]
impl Methods for Notes {
    fn capabilities(&self) -> Map<String, Value> {
        Map::from_iter([(NOTES.to_string(), json!({}))])
    }

    fn method_capability(&self, method: &str) -> Option<&'static str> {
        matches!(method, "Note/get" | "Note/set" | "Note/query").then_some(NOTES)
    }

    async fn call(
        &self,
        cx: &mut CallContext,
        name: &str,
        args: Map<String, Value>,
    ) -> Result<Vec<(String, Map<String, Value>)>, MethodError> {
        let out = match name {
            "Note/get" => self.get(cx, args)?,
            "Note/set" => self.set(cx, args)?,
            "Note/query" => self.query(cx, args)?,
            _ => return Err(MethodError::unknown_method(name)),
        };
        Ok(vec![(name.to_owned(), out)])
    }
}
