//! Blob upload and download (RFC 8620 §6).

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::{
    authenticate, drain_refused, http_problem, json_response, read_limited, request_problem,
    Backend, BlobError, ClientAddr, ReadError, Shared,
};
use crate::error::RequestError;

/// The media type to store or serve: `type/subtype` of RFC 7230 token characters (lower-cased,
/// parameters dropped), else `application/octet-stream`.
pub fn safe_media_type(raw: Option<&str>) -> String {
    const FALLBACK: &str = "application/octet-stream";
    let Some(raw) = raw else {
        return FALLBACK.into();
    };
    let essence = raw.split(';').next().unwrap_or("").trim();
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    match essence.split_once('/') {
        Some((t, s))
            if !t.is_empty() && !s.is_empty() && t.bytes().all(tchar) && s.bytes().all(tchar) =>
        {
            essence.to_ascii_lowercase()
        }
        _ => FALLBACK.into(),
    }
}

/// `Content-Disposition: attachment` with a filename that cannot break the header or name a
/// path: controls, quotes, backslashes and slashes become '_'; an ASCII fallback in `filename`
/// and the exact name in `filename*` (RFC 6266, RFC 8187).
pub fn content_disposition(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '"' | '\\' | '/') {
                '_'
            } else {
                c
            }
        })
        .take(200)
        .collect();
    let clean = clean.trim();
    let clean = if clean.is_empty() || clean == "." || clean == ".." {
        "download"
    } else {
        clean
    };
    let ascii: String = clean
        .chars()
        .map(|c| if c.is_ascii() { c } else { '_' })
        .collect();
    let mut encoded = String::new();
    for b in clean.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

pub(super) async fn upload<B: Backend>(
    State(st): State<Shared<B>>,
    client: ClientAddr,
    Path(account_id): Path<String>,
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
    match user.account(&account_id) {
        None => return http_problem(StatusCode::NOT_FOUND, "no such account"),
        Some(a) if a.is_read_only => {
            return http_problem(StatusCode::FORBIDDEN, "the account is read-only")
        }
        Some(_) => {}
    }
    // RFC 8620 §2 maxConcurrentUpload, per user.
    let Some(_slot) = st
        .uploads
        .try_acquire(&user.username, core.max_concurrent_upload)
    else {
        return request_problem(&RequestError::Limit {
            limit: "maxConcurrentUpload",
            detail: format!("more than {} uploads at once", core.max_concurrent_upload),
        });
    };
    // RFC 8620 §2 maxSizeUpload: 413 with the limit named, without reading the rest.
    let data = match read_limited(&headers, body, core.max_size_upload).await {
        Ok(d) => d,
        Err(ReadError::TooLarge) => {
            return request_problem(&RequestError::Limit {
                limit: "maxSizeUpload",
                detail: format!("the upload is larger than {} octets", core.max_size_upload),
            })
        }
        Err(ReadError::Failed) => {
            return http_problem(StatusCode::BAD_REQUEST, "the body could not be read")
        }
    };
    let content_type = safe_media_type(
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    );
    match st
        .backend
        .upload(&user, &account_id, &content_type, data)
        .await
    {
        // RFC 8620 §6.1: 201 with accountId, blobId, type, size.
        Ok(info) => json_response(
            StatusCode::CREATED,
            &json!({"accountId": account_id, "blobId": info.blob_id, "type": info.content_type,
                "size": info.size}),
        ),
        Err(e) => blob_error(&e),
    }
}

fn blob_error(e: &BlobError) -> Response {
    match e {
        BlobError::Forbidden => http_problem(StatusCode::FORBIDDEN, "forbidden"),
        BlobError::OverQuota => http_problem(StatusCode::INSUFFICIENT_STORAGE, "over quota"),
        BlobError::Full => http_problem(
            StatusCode::INSUFFICIENT_STORAGE,
            "the server's storage is full; try again later",
        ),
        BlobError::Internal(detail) => {
            tracing::warn!(%detail, "blob storage failed");
            http_problem(StatusCode::INTERNAL_SERVER_ERROR, "server failure")
        }
    }
}

pub(super) async fn download<B: Backend>(
    State(st): State<Shared<B>>,
    client: ClientAddr,
    Path((account_id, blob_id, name)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let user = match authenticate(&st, &headers, &client, false).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    // Another user's account looks exactly like one that does not exist.
    if user.account(&account_id).is_none() {
        return http_problem(StatusCode::NOT_FOUND, "not found");
    }
    let blob = match st.backend.download(&user, &account_id, &blob_id).await {
        Ok(Some(b)) => b,
        Ok(None) => return http_problem(StatusCode::NOT_FOUND, "not found"),
        Err(e) => return blob_error(&e),
    };
    let mut r = Response::new(Body::from_stream(blob.body));
    let h = r.headers_mut();
    // RFC 8620 §6.2: the type the client asked for; served as an attachment the browser will
    // neither sniff nor render as a page of ours.
    let ct = safe_media_type(query.get("accept").map(String::as_str));
    if let Ok(v) = HeaderValue::from_str(&ct) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&content_disposition(&name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Some(n) = blob.size {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    // Blobs never change (RFC 8620 §6): private, so no shared cache keeps a user's data.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, immutable, max-age=31536000"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_are_sanitised() {
        assert_eq!(safe_media_type(Some("Image/PNG; charset=x")), "image/png");
        assert_eq!(
            safe_media_type(Some("text/html\r\nX-Evil: 1")),
            "application/octet-stream"
        );
        assert_eq!(
            safe_media_type(Some("nonsense")),
            "application/octet-stream"
        );
        assert_eq!(safe_media_type(Some("a/b/c")), "application/octet-stream");
        assert_eq!(safe_media_type(None), "application/octet-stream");
    }

    /// A full disk is 507 with a sentence saying it is temporary; any other failure of the
    /// storage is a 500 that names nothing of the server.
    #[test]
    fn a_full_store_is_507() {
        assert_eq!(
            blob_error(&BlobError::Full).status(),
            StatusCode::INSUFFICIENT_STORAGE
        );
        assert_eq!(
            blob_error(&BlobError::Internal("/var/lib/rampart: EIO".into())).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn filenames_cannot_break_the_header() {
        assert_eq!(
            content_disposition("report.pdf"),
            "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
        );
        let d = content_disposition("a\"b\r\nc/../é.txt");
        assert!(!d.contains('\r') && !d.contains('\n'));
        assert!(d.starts_with("attachment; filename=\"a_b__c_.._"), "{d}");
        assert!(d.contains("%C3%A9.txt"), "{d}");
        assert_eq!(content_disposition(".."), content_disposition(""));
        assert!(content_disposition("").contains("filename=\"download\""));
    }
}
