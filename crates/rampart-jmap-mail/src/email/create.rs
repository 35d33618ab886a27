//! Email/set create (RFC 8621 §4.6): a message written from a JMAP Email object, stored like an
//! import. Drafts are made this way before EmailSubmission sends them. Email/set (set.rs) calls
//! [`create`] for each object of its `create` argument.
//!
//! The message is written with mail-builder and then goes through the same door as Email/import
//! (the checks' reading, the size limit, the quota), so a created email is one the gateway can
//! read one way, like every other email of the store.

use std::collections::HashMap;

use mail_builder::headers::address::Address;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::date::Date;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::text::Text;
use mail_builder::headers::url::URL;
use mail_builder::headers::HeaderType;
use mail_builder::mime::{BodyPart, MimePart};
use mail_builder::MessageBuilder;
use rampart_jmap::{CallContext, SetError, SetErrorType};
use rampart_store::mailbox_audit::op;
use serde_json::{Map, Value};

use super::blob;
use super::headers::{self, Form};
use super::import::{created_properties, keywords, mailbox_ids, received_at, store_message};
use crate::account::MailAccount;
use crate::MailMethods;

/// Properties the server sets: a client may not give them (§4.6).
const SERVER_SET: &[&str] = &[
    "id",
    "blobId",
    "threadId",
    "size",
    "hasAttachment",
    "preview",
];

/// Deepest bodyStructure accepted.
const MAX_DEPTH: usize = 32;

/// Creates one email from `object`; its server-set properties {id, blobId, threadId, size}, or
/// the SetError for it. A failure of the store is a SetError too (`serverFail`, logged), so
/// the other creates of the call go on.
pub(crate) async fn create(
    m: &MailMethods,
    cx: &mut CallContext,
    account: &MailAccount,
    creation_id: &str,
    object: &Map<String, Value>,
) -> Result<Value, SetError> {
    if let Some(p) = object.keys().find(|k| SERVER_SET.contains(&k.as_str())) {
        return Err(SetError::invalid_properties([p.clone()]));
    }
    let mailboxes = mailbox_ids(cx, object.get("mailboxIds"))?;
    let keywords = keywords(object.get("keywords"))?;
    let received = received_at(object.get("receivedAt"))?;
    let blobs = fetch_blobs(m, account, object).await?;
    let raw = build(object, &blobs)?;
    let id = match store_message(m, account, raw, mailboxes, keywords, received).await {
        Ok(Ok(id)) => id,
        Ok(Err(e)) => return Err(e),
        Err(e) => return Err(server_fail(&e.description.unwrap_or_default())),
    };
    let props = created_properties(m, account, id)
        .await
        .map_err(|e| server_fail(&e.description.unwrap_or_default()))?;
    // AL-3.1: a created email (a draft, most often) is a mailbox event.
    m.audit_one(
        cx,
        account,
        op::CREATE,
        format!("{} (creation id {creation_id})", crate::ids::email(id)),
    )
    .await;
    Ok(Value::Object(props))
}

fn server_fail(detail: &str) -> SetError {
    tracing::error!(%detail, "Email/set create failed in the store");
    SetError::with(
        SetErrorType::Other("serverFail"),
        "the server could not store the email",
    )
}

/// Every blobId the object's body parts name, fetched from this account. An id that names
/// nothing here is `blobNotFound` (§4.6).
async fn fetch_blobs(
    m: &MailMethods,
    account: &MailAccount,
    object: &Map<String, Value>,
) -> Result<HashMap<String, Vec<u8>>, SetError> {
    let mut ids = Vec::new();
    for key in ["bodyStructure", "textBody", "htmlBody", "attachments"] {
        if let Some(v) = object.get(key) {
            collect_blob_ids(v, &mut ids, 0);
        }
    }
    let mut out = HashMap::new();
    let mut missing = Vec::new();
    for id in ids {
        if out.contains_key(&id) {
            continue;
        }
        match blob::fetch(&m.store, &account.owner, &id).await {
            Ok(Some(b)) => {
                out.insert(id, b.bytes);
            }
            Ok(None) => missing.push(id),
            Err(e) => return Err(server_fail(&e.to_string())),
        }
    }
    if !missing.is_empty() {
        return Err(SetError::with(
            SetErrorType::Other("blobNotFound"),
            format!("no blob {}", missing.join(", ")),
        ));
    }
    Ok(out)
}

fn collect_blob_ids(v: &Value, out: &mut Vec<String>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match v {
        Value::Array(a) => a.iter().for_each(|p| collect_blob_ids(p, out, depth + 1)),
        Value::Object(o) => {
            if let Some(Value::String(b)) = o.get("blobId") {
                out.push(b.clone());
            }
            if let Some(s) = o.get("subParts") {
                collect_blob_ids(s, out, depth + 1);
            }
        }
        _ => {}
    }
}

