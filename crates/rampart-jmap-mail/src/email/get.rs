//! Email/get (RFC 8621 §4.2): every property of §4.1, the `header:` forms, and the body value
//! options.
//!
//! Two paths. The metadata a mail list shows (id, threadId, mailboxIds, keywords, receivedAt,
//! size, from, to, cc, bcc, subject, sentAt, messageId, preview, hasAttachment, blobId) comes
//! from the store's record of the email and never opens the message, so a page of 50 headers of
//! a large mailbox costs 50 row reads. Those properties always come from the record, whatever
//! else is asked, so one email shows one value for each. Anything else (other header fields,
//! the body) reads the stored message once, through the one reading the gateway's checks use.
//!
//! AL-3.1: a call that returns body content (bodyStructure, textBody, htmlBody, attachments, or
//! body values) is a read of those emails and is recorded in the mailbox audit; a metadata-only
//! call records nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use rampart_jmap::args::Args;
use rampart_jmap::methods::get::{check_get_all, GetArgs, GetResponse};
use rampart_jmap::{CallContext, MethodError};
use rampart_store::mail::{EmailAddress, EmailQuery, EmailRecord, Kind};
use rampart_store::mailbox_audit::op;
use serde_json::{json, Map, Value};

use super::body::{self, PartProp, ValueOptions, View};
use super::headers::{self, HeaderProp};
use crate::account;
use crate::error::{method_error, server_fail};
use crate::ids::{self, BlobBase, BlobRef};
use crate::{MailMethods, Responses};

/// RFC 8621 §4.2: the properties returned when `properties` is not given.
pub(crate) const DEFAULT_PROPERTIES: &[&str] = &[
    "id",
    "blobId",
    "threadId",
    "mailboxIds",
    "keywords",
    "size",
    "receivedAt",
    "messageId",
    "inReplyTo",
    "references",
    "sender",
    "from",
    "to",
    "cc",
    "bcc",
    "replyTo",
    "subject",
    "sentAt",
    "hasAttachment",
    "preview",
    "bodyValues",
    "textBody",
    "htmlBody",
    "attachments",
];

/// Every Email property of §4.1 besides the `header:` forms.
const PROPERTIES: &[&str] = &[
    "id",
    "blobId",
    "threadId",
    "mailboxIds",
    "keywords",
    "size",
    "receivedAt",
    "messageId",
    "inReplyTo",
    "references",
    "sender",
    "from",
    "to",
    "cc",
    "bcc",
    "replyTo",
    "subject",
    "sentAt",
    "headers",
    "bodyStructure",
    "bodyValues",
    "textBody",
    "htmlBody",
    "attachments",
    "hasAttachment",
    "preview",
];

/// What the store's record answers without the message.
const METADATA: &[&str] = &[
    "id",
    "blobId",
    "threadId",
    "mailboxIds",
    "keywords",
    "size",
    "receivedAt",
    "messageId",
    "from",
    "to",
    "cc",
    "bcc",
    "subject",
    "sentAt",
    "preview",
    "hasAttachment",
];

/// Properties that carry body content: returning them is reading the email (AL-3.1).
const CONTENT: &[&str] = &["bodyStructure", "textBody", "htmlBody", "attachments"];

/// What a call asked for: the properties, the header forms among them, the body part
/// properties and the body value options. Shared with Email/parse.
#[derive(Debug, Clone)]
pub(crate) struct Wanted {
    pub props: Vec<String>,
    pub headers: Vec<(String, HeaderProp)>,
    pub parts: Vec<PartProp>,
    pub values: ValueOptions,
}

impl Wanted {
    /// Checks `properties` (or takes `default`) and takes the body arguments out of `args`.
    pub fn parse(
        properties: Option<Vec<String>>,
        default: &[&str],
        args: &mut Args,
    ) -> Result<Wanted, MethodError> {
        let body_properties = args.take_opt_strings("bodyProperties")?;
        let text = args.take_bool_or("fetchTextBodyValues", false)?;
        let html = args.take_bool_or("fetchHTMLBodyValues", false)?;
        let all = args.take_bool_or("fetchAllBodyValues", false)?;
        let max = args.take_opt_unsigned("maxBodyValueBytes")?;
        // RFC 8621 §4.2: maxBodyValueBytes, when given, is greater than 0.
        if max == Some(0) {
            return Err(MethodError::invalid_arguments(
                "maxBodyValueBytes must be greater than 0",
            ));
        }
        let props: Vec<String> =
            properties.unwrap_or_else(|| default.iter().map(|s| (*s).to_owned()).collect());
        let mut header_props = Vec::new();
        for p in &props {
            if PROPERTIES.contains(&p.as_str()) {
                continue;
            }
            match headers::parse_property(p) {
                Some(Ok(h)) => header_props.push((p.clone(), h)),
                Some(Err(e)) => return Err(MethodError::invalid_arguments(e)),
                None => {
                    return Err(MethodError::invalid_arguments(format!(
                        "unknown property {p:?}"
                    )))
                }
            }
        }
        let parts =
            body::part_properties(body_properties).map_err(MethodError::invalid_arguments)?;
        Ok(Wanted {
            props,
            headers: header_props,
            parts,
            values: ValueOptions {
                text,
                html,
                all,
                max_bytes: max.map(|m| usize::try_from(m).unwrap_or(usize::MAX)),
            },
        })
    }

