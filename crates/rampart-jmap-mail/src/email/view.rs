//! One email as the webmail shows it: the HTML of its htmlBody and the inline images that HTML
//! may name by `cid:`. Not yet safe to show: the server's webmail sanitises it (issue 13 item 3,
//! AL-1.4) before any browser sees it.
//!
//! The message is read through the one reading the gateway's checks and Email/get use
//! (rampart-checks' `message::read`), and htmlBody is RFC 8621 §4.1.4's choice as Email/get
//! returns it, so the webmail shows the parts a JMAP client would.
//!
//! AL-3.1: showing a message is reading it; each view is a `read` event in the mailbox audit,
//! with the signed-in user's origin and service, as Email/get records its reads.

use std::collections::BTreeMap;

use mail_parser::{Message, MimeHeaders, PartType};
use rampart_jmap::User;
use rampart_store::mailbox_audit::op;
use rampart_store::{AnyStore, StoreError};

use super::body;
use crate::account::MailAccount;
use crate::{audit, ids};

/// The largest inline image kept (decoded bytes); a larger one is not shown inline.
pub const MAX_INLINE_IMAGE: usize = 2 * 1024 * 1024;
/// The most inline image bytes one message brings; images past it are not shown inline.
pub const MAX_INLINE_TOTAL: usize = 10 * 1024 * 1024;

/// An image part the HTML may show by `cid:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineImage {
    /// `type/subtype`, lower case, as the part declares it.
    pub media_type: String,
    /// The part's content, transfer encoding removed.
    pub bytes: Vec<u8>,
}

/// Inline images by Content-ID (without the angle brackets).
pub type Inline = BTreeMap<String, InlineImage>;

/// What the webmail shows of one email, before sanitising.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HtmlView {
    /// The htmlBody parts in order: HTML as written, a plain text part as escaped text in a
    /// `<pre>`, an image part as an `<img>` naming it by `cid:`.
    pub html: String,
    pub inline: Inline,
}

/// The view of email `email_id` in account `account_id` as `user` reaches it; None when the
/// user reaches no such account or it holds no such email (the two look the same, as in
/// JMAP). Records the read (AL-3.1) when there is something to show.
pub async fn html_view(
    store: &AnyStore,
    user: &User,
    account_id: &str,
    email_id: &str,
) -> Result<Option<HtmlView>, StoreError> {
    let Some(a) = user.account(account_id) else {
        return Ok(None);
    };
    let account = MailAccount {
        id: a.id.clone(),
        owner: a.owner.to_ascii_lowercase(),
        access: a.access,
    };
    let Some(n) = ids::parse(ids::EMAIL, email_id) else {
        return Ok(None);
    };
    let Some(raw) = store.email_raw(&account.owner, n).await? else {
        return Ok(None);
    };
    // Parsing is CPU work on possibly large input: off the async workers.
    let view = tokio::task::spawn_blocking(move || match rampart_checks::message::read(&raw) {
        Ok(msg) => build(&msg.parsed),
        Err(r) => {
            // As Email/get: a message the reading refuses has no body to show.
            tracing::warn!(email = n, reason = %r.text, "a stored message the reading refuses");
            HtmlView::default()
        }
    })
    .await
    .map_err(|e| StoreError::Invalid(format!("a view task failed: {e}")))?;
    // AL-3.1: MailItemsAccessed, with the id shown.
    store
        .mailbox_record(vec![audit::user_event(
            user,
            &account,
            op::READ,
            format!("view {email_id}"),
        )])
        .await;
    Ok(Some(view))
}

/// The view of a message not in any mailbox (a held message the console previews, AL-3.1),
/// built as [`html_view`] builds it; sanitise it before a browser sees it. CPU work: call it
/// off the async workers. A message the reading refuses shows nothing.
pub fn view_of_raw(raw: &[u8]) -> HtmlView {
    match rampart_checks::message::read(raw) {
        Ok(msg) => build(&msg.parsed),
        Err(_) => HtmlView::default(),
    }
}

/// The view of a read message.
fn build(msg: &Message<'_>) -> HtmlView {
    let raw = msg.raw_message.as_ref();
    let mut inline = inline_images(msg);
    let mut html = String::new();
    for idx in &msg.html_body {
        let Some(p) = msg.parts.get(*idx as usize) else {
            continue;
        };
        match &p.body {
            PartType::Html(t) => html.push_str(t),
            PartType::Text(t) => {
                html.push_str("<pre>");
                html.push_str(&escape(t));
                html.push_str("</pre>");
            }
            // RFC 8621 §4.1.4: an image in the body lists is shown where it stands.
            PartType::Binary(_) | PartType::InlineBinary(_) => {
                let media_type = body::media_type(p);
                if !media_type.starts_with("image/") {
                    continue;
                }
                let key = match content_id(p) {
                    Some(c) => c,
                    None => {
                        // A key no Content-ID of this message can take (`@` is required in one).
                        let key = format!("part-{idx}");
                        let bytes = body::part_bytes(raw, p);
                        add_inline(&mut inline, key.clone(), media_type, bytes);
                        key
                    }
                };
                if inline.contains_key(&key) {
                    html.push_str(&format!("<img src=\"cid:{}\" alt=\"\">", escape(&key)));
                }
            }
            PartType::Message(_) | PartType::Multipart(_) => {}
        }
        html.push('\n');
    }
    HtmlView { html, inline }
}