fn invalid(p: &str) -> SetError {
    SetError::invalid_properties([p.to_owned()])
}

/// An EmailAddress[] as a header value.
fn address_list(v: &Value, prop: &str) -> Result<Address<'static>, SetError> {
    let Value::Array(items) = v else {
        return Err(invalid(prop));
    };
    let mut out = Vec::with_capacity(items.len());
    for a in items {
        let email = a
            .get("email")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(prop))?;
        let name = match a.get("name") {
            None | Some(Value::Null) => None,
            Some(Value::String(n)) => Some(n.clone()),
            Some(_) => return Err(invalid(prop)),
        };
        // A line break in a header value would start a field of the client's choosing.
        if email.contains(['\r', '\n']) || name.as_deref().is_some_and(|n| n.contains(['\r', '\n']))
        {
            return Err(invalid(prop));
        }
        out.push(Address::new_address(name, email.to_owned()));
    }
    Ok(Address::new_list(out))
}

fn string_list(v: &Value, prop: &str) -> Result<Vec<String>, SetError> {
    let Value::Array(items) = v else {
        return Err(invalid(prop));
    };
    items
        .iter()
        .map(|s| match s.as_str() {
            Some(s) if !s.is_empty() && !s.contains(['\r', '\n', '<', '>', ' ']) => {
                Ok(s.to_owned())
            }
            _ => Err(invalid(prop)),
        })
        .collect()
}

fn text(v: &Value, prop: &str) -> Result<String, SetError> {
    match v.as_str() {
        Some(s) if !s.contains(['\r', '\n']) => Ok(s.to_owned()),
        _ => Err(invalid(prop)),
    }
}

/// Header fields the body parts write themselves: given at the top they would make a second
/// Content-Type the reading refuses, or a message that reads two ways.
fn is_content_field(name: &str) -> bool {
    let l = name.to_ascii_lowercase();
    l.starts_with("content-") || l == "mime-version"
}

/// Writes the message of `object`.
fn build(
    object: &Map<String, Value>,
    blobs: &HashMap<String, Vec<u8>>,
) -> Result<Vec<u8>, SetError> {
    let mut b = MessageBuilder::new();
    let mut from_domain = None;
    let mut has_message_id = false;
    for (key, v) in object {
        if v.is_null() {
            continue;
        }
        b = match key.as_str() {
            "mailboxIds" | "keywords" | "receivedAt" | "bodyStructure" | "textBody"
            | "htmlBody" | "attachments" | "bodyValues" => b,
            "from" => {
                from_domain = v
                    .get(0)
                    .and_then(|a| a.get("email"))
                    .and_then(Value::as_str)
                    .and_then(|e| e.rsplit_once('@'))
                    .map(|(_, d)| d.to_owned());
                b.from(address_list(v, key)?)
            }
            "sender" => b.sender(address_list(v, key)?),
            "to" => b.to(address_list(v, key)?),
            "cc" => b.cc(address_list(v, key)?),
            "bcc" => b.bcc(address_list(v, key)?),
            "replyTo" => b.reply_to(address_list(v, key)?),
            "subject" => b.subject(text(v, key)?),
            "sentAt" => {
                let d = v
                    .as_str()
                    .and_then(mail_parser::DateTime::parse_rfc3339)
                    .filter(|d| d.is_valid())
                    .ok_or_else(|| invalid(key))?;
                b.date(Date::new(d.to_timestamp()))
            }
            "messageId" => {
                has_message_id = true;
                b.message_id(MessageId::new_list(string_list(v, key)?.into_iter()))
            }
            "inReplyTo" => b.in_reply_to(MessageId::new_list(string_list(v, key)?.into_iter())),
            "references" => b.references(MessageId::new_list(string_list(v, key)?.into_iter())),
            "headers" => {
                let Value::Array(items) = v else {
                    return Err(invalid(key));
                };
                for h in items {
                    let name = h
                        .get("name")
                        .and_then(Value::as_str)
                        .ok_or_else(|| invalid(key))?;
                    let value = h
                        .get("value")
                        .and_then(Value::as_str)
                        .ok_or_else(|| invalid(key))?;
                    if !valid_name(name) || is_content_field(name) || value.contains(['\r', '\n']) {
                        return Err(invalid(key));
                    }
                    b = b.header(name.to_owned(), Raw::new(value.trim_start().to_owned()));
                }
                b
            }
            other => match headers::parse_property(other) {
                Some(Ok(h)) if !is_content_field(&h.name) && !h.all => {
                    let value: HeaderType<'static> = match h.form {
                        Form::Raw => Raw::new(text(v, other)?.trim_start().to_owned()).into(),
                        Form::Text => Text::new(text(v, other)?).into(),
                        Form::Addresses => address_list(v, other)?.into(),
                        Form::MessageIds => {
                            MessageId::new_list(string_list(v, other)?.into_iter()).into()
                        }
                        Form::Date => {
                            let d = v
                                .as_str()
                                .and_then(mail_parser::DateTime::parse_rfc3339)
                                .ok_or_else(|| invalid(other))?;
                            Date::new(d.to_timestamp()).into()
                        }
                        Form::Urls => URL::new_list(string_list(v, other)?.into_iter()).into(),
                        Form::GroupedAddresses => return Err(invalid(other)),
                    };
                    if h.name.eq_ignore_ascii_case("Message-ID") {
                        has_message_id = true;
                    }
                    b.header(h.name, value)
                }
                _ => return Err(invalid(other)),
            },
        };
    }
    if !has_message_id {
        // RFC 5322 §3.6.4: one id, unique, in the sender's domain when we know it.
        let r: [u8; 16] = rampart_store::random_bytes();
        let hex: String = r.iter().map(|b| format!("{b:02x}")).collect();
        let domain = from_domain.unwrap_or_else(|| "rampart.invalid".into());
        b = b.message_id(format!("{hex}@{domain}"));
    }
    let values = body_values(object.get("bodyValues"))?;
    b = match object.get("bodyStructure").filter(|v| !v.is_null()) {
        Some(s) => {
            if ["textBody", "htmlBody", "attachments"]
                .iter()
                .any(|k| object.get(*k).is_some_and(|v| !v.is_null()))
            {
                return Err(SetError::with(
                    SetErrorType::InvalidProperties,
                    "bodyStructure excludes textBody, htmlBody and attachments",
                ));
            }
            b.body(part(s, &values, blobs, 0)?)
        }
        None => flat_body(b, object, &values, blobs)?,
    };
    b.write_to_vec()
        .map_err(|e| SetError::with(SetErrorType::InvalidProperties, e.to_string()))
}