    fn needs_message(&self) -> bool {
        self.props.iter().any(|p| !METADATA.contains(&p.as_str()))
    }

    /// Whether the answer carries body content (AL-3.1's read).
    fn reads_content(&self) -> bool {
        let values = self.values.text || self.values.html || self.values.all;
        self.props
            .iter()
            .any(|p| CONTENT.contains(&p.as_str()) || (p == "bodyValues" && values))
    }
}

/// The properties of `wanted` that come from the message itself, into `out`. The metadata ones
/// (see [`METADATA`]) are the caller's, except with `all_from_message` (Email/parse, which has
/// no record).
pub(crate) fn message_properties(
    view: &View<'_, '_>,
    wanted: &Wanted,
    all_from_message: bool,
    out: &mut Map<String, Value>,
) {
    let fields = view.top_fields();
    let from_message: Vec<String> = wanted
        .props
        .iter()
        .filter(|p| all_from_message || !METADATA.contains(&p.as_str()))
        .cloned()
        .collect();
    headers::convenience(&fields, &from_message, out);
    for (key, h) in &wanted.headers {
        out.insert(key.clone(), headers::property(&fields, h));
    }
    for p in &from_message {
        let v = match p.as_str() {
            "headers" => headers::all_raw(&fields),
            "bodyStructure" => view.structure(&wanted.parts),
            "textBody" => view.list(&view.msg.text_body, &wanted.parts),
            "htmlBody" => view.list(&view.msg.html_body, &wanted.parts),
            "attachments" => view.list(&view.msg.attachments, &wanted.parts),
            "bodyValues" => Value::Object(view.values(&wanted.values)),
            "hasAttachment" => Value::Bool(!view.msg.attachments.is_empty()),
            "preview" => Value::String(body::preview(view.msg)),
            _ => continue,
        };
        out.insert(p.clone(), v);
    }
}

/// The body properties of a message the reading refuses (stored before the reading existed):
/// the message is not shown another way, so it has no header values and no body here.
fn unreadable_properties(wanted: &Wanted, out: &mut Map<String, Value>) {
    for p in &wanted.props {
        if METADATA.contains(&p.as_str()) {
            continue;
        }
        let v = match p.as_str() {
            "headers" | "textBody" | "htmlBody" | "attachments" => json!([]),
            "bodyValues" => json!({}),
            _ => Value::Null,
        };
        out.insert(p.clone(), v);
    }
}

/// A UTCDate (RFC 8620 §1.4) from microseconds since the epoch.
pub(crate) fn utc_date(micros: i64) -> String {
    mail_parser::DateTime::from_timestamp(micros.div_euclid(1_000_000)).to_rfc3339()
}

fn address_list(l: &[EmailAddress]) -> Value {
    if l.is_empty() {
        return Value::Null;
    }
    Value::Array(
        l.iter()
            .map(|a| json!({"name": a.name, "email": a.email}))
            .collect(),
    )
}

/// The metadata properties of `wanted` from the store's record.
fn record_properties(e: &EmailRecord, wanted: &Wanted, out: &mut Map<String, Value>) {
    for p in &wanted.props {
        let v = match p.as_str() {
            "id" => Value::String(ids::email(e.id)),
            "blobId" => Value::String(ids::make(ids::MESSAGE_BLOB, e.id)),
            "threadId" => e.thread.map_or(Value::Null, |t| ids::thread(t).into()),
            "mailboxIds" => Value::Object(
                e.mailboxes
                    .iter()
                    .map(|m| (ids::mailbox(*m), Value::Bool(true)))
                    .collect(),
            ),
            "keywords" => Value::Object(
                e.keywords
                    .iter()
                    .map(|k| (k.clone(), Value::Bool(true)))
                    .collect(),
            ),
            "size" => json!(e.size.max(0)),
            "receivedAt" => Value::String(utc_date(e.received_at)),
            "messageId" => e.message_id.as_ref().map_or(Value::Null, |m| json!([m])),
            "from" => address_list(&e.from),
            "to" => address_list(&e.to),
            "cc" => address_list(&e.cc),
            "bcc" => address_list(&e.bcc),
            "subject" => e.subject.clone().map_or(Value::Null, Value::String),
            "sentAt" => e.sent_at.map_or(Value::Null, |s| {
                utc_date(s.saturating_mul(1_000_000)).into()
            }),
            "preview" => Value::String(e.preview.clone().unwrap_or_default()),
            "hasAttachment" => Value::Bool(e.has_attachment),
            _ => continue,
        };
        out.insert(p.clone(), v);
    }
}

