//! `/set` (RFC 8620 §5.3).

use serde_json::{Map, Value};

use crate::args::{is_valid_id, is_valid_id_or_reference, Args};
use crate::engine::CallContext;
use crate::error::{MethodError, SetError};

/// The arguments of a /set call.
#[derive(Debug, Clone, PartialEq)]
pub struct SetArgs {
    pub account_id: String,
    pub if_in_state: Option<String>,
    /// Creation id -> the new record's properties, in the order given.
    pub create: Vec<(String, Map<String, Value>)>,
    /// Id (or `#creationId`, resolved through the context when applied) -> PatchObject.
    pub update: Vec<(String, Map<String, Value>)>,
    /// Ids (or `#creationId`) to destroy.
    pub destroy: Vec<String>,
}

impl SetArgs {
    /// Takes the /set arguments. The account must be the user's and writable; more than
    /// maxObjectsInSet operations in all is requestTooLarge (§5.3).
    pub fn parse(args: &mut Args, cx: &CallContext) -> Result<Self, MethodError> {
        let account_id = args.take_id("accountId")?;
        let if_in_state = args.take_opt_string("ifInState")?;
        let create = objects(args.take_opt_object("create")?, "create", is_valid_id)?;
        let update = objects(
            args.take_opt_object("update")?,
            "update",
            is_valid_id_or_reference,
        )?;
        let destroy = args.take_opt_id_refs("destroy")?.unwrap_or_default();
        cx.writable_account(&account_id)?;
        let total = (create.len() + update.len() + destroy.len()) as u64;
        // RFC 8620 §5.3: maxObjectsInSet bounds create + update + destroy together.
        if total > cx.limits.max_objects_in_set {
            return Err(MethodError::request_too_large(format!(
                "more than maxObjectsInSet ({}) operations",
                cx.limits.max_objects_in_set
            )));
        }
        Ok(Self {
            account_id,
            if_in_state,
            create,
            update,
            destroy,
        })
    }

    /// RFC 8620 §5.3 ifInState: the call is refused with stateMismatch, nothing changed, unless
    /// the type's current state is the one the client gave.
    pub fn check_state(&self, current: &str) -> Result<(), MethodError> {
        match &self.if_in_state {
            Some(s) if s != current => Err(MethodError::state_mismatch()),
            _ => Ok(()),
        }
    }
}

/// Id (or creation id) -> object, in the order given.
type Entries = Vec<(String, Map<String, Value>)>;

fn objects(
    m: Option<Map<String, Value>>,
    what: &str,
    key_ok: fn(&str) -> bool,
) -> Result<Entries, MethodError> {
    let Some(m) = m else { return Ok(Vec::new()) };
    m.into_iter()
        .map(|(k, v)| match v {
            Value::Object(o) if key_ok(&k) => Ok((k, o)),
            Value::Object(_) => Err(MethodError::invalid_arguments(format!(
                "{what}: {:?} is not an id",
                k.chars().take(64).collect::<String>()
            ))),
            _ => Err(MethodError::invalid_arguments(format!(
                "{what}: values must be objects"
            ))),
        })
        .collect()
}

/// The /set response, filled in as the operations run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SetResponse {
    pub account_id: String,
    pub old_state: Option<String>,
    pub new_state: String,
    pub created: Map<String, Value>,
    pub updated: Map<String, Value>,
    pub destroyed: Vec<String>,
    pub not_created: Map<String, Value>,
    pub not_updated: Map<String, Value>,
    pub not_destroyed: Map<String, Value>,
}

impl SetResponse {
    pub fn new(account_id: &str, old_state: Option<String>) -> Self {
        Self {
            account_id: account_id.to_owned(),
            old_state,
            ..Self::default()
        }
    }

    /// A record was created: `properties` holds its id and any server-set properties. The
    /// creation id is recorded in the context for later `#creationId` references (§5.3).
    pub fn created(
        &mut self,
        cx: &mut CallContext,
        creation_id: &str,
        id: &str,
        mut properties: Map<String, Value>,
    ) {
        properties.insert("id".into(), id.into());
        self.created
            .insert(creation_id.to_owned(), Value::Object(properties));
        cx.add_created_id(creation_id, id);
    }

    pub fn not_created(&mut self, creation_id: &str, e: SetError) {
        self.not_created
            .insert(creation_id.to_owned(), e.to_value());
    }

    /// `changed` holds the properties the server changed beyond the patch (null if none).
    pub fn updated(&mut self, id: &str, changed: Option<Map<String, Value>>) {
        self.updated.insert(
            id.to_owned(),
            changed.map(Value::Object).unwrap_or(Value::Null),
        );
    }

    pub fn not_updated(&mut self, id: &str, e: SetError) {
        self.not_updated.insert(id.to_owned(), e.to_value());
    }

    pub fn destroyed(&mut self, id: &str) {
        self.destroyed.push(id.to_owned());
    }

    pub fn not_destroyed(&mut self, id: &str, e: SetError) {
        self.not_destroyed.insert(id.to_owned(), e.to_value());
    }

    /// The arguments; empty maps and lists are null, as RFC 8620 §5.3 shows them.
    pub fn into_arguments(self) -> Map<String, Value> {
        fn map_or_null(m: Map<String, Value>) -> Value {
            if m.is_empty() {
                Value::Null
            } else {
                Value::Object(m)
            }
        }
        let destroyed = if self.destroyed.is_empty() {
            Value::Null
        } else {
            self.destroyed.into()
        };
        super::object([
            ("accountId", self.account_id.into()),
            (
                "oldState",
                self.old_state.map(Value::from).unwrap_or(Value::Null),
            ),
            ("newState", self.new_state.into()),
            ("created", map_or_null(self.created)),
            ("updated", map_or_null(self.updated)),
            ("destroyed", destroyed),
            ("notCreated", map_or_null(self.not_created)),
            ("notUpdated", map_or_null(self.not_updated)),
            ("notDestroyed", map_or_null(self.not_destroyed)),
        ])
    }
}
