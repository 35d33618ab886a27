//! JMAP Core (RFC 8620): the protocol engine, free of storage and of HTTP transport details,
//! plus the axum handlers that put it on HTTP.
//!
//! ```text
//!  body bytes ──request::parse_request──▶ Request ──engine::process──▶ Response
//!                (size, JSON, #calls, types)    │  for each call: capability in `using`?
//!                                               │  reference::resolve_arguments (#args)
//!                                               │  Core/echo | Methods::call (data layer)
//!                                               ▼
//!                             errors: RequestError (problem details) before any call runs,
//!                                     MethodError (["error", …]) per call, SetError per record
//! ```
//!
//! What lives here: request parsing and limits, result references and JSON Pointer, creation ids,
//! the generic method arguments of RFC 8620 §5 (`methods`), the session object, and `http`
//! (router, authentication from headers, blobs, EventSource push). What does not: any data
//! type (mailboxes, emails: the JMAP Mail layer implements [`Methods`]), storage, TLS.

// The in-test data type in tests/support/notes.rs names this crate by its name in unit tests too.
#[cfg(test)]
extern crate self as rampart_jmap;

pub mod args;
pub mod engine;
pub mod error;
pub mod http;
pub mod methods;
pub mod pointer;
pub mod reference;
pub mod request;
pub mod session;

pub use engine::{process, CallContext, Methods};
pub use error::{MethodError, MethodErrorType, RequestError, SetError, SetErrorType};
pub use request::{parse_request, Invocation, ParseLimits, Request, Response};
pub use session::{Access, Account, CoreCapability, Origin, Session, SessionUrls, User};
