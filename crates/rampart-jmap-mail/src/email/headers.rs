//! Header fields in the forms of RFC 8621 §4.1.2: `header:Name[:asForm][:all]`, the `headers`
//! list, and the convenience properties (from, subject, sentAt, ...) that are such forms.
//!
//! The fields are those of the one reading (rampart-checks' `message::read`): mail-parser's
//! fields of each part, which that reading has shown to be exactly the strict reader's, so
//! the raw bytes between a field's colon and its CRLF are the value every form starts from.

use mail_parser::parsers::MessageStream;
use mail_parser::{Address, HeaderValue, MessagePart};
use serde_json::{json, Map, Value};

/// RFC 8621 §4.1.2: how a header field's value is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    Raw,
    Text,
    Addresses,
    GroupedAddresses,
    MessageIds,
    Date,
    Urls,
}

/// A `header:` property asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeaderProp {
    pub name: String,
    pub form: Form,
    pub all: bool,
}

/// Fields RFC 5322 and RFC 2369 define, with the forms RFC 8621 §4.1.2 allows on each; any
/// other field may be asked for in every form.
const DEFINED: &[(&str, &[Form])] = &[
    ("subject", &[Form::Raw, Form::Text]),
    ("comments", &[Form::Raw, Form::Text]),
    ("keywords", &[Form::Raw, Form::Text]),
    ("list-id", &[Form::Raw, Form::Text]),
    ("from", ADDR),
    ("sender", ADDR),
    ("reply-to", ADDR),
    ("to", ADDR),
    ("cc", ADDR),
    ("bcc", ADDR),
    ("resent-from", ADDR),
    ("resent-sender", ADDR),
    ("resent-reply-to", ADDR),
    ("resent-to", ADDR),
    ("resent-cc", ADDR),
    ("resent-bcc", ADDR),
    ("message-id", IDS),
    ("in-reply-to", IDS),
    ("references", IDS),
    ("resent-message-id", IDS),
    ("date", &[Form::Raw, Form::Date]),
    ("resent-date", &[Form::Raw, Form::Date]),
    ("list-help", URLS),
    ("list-unsubscribe", URLS),
    ("list-subscribe", URLS),
    ("list-post", URLS),
    ("list-owner", URLS),
    ("list-archive", URLS),
    ("return-path", &[Form::Raw]),
    ("received", &[Form::Raw]),
];
const ADDR: &[Form] = &[Form::Raw, Form::Addresses, Form::GroupedAddresses];
const IDS: &[Form] = &[Form::Raw, Form::MessageIds];
const URLS: &[Form] = &[Form::Raw, Form::Urls];

/// Reads a `header:` property: None when `p` is not one, an error (for invalidArguments) when
/// it is one the RFC does not allow.
pub(crate) fn parse_property(p: &str) -> Option<Result<HeaderProp, String>> {
    let rest = p.strip_prefix("header:")?;
    Some(parse_rest(rest).ok_or_else(|| format!("invalid property {p:?}")))
}

fn parse_rest(rest: &str) -> Option<HeaderProp> {
    let mut it = rest.split(':');
    let name = it.next()?;
    if name.is_empty() || !name.bytes().all(|b| (33..=126).contains(&b)) {
        return None;
    }
    let mut form = Form::Raw;
    let mut all = false;
    let mut next = it.next();
    if let Some(f) = next {
        let parsed = match f {
            "asRaw" => Some(Form::Raw),
            "asText" => Some(Form::Text),
            "asAddresses" => Some(Form::Addresses),
            "asGroupedAddresses" => Some(Form::GroupedAddresses),
            "asMessageIds" => Some(Form::MessageIds),
            "asDate" => Some(Form::Date),
            "asURLs" => Some(Form::Urls),
            _ => None,
        };
        if let Some(p) = parsed {
            form = p;
            next = it.next();
        }
    }
    if let Some(a) = next {
        if a != "all" {
            return None;
        }
        all = true;
    }
    if it.next().is_some() {
        return None;
    }
    let lower = name.to_ascii_lowercase();
    // RFC 8621 §4.1.2: a form a defined field cannot take is an error, not a null.
    if let Some((_, forms)) = DEFINED.iter().find(|(n, _)| *n == lower) {
        if !forms.contains(&form) {
            return None;
        }
    }
    Some(HeaderProp {
        name: name.to_owned(),
        form,
        all,
    })
}