fn valid_name(n: &str) -> bool {
    !n.is_empty() && n.bytes().all(|b| (33..=126).contains(&b) && b != b':')
}

/// bodyValues: partId -> text. §4.6: isTruncated and isEncodingProblem must be false.
fn body_values(v: Option<&Value>) -> Result<HashMap<String, String>, SetError> {
    let mut out = HashMap::new();
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(out);
    };
    let Value::Object(o) = v else {
        return Err(invalid("bodyValues"));
    };
    for (id, bv) in o {
        let value = bv
            .get("value")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("bodyValues"))?;
        for flag in ["isTruncated", "isEncodingProblem"] {
            if bv.get(flag).is_some_and(|f| f != &Value::Bool(false)) {
                return Err(invalid("bodyValues"));
            }
        }
        out.insert(id.clone(), value.to_owned());
    }
    Ok(out)
}

/// textBody (one text/plain part), htmlBody (one text/html part) and attachments.
fn flat_body<'x>(
    mut b: MessageBuilder<'x>,
    object: &Map<String, Value>,
    values: &HashMap<String, String>,
    blobs: &HashMap<String, Vec<u8>>,
) -> Result<MessageBuilder<'x>, SetError> {
    for (key, ty) in [("textBody", "text/plain"), ("htmlBody", "text/html")] {
        let Some(v) = object.get(key).filter(|v| !v.is_null()) else {
            continue;
        };
        let parts = v
            .as_array()
            .filter(|a| a.len() == 1)
            .ok_or_else(|| invalid(key))?;
        if parts[0]
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t != ty)
        {
            return Err(invalid(key));
        }
        let text = parts[0]
            .get("partId")
            .and_then(Value::as_str)
            .and_then(|p| values.get(p))
            .ok_or_else(|| invalid(key))?
            .clone();
        b = if ty == "text/plain" {
            b.text_body(text)
        } else {
            b.html_body(text)
        };
    }
    if let Some(v) = object.get("attachments").filter(|v| !v.is_null()) {
        let list = v.as_array().ok_or_else(|| invalid("attachments"))?;
        let mut parts = b.attachments.take().unwrap_or_default();
        for a in list {
            parts.push(part(a, values, blobs, MAX_DEPTH)?);
        }
        b.attachments = Some(parts);
    }
    Ok(b)
}

