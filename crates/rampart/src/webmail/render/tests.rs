//! The message document's headers (NC-2.1.3) and the whole path from a stored email to the
//! page (AL-1.4, AL-3.1), over a real SQLite store.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::header;
use rampart_jmap::{Access, Account, Origin, User};
use rampart_jmap_mail::ids;
use rampart_store::mailbox_audit::op;
use rampart_store::MailboxEventFilter;
use serde_json::Map;

use super::*;

fn header_of(resp: &Response, name: impl header::AsHeaderName) -> &str {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

async fn body_of(resp: Response) -> String {
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn nc_2_1_3_webmail_document_headers() {
    let cleaned = Cleaned {
        html: "<p>hello</p>".into(),
        remote_blocked: 3,
        mismatched_links: 1,
    };
    let resp = document(&cleaned, false);
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        header_of(&resp, header::CONTENT_SECURITY_POLICY),
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src 'none'; \
         form-action 'none'; base-uri 'none'; frame-ancestors 'self'; \
         sandbox allow-popups allow-popups-to-escape-sandbox"
    );
    assert_eq!(header_of(&resp, header::X_FRAME_OPTIONS), "SAMEORIGIN");
    assert_eq!(header_of(&resp, header::CACHE_CONTROL), "no-store");
    assert_eq!(
        header_of(&resp, header::CONTENT_TYPE),
        "text/html; charset=utf-8"
    );
    assert_eq!(header_of(&resp, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert_eq!(header_of(&resp, header::REFERRER_POLICY), "no-referrer");
    assert_eq!(header_of(&resp, REMOTE_BLOCKED), "3");
    assert_eq!(header_of(&resp, MISMATCHED_LINKS), "1");
    let body = body_of(resp).await;
    assert!(
        body.starts_with("<!doctype html><meta charset=utf-8><style>"),
        "{body}"
    );
    assert!(body.contains(".rampart-mismatch") && body.ends_with("<body><p>hello</p></body>"));
}

#[test]
fn nc_2_1_3_webmail_csp_remote_only_when_asked() {
    assert!(csp(false).contains("img-src data:;"));
    assert!(!csp(false).contains("http"));
    assert!(csp(true).contains("img-src data: https: http:;"));
    for remote in [false, true] {
        let p = csp(remote);
        // AL-1.4: never a script, never the page's origin, whatever the reader chose.
        assert!(
            !p.contains("script-src") && !p.contains("allow-scripts"),
            "{p}"
        );
        assert!(!p.contains("allow-same-origin") && p.contains("default-src 'none'"));
        assert!(p.contains("font-src 'none'") && p.contains("frame-ancestors 'self'"));
    }
}

const A: &str = "alice@example.test";

struct Fixture {
    dir: std::path::PathBuf,
    store: AnyStore,
    user: User,
    account_id: String,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn fixture() -> Fixture {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "rampart-webmail-render-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let (sqlite, _writer) = rampart_store::Sqlite::open(&dir).unwrap();
    let store: AnyStore = Arc::new(sqlite);
    store.mailbox_ensure(A).await.unwrap();
    let account_id = ids::account(A);
    let user = User {
        username: A.into(),
        accounts: vec![Account {
            id: account_id.clone(),
            name: A.into(),
            is_personal: true,
            is_read_only: false,
            account_capabilities: Map::new(),
            owner: A.into(),
            access: Access::Owner,
        }],
        primary_accounts: BTreeMap::new(),
        origin: Origin {
            ip: None,
            user_agent: None,
            service: "webmail",
        },
    };
    Fixture {
        dir,
        store,
        user,
        account_id,
    }
}

const HOSTILE: &str = "From: <x@remote.test>\r\nTo: <alice@example.test>\r\nSubject: hostile\r\n\
Content-Type: text/html\r\n\r\n<p>Dear customer</p><script>parent.sentinel=1</script>\
<img src=\"https://track.example/p.gif\" width=1 height=1>\
<a href=\"https://evil.example/\">https://www.bank.example/</a>\r\n";

#[tokio::test]
async fn webmail_respond_serves_a_stored_hostile_email_clean() {
    let f = fixture().await;
    let inbox = f
        .store
        .mailbox_get(A)
        .await
        .unwrap()
        .into_iter()
        .find(|b| b.role.as_deref() == Some("inbox"))
        .unwrap();
    let n = f
        .store
        .email_import(A, HOSTILE.as_bytes().to_vec(), vec![inbox.id], vec![], None)
        .await
        .unwrap();
    let id = ids::email(n);
    let resp = respond(&f.store, &f.user, &f.account_id, &id, false).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header_of(&resp, REMOTE_BLOCKED), "1");
    assert_eq!(header_of(&resp, MISMATCHED_LINKS), "1");
    assert!(header_of(&resp, header::CONTENT_SECURITY_POLICY).contains("img-src data:;"));
    let body = body_of(resp).await;
    assert!(body.contains("<p>Dear customer</p>"), "{body}");
    assert!(
        !body.contains("sentinel") && !body.contains("track.example"),
        "{body}"
    );
    assert!(body.contains("class=\"rampart-mismatch\""), "{body}");

    let with_remote = respond(&f.store, &f.user, &f.account_id, &id, true).await;
    assert_eq!(header_of(&with_remote, REMOTE_BLOCKED), "0");
    assert!(body_of(with_remote)
        .await
        .contains("https://track.example/p.gif"));

    // AL-3.1: each view is a read by the webmail user.
    let reads = f
        .store
        .mailbox_events(&MailboxEventFilter {
            account: Some(A.into()),
            operations: vec![op::READ.into()],
            ..MailboxEventFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(reads.len(), 2, "{reads:?}");
    assert!(reads.iter().all(|e| e.service == "webmail"));
}

#[tokio::test]
async fn webmail_respond_without_such_email_is_404() {
    let f = fixture().await;
    let resp = respond(&f.store, &f.user, &f.account_id, "E4242", false).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(body_of(resp).await, "There is nothing here.\n");
    let other = respond(&f.store, &f.user, "no-such-account", "E1", false).await;
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
}