/// One header field of a part: the name as written and the raw value (after the colon, folds
/// included, without the final CRLF).
pub(crate) struct RawField<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

/// The fields of `part`, whose offsets are in `raw` (the message the part belongs to).
pub(crate) fn fields<'a>(raw: &'a [u8], part: &MessagePart<'_>) -> Vec<RawField<'a>> {
    part.headers
        .iter()
        .filter_map(|h| {
            let (f, s, e) = (
                h.offset_field as usize,
                h.offset_start as usize,
                h.offset_end as usize,
            );
            let name = std::str::from_utf8(raw.get(f..s)?).ok()?;
            let name = name.strip_suffix(':').unwrap_or(name).trim_end();
            let value = std::str::from_utf8(raw.get(s..e)?).ok()?;
            let value = value.strip_suffix("\r\n").unwrap_or(value);
            Some(RawField { name, value })
        })
        .collect()
}

/// The `headers` property: every field, in order, raw (RFC 8621 §4.1.3).
pub(crate) fn all_raw(fields: &[RawField<'_>]) -> Value {
    Value::Array(
        fields
            .iter()
            .map(|f| json!({"name": f.name, "value": f.value}))
            .collect(),
    )
}

/// The value of a `header:` property over `fields`: the last field's with that name (null when
/// there is none), or with `all` every one's in order.
pub(crate) fn property(fields: &[RawField<'_>], p: &HeaderProp) -> Value {
    let mut values = fields
        .iter()
        .filter(|f| f.name.eq_ignore_ascii_case(&p.name))
        .map(|f| convert(f.value, p.form));
    if p.all {
        Value::Array(values.collect())
    } else {
        values.next_back().unwrap_or(Value::Null)
    }
}

/// A convenience property (from, subject, ...): the last field in one form.
pub(crate) fn last(fields: &[RawField<'_>], name: &str, form: Form) -> Value {
    property(
        fields,
        &HeaderProp {
            name: name.to_owned(),
            form,
            all: false,
        },
    )
}

/// One raw value in `form` (RFC 8621 §4.1.2.1 to §4.1.2.7).
pub(crate) fn convert(raw: &str, form: Form) -> Value {
    if form == Form::Raw {
        return Value::String(raw.to_owned());
    }
    // mail-parser's field parsers read up to the field's final CRLF.
    let mut bytes = Vec::with_capacity(raw.len() + 2);
    bytes.extend_from_slice(raw.as_bytes());
    bytes.extend_from_slice(b"\r\n");
    let mut stream = MessageStream::new(&bytes);
    match form {
        Form::Raw => Value::Null,
        Form::Text => match stream.parse_unstructured() {
            HeaderValue::Text(t) => Value::String(t.trim().to_owned()),
            _ => Value::String(String::new()),
        },
        Form::Addresses => match stream.parse_address() {
            HeaderValue::Address(a) => addresses(&a),
            _ => json!([]),
        },
        Form::GroupedAddresses => match stream.parse_address() {
            HeaderValue::Address(a) => grouped(&a),
            _ => json!([]),
        },
        Form::MessageIds => {
            let ids: Vec<String> = match stream.parse_id() {
                HeaderValue::Text(t) => vec![t.into_owned()],
                HeaderValue::TextList(l) => l.into_iter().map(|t| t.into_owned()).collect(),
                _ => Vec::new(),
            };
            if ids.is_empty() {
                Value::Null
            } else {
                json!(ids)
            }
        }
        Form::Date => match stream.parse_date() {
            HeaderValue::DateTime(d) if d.is_valid() => Value::String(d.to_rfc3339()),
            _ => Value::Null,
        },
        Form::Urls => {
            // RFC 2369 lists: `<url>` items, which the address parser reads as addresses.
            let urls: Vec<String> = match stream.parse_address() {
                HeaderValue::Address(a) => a
                    .iter()
                    .filter_map(|x| x.address.as_ref().map(|u| u.to_string()))
                    .collect(),
                _ => Vec::new(),
            };
            if urls.is_empty() {
                Value::Null
            } else {
                json!(urls)
            }
        }
    }
}

fn address(a: &mail_parser::Addr<'_>) -> Option<Value> {
    let email = a.address.as_deref()?;
    Some(json!({"name": a.name.as_deref(), "email": email}))
}

fn addresses(a: &Address<'_>) -> Value {
    Value::Array(a.iter().filter_map(address).collect())
}

fn grouped(a: &Address<'_>) -> Value {
    match a {
        Address::List(l) => json!([{
            "name": null,
            "addresses": l.iter().filter_map(address).collect::<Vec<_>>(),
        }]),
        Address::Group(groups) => Value::Array(
            groups
                .iter()
                .map(|g| {
                    json!({
                        "name": g.name.as_deref(),
                        "addresses": g.addresses.iter().filter_map(address).collect::<Vec<_>>(),
                    })
                })
                .collect(),
        ),
    }
}

/// Puts the convenience header properties RFC 8621 §4.1.3 defines into `out`, for those of
/// `wanted` that are such a property.
pub(crate) fn convenience(
    fields: &[RawField<'_>],
    wanted: &[String],
    out: &mut Map<String, Value>,
) {
    for p in wanted {
        let v = match p.as_str() {
            "messageId" => last(fields, "Message-ID", Form::MessageIds),
            "inReplyTo" => last(fields, "In-Reply-To", Form::MessageIds),
            "references" => last(fields, "References", Form::MessageIds),
            "sender" => addresses_or_null(fields, "Sender"),
            "from" => addresses_or_null(fields, "From"),
            "to" => addresses_or_null(fields, "To"),
            "cc" => addresses_or_null(fields, "Cc"),
            "bcc" => addresses_or_null(fields, "Bcc"),
            "replyTo" => addresses_or_null(fields, "Reply-To"),
            "subject" => last(fields, "Subject", Form::Text),
            "sentAt" => last(fields, "Date", Form::Date),
            _ => continue,
        };
        out.insert(p.clone(), v);
    }
}

/// RFC 8621 §4.1.3: an address property is null when the field is absent.
fn addresses_or_null(fields: &[RawField<'_>], name: &str) -> Value {
    last(fields, name, Form::Addresses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_follow_rfc8621_4_1_2() {
        let p = parse_property("header:X-Foo:asText:all").unwrap().unwrap();
        assert_eq!(
            (p.name.as_str(), p.form, p.all),
            ("X-Foo", Form::Text, true)
        );
        let p = parse_property("header:Subject").unwrap().unwrap();
        assert_eq!((p.form, p.all), (Form::Raw, false));
        assert!(parse_property("subject").is_none());
        for bad in [
            "header:",
            "header:Subject:asAddresses",
            "header:From:asDate",
            "header:Received:asText",
            "header:X:asNothing",
            "header:X:all:asText",
            "header:X:asText:all:more",
        ] {
            assert!(parse_property(bad).unwrap().is_err(), "{bad}");
        }
    }

    #[test]
    fn forms_convert_raw_values() {
        assert_eq!(
            convert(" =?UTF-8?Q?caf=C3=A9?=\r\n  ok ", Form::Text),
            json!("café ok")
        );
        assert_eq!(
            convert(" \"Al\" <al@x.test>, b@y.test", Form::Addresses),
            json!([{"name": "Al", "email": "al@x.test"}, {"name": null, "email": "b@y.test"}])
        );
        assert_eq!(
            convert(" Team: a@x.test;", Form::GroupedAddresses),
            json!([{"name": "Team", "addresses": [{"name": null, "email": "a@x.test"}]}])
        );
        assert_eq!(
            convert(" <a@x> <b@y>", Form::MessageIds),
            json!(["a@x", "b@y"])
        );
        assert_eq!(
            convert(" Tue, 1 Jul 2003 10:52:37 +0200", Form::Date),
            json!("2003-07-01T10:52:37+02:00")
        );
        assert_eq!(convert(" nonsense", Form::Date), Value::Null);
        assert_eq!(
            convert(" <https://l.test/u>, <mailto:u@l.test>", Form::Urls),
            json!(["https://l.test/u", "mailto:u@l.test"])
        );
        assert_eq!(convert(" as is ", Form::Raw), json!(" as is "));
    }
}