/// The message's image parts that have a Content-ID, within the size limits, first come first.
fn inline_images(msg: &Message<'_>) -> Inline {
    let raw = msg.raw_message.as_ref();
    let mut out = Inline::new();
    for p in &msg.parts {
        if !matches!(p.body, PartType::Binary(_) | PartType::InlineBinary(_)) {
            continue;
        }
        let media_type = body::media_type(p);
        if !media_type.starts_with("image/") {
            continue;
        }
        let Some(cid) = content_id(p) else {
            continue;
        };
        if out.contains_key(&cid) {
            continue;
        }
        add_inline(&mut out, cid, media_type, body::part_bytes(raw, p));
    }
    out
}

/// Adds an image unless it or the total would pass the limits.
fn add_inline(inline: &mut Inline, key: String, media_type: String, bytes: Vec<u8>) {
    let total: usize = inline.values().map(|i| i.bytes.len()).sum();
    if bytes.len() > MAX_INLINE_IMAGE || total.saturating_add(bytes.len()) > MAX_INLINE_TOTAL {
        return;
    }
    inline.insert(key, InlineImage { media_type, bytes });
}

/// A part's Content-ID without white space and angle brackets (RFC 2392).
fn content_id(p: &mail_parser::MessagePart<'_>) -> Option<String> {
    let c = p
        .content_id()?
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    (!c.is_empty()).then(|| c.to_owned())
}

