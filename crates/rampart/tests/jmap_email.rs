//! Email/get, blobs, Email/import, Email/parse and Email/set create over HTTPS against a real
//! `rampart serve`, spoken with curl; mail arrives over SMTP. The mailbox audit (AL-3.1) is
//! read back from the store the server writes.

use crate::common;

use common::jmap::*;
use common::Server;
use rampart_store::mailbox_audit::op;
use rampart_store::{MailboxEvent, MailboxEventFilter};
use serde_json::{json, Value};

const ALICE: &str = "alice@example.test";
const BOB: &str = "bob@example.test";

/// Text, HTML, an attachment and an attached message, with header fields of every form.
const MIME: &str = "From: \"Sam Sender\" <sender@remote.test>\r\n\
To: Alice <alice@example.test>, bob@example.test\r\n\
Cc: Team: carol@remote.test;\r\n\
Reply-To: <replies@remote.test>\r\n\
Subject: =?UTF-8?Q?Quarterly_r=C3=A9port?=\r\n\
Date: Tue, 1 Jul 2025 10:52:37 +0200\r\n\
Message-ID: <outer-1@remote.test>\r\n\
In-Reply-To: <prev-1@remote.test>\r\n\
References: <root-1@remote.test> <prev-1@remote.test>\r\n\
List-Unsubscribe: <https://remote.test/unsub>, <mailto:unsub@remote.test>\r\n\
X-Custom: first\r\n\
X-Custom: second\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"outer\"\r\n\
\r\n\
--outer\r\n\
Content-Type: multipart/alternative; boundary=\"alt\"\r\n\
\r\n\
--alt\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Hello Alice, the r=C3=A9port is attached.\r\n\
--alt\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<p>Hello Alice, the report is attached.</p>\r\n\
--alt--\r\n\
--outer\r\n\
Content-Type: text/csv; name=\"report.csv\"\r\n\
Content-Disposition: attachment; filename=\"report.csv\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
YSxiDQoxLDINCg==\r\n\
--outer\r\n\
Content-Type: message/rfc822\r\n\
Content-Disposition: attachment; filename=\"fwd.eml\"\r\n\
\r\n\
From: <inner@remote.test>\r\n\
To: <alice@example.test>\r\n\
Subject: Inner subject\r\n\
Message-ID: <inner-1@remote.test>\r\n\
\r\n\
The inner body.\r\n\
--outer--\r\n";

