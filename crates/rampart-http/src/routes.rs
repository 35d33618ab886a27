//! The routes the server has of its own; everyone else's are merged into [`base`].
//!
//! - `GET /healthz`: `200 ok`, for a load balancer or a monitoring probe. It says nothing about
//!   the software, its version or the state of the mail system.
//!
//! Every other path is 404 (with the server's own sentence) until a route claims it.

use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

/// The base Router: merge routes into it (`base().merge(other)`, `base().nest("/jmap", jmap)`)
/// and give the result to [`crate::serve`]. It sets no fallback, so that merging never meets
/// two (which axum refuses).
pub fn base() -> Router {
    Router::new().route("/healthz", get(healthz))
}

async fn healthz() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        "ok\n",
    )
}
