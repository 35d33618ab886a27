//! The session, API and EventSource handlers.

use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use super::eventsource::{push_stream, EventSourceParams};
use super::{
    authenticate, credentials, drain_refused, http_problem, json_response, read_limited,
    request_problem, session_credentials, Backend, ClientAddr, ReadError, Shared,
};
use crate::error::RequestError;
use crate::request::{parse_request, ParseLimits};
use crate::session::{Session, SessionUrls};

pub(super) async fn session<B: Backend>(
    State(st): State<Shared<B>>,
    client: ClientAddr,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let user = match authenticate(&st, &headers, &client, false).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let caps = st.backend.methods().capabilities();
    let urls = session_urls(&st.config.urls, &headers, &uri);
    let s = Session::build(&user, &st.config.core, &caps, &urls);
    json_response(StatusCode::OK, &s.to_value())
}

/// The session's URLs: the configured base, or when none is configured the origin the client
/// used (`https://` + its Host, or HTTP/2's :authority), so the URLs are absolute as RFC 8620 §2
/// expects. A Host with characters no host name or port has is ignored (the paths stay relative).
pub(super) fn session_urls(
    configured: &SessionUrls,
    headers: &HeaderMap,
    uri: &Uri,
) -> SessionUrls {
    if !configured.base.is_empty() {
        return configured.clone();
    }
    let host = uri.authority().map(|a| a.as_str().to_owned()).or_else(|| {
        headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
    });
    match host {
        Some(h)
            if !h.is_empty()
                && h.len() <= 262
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)) =>
        {
            SessionUrls {
                base: format!("https://{h}"),
            }
        }
        _ => configured.clone(),
    }
}

/// RFC 8620 §3.1: the request must be `application/json` (parameters allowed), else notJSON.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim())
        .is_some_and(|t| t.eq_ignore_ascii_case("application/json"))
}

fn usize_limit(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

pub(super) async fn api<B: Backend>(
    State(st): State<Shared<B>>,
    client: ClientAddr,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let user = match authenticate(&st, &headers, &client, true).await {
        Ok(u) => u,
        Err(r) => {
            drain_refused(&headers, body).await;
            return r;
        }
    };
    let core = &st.config.core;
    // RFC 8620 §3.6.1 limit maxConcurrentRequests, per user; the slot is held to the end.
    let Some(_slot) = st
        .requests
        .try_acquire(&user.username, core.max_concurrent_requests)
    else {
        drain_refused(&headers, body).await;
        return request_problem(&RequestError::Limit {
            limit: "maxConcurrentRequests",
            detail: format!(
                "more than {} requests at once",
                core.max_concurrent_requests
            ),
        });
    };
    if !is_json(&headers) {
        drain_refused(&headers, body).await;
        return request_problem(&RequestError::NotJson(
            "the request's Content-Type is not application/json".into(),
        ));
    }
    // RFC 8620 §3.6.1 limit maxSizeRequest: reading stops as soon as the body is over it.
    let bytes = match read_limited(&headers, body, core.max_size_request).await {
        Ok(b) => b,
        Err(ReadError::TooLarge) => {
            return request_problem(&RequestError::Limit {
                limit: "maxSizeRequest",
                detail: format!(
                    "the request is larger than {} octets",
                    core.max_size_request
                ),
            })
        }
        Err(ReadError::Failed) => {
            return http_problem(StatusCode::BAD_REQUEST, "the body could not be read")
        }
    };
    let limits = ParseLimits {
        max_size_request: usize_limit(core.max_size_request),
        max_calls_in_request: usize_limit(core.max_calls_in_request),
    };
    let request = match parse_request(&bytes, &limits) {
        Ok(r) => r,
        Err(e) => return request_problem(&e),
    };
    let methods = st.backend.methods();
    // The same URLs as the session resource gives this client, so the states agree.
    let urls = session_urls(&st.config.urls, &headers, &uri);
    let session = Session::build(&user, core, &methods.capabilities(), &urls);
    match crate::engine::process(methods, &user, core, &session.state, request).await {
        Ok(resp) => json_response(StatusCode::OK, &resp.to_value()),
        Err(e) => request_problem(&e),
    }
}

pub(super) async fn eventsource<B: Backend>(
    State(st): State<Shared<B>>,
    client: ClientAddr,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let user = match authenticate(&st, &headers, &client, false).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let params = match EventSourceParams::parse(&query) {
        Ok(p) => p,
        Err(e) => return http_problem(StatusCode::BAD_REQUEST, &e),
    };
    // The slot moves into the stream and is given back when the connection's stream is dropped.
    let Some(slot) = st
        .event_sources
        .try_acquire(&user.username, st.config.max_event_sources)
    else {
        return http_problem(
            StatusCode::TOO_MANY_REQUESTS,
            "too many EventSource connections",
        );
    };
    let accounts: BTreeSet<String> = user.accounts.iter().map(|a| a.id.clone()).collect();
    let rx = st.backend.subscribe(&user);
    // A webmail session is asked again before each event: one signed out, expired or of a
    // disabled account since the connection began sends nothing more (the stream ends).
    let recheck = match credentials(&headers) {
        Some(_) => None,
        None => session_credentials(&headers, false),
    };
    let (backend, origin) = (st.backend.clone(), user.origin.clone());
    let events = push_stream(rx, accounts, params)
        .then(move |ev| {
            let (backend, origin, recheck) = (backend.clone(), origin.clone(), recheck.clone());
            async move {
                let stands = match &recheck {
                    Some(c) => backend.still_valid(c, &origin).await,
                    None => true,
                };
                (ev, stands)
            }
        })
        .take_while(|(_, stands)| std::future::ready(*stands))
        .map(move |(ev, _)| {
            let _held = &slot;
            Ok::<_, Infallible>(
                Event::default()
                    .event(ev.name())
                    .data(ev.data().to_string()),
            )
        });
    let mut r = Sse::new(events).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-cache"),
    );
    r
}