/// Delivers `body` to alice over SMTP and returns her email ids once it is there.
fn deliver(s: &Server, body: &str, n: usize) -> Vec<String> {
    let mut c = s.ehlo();
    let (code, text) = c.send_mail("sender@remote.test", &[ALICE], body);
    assert_eq!(code, 250, "{text}");
    s.wait_mailbox(ALICE, n);
    let j = s.jmap(ALICE);
    let got = j.call1(
        "Email/get",
        json!({"accountId": j.account_id(), "ids": null, "properties": ["id"]}),
    );
    got["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The audit's events of `op` for alice, oldest first.
fn audit(s: &Server, operation: &str) -> Vec<MailboxEvent> {
    let store = rampart_store::Store::open(&s.data_dir()).unwrap();
    store
        .mailbox_events(&MailboxEventFilter {
            account: Some(ALICE.into()),
            operations: vec![operation.into()],
            ..MailboxEventFilter::default()
        })
        .unwrap()
}

fn upload(j: &Jmap<'_>, account: &str, ty: &str, data: &[u8]) -> Value {
    let r = j.http(
        "POST",
        &format!("/jmap/upload/{account}"),
        &[("Content-Type", ty)],
        Some(data),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

fn download(j: &Jmap<'_>, account: &str, blob: &str, accept: &str) -> HttpReply {
    j.http(
        "GET",
        &format!("/jmap/download/{account}/{blob}/file?accept={accept}"),
        &[],
        None,
    )
}

fn inbox(j: &Jmap<'_>, account: &str) -> String {
    // The Inbox is the mailbox of the delivered email.
    let all = j.call1(
        "Email/get",
        json!({"accountId": account, "ids": null, "properties": ["mailboxIds"]}),
    );
    let boxes = all["list"][0]["mailboxIds"].as_object().unwrap();
    boxes.keys().next().unwrap().clone()
}

#[test]
fn email_get_shows_every_property_and_header_form_of_a_mime_message() {
    let s = start_jmap();
    let ids = deliver(&s, MIME, 1);
    let j = s.jmap(ALICE);
    let acct = j.account_id();
    let e = &j.call1(
        "Email/get",
        json!({"accountId": acct, "ids": [ids[0]], "properties": [
            "id", "blobId", "threadId", "mailboxIds", "keywords", "size", "receivedAt",
            "messageId", "inReplyTo", "references", "sender", "from", "to", "cc", "bcc",
            "replyTo", "subject", "sentAt", "headers", "hasAttachment", "preview",
            "header:Subject", "header:Subject:asText", "header:X-Custom", "header:X-Custom:all",
            "header:From:asAddresses", "header:Cc:asGroupedAddresses",
            "header:References:asMessageIds", "header:Date:asDate",
            "header:List-Unsubscribe:asURLs", "header:X-Missing", "header:X-Missing:all"]}),
    )["list"][0];
    assert_eq!(e["id"], ids[0].as_str());
    assert!(e["blobId"].as_str().unwrap().starts_with('B'));
    assert!(e["threadId"].as_str().unwrap().starts_with('T'));
    assert_eq!(e["mailboxIds"].as_object().unwrap().len(), 1);
    assert_eq!(e["keywords"], json!({}));
    assert!(e["size"].as_u64().unwrap() >= MIME.len() as u64);
    assert!(e["receivedAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(e["messageId"], json!(["outer-1@remote.test"]));
    assert_eq!(e["inReplyTo"], json!(["prev-1@remote.test"]));
    assert_eq!(
        e["references"],
        json!(["root-1@remote.test", "prev-1@remote.test"])
    );
    assert_eq!(e["sender"], Value::Null);
    assert_eq!(
        e["from"],
        json!([{"name": "Sam Sender", "email": "sender@remote.test"}])
    );
    assert_eq!(
        e["to"],
        json!([{"name": "Alice", "email": ALICE}, {"name": null, "email": BOB}])
    );
    assert_eq!(
        e["cc"],
        json!([{"name": null, "email": "carol@remote.test"}])
    );
    assert_eq!(e["bcc"], Value::Null);
    assert_eq!(
        e["replyTo"],
        json!([{"name": null, "email": "replies@remote.test"}])
    );
    // The gateway tags mail from outside (its subject tag); the store shows the message as
    // delivered.
    assert_eq!(e["subject"], "[External] Quarterly réport");
    assert_eq!(e["sentAt"], "2025-07-01T08:52:37Z");
    assert_eq!(e["hasAttachment"], true);
    assert!(
        e["preview"].as_str().unwrap().starts_with("Hello Alice"),
        "{}",
        e["preview"]
    );
    let headers = e["headers"].as_array().unwrap();
    assert!(headers.contains(&json!({"name": "X-Custom", "value": " first"})));
    assert!(e["header:Subject"].as_str().unwrap().starts_with(' '));
    assert_ne!(e["header:Subject"], e["header:Subject:asText"]);
    assert_eq!(e["header:Subject:asText"], "[External] Quarterly réport");
    assert_eq!(e["header:X-Custom"], " second");
    assert_eq!(e["header:X-Custom:all"], json!([" first", " second"]));
    assert_eq!(
        e["header:From:asAddresses"],
        json!([{"name": "Sam Sender", "email": "sender@remote.test"}])
    );
    assert_eq!(
        e["header:Cc:asGroupedAddresses"],
        json!([{"name": "Team", "addresses": [{"name": null, "email": "carol@remote.test"}]}])
    );
    assert_eq!(
        e["header:References:asMessageIds"],
        json!(["root-1@remote.test", "prev-1@remote.test"])
    );
    assert_eq!(e["header:Date:asDate"], "2025-07-01T10:52:37+02:00");
    assert_eq!(
        e["header:List-Unsubscribe:asURLs"],
        json!(["https://remote.test/unsub", "mailto:unsub@remote.test"])
    );
    assert_eq!(e["header:X-Missing"], Value::Null);
    assert_eq!(e["header:X-Missing:all"], json!([]));
    // RFC 8621 §4.1.2: a form the field cannot take is invalidArguments.
    let r = j.call(json!([["Email/get", {"accountId": acct, "ids": [ids[0]],
        "properties": ["header:Subject:asAddresses"]}, "c0"]]));
    assert_eq!(r[0][0], "error");
    assert_eq!(r[0][1]["type"], "invalidArguments");
}

#[test]
fn al_3_1_body_values_truncation_blobs_and_parse_are_recorded_reads() {
    let s = start_jmap();
    let ids = deliver(&s, MIME, 1);
    let j = s.jmap(ALICE);
    let acct = j.account_id();
    // AL-3.1: metadata only is no read.
    j.call1(
        "Email/get",
        json!({"accountId": acct, "ids": [ids[0]], "properties": ["subject", "from", "preview"]}),
    );
    assert!(
        audit(&s, op::READ).is_empty(),
        "a metadata get was recorded"
    );

    let e = &j.call1(
        "Email/get",
        json!({"accountId": acct, "ids": [ids[0]],
            "properties": ["bodyStructure", "textBody", "htmlBody", "attachments", "bodyValues"],
            "fetchTextBodyValues": true, "fetchHTMLBodyValues": true}),
    )["list"][0];
    let root = &e["bodyStructure"];
    assert_eq!(root["type"], "multipart/mixed");
    assert_eq!(root["partId"], Value::Null);
    assert_eq!(root["subParts"][0]["type"], "multipart/alternative");
    let text = &e["textBody"][0];
    assert_eq!(
        (&text["type"], &text["charset"]),
        (&json!("text/plain"), &json!("utf-8"))
    );
    let html = &e["htmlBody"][0];
    assert_eq!(html["type"], "text/html");
    let values = &e["bodyValues"];
    let tv = &values[text["partId"].as_str().unwrap()];
    assert!(
        tv["value"]
            .as_str()
            .unwrap()
            .starts_with("Hello Alice, the réport is attached."),
        "{tv}"
    );
    assert_eq!(tv["isTruncated"], false);
    assert_eq!(tv["isEncodingProblem"], false);
    assert!(values[html["partId"].as_str().unwrap()]["value"]
        .as_str()
        .unwrap()
        .starts_with("<p>Hello Alice"));
    let atts = e["attachments"].as_array().unwrap();
    let csv = atts.iter().find(|a| a["name"] == "report.csv").unwrap();
    assert_eq!(
        (&csv["type"], &csv["disposition"], &csv["size"]),
        (&json!("text/csv"), &json!("attachment"), &json!(10))
    );
    let fwd = atts.iter().find(|a| a["name"] == "fwd.eml").unwrap();
    assert_eq!(fwd["type"], "message/rfc822");

    // maxBodyValueBytes cuts at a character boundary and says so.
    let cut = &j.call1(
        "Email/get",
        json!({"accountId": acct, "ids": [ids[0]], "properties": ["bodyValues"],
            "fetchAllBodyValues": true, "maxBodyValueBytes": 5}),
    )["list"][0]["bodyValues"];
    let cut = cut.as_object().unwrap();
    // RFC 8621 §4.2: every text/* part, the attached CSV included.
    assert_eq!(cut.len(), 3, "the text, the HTML and the CSV part: {cut:?}");
    assert_eq!(cut[csv["partId"].as_str().unwrap()]["value"], "a,b\r\n");
    let first = &cut[text["partId"].as_str().unwrap()];
    assert_eq!(
        (&first["value"], &first["isTruncated"]),
        (&json!("Hello"), &json!(true))
    );

    // The message's blob, and a part's blob, decoded, with the type asked for.
    let meta = j.call1(
        "Email/get",
        json!({"accountId": acct, "ids": [ids[0]], "properties": ["blobId", "size"]}),
    );
    let blob_id = meta["list"][0]["blobId"].as_str().unwrap().to_owned();
    let whole = download(&j, &acct, &blob_id, "message/rfc822");
    assert_eq!(whole.status, 200);
    // RFC 8621 §4.1.1: size is the size of the blob.
    assert_eq!(meta["list"][0]["size"], whole.body.len());
    assert_eq!(whole.header("content-type"), Some("message/rfc822"));
    assert!(whole.text().contains("Message-ID: <outer-1@remote.test>"));
    let part = download(&j, &acct, csv["blobId"].as_str().unwrap(), "text/csv");
    assert_eq!(part.status, 200, "{}", part.text());
    assert_eq!(part.header("content-type"), Some("text/csv"));
    assert_eq!(part.body, b"a,b\r\n1,2\r\n");

    // Email/parse of the attached message.
    let fwd_blob = fwd["blobId"].as_str().unwrap();
    let parsed = j.call1(
        "Email/parse",
        json!({"accountId": acct, "blobIds": [fwd_blob, "PB999-1"],
            "fetchTextBodyValues": true}),
    );
    let inner = &parsed["parsed"][fwd_blob];
    assert_eq!(inner["subject"], "Inner subject");
    assert_eq!(inner["messageId"], json!(["inner-1@remote.test"]));
    let inner_text = inner["textBody"][0]["partId"].as_str().unwrap();
    assert!(inner["bodyValues"][inner_text]["value"]
        .as_str()
        .unwrap()
        .starts_with("The inner body."));
    assert_eq!(parsed["notFound"], json!(["PB999-1"]));

    // AL-3.1: the body get, both downloads and the parse, each with its ids.
    let reads: Vec<String> = audit(&s, op::READ).into_iter().map(|e| e.detail).collect();
    assert_eq!(
        reads,
        vec![
            format!("Email/get {}", ids[0]),
            format!("Email/get {}", ids[0]),
            format!("download {blob_id}"),
            format!("download {}", csv["blobId"].as_str().unwrap()),
            format!("Email/parse {fwd_blob}"),
        ]
    );
    let ev = audit(&s, op::READ).pop().unwrap();
    assert_eq!((ev.service.as_str(), ev.actor.as_str()), ("jmap", ALICE));
    assert_eq!(ev.user_agent.as_deref(), Some("rampart-tests/1"));
}

/// An upload whose header lines hold raw Latin-1 is read as the gateway reads such mail: each
/// byte that is not UTF-8 as U+FFFD (rampart_checks::message::repair). Email/parse shows it so,
/// a part it names downloads as that part, and Email/import stores the repaired message.
#[test]
fn an_upload_with_raw_latin1_headers_is_parsed_and_imported_repaired() {
    let s = start_jmap();
    deliver(&s, &common::message("first", "hello"), 1);
    let j = s.jmap(ALICE);
    let acct = j.account_id();
    let inbox = inbox(&j, &acct);
    let raw: &[u8] = b"From: Sel\xe5sdal <s@remote.test>\r\nTo: <alice@example.test>\r\n\
Subject: signs \xa380m deal\r\nMessage-ID: <latin1@remote.test>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
See the file.\r\n--b\r\nContent-Type: text/plain\r\n\
Content-Disposition: attachment; filename=\"r\xe9sum\xe9.txt\"\r\n\r\nattached text\r\n--b--\r\n";
    let up = upload(&j, &acct, "message/rfc822", raw);
    let p = j.call1(
        "Email/parse",
        json!({"accountId": acct, "blobIds": [up["blobId"]],
            "properties": ["subject", "from", "attachments"]}),
    );
    let e = &p["parsed"][up["blobId"].as_str().unwrap()];
    assert_eq!(e["subject"], "signs \u{fffd}80m deal", "{p}");
    assert_eq!(e["from"][0]["name"], "Sel\u{fffd}sdal", "{p}");
    let att = &e["attachments"][0];
    assert_eq!(att["name"], "r\u{fffd}sum\u{fffd}.txt", "{p}");
    let part = download(&j, &acct, att["blobId"].as_str().unwrap(), "text/plain");
    assert_eq!(part.status, 200);
    assert_eq!(part.body, b"attached text");
    let out = j.call1(
        "Email/import",
        json!({"accountId": acct, "emails": {"k": {"blobId": up["blobId"],
            "mailboxIds": {inbox.clone(): true}}}}),
    );
    let created = &out["created"]["k"];
    // Four bytes on three lines, each written as the three bytes of U+FFFD.
    assert_eq!(created["size"], raw.len() + 4 * 2, "{out}");
    let id = created["id"].as_str().unwrap();
    let got = &j.call1(
        "Email/get",
        json!({"accountId": acct, "ids": [id], "properties": ["subject", "blobId"]}),
    )["list"][0];
    assert_eq!(got["subject"], "signs \u{fffd}80m deal");
    let stored = download(&j, &acct, got["blobId"].as_str().unwrap(), "message/rfc822");
    assert_eq!(stored.status, 200);
    assert!(
        stored
            .body
            .windows(21)
            .any(|w| w == b"Subject: signs \xef\xbf\xbd80m"),
        "{}",
        String::from_utf8_lossy(&stored.body)
    );
}

#[test]
fn al_3_1_upload_import_get_and_the_refusals_of_import() {
    let s = start_jmap();
    deliver(&s, &common::message("first", "hello"), 1);
    let j = s.jmap(ALICE);
    let acct = j.account_id();
    let inbox = inbox(&j, &acct);
    let raw = "From: <ann@remote.test>\r\nTo: <alice@example.test>\r\nSubject: imported\r\n\
               Message-ID: <imp-1@remote.test>\r\n\r\nImported body.\r\n";
    let up = upload(&j, &acct, "message/rfc822", raw.as_bytes());
    assert!(up["blobId"].as_str().unwrap().starts_with('U'));
    assert_eq!(up["size"], raw.len());
    let out = j.call1(
        "Email/import",
        json!({"accountId": acct, "emails": {"k1": {"blobId": up["blobId"],
            "mailboxIds": {inbox.clone(): true}, "keywords": {"$seen": true},
            "receivedAt": "2025-01-02T03:04:05Z"}}}),
    );
    let created = &out["created"]["k1"];
    assert_eq!(created["size"], raw.len());
    let id = created["id"].as_str().unwrap();
    let e = &j.call1(
        "Email/get",
        json!({"accountId": acct, "ids": [id], "properties": ["subject", "keywords",
            "receivedAt", "mailboxIds", "threadId", "bodyValues"], "fetchTextBodyValues": true}),
    )["list"][0];
    assert_eq!(e["subject"], "imported");
    assert_eq!(e["keywords"], json!({"$seen": true}));
    assert_eq!(e["receivedAt"], "2025-01-02T03:04:05Z");
    assert_eq!(e["threadId"], created["threadId"]);
    assert_eq!(e["bodyValues"]["0"]["value"], "Imported body.\r\n");
    assert_eq!(audit(&s, op::IMPORT).len(), 1);

    // One message, one meaning: what the checks refuse is invalidEmail, never stored.
    for (bad, why) in [
        (
            "From: <a@remote.test>\r\nFrom: <b@remote.test>\r\nSubject: x\r\n\r\nbody\r\n",
            "two From fields",
        ),
        (
            "From: <a@remote.test>\r\nSubject: x\r\n\r\nbare\rCR\r\n",
            "a bare CR",
        ),
    ] {
        let up = upload(&j, &acct, "message/rfc822", bad.as_bytes());
        let out = j.call1(
            "Email/import",
            json!({"accountId": acct, "emails": {"b": {"blobId": up["blobId"],
                "mailboxIds": {inbox.clone(): true}}}}),
        );
        assert_eq!(
            out["notCreated"]["b"]["type"], "invalidEmail",
            "{why}: {out}"
        );
        let p = j.call1(
            "Email/parse",
            json!({"accountId": acct, "blobIds": [up["blobId"]]}),
        );
        assert_eq!(p["notParsable"], json!([up["blobId"]]), "{why}");
    }

    // Another account's blob is no blob here.
    let b = s.jmap(BOB);
    let bob_acct = b.account_id();
    let theirs = upload(&b, &bob_acct, "message/rfc822", raw.as_bytes());
    let out = j.call1(
        "Email/import",
        json!({"accountId": acct, "emails": {"x": {"blobId": theirs["blobId"],
            "mailboxIds": {inbox.clone(): true}}}}),
    );
    assert_eq!(out["notCreated"]["x"]["type"], "notFound");
    let p = j.call1(
        "Email/parse",
        json!({"accountId": acct, "blobIds": [theirs["blobId"]]}),
    );
    assert_eq!(p["notFound"], json!([theirs["blobId"]]));
    let blob = theirs["blobId"].as_str().unwrap();
    assert_eq!(download(&j, &acct, blob, "message/rfc822").status, 404);
    assert_eq!(download(&b, &bob_acct, blob, "message/rfc822").status, 200);
    // Two emails: the delivered one and the import; nothing of the refusals.
    let all = j.call1(
        "Email/get",
        json!({"accountId": acct, "ids": null, "properties": ["id"]}),
    );
    assert_eq!(all["list"].as_array().unwrap().len(), 2);
}

#[test]
fn import_is_too_large_past_the_message_limit_and_over_quota_past_the_quota() {
    let s = start_jmap_with(common::Options {
        limits: "max_message_size = 3000".into(),
        ..common::Options::default()
    });
    // Within the SMTP limit as sent; stored with the trace fields the server adds, past it.
    let body = "x".repeat(70);
    let mut lines = String::new();
    while lines.len() < 2900 {
        lines.push_str(&body);
        lines.push_str("\r\n");
    }
    let ids = deliver(&s, &common::message("big", &lines[..2850]), 1);
    let j = s.jmap(ALICE);
    let acct = j.account_id();
    let inbox = inbox(&j, &acct);
    let e = &j.call1(
        "Email/get",
        json!({"accountId": acct, "ids": [ids[0]], "properties": ["blobId", "size"]}),
    )["list"][0];
    assert!(
        e["size"].as_u64().unwrap() > 3000,
        "the stored message should pass the limit: {e}"
    );
    let out = j.call1(
        "Email/import",
        json!({"accountId": acct, "emails": {"big": {"blobId": e["blobId"],
            "mailboxIds": {inbox.clone(): true}}}}),
    );
    assert_eq!(out["notCreated"]["big"]["type"], "tooLarge", "{out}");

    // overQuota: an upload made before the limit, imported after it.
    let raw = "From: <ann@remote.test>\r\nSubject: q\r\n\r\nquota\r\n";
    let up = upload(&j, &acct, "message/rfc822", raw.as_bytes());
    let used = e["size"].as_u64().unwrap();
    set_quota(&s, ALICE, used + 10);
    let out = j.call1(
        "Email/import",
        json!({"accountId": acct, "emails": {"q": {"blobId": up["blobId"],
            "mailboxIds": {inbox.clone(): true}}}}),
    );
    assert_eq!(out["notCreated"]["q"]["type"], "overQuota", "{out}");
    // An upload past the quota is refused at the door.
    let r = j.http(
        "POST",
        &format!("/jmap/upload/{acct}"),
        &[("Content-Type", "message/rfc822")],
        Some(raw.as_bytes()),
    );
    assert_eq!(r.status, 507, "{}", r.text());
}

/// Sets `user`'s quota through the store, as an administrator's tool would.
fn set_quota(s: &Server, user: &str, limit: u64) {
    let store = rampart_store::Store::open(&s.data_dir()).unwrap();
    let (writer, thread) = rampart_store::Writer::start(&store).unwrap();
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(store.quota_set_limit(&writer, user, Some(limit)))
        .unwrap();
    drop(writer);
    let _ = thread.join();
}

#[test]
fn al_3_1_create_then_get() {
    let s = start_jmap();
    deliver(&s, &common::message("first", "hello"), 1);
    let j = s.jmap(ALICE);
    let acct = j.account_id();
    let inbox = inbox(&j, &acct);
    let att = upload(&j, &acct, "text/plain", b"attached words");
    let out = j.call1(
        "Email/set",
        json!({"accountId": acct, "create": {"d1": {
            "mailboxIds": {inbox: true}, "keywords": {"$draft": true},
            "from": [{"name": "Alice", "email": ALICE}], "to": [{"email": BOB}],
            "subject": "Draft", "textBody": [{"partId": "t", "type": "text/plain"}],
            "bodyValues": {"t": {"value": "Draft text"}},
            "attachments": [{"blobId": att["blobId"], "type": "text/plain", "name": "a.txt"}]}}}),
    );
    let created = &out["created"]["d1"];
    let id = created["id"].as_str().unwrap();
    let e = &j.call1(
        "Email/get",
        json!({"accountId": acct, "ids": [id], "properties": ["subject", "from", "to",
            "keywords", "attachments", "bodyValues"], "fetchTextBodyValues": true}),
    )["list"][0];
    assert_eq!(e["subject"], "Draft");
    assert_eq!(e["keywords"], json!({"$draft": true}));
    assert_eq!(e["attachments"][0]["name"], "a.txt");
    let part = e["attachments"][0]["blobId"].as_str().unwrap();
    assert_eq!(
        download(&j, &acct, part, "text/plain").body,
        b"attached words"
    );
    assert_eq!(audit(&s, op::CREATE).len(), 1);
}
