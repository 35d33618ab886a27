//! Processing a request (RFC 8620 §3.6): check `using`, then run each method call in order,
//! resolving its result references first, and collect the responses. A failed call becomes an
//! `error` response and the next call runs; a request-level error stops before any call runs.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::error::{MethodError, MethodErrorType, RequestError};
use crate::reference::resolve_arguments;
use crate::request::{Invocation, Request, Response};
use crate::session::{Account, CoreCapability, User, CORE};

/// The methods a data layer (the JMAP Mail methods) serves. The engine handles `Core/echo`
/// itself. Implemented with `async-trait`, so `&dyn Methods` works.
#[async_trait]
pub trait Methods: Send + Sync {
    /// Server capabilities other than core, URI -> capability object (shown in the session).
    fn capabilities(&self) -> Map<String, Value>;

    /// The capability a method belongs to, or None for a method this layer does not know.
    fn method_capability(&self, method: &str) -> Option<&'static str>;

    /// Runs one method call. Returns the responses in order (usually one; e.g. /copy with
    /// `onSuccessDestroyOriginal` adds an implicit /set), each a name and its arguments.
    async fn call(
        &self,
        cx: &mut CallContext,
        name: &str,
        args: Map<String, Value>,
    ) -> Result<Vec<(String, Map<String, Value>)>, MethodError>;
}

/// What a method call knows about its request: the user, their accounts, the capabilities in
/// `using`, the limits, and the creation ids so far (RFC 8620 §3.3, §5.3).
#[derive(Debug, Clone)]
pub struct CallContext {
    pub user: User,
    pub limits: CoreCapability,
    using: BTreeSet<String>,
    created_ids: HashMap<String, String>,
}

impl CallContext {
    pub fn new(user: User, limits: CoreCapability, using: BTreeSet<String>) -> Self {
        Self {
            user,
            limits,
            using,
            created_ids: HashMap::new(),
        }
    }

    /// Whether the request declared `capability` in `using`.
    pub fn uses(&self, capability: &str) -> bool {
        self.using.contains(capability)
    }

    /// The account `id` if this user reaches it: an id of another user's account is
    /// accountNotFound, exactly like one that does not exist (RFC 8620 §3.6.2).
    pub fn account(&self, id: &str) -> Result<&Account, MethodError> {
        self.user
            .account(id)
            .ok_or_else(|| MethodError::with(MethodErrorType::AccountNotFound, "no such account"))
    }

    /// The account for a method that writes: accountReadOnly if the user may only read it.
    pub fn writable_account(&self, id: &str) -> Result<&Account, MethodError> {
        let a = self.account(id)?;
        if a.is_read_only {
            return Err(MethodError::new(MethodErrorType::AccountReadOnly));
        }
        Ok(a)
    }

    /// Resolves an Id argument: `#creationId` becomes the id created for it earlier in this
    /// request (RFC 8620 §5.3); None if nothing was created under that creation id. A plain id
    /// is returned as it is.
    pub fn resolve_id(&self, raw: &str) -> Option<String> {
        match raw.strip_prefix('#') {
            Some(creation_id) => self.created_ids.get(creation_id).cloned(),
            None => Some(raw.to_owned()),
        }
    }

    /// Records that `creation_id` created `id` (the /set create path calls this).
    pub fn add_created_id(&mut self, creation_id: impl Into<String>, id: impl Into<String>) {
        self.created_ids.insert(creation_id.into(), id.into());
    }

    pub fn created_ids(&self) -> &HashMap<String, String> {
        &self.created_ids
    }
}

/// Checks `using` against what the server offers: unknownCapability (§3.6.1) otherwise.
pub fn check_using(using: &[String], offered: &Map<String, Value>) -> Result<(), RequestError> {
    match using
        .iter()
        .find(|c| c.as_str() != CORE && !offered.contains_key(c.as_str()))
    {
        Some(c) => Err(RequestError::UnknownCapability(c.clone())),
        None => Ok(()),
    }
}

/// Processes a parsed request for `user` and builds the response.
pub async fn process(
    methods: &dyn Methods,
    user: &User,
    limits: &CoreCapability,
    session_state: &str,
    request: Request,
) -> Result<Response, RequestError> {
    check_using(&request.using, &methods.capabilities())?;
    let using: BTreeSet<String> = request.using.into_iter().collect();
    let mut cx = CallContext::new(user.clone(), limits.clone(), using);
    let echo_created = request.created_ids.is_some();
    for (k, v) in request.created_ids.unwrap_or_default() {
        cx.add_created_id(k, v);
    }
    let mut responses: Vec<Invocation> = Vec::with_capacity(request.method_calls.len());
    for call in request.method_calls {
        let call_id = call.call_id;
        match run_call(methods, &mut cx, &call.name, call.arguments, &responses).await {
            Ok(out) => responses.extend(out.into_iter().map(|(name, arguments)| Invocation {
                name,
                arguments,
                call_id: call_id.clone(),
            })),
            Err(e) => responses.push(Invocation {
                name: "error".into(),
                arguments: e.to_arguments(),
                call_id,
            }),
        }
    }
    Ok(Response {
        method_responses: responses,
        // RFC 8620 §3.4: createdIds only if the request had it, then with every id so far.
        created_ids: echo_created.then(|| cx.created_ids.clone()),
        session_state: session_state.to_owned(),
    })
}

async fn run_call(
    methods: &dyn Methods,
    cx: &mut CallContext,
    name: &str,
    args: Map<String, Value>,
    previous: &[Invocation],
) -> Result<Vec<(String, Map<String, Value>)>, MethodError> {
    // RFC 8620 §3.6.2: a method whose capability is not in `using` is unknownMethod.
    let capability = if name == "Core/echo" {
        Some(CORE)
    } else {
        methods.method_capability(name)
    };
    match capability {
        Some(c) if cx.uses(c) => {}
        _ => return Err(MethodError::unknown_method(name)),
    }
    let args = resolve_arguments(args, previous)?;
    if name == "Core/echo" {
        // RFC 8620 §4: the response is the arguments, unchanged.
        return Ok(vec![("Core/echo".into(), args)]);
    }
    methods.call(cx, name, args).await
}

#[cfg(test)]
mod tests;