/// `s` as HTML text or a quoted attribute value (the webmail's pages use it too).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use rampart_jmap::{CallContext, CoreCapability, Origin, User};
    use rampart_store::mailbox_audit::op;
    use rampart_store::{AnyStore, MailboxEventFilter};
    use serde_json::{json, Value};

    use super::*;
    use crate::testutil::{owner_user, temp_store, TempStore};
    use crate::MailMethods;

    const A: &str = "alice@example.test";

    struct Fixture {
        _t: TempStore,
        store: AnyStore,
        user: User,
        account_id: String,
    }

    async fn fixture() -> Fixture {
        let t = temp_store("rampart-view", A).await;
        let user = owner_user(
            A,
            Origin {
                ip: Some(std::net::Ipv4Addr::LOCALHOST.into()),
                user_agent: Some("unit browser".into()),
                service: "webmail",
            },
        );
        Fixture {
            store: t.store.clone(),
            _t: t,
            user,
            account_id: ids::account(A),
        }
    }

    impl Fixture {
        /// Stores `raw` in the inbox; its email id.
        async fn deliver(&self, raw: &str) -> String {
            let boxes = self.store.mailbox_get(A).await.unwrap();
            let inbox = boxes
                .iter()
                .find(|b| b.role.as_deref() == Some("inbox"))
                .unwrap();
            let n = self
                .store
                .email_import(A, raw.as_bytes().to_vec(), vec![inbox.id], vec![], None)
                .await
                .unwrap();
            ids::email(n)
        }

        async fn view(&self, id: &str) -> Option<HtmlView> {
            html_view(&self.store, &self.user, &self.account_id, id)
                .await
                .unwrap()
        }

        async fn reads(&self) -> Vec<rampart_store::MailboxEvent> {
            self.store
                .mailbox_events(&MailboxEventFilter {
                    account: Some(A.into()),
                    operations: vec![op::READ.into()],
                    ..MailboxEventFilter::default()
                })
                .await
                .unwrap()
        }
    }

    const ALTERNATIVE: &str = "From: <x@remote.test>\r\nTo: <alice@example.test>\r\nSubject: alt\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nplain version\r\n--b\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>html <b>version</b> caf=C3=A9</p>\r\n--b--\r\n";

    // Issue 13 item 3: the webmail shows the htmlBody Email/get returns, part for part.
    #[tokio::test]
    async fn webmail_view_html_chosen_like_email_get() {
        let f = fixture().await;
        let id = f.deliver(ALTERNATIVE).await;
        let view = f.view(&id).await.unwrap();
        assert!(
            view.html.contains("<p>html <b>version</b> caf\u{e9}</p>"),
            "{view:?}"
        );
        assert!(!view.html.contains("plain version"), "{view:?}");

        // The same parts, in the same order, as Email/get's htmlBody with its values.
        let m = MailMethods::new(f.store.clone());
        let mut cx = CallContext::new(f.user.clone(), CoreCapability::default(), BTreeSet::new());
        let args = json!({"accountId": f.account_id, "ids": [id],
            "properties": ["htmlBody", "bodyValues"], "fetchHTMLBodyValues": true});
        let Value::Object(args) = args else {
            unreachable!()
        };
        let out = rampart_jmap::Methods::call(&m, &mut cx, "Email/get", args)
            .await
            .unwrap();
        let email = &out[0].1["list"][0];
        let expected: String = email["htmlBody"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let part = p["partId"].as_str().unwrap();
                format!("{}\n", email["bodyValues"][part]["value"].as_str().unwrap())
            })
            .collect();
        assert_eq!(view.html, expected);
    }

    // The console's preview of a held message (not in any mailbox) is built the same way.
    #[tokio::test]
    async fn view_of_raw_is_the_mailbox_view() {
        let f = fixture().await;
        let id = f.deliver(ALTERNATIVE).await;
        assert_eq!(
            view_of_raw(ALTERNATIVE.as_bytes()),
            f.view(&id).await.unwrap()
        );
        assert_eq!(view_of_raw(b""), HtmlView::default());
    }

    #[tokio::test]
    async fn webmail_view_related_cid_image_is_inline() {
        let f = fixture().await;
        // A 1x1 PNG, base64.
        let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
        let raw = format!(
            "From: <x@remote.test>\r\nTo: <alice@example.test>\r\nSubject: logo\r\nContent-Type: multipart/related; boundary=r\r\n\r\n--r\r\nContent-Type: text/html\r\n\r\n<p>see <img src=\"cid:logo@remote.test\"></p>\r\n--r\r\nContent-Type: image/png\r\nContent-ID: <logo@remote.test>\r\nContent-Transfer-Encoding: base64\r\n\r\n{png}\r\n--r--\r\n"
        );
        let id = f.deliver(&raw).await;
        let view = f.view(&id).await.unwrap();
        assert!(view.html.contains("cid:logo@remote.test"), "{view:?}");
        let img = view.inline.get("logo@remote.test").expect("the cid part");
        assert_eq!(img.media_type, "image/png");
        assert!(
            img.bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            "decoded: {:?}",
            img.bytes
        );
        assert_eq!(view.inline.len(), 1);
    }

    #[tokio::test]
    async fn webmail_view_inline_image_size_limit() {
        let f = fixture().await;
        let big = "A".repeat(MAX_INLINE_IMAGE / 3 * 4 + 400);
        let wrapped: String = big
            .as_bytes()
            .chunks(76)
            .map(|c| format!("{}\r\n", std::str::from_utf8(c).unwrap()))
            .collect();
        let raw = format!(
            "From: <x@remote.test>\r\nTo: <alice@example.test>\r\nSubject: big\r\nContent-Type: multipart/related; boundary=r\r\n\r\n--r\r\nContent-Type: text/html\r\n\r\n<p>big <img src=\"cid:big@remote.test\"></p>\r\n--r\r\nContent-Type: image/png\r\nContent-ID: <big@remote.test>\r\nContent-Transfer-Encoding: base64\r\n\r\n{wrapped}--r--\r\n"
        );
        let id = f.deliver(&raw).await;
        let view = f.view(&id).await.unwrap();
        assert!(
            view.html.contains("<p>big "),
            "{}",
            &view.html[..40.min(view.html.len())]
        );
        assert!(view.inline.is_empty(), "a part over 2 MB is not inline");
    }

    #[tokio::test]
    async fn webmail_view_text_only_mail_is_escaped_pre() {
        let f = fixture().await;
        let raw = "From: <x@remote.test>\r\nTo: <alice@example.test>\r\nSubject: plain\r\n\r\nfish & <script>alert(1)</script> chips\r\n";
        let id = f.deliver(raw).await;
        let view = f.view(&id).await.unwrap();
        assert!(
            view.html
                .starts_with("<pre>fish &amp; &lt;script&gt;alert(1)&lt;/script&gt; chips"),
            "{view:?}"
        );
        assert!(view.html.ends_with("</pre>\n"), "{view:?}");
        assert!(!view.html.contains("<script>"));
    }

    // AL-3.1: a view is a read, recorded with the webmail user's origin.
    #[tokio::test]
    async fn al_3_1_webmail_view_records_read() {
        let f = fixture().await;
        let id = f.deliver(ALTERNATIVE).await;
        assert!(f.reads().await.is_empty());
        f.view(&id).await.unwrap();
        let reads = f.reads().await;
        assert_eq!(reads.len(), 1, "{reads:?}");
        let e = &reads[0];
        assert_eq!(e.operation, op::READ);
        assert_eq!(e.service, "webmail");
        assert_eq!(e.actor, A);
        assert_eq!(e.detail, format!("view {id}"));
        assert_eq!(e.client.as_deref(), Some("127.0.0.1"));
        assert_eq!(e.user_agent.as_deref(), Some("unit browser"));
    }

    #[tokio::test]
    async fn webmail_view_of_nothing_is_none_and_not_a_read() {
        let f = fixture().await;
        let id = f.deliver(ALTERNATIVE).await;
        assert!(f.view("E999999").await.is_none());
        assert!(f.view("not-an-id").await.is_none());
        let other = html_view(&f.store, &f.user, &ids::account("bob@example.test"), &id)
            .await
            .unwrap();
        assert!(
            other.is_none(),
            "another user's account holds nothing for alice"
        );
        assert!(f.reads().await.is_empty());
    }
}