/// One EmailBodyPart (§4.1.4) as a MIME part: a multipart with subParts, text from bodyValues
/// by partId, or the bytes of a blob.
fn part(
    v: &Value,
    values: &HashMap<String, String>,
    blobs: &HashMap<String, Vec<u8>>,
    depth: usize,
) -> Result<MimePart<'static>, SetError> {
    let bad = || invalid("bodyStructure");
    let o = v.as_object().ok_or_else(bad)?;
    let str_of = |k: &str| -> Result<Option<String>, SetError> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.contains(['\r', '\n', '"']) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(k)),
        }
    };
    let ty = str_of("type")?;
    let mut part = if let Some(sub) = o.get("subParts").filter(|v| !v.is_null()) {
        if depth >= MAX_DEPTH {
            return Err(bad());
        }
        let ty = ty.unwrap_or_else(|| "multipart/mixed".into());
        if !ty.starts_with("multipart/") {
            return Err(bad());
        }
        let children = sub
            .as_array()
            .ok_or_else(bad)?
            .iter()
            .map(|c| part(c, values, blobs, depth + 1))
            .collect::<Result<Vec<_>, _>>()?;
        MimePart::new(ContentType::new(ty), BodyPart::Multipart(children))
    } else if let Some(id) = str_of("partId")? {
        let text = values.get(&id).ok_or_else(|| invalid("partId"))?.clone();
        let ty = ty.unwrap_or_else(|| "text/plain".into());
        if !ty.starts_with("text/") {
            return Err(invalid("type"));
        }
        MimePart::new(
            ContentType::new(ty).attribute("charset", "utf-8"),
            BodyPart::Text(text.into()),
        )
    } else if let Some(id) = str_of("blobId")? {
        let bytes = blobs.get(&id).ok_or_else(|| invalid("blobId"))?.clone();
        let mut ct = ContentType::new(ty.unwrap_or_else(|| "application/octet-stream".into()));
        if let Some(c) = str_of("charset")? {
            ct = ct.attribute("charset", c);
        }
        MimePart::new(ct, BodyPart::Binary(bytes.into()))
    } else {
        return Err(bad());
    };
    let name = str_of("name")?;
    match (str_of("disposition")?.as_deref(), name) {
        (Some("inline"), _) => part = part.inline(),
        (_, Some(n)) => part = part.attachment(n),
        (Some("attachment"), None) => part = part.attachment("attachment"),
        _ => {}
    }
    if let Some(c) = str_of("cid")? {
        part = part.cid(c);
    }
    if let Some(l) = str_of("location")? {
        part = part.location(l);
    }
    if let Some(Value::Array(langs)) = o.get("language") {
        let l: Vec<&str> = langs.iter().filter_map(Value::as_str).collect();
        if !l.is_empty() {
            part = part.language(l.join(", "));
        }
    }
    Ok(part)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn built(v: Value) -> Vec<u8> {
        build(v.as_object().unwrap(), &HashMap::new()).unwrap()
    }

    #[test]
    fn a_created_message_reads_one_way() {
        let raw = built(json!({
            "from": [{"name": "Alice", "email": "alice@example.test"}],
            "to": [{"email": "bob@example.test"}],
            "subject": "Hello",
            "textBody": [{"partId": "1", "type": "text/plain"}],
            "htmlBody": [{"partId": "2", "type": "text/html"}],
            "bodyValues": {"1": {"value": "Hi Bob"}, "2": {"value": "<p>Hi Bob</p>"}},
            "header:X-Tag:asText": "draft",
        }));
        let m = rampart_checks::message::read(&raw).expect("the checks read it");
        assert_eq!(m.parsed.subject(), Some("Hello"));
        assert!(m.headers.message_id().unwrap().ends_with("@example.test"));
        assert_eq!(m.parsed.body_text(0).as_deref(), Some("Hi Bob"));
        assert!(String::from_utf8_lossy(&raw).contains("X-Tag: draft"));
    }

    #[test]
    fn header_injection_and_content_fields_are_refused() {
        for bad in [
            json!({"subject": "a\r\nBcc: x@y"}),
            json!({"headers": [{"name": "Content-Type", "value": "text/html"}]}),
            json!({"headers": [{"name": "X-A", "value": "1\r\nFrom: x@y"}]}),
            json!({"to": [{"email": "a@b\r\nX: y"}]}),
            json!({"bodyStructure": {"type": "text/plain", "partId": "1"},
                   "textBody": [{"partId": "1"}], "bodyValues": {"1": {"value": "x"}}}),
            json!({"textBody": [{"partId": "9"}]}),
        ] {
            assert!(
                build(bad.as_object().unwrap(), &HashMap::new()).is_err(),
                "{bad}"
            );
        }
    }
}
