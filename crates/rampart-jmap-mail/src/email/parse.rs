//! Email/parse (RFC 8621 §4.9): an uploaded message, or an attached message/rfc822 part of an
//! email, shown as an Email without being stored. The message is read the one way the gateway
//! reads it; a blob that reading refuses is `notParsable`, never shown another way.
//!
//! AL-3.1: parsing a part of an email reads mail content and is recorded; parsing an upload
//! reads only the client's own bytes.

use rampart_jmap::args::Args;
use rampart_jmap::{CallContext, MethodError};
use rampart_store::mailbox_audit::op;
use serde_json::{Map, Value};

use super::blob;
use super::body::View;
use super::get::{message_properties, Wanted};
use crate::account;
use crate::error::server_fail;
use crate::ids;
use crate::{MailMethods, Responses};

/// RFC 8621 §4.9: the properties returned when `properties` is not given.
const DEFAULT_PROPERTIES: &[&str] = &[
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

pub(crate) async fn parse(
    m: &MailMethods,
    cx: &mut CallContext,
    args: Map<String, Value>,
) -> Result<Responses, MethodError> {
    let mut args = Args::new(args);
    let account_id = args.take_id("accountId")?;
    let blob_ids = args
        .take_opt_id_refs("blobIds")?
        .ok_or_else(|| MethodError::invalid_arguments("blobIds is required"))?;
    let properties = args.take_opt_strings("properties")?;
    let wanted = Wanted::parse(properties, DEFAULT_PROPERTIES, &mut args)?;
    args.finish()?;
    let account = account::resolve(cx, &account_id)?;
    if blob_ids.len() as u64 > cx.limits.max_objects_in_get {
        return Err(MethodError::request_too_large(format!(
            "more than maxObjectsInGet ({}) blobIds",
            cx.limits.max_objects_in_get
        )));
    }
    let mut parsed = Map::new();
    let mut not_parsable = Vec::new();
    let mut not_found = Vec::new();
    let mut read = Vec::new();
    for id in blob_ids {
        let Some(r) = ids::blob(&id) else {
            not_found.push(id);
            continue;
        };
        let Some(data) = blob::fetch_ref(&m.store, &account.owner, &r)
            .await
            .map_err(|e| server_fail(&e))?
        else {
            not_found.push(id);
            continue;
        };
        let w = wanted.clone();
        let size = data.bytes.len();
        let is_mail = data.is_mail_content;
        let r2 = r.clone();
        let email = tokio::task::spawn_blocking(move || {
            // Read as Email/import would store it (header bytes repaired); part ids then name
            // the same parts blob::fetch finds.
            let bytes = rampart_checks::message::repaired(&data.bytes);
            let msg = rampart_checks::message::read(&bytes).ok()?;
            let view = View {
                msg: &msg.parsed,
                blob: &r2,
            };
            let mut out = Map::new();
            message_properties(&view, &w, true, &mut out);
            // §4.9: what only a stored email has is null; the blob is the one parsed.
            for p in &w.props {
                let v = match p.as_str() {
                    "id" | "threadId" | "mailboxIds" | "keywords" | "receivedAt" => Value::Null,
                    "blobId" => Value::String(r2.to_id()),
                    "size" => Value::from(size),
                    _ => continue,
                };
                out.insert(p.clone(), v);
            }
            Some(out)
        })
        .await
        .map_err(|e| MethodError::server_fail(format!("a task failed: {e}")))?;
        match email {
            Some(e) => {
                if is_mail {
                    read.push(id.clone());
                }
                parsed.insert(id, Value::Object(e));
            }
            None => not_parsable.push(id),
        }
    }
    // AL-3.1: an attached message of an email was opened.
    if !read.is_empty() {
        m.audit_one(
            cx,
            &account,
            op::READ,
            format!("Email/parse {}", read.join(" ")),
        )
        .await;
    }
    let list = |v: Vec<String>| -> Value {
        if v.is_empty() {
            Value::Null
        } else {
            v.into()
        }
    };
    let mut out = Map::new();
    out.insert("accountId".into(), account.id.clone().into());
    out.insert(
        "parsed".into(),
        if parsed.is_empty() {
            Value::Null
        } else {
            Value::Object(parsed)
        },
    );
    out.insert("notParsable".into(), list(not_parsable));
    out.insert("notFound".into(), list(not_found));
    Ok(vec![("Email/parse".into(), out)])
}