pub(crate) async fn get(
    m: &MailMethods,
    cx: &mut CallContext,
    args: Map<String, Value>,
) -> Result<Responses, MethodError> {
    let mut args = Args::new(args);
    let g = GetArgs::parse(&mut args, cx)?;
    let mut wanted = Wanted::parse(g.properties.clone(), DEFAULT_PROPERTIES, &mut args)?;
    args.finish()?;
    // RFC 8620 §5.1: id is always returned.
    if !wanted.props.iter().any(|p| p == "id") {
        wanted.props.insert(0, "id".into());
    }
    let account = account::resolve(cx, &g.account_id)?;
    m.store
        .index_pending(&account.owner)
        .await
        .map_err(method_error)?;
    let mut not_found = g.unresolved.clone();
    let mut numbers = Vec::new();
    match &g.ids {
        Some(list) => {
            for id in list {
                match ids::parse(ids::EMAIL, id) {
                    Some(n) => numbers.push((n, id.clone())),
                    None => not_found.push(id.clone()),
                }
            }
        }
        None => {
            // Every email, if there are few enough (RFC 8620 §5.1).
            let q = EmailQuery {
                limit: Some(
                    usize::try_from(cx.limits.max_objects_in_get)
                        .unwrap_or(usize::MAX)
                        .saturating_add(1),
                ),
                ..EmailQuery::default()
            };
            let all = m
                .store
                .email_query(&account.owner, &q)
                .await
                .map_err(method_error)?;
            check_get_all(all.total as usize, cx)?;
            numbers.extend(all.ids.into_iter().map(|n| (n, ids::email(n))));
        }
    }
    let state = m
        .store
        .mail_state(&account.owner, Kind::Email)
        .await
        .map_err(|e| server_fail(&e))?;
    let nums: Vec<i64> = numbers.iter().map(|(n, _)| *n).collect();
    let records = m
        .store
        .email_get(&account.owner, &nums)
        .await
        .map_err(|e| server_fail(&e))?;
    let mut by_id: BTreeMap<i64, EmailRecord> = records.into_iter().map(|r| (r.id, r)).collect();
    let wanted = Arc::new(wanted);
    let mut list = Vec::with_capacity(numbers.len());
    let mut read = Vec::new();
    for (n, id) in numbers {
        let Some(record) = by_id.remove(&n) else {
            not_found.push(id);
            continue;
        };
        let mut out = Map::new();
        record_properties(&record, &wanted, &mut out);
        if wanted.needs_message() {
            let Some(raw) = m
                .store
                .email_raw(&account.owner, n)
                .await
                .map_err(|e| server_fail(&e))?
            else {
                // Destroyed between the two reads.
                not_found.push(id);
                continue;
            };
            let w = wanted.clone();
            out = tokio::task::spawn_blocking(move || {
                let blob = BlobRef {
                    base: BlobBase::Email(n),
                    path: Vec::new(),
                };
                match rampart_checks::message::read(&raw) {
                    Ok(msg) => {
                        let view = View {
                            msg: &msg.parsed,
                            blob: &blob,
                        };
                        message_properties(&view, &w, false, &mut out);
                    }
                    Err(r) => {
                        tracing::warn!(email = n, reason = %r.text, "a stored message the reading refuses");
                        unreadable_properties(&w, &mut out);
                    }
                }
                out
            })
            .await
            .map_err(|e| MethodError::server_fail(format!("a task failed: {e}")))?;
            if wanted.reads_content() {
                read.push(id);
            }
        }
        list.push(Value::Object(out));
    }
    // AL-3.1: reading bodies is MailItemsAccessed; the ids say which.
    if !read.is_empty() {
        m.audit_one(
            cx,
            &account,
            op::READ,
            format!("Email/get {}", read.join(" ")),
        )
        .await;
    }
    Ok(vec![(
        "Email/get".into(),
        GetResponse {
            account_id: account.id.clone(),
            state,
            list,
            not_found,
        }
        .into_arguments(),
    )])
}
