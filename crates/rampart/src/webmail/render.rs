//! Placeholder until the HTML rendering lands.
use axum::http::StatusCode;
use axum::response::Response;
use rampart_jmap::User;

use crate::jmap::JmapBackend;

pub(super) async fn respond(
    _b: &JmapBackend,
    _user: &User,
    _account_id: &str,
    _email_id: &str,
    _remote: bool,
) -> Response {
    rampart_http::respond::status_page(StatusCode::NOT_FOUND)
}
