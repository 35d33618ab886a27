//! JMAP Mail (RFC 8621) over the https listener of a real `rampart serve`, spoken with curl:
//! mail arrives over SMTP, then Mailbox, Thread, Email query/changes/set/copy, SearchSnippet and
//! Quota, their SetErrors and method errors, the state strings, and the mailbox audit (AL-3.1)
//! rows the changes leave, read from the store once the server has stopped.

use crate::common;

use common::jmap::*;
use common::{message, Server};
use rampart_store::mailbox_audit::op;
use rampart_store::{MailboxEvent, MailboxEventFilter, Store};
use serde_json::{json, Value};

const ALICE: &str = "alice@example.test";

/// Three messages: a lunch thread of two, and an invoice.
fn lunch() -> String {
    "From: Ann <ann@remote.test>\r\nTo: <alice@example.test>\r\nSubject: Lunch plans\r\n\
     Message-ID: <m1@remote.test>\r\nX-Project: Apollo 11\r\nDate: Mon, 23 Nov 2026 08:00:00 +0000\r\n\r\n\
     Shall we have lunch at noon?\r\n"
        .into()
}
fn reply() -> String {
    "From: Bo <bo@remote.test>\r\nTo: <alice@example.test>\r\nSubject: Re: Lunch plans\r\n\
     Message-ID: <m2@remote.test>\r\nIn-Reply-To: <m1@remote.test>\r\nDate: Mon, 23 Nov 2026 09:00:00 +0000\r\n\r\n\
     Yes, lunch <b>at noon</b> & fine.\r\n"
        .into()
}
fn invoice() -> String {
    format!(
        "From: <billing@remote.test>\r\nTo: <alice@example.test>\r\nSubject: Invoice 42\r\n\
         Message-ID: <m3@remote.test>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\n{}\r\n",
        "Your invoice is attached below. ".repeat(100)
    )
}

/// Delivers `bodies` to alice over SMTP, one after the other, and waits until she has them all.
fn deliver(s: &Server, bodies: &[String]) {
    let before = s.mailbox(ALICE).len();
    for b in bodies {
        let mut c = s.ehlo();
        let (code, text) = c.send_mail("sender@remote.test", &[ALICE], b);
        assert_eq!(code, 250, "{text}");
        c.send("QUIT");
        // One at a time, so receivedAt orders them as sent.
        s.wait_mailbox(
            ALICE,
            before + 1 + bodies.iter().position(|x| x == b).unwrap(),
        );
    }
}

/// The method error of a single call (the response named "error").
fn error_of(c: &Jmap<'_>, name: &str, args: Value) -> String {
    let r = c.call(json!([[name, args, "e"]]));
    assert_eq!(r[0][0], "error", "{name}: {}", r[0]);
    r[0][1]["type"].as_str().unwrap_or_default().to_owned()
}

fn mailbox_json(c: &Jmap<'_>, acc: &str, id: &str) -> Value {
    let r = c.call1("Mailbox/get", json!({"accountId": acc, "ids": [id]}));
    r["list"][0].clone()
}

fn ids_of(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Email/query's ids for a filter and sort.
fn query(c: &Jmap<'_>, acc: &str, filter: Value, sort: Value) -> Vec<String> {
    let r = c.call1(
        "Email/query",
        json!({"accountId": acc, "filter": filter, "sort": sort}),
    );
    ids_of(&r["ids"])
}

/// The received-at-ascending ids of alice's mail.
fn oldest_first(c: &Jmap<'_>, acc: &str) -> Vec<String> {
    query(
        c,
        acc,
        Value::Null,
        json!([{"property": "receivedAt", "isAscending": true}]),
    )
}

/// The mailbox audit of alice, read from the stopped server's store.
fn audit(s: &mut Server) -> Vec<MailboxEvent> {
    s.terminate();
    let store = Store::open(&s.data_dir()).unwrap();
    store
        .mailbox_events(&MailboxEventFilter {
            account: Some(ALICE.into()),
            ..Default::default()
        })
        .unwrap()
}

fn events<'a>(all: &'a [MailboxEvent], operation: &str) -> Vec<&'a MailboxEvent> {
    all.iter().filter(|e| e.operation == operation).collect()
}

#[test]
fn mailbox_get_set_changes_errors_and_al_3_1_audit() {
    let mut s = start_jmap();
    deliver(&s, &[lunch()]);
    let c = s.jmap(ALICE);
    let acc = c.account_id();
    let got = c.call1("Mailbox/get", json!({"accountId": acc}));
    let s0 = got["state"].as_str().unwrap().to_owned();
    let list = got["list"].as_array().unwrap();
    assert_eq!(list.len(), 6, "{got}");
    let inbox_id = c.role_id(&acc, "inbox");
    let inbox = mailbox_json(&c, &acc, &inbox_id);
    // RFC 8621 §2.1: the counts of what arrived over SMTP, and the caller's rights.
    assert_eq!(inbox["name"], "Inbox");
    assert_eq!(inbox["totalEmails"], 1);
    assert_eq!(inbox["unreadEmails"], 1);
    assert_eq!(inbox["totalThreads"], 1);
    assert_eq!(inbox["unreadThreads"], 1);
    assert_eq!(inbox["isSubscribed"], true);
    assert_eq!(inbox["parentId"], Value::Null);
    assert_eq!(inbox["myRights"]["mayDelete"], false);
    assert_eq!(inbox["myRights"]["mayRename"], true);
    let nf = c.call1(
        "Mailbox/get",
        json!({"accountId": acc, "ids": ["M999999", "E1"], "properties": ["name"]}),
    );
    assert_eq!(nf["notFound"], json!(["M999999", "E1"]));
    // Bob's account is not alice's: accountNotFound (RFC 8620 §3.6.2).
    let bob_acc = s.jmap("bob@example.test").account_id();
    assert_eq!(
        error_of(&c, "Mailbox/get", json!({"accountId": bob_acc})),
        "accountNotFound"
    );
    assert_eq!(
        error_of(
            &c,
            "Mailbox/get",
            json!({"accountId": acc, "properties": ["bogus"]})
        ),
        "invalidArguments"
    );

    // Create, with a child referring to its parent's creation id; and refusals naming the
    // properties at fault.
    let r = c.call1(
        "Mailbox/set",
        json!({"accountId": acc, "ifInState": s0, "create": {
            "a": {"name": "Projects"},
            "b": {"name": "Sub", "parentId": "#a", "sortOrder": 3},
            "bad": {"name": "X", "foo": 1, "totalEmails": 3},
            "empty": {"name": ""},
            "dup": {"name": "Inbox"},
        }}),
    );
    let projects = r["created"]["a"]["id"].as_str().unwrap().to_owned();
    let sub = r["created"]["b"]["id"].as_str().unwrap().to_owned();
    assert_eq!(r["created"]["a"]["totalEmails"], 0);
    assert_eq!(r["created"]["a"]["isSubscribed"], true);
    assert_eq!(
        r["notCreated"]["bad"],
        json!({"type": "invalidProperties", "properties": ["foo", "totalEmails"]})
    );
    assert_eq!(r["notCreated"]["empty"]["properties"], json!(["name"]));
    assert_eq!(r["notCreated"]["dup"]["properties"], json!(["name"]));
    let s1 = r["newState"].as_str().unwrap().to_owned();
    assert_ne!(s1, s0);
    assert_eq!(mailbox_json(&c, &acc, &sub)["parentId"], projects);
    // ifInState with a state that is gone: stateMismatch, nothing changed.
    assert_eq!(
        error_of(
            &c,
            "Mailbox/set",
            json!({"accountId": acc, "ifInState": s0, "create": {"x": {"name": "Late"}}})
        ),
        "stateMismatch"
    );
    let ch = c.call1(
        "Mailbox/changes",
        json!({"accountId": acc, "sinceState": s0}),
    );
    let mut created = ids_of(&ch["created"]);
    created.sort();
    let mut want = vec![projects.clone(), sub.clone()];
    want.sort();
    assert_eq!(created, want);
    assert_eq!(ch["newState"], s1);
    assert_eq!(ch["updatedProperties"], Value::Null);
    assert_eq!(
        error_of(
            &c,
            "Mailbox/changes",
            json!({"accountId": acc, "sinceState": "nonsense"})
        ),
        "cannotCalculateChanges"
    );

    // An update to the values it has changes no state.
    let r = c.call1(
        "Mailbox/set",
        json!({"accountId": acc, "update": {projects.clone(): {"name": "Projects"}}}),
    );
    assert!(r["updated"].get(&projects).is_some(), "{r}");
    assert_eq!(r["newState"], s1);

    // RFC 8621 §2.5: a mailbox with a child is not destroyed; the Inbox is not destroyed and
    // keeps its role.
    let r = c.call1(
        "Mailbox/set",
        json!({"accountId": acc, "destroy": [projects, inbox_id],
               "update": {inbox_id.clone(): {"role": null}}}),
    );
    assert_eq!(r["notDestroyed"][&projects]["type"], "mailboxHasChild");
    assert_eq!(r["notDestroyed"][&inbox_id]["type"], "forbidden");
    assert_eq!(r["notUpdated"][&inbox_id]["type"], "forbidden");
    assert_eq!(r["newState"], s1);

    // Rename and move to the top, then the former parent goes.
    let r = c.call1(
        "Mailbox/set",
        json!({"accountId": acc, "update": {sub.clone(): {"name": "Renamed", "parentId": null}}}),
    );
    assert!(r["updated"].get(&sub).is_some(), "{r}");
    // A rename is not a change of counts: every property may have changed.
    let ch = c.call1(
        "Mailbox/changes",
        json!({"accountId": acc, "sinceState": s1}),
    );
    assert_eq!(ch["updated"], json!([sub]));
    assert_eq!(ch["updatedProperties"], Value::Null);
    let renamed = mailbox_json(&c, &acc, &sub);
    assert_eq!(renamed["name"], "Renamed");
    assert_eq!(renamed["parentId"], Value::Null);
    let r = c.call1(
        "Mailbox/set",
        json!({"accountId": acc, "destroy": [projects], "update": {sub.clone(): {"parentId": "M999999"}}}),
    );
    assert_eq!(r["destroyed"], json!([projects]));
    assert_eq!(r["notUpdated"][&sub]["properties"], json!(["parentId"]));

    // A mailbox holding an email: mailboxHasEmail, unless onDestroyRemoveEmails.
    let email = oldest_first(&c, &acc)[0].clone();
    let r = c.call1(
        "Email/set",
        json!({"accountId": acc, "update": {email.clone(): {format!("mailboxIds/{sub}"): true}}}),
    );
    assert!(r["updated"].get(&email).is_some(), "{r}");
    assert_eq!(mailbox_json(&c, &acc, &sub)["totalEmails"], 1);
    let r = c.call1("Mailbox/set", json!({"accountId": acc, "destroy": [sub]}));
    assert_eq!(r["notDestroyed"][&sub]["type"], "mailboxHasEmail");
    let r = c.call1(
        "Mailbox/set",
        json!({"accountId": acc, "destroy": [sub], "onDestroyRemoveEmails": true}),
    );
    assert_eq!(r["destroyed"], json!([sub]));
    // The email was in the Inbox too: it stays there.
    assert_eq!(mailbox_json(&c, &acc, &inbox_id)["totalEmails"], 1);
    // An email only in the mailbox destroyed with onDestroyRemoveEmails is destroyed.
    let r = c.call1(
        "Mailbox/set",
        json!({"accountId": acc, "create": {"t": {"name": "Tmp"}}}),
    );
    let tmp = r["created"]["t"]["id"].as_str().unwrap().to_owned();
    c.call1(
        "Email/set",
        json!({"accountId": acc, "update": {email.clone(): {"mailboxIds": {tmp.clone(): true}}}}),
    );
    let r = c.call1(
        "Mailbox/set",
        json!({"accountId": acc, "destroy": [tmp], "onDestroyRemoveEmails": true}),
    );
    assert_eq!(r["destroyed"], json!([tmp]));
    assert!(oldest_first(&c, &acc).is_empty());

    // AL-3.1: mailbox create, rename (with the move), delete; the copy into Sub; each with
    // the service, the actor, the client's address and user agent.
    let all = audit(&mut s);
    let creates = events(&all, op::MAILBOX_CREATE);
    assert_eq!(creates.len(), 3, "{all:?}");
    assert!(creates
        .iter()
        .any(|e| e.detail.contains(&projects) && e.detail.contains("Projects")));
    let renames = events(&all, op::MAILBOX_RENAME);
    assert_eq!(renames.len(), 1, "{all:?}");
    assert!(renames[0].detail.contains("\"Sub\"") && renames[0].detail.contains("\"Renamed\""));
    assert!(
        renames[0].detail.contains("top level"),
        "{}",
        renames[0].detail
    );
    let deletes = events(&all, op::MAILBOX_DELETE);
    assert_eq!(deletes.len(), 3, "{all:?}");
    assert!(deletes
        .iter()
        .any(|e| e.detail.contains(&sub) && e.detail.contains("holding 1 emails")));
    let moves = events(&all, op::MOVE);
    assert_eq!(moves.len(), 1, "{all:?}");
    let hard = events(&all, op::HARD_DELETE);
    assert_eq!(hard.len(), 1, "{all:?}");
    assert_eq!(
        hard[0].detail,
        format!("1 emails destroyed with mailbox {tmp}: {email}")
    );
    let copies = events(&all, op::COPY);
    assert_eq!(copies.len(), 1, "{all:?}");
    assert!(copies[0].detail.contains(&email), "{}", copies[0].detail);
    for e in &all {
        assert_eq!(e.service, "jmap");
        assert_eq!(e.actor, ALICE);
        assert_eq!(e.user_agent.as_deref(), Some("rampart-tests/1"));
        assert_eq!(e.client.as_deref(), Some("127.0.0.1"));
    }
}

#[test]
fn mailbox_query_filters_sorts_trees_and_query_changes() {
    let s = start_jmap();
    let c = s.jmap(ALICE);
    let acc = c.account_id();
    let r = c.call1(
        "Mailbox/set",
        json!({"accountId": acc, "create": {
            "p1": {"name": "Zed", "sortOrder": 1},
            "p2": {"name": "Alpha", "parentId": "#p1", "isSubscribed": false},
        }}),
    );
    let zed = r["created"]["p1"]["id"].as_str().unwrap().to_owned();
    let alpha = r["created"]["p2"]["id"].as_str().unwrap().to_owned();
    let q = |args: Value| {
        let mut a = args;
        a["accountId"] = json!(acc);
        c.call1("Mailbox/query", a)
    };
    let by_name = json!([{"property": "name"}]);
    let mine = json!({"hasAnyRole": false});
    assert_eq!(
        ids_of(&q(json!({"filter": mine, "sort": by_name}))["ids"]),
        [alpha.clone(), zed.clone()]
    );
    // sortAsTree: a parent before its children, whatever the comparators say.
    assert_eq!(
        ids_of(&q(json!({"filter": mine, "sort": by_name, "sortAsTree": true}))["ids"]),
        [zed.clone(), alpha.clone()]
    );
    // filterAsTree: Alpha matches, its parent does not, so Alpha is left out.
    let alpha_only = json!({"name": "ALP"});
    assert_eq!(
        ids_of(&q(json!({"filter": alpha_only}))["ids"]),
        vec![alpha.clone()]
    );
    assert!(ids_of(&q(json!({"filter": alpha_only, "filterAsTree": true}))["ids"]).is_empty());
    assert_eq!(
        ids_of(&q(json!({"filter": {"parentId": zed}}))["ids"]),
        vec![alpha.clone()]
    );
    assert_eq!(
        ids_of(&q(json!({"filter": {"isSubscribed": false}}))["ids"]),
        vec![alpha.clone()]
    );
    let inbox = ids_of(&q(json!({"filter": {"role": "inbox"}}))["ids"]);
    assert_eq!(inbox.len(), 1);
    let not_inbox = q(
        json!({"filter": {"operator": "NOT", "conditions": [{"role": "inbox"}]},
                           "calculateTotal": true}),
    );
    assert_eq!(not_inbox["total"], 7);
    let window = q(
        json!({"sort": [{"property": "sortOrder"}, {"property": "name"}],
                          "position": 1, "limit": 2}),
    );
    assert_eq!(window["position"], 1);
    assert_eq!(ids_of(&window["ids"]).len(), 2);
    assert_eq!(
        error_of(
            &c,
            "Mailbox/query",
            json!({"accountId": acc, "filter": {"foo": 1}})
        ),
        "unsupportedFilter"
    );
    assert_eq!(
        error_of(
            &c,
            "Mailbox/query",
            json!({"accountId": acc, "sort": [{"property": "totalEmails"}]})
        ),
        "unsupportedSort"
    );
    assert_eq!(
        error_of(
            &c,
            "Mailbox/query",
            json!({"accountId": acc, "anchor": "M999999"})
        ),
        "anchorNotFound"
    );

    // queryChanges: a new mailbox is added at its index; nothing else moved.
    let q0 = q(json!({"filter": mine, "sort": by_name}))["queryState"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = c.call1(
        "Mailbox/set",
        json!({"accountId": acc, "create": {"n": {"name": "Middle"}}}),
    );
    let middle = r["created"]["n"]["id"].as_str().unwrap().to_owned();
    let qc = c.call1(
        "Mailbox/queryChanges",
        json!({"accountId": acc, "filter": mine, "sort": by_name, "sinceQueryState": q0,
               "calculateTotal": true}),
    );
    assert_eq!(qc["added"], json!([{"id": middle, "index": 1}]));
    assert_eq!(qc["removed"], json!([]));
    assert_eq!(qc["total"], 3);
    assert_ne!(qc["newQueryState"], q0);
    assert_eq!(
        error_of(
            &c,
            "Mailbox/queryChanges",
            json!({"accountId": acc, "sortAsTree": true, "sinceQueryState": q0})
        ),
        "cannotCalculateChanges"
    );
}

#[test]
fn email_query_filters_sorts_window_and_query_changes() {
    let s = start_jmap();
    deliver(&s, &[lunch(), reply(), invoice()]);
    let c = s.jmap(ALICE);
    let acc = c.account_id();
    let all = oldest_first(&c, &acc);
    assert_eq!(all.len(), 3);
    let (m1, m2, m3) = (all[0].clone(), all[1].clone(), all[2].clone());
    let inbox = c.role_id(&acc, "inbox");
    let r = c.call1(
        "Email/query",
        json!({"accountId": acc, "calculateTotal": true}),
    );
    // Default sort: newest first.
    assert_eq!(ids_of(&r["ids"]), [m3.clone(), m2.clone(), m1.clone()]);
    assert_eq!(r["total"], 3);
    assert_eq!(r["canCalculateChanges"], true);
    assert_eq!(r["collapseThreads"], false);
    let q = |f: Value| {
        let mut v = query(
            &c,
            &acc,
            f,
            json!([{"property": "receivedAt", "isAscending": true}]),
        );
        v.sort();
        v
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        q(json!({"text": "lunch"})),
        sorted(vec![m1.clone(), m2.clone()])
    );
    assert_eq!(q(json!({"from": "ann"})), vec![m1.clone()]);
    assert_eq!(q(json!({"subject": "invoice"})), vec![m3.clone()]);
    assert_eq!(q(json!({"body": "attached"})), vec![m3.clone()]);
    // RFC 8621 §4.4.1 header: by name, and by name and text.
    assert_eq!(
        q(json!({"header": ["X-Project", "apollo"]})),
        vec![m1.clone()]
    );
    assert_eq!(q(json!({"header": ["in-reply-to"]})), vec![m2.clone()]);
    assert!(q(json!({"header": ["X-Project", "gemini"]})).is_empty());
    assert_eq!(q(json!({"inMailbox": inbox})).len(), 3);
    assert!(q(json!({"inMailboxOtherThan": [inbox]})).is_empty());
    assert!(q(json!({"before": "2000-01-01T00:00:00Z"})).is_empty());
    assert_eq!(q(json!({"after": "2000-01-01T00:00:00Z"})).len(), 3);
    assert_eq!(q(json!({"minSize": 2500})), vec![m3.clone()]);
    assert!(q(json!({"hasKeyword": "$seen"})).is_empty());
    assert_eq!(q(json!({"notKeyword": "$seen"})).len(), 3);
    assert_eq!(q(json!({"hasAttachment": false})).len(), 3);
    assert_eq!(
        q(json!({"operator": "NOT", "conditions": [{"text": "lunch"}]})),
        vec![m3.clone()]
    );
    assert_eq!(
        q(json!({"operator": "OR", "conditions": [{"from": "ann"}, {"from": "billing"}]})),
        sorted(vec![m1.clone(), m3.clone()])
    );
    // Sorts of §4.4.2.
    let subject_sort = query(&c, &acc, Value::Null, json!([{"property": "subject"}]));
    assert_eq!(subject_sort[0], m3, "Invoice before Lunch");
    let size_sort = query(
        &c,
        &acc,
        Value::Null,
        json!([{"property": "size", "isAscending": false}]),
    );
    assert_eq!(size_sort[0], m3);
    let from_sort = query(&c, &acc, Value::Null, json!([{"property": "from"}]));
    assert_eq!(from_sort[0], m1, "Ann first");
    let sent = query(&c, &acc, Value::Null, json!([{"property": "sentAt"}]));
    assert_eq!(sent, [m1.clone(), m2.clone(), m3.clone()]);
    // The window: position, negative position, anchor with offset, limit.
    let w = |extra: Value| {
        let mut a =
            json!({"accountId": acc, "sort": [{"property": "receivedAt", "isAscending": true}]});
        for (k, v) in extra.as_object().unwrap() {
            a[k] = v.clone();
        }
        c.call1("Email/query", a)
    };
    let r = w(json!({"position": 1, "limit": 1}));
    assert_eq!(
        (ids_of(&r["ids"]), r["position"].clone()),
        (vec![m2.clone()], json!(1))
    );
    assert_eq!(ids_of(&w(json!({"position": -1}))["ids"]), vec![m3.clone()]);
    let r = w(json!({"anchor": m3, "anchorOffset": -1, "limit": 5}));
    assert_eq!(
        (ids_of(&r["ids"]), r["position"].clone()),
        (vec![m2.clone(), m3.clone()], json!(1))
    );
    let r = w(json!({"limit": 5000}));
    assert_eq!(r["limit"], 1000, "the server's cap is reported");
    // collapseThreads: one email per thread.
    let r = w(json!({"collapseThreads": true}));
    assert_eq!(ids_of(&r["ids"]), [m1.clone(), m3.clone()]);
    assert_eq!(r["canCalculateChanges"], false);
    // Method errors.
    for (args, want) in [
        (json!({"anchor": "E999999"}), "anchorNotFound"),
        (json!({"filter": {"foo": "x"}}), "unsupportedFilter"),
        (json!({"sort": [{"property": "bogus"}]}), "unsupportedSort"),
        (
            json!({"sort": [{"property": "hasKeyword"}]}),
            "invalidArguments",
        ),
        (
            json!({"filter": {"before": "yesterday"}}),
            "invalidArguments",
        ),
        (json!({"filter": {"header": []}}), "invalidArguments"),
        (json!({"limit": -1}), "invalidArguments"),
        (json!({"collapseThreads": "yes"}), "invalidArguments"),
    ] {
        let mut a = args.clone();
        a["accountId"] = json!(acc);
        assert_eq!(error_of(&c, "Email/query", a), want, "{args}");
    }

    // queryChanges: an email whose keywords changed is removed and added back at its index.
    let asc = json!([{"property": "receivedAt", "isAscending": true}]);
    let q0 = w(json!({}))["queryState"].as_str().unwrap().to_owned();
    let r = c.call1(
        "Email/set",
        json!({"accountId": acc, "update": {m3.clone(): {"keywords/$seen": true}}}),
    );
    assert!(r["updated"].get(&m3).is_some(), "{r}");
    let qc = c.call1(
        "Email/queryChanges",
        json!({"accountId": acc, "sort": asc, "sinceQueryState": q0, "calculateTotal": true}),
    );
    assert_eq!(qc["removed"], json!([m3]));
    assert_eq!(qc["added"], json!([{"id": m3, "index": 2}]));
    assert_eq!(qc["total"], 3);
    let q1 = qc["newQueryState"].as_str().unwrap().to_owned();
    assert_ne!(q1, q0);
    // Nothing changed since q1: nothing to report, the same state.
    let qc = c.call1(
        "Email/queryChanges",
        json!({"accountId": acc, "sort": asc, "sinceQueryState": q1}),
    );
    assert_eq!(
        (qc["removed"].clone(), qc["added"].clone()),
        (json!([]), json!([]))
    );
    assert_eq!(qc["newQueryState"], q1);
    // A new email, sorted last: with upToId at the first email (immutable sort and filter),
    // an addition after it is left out; without, it is there.
    deliver(&s, &[message("m4", "lunch again")]);
    let m4 = oldest_first(&c, &acc)[3].clone();
    let qc = c.call1(
        "Email/queryChanges",
        json!({"accountId": acc, "sort": asc, "sinceQueryState": q1, "filter": {"text": "lunch"}}),
    );
    assert_eq!(qc["added"], json!([{"id": m4, "index": 2}]));
    let qc = c.call1(
        "Email/queryChanges",
        json!({"accountId": acc, "sort": asc, "sinceQueryState": q1, "filter": {"text": "lunch"},
               "upToId": m1}),
    );
    assert_eq!(qc["added"], json!([]));
    for (args, want) in [
        (
            json!({"sinceQueryState": q0, "collapseThreads": true}),
            "cannotCalculateChanges",
        ),
        (
            json!({"sinceQueryState": q0, "filter": {"allInThreadHaveKeyword": "$seen"}}),
            "cannotCalculateChanges",
        ),
        (
            json!({"sinceQueryState": "bogus"}),
            "cannotCalculateChanges",
        ),
        (
            json!({"sinceQueryState": q0, "maxChanges": 1}),
            "tooManyChanges",
        ),
        (
            json!({"sinceQueryState": q0, "filter": {"foo": 1}}),
            "unsupportedFilter",
        ),
        (json!({}), "invalidArguments"),
    ] {
        let mut a = args.clone();
        a["accountId"] = json!(acc);
        assert_eq!(error_of(&c, "Email/queryChanges", a), want, "{args}");
    }
}

#[test]
fn email_set_threads_changes_errors_and_al_3_1_audit() {
    let mut s = start_jmap();
    deliver(&s, &[lunch(), reply(), invoice()]);
    let c = s.jmap(ALICE);
    let acc = c.account_id();
    let all = oldest_first(&c, &acc);
    let (m1, m2, m3) = (all[0].clone(), all[1].clone(), all[2].clone());
    let inbox = c.role_id(&acc, "inbox");
    let archive = c.role_id(&acc, "archive");
    let trash = c.role_id(&acc, "trash");

    // Threads: the lunch pair is one thread, oldest first; the invoice another.
    let t = c.call1(
        "Thread/changes",
        json!({"accountId": acc, "sinceState": "0"}),
    );
    let threads = ids_of(&t["created"]);
    assert_eq!(threads.len(), 2, "{t}");
    let tg = c.call1("Thread/get", json!({"accountId": acc, "ids": threads}));
    let mut lists: Vec<Vec<String>> = tg["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| ids_of(&t["emailIds"]))
        .collect();
    lists.sort_by_key(|l| l.len());
    assert_eq!(lists, [vec![m3.clone()], vec![m1.clone(), m2.clone()]]);
    let t0 = tg["state"].as_str().unwrap().to_owned();
    assert_eq!(
        c.call1("Thread/get", json!({"accountId": acc, "ids": ["T999999"]}))["notFound"],
        json!(["T999999"])
    );

    let e0 = c.call1(
        "Email/changes",
        json!({"accountId": acc, "sinceState": "0"}),
    );
    assert_eq!(ids_of(&e0["created"]).len(), 3);
    let s0 = e0["newState"].as_str().unwrap().to_owned();
    let mbox0 = c.call1("Mailbox/get", json!({"accountId": acc, "ids": []}))["state"].clone();

    // Keywords by patch path and whole; unread counts follow.
    let r = c.call1(
        "Email/set",
        json!({"accountId": acc, "ifInState": s0, "update": {
            m1.clone(): {"keywords/$seen": true, "keywords/$Flagged": true},
            m2.clone(): {"keywords": {"$seen": true, "$answered": true}},
        }}),
    );
    assert!(
        r["updated"].get(&m1).is_some() && r["updated"].get(&m2).is_some(),
        "{r}"
    );
    let s1 = r["newState"].as_str().unwrap().to_owned();
    assert_ne!(s1, s0);
    assert_eq!(mailbox_json(&c, &acc, &inbox)["unreadEmails"], 1);
    assert_eq!(mailbox_json(&c, &acc, &inbox)["unreadThreads"], 1);
    assert_eq!(
        query(&c, &acc, json!({"hasKeyword": "$flagged"}), Value::Null),
        vec![m1.clone()]
    );
    // The same keywords again: no change, no new state.
    let r = c.call1(
        "Email/set",
        json!({"accountId": acc, "update": {m1.clone(): {"keywords/$seen": true}}}),
    );
    assert_eq!(r["newState"], s1);
    let r = c.call1(
        "Email/set",
        json!({"accountId": acc, "update": {m1.clone(): {"keywords/$flagged": null}}}),
    );
    assert!(r["updated"].get(&m1).is_some(), "{r}");
    assert!(query(&c, &acc, json!({"hasKeyword": "$flagged"}), Value::Null).is_empty());

    // mailboxIds: a move by patch, a move into Trash (a soft delete), then a destroy.
    let r = c.call1(
        "Email/set",
        json!({"accountId": acc, "update": {
            m2.clone(): {format!("mailboxIds/{archive}"): true, format!("mailboxIds/{inbox}"): null},
            m3.clone(): {"mailboxIds": {trash.clone(): true}},
        }}),
    );
    assert_eq!(r["updated"].as_object().map(|o| o.len()), Some(2), "{r}");
    assert_eq!(
        query(&c, &acc, json!({"inMailbox": archive}), Value::Null),
        vec![m2.clone()]
    );
    assert_eq!(
        query(&c, &acc, json!({"inMailbox": trash}), Value::Null),
        vec![m3.clone()]
    );
    assert_eq!(mailbox_json(&c, &acc, &inbox)["totalEmails"], 1);
    let r = c.call1(
        "Email/set",
        json!({"accountId": acc, "destroy": [m3, "E999999", "M1"]}),
    );
    assert_eq!(r["destroyed"], json!([m3]));
    assert_eq!(r["notDestroyed"]["E999999"]["type"], "notFound");
    assert_eq!(r["notDestroyed"]["M1"]["type"], "notFound");

    // SetErrors.
    let r = c.call1(
        "Email/set",
        json!({"accountId": acc,
        // `size` is set by the server: a create that names it is refused.
        "create": {"new": {"mailboxIds": {inbox.clone(): true}, "size": 10}},
        "update": {
            m1.clone(): {"subject": "changed"},
            m2.clone(): {"keywords/$seen": false},
            "E999999": {"keywords/$seen": true},
        }}),
    );
    assert_eq!(r["notCreated"]["new"]["type"], "invalidProperties");
    assert_eq!(r["notCreated"]["new"]["properties"], json!(["size"]));
    assert_eq!(
        r["notUpdated"][&m1],
        json!({"type": "invalidProperties", "properties": ["subject"]})
    );
    assert_eq!(r["notUpdated"][&m2]["properties"], json!(["keywords"]));
    assert_eq!(r["notUpdated"]["E999999"]["type"], "notFound");
    // A malformed keyword refuses the whole update: the move in it does not happen either.
    let r = c.call1(
        "Email/set",
        json!({"accountId": acc, "update": {m1.clone(): {"keywords/a(b": true,
            format!("mailboxIds/{archive}"): true}}}),
    );
    assert_eq!(r["notUpdated"][&m1]["properties"], json!(["keywords"]));
    assert!(query(&c, &acc, json!({"inMailbox": archive}), Value::Null).len() == 1);
    let r = c.call1(
        "Email/set",
        json!({"accountId": acc, "update": {
            m1.clone(): {"mailboxIds": {}},
            m2.clone(): {"mailboxIds/M999999": true},
        }}),
    );
    assert_eq!(r["notUpdated"][&m1]["properties"], json!(["mailboxIds"]));
    assert_eq!(r["notUpdated"][&m2]["properties"], json!(["mailboxIds"]));
    let r = c.call1(
        "Email/set",
        json!({"accountId": acc, "update": {m1.clone(): {"keywords/a/b": true}}}),
    );
    assert_eq!(r["notUpdated"][&m1]["type"], "invalidPatch");

    // Method errors: stateMismatch, requestTooLarge (maxObjectsInSet), accountNotFound.
    assert_eq!(
        error_of(
            &c,
            "Email/set",
            json!({"accountId": acc, "ifInState": s0, "destroy": [m1]})
        ),
        "stateMismatch"
    );
    let many: Vec<String> = (0..501).map(|i| format!("E{}", i + 1)).collect();
    assert_eq!(
        error_of(&c, "Email/set", json!({"accountId": acc, "destroy": many})),
        "requestTooLarge"
    );
    let bob_acc = s.jmap("bob@example.test").account_id();
    assert_eq!(
        error_of(
            &c,
            "Email/set",
            json!({"accountId": bob_acc, "destroy": [m1]})
        ),
        "accountNotFound"
    );
    assert_eq!(
        query(&c, &acc, Value::Null, Value::Null).len(),
        2,
        "nothing destroyed"
    );

    // The change logs say what happened since the first states.
    let ch = c.call1("Email/changes", json!({"accountId": acc, "sinceState": s0}));
    let mut updated = ids_of(&ch["updated"]);
    updated.sort();
    assert_eq!(updated, {
        let mut v = vec![m1.clone(), m2.clone()];
        v.sort();
        v
    });
    assert_eq!(ch["destroyed"], json!([m3]));
    let paged = c.call1(
        "Email/changes",
        json!({"accountId": acc, "sinceState": s0, "maxChanges": 1}),
    );
    assert_eq!(paged["hasMoreChanges"], true);
    let tc = c.call1(
        "Thread/changes",
        json!({"accountId": acc, "sinceState": t0}),
    );
    assert_eq!(ids_of(&tc["destroyed"]).len(), 1, "{tc}");
    let mc = c.call1(
        "Mailbox/changes",
        json!({"accountId": acc, "sinceState": mbox0}),
    );
    assert!(ids_of(&mc["updated"]).contains(&trash), "{mc}");
    // Only counts changed: RFC 8621 §2.2 updatedProperties says so.
    assert_eq!(
        mc["updatedProperties"],
        json!([
            "totalEmails",
            "unreadEmails",
            "totalThreads",
            "unreadThreads"
        ])
    );

    // AL-3.1: one event per kind of change and call, naming the emails and how many.
    let all = audit(&mut s);
    let kw = events(&all, op::KEYWORDS);
    assert_eq!(kw.len(), 2, "{all:?}");
    assert!(kw[0].detail.starts_with("2 emails"), "{}", kw[0].detail);
    assert!(
        kw[0].detail.contains(&format!("{m1} +$flagged +$seen")),
        "{}",
        kw[0].detail
    );
    assert!(kw[1].detail.contains("-$flagged"), "{}", kw[1].detail);
    let moves = events(&all, op::MOVE);
    assert_eq!(moves.len(), 1, "{all:?}");
    assert!(
        moves[0]
            .detail
            .contains(&format!("{m2} {inbox}->{archive}")),
        "{}",
        moves[0].detail
    );
    let soft = events(&all, op::SOFT_DELETE);
    assert_eq!(soft.len(), 1, "{all:?}");
    assert!(soft[0].detail.contains(&m3) && soft[0].detail.contains(&trash));
    let hard = events(&all, op::HARD_DELETE);
    assert_eq!(hard.len(), 1, "{all:?}");
    assert_eq!(hard[0].detail, format!("1 emails destroyed: {m3}"));
}

#[test]
fn copy_errors_snippets_and_quota() {
    let s = start_jmap();
    deliver(&s, &[lunch(), reply()]);
    let c = s.jmap(ALICE);
    let acc = c.account_id();
    let bob_acc = s.jmap("bob@example.test").account_id();
    let all = oldest_first(&c, &acc);
    let (m1, m2) = (all[0].clone(), all[1].clone());
    let inbox = c.role_id(&acc, "inbox");

    // Email/copy: a source account the user does not reach, a target they do not reach, and
    // the same account twice.
    let create = json!({"c": {"id": m1, "mailboxIds": {inbox.clone(): true}}});
    assert_eq!(
        error_of(
            &c,
            "Email/copy",
            json!({"fromAccountId": bob_acc, "accountId": acc, "create": create})
        ),
        "fromAccountNotFound"
    );
    assert_eq!(
        error_of(
            &c,
            "Email/copy",
            json!({"fromAccountId": acc, "accountId": bob_acc, "create": create})
        ),
        "accountNotFound"
    );
    assert_eq!(
        error_of(
            &c,
            "Email/copy",
            json!({"fromAccountId": acc, "accountId": acc, "create": create})
        ),
        "invalidArguments"
    );

    // SearchSnippet/get: the words marked, the rest escaped.
    let r = c.call1(
        "SearchSnippet/get",
        json!({"accountId": acc, "filter": {"text": "lunch"}, "emailIds": [m1, m2, "E999999"]}),
    );
    let list = r["list"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let one = list.iter().find(|x| x["emailId"] == m1).unwrap();
    // The gateway tags mail from outside in its subject.
    assert_eq!(one["subject"], "[External] <mark>Lunch</mark> plans");
    assert_eq!(one["preview"], "Shall we have <mark>lunch</mark> at noon?");
    let two = list.iter().find(|x| x["emailId"] == m2).unwrap();
    assert_eq!(two["subject"], "[External] Re: <mark>Lunch</mark> plans");
    assert_eq!(
        two["preview"],
        "Yes, <mark>lunch</mark> &lt;b&gt;at noon&lt;/b&gt; &amp; fine."
    );
    assert_eq!(r["notFound"], json!(["E999999"]));
    let r = c.call1(
        "SearchSnippet/get",
        json!({"accountId": acc, "filter": {"subject": "plans"}, "emailIds": [m1]}),
    );
    assert_eq!(
        r["list"][0]["subject"],
        "[External] Lunch <mark>plans</mark>"
    );
    assert_eq!(r["list"][0]["preview"], Value::Null);
    assert_eq!(
        error_of(&c, "SearchSnippet/get", json!({"accountId": acc})),
        "invalidArguments"
    );
    assert_eq!(
        error_of(
            &c,
            "SearchSnippet/get",
            json!({"accountId": acc, "filter": {"foo": 1}, "emailIds": [m1]})
        ),
        "unsupportedFilter"
    );

    // Quota/get (RFC 9425): the octets of the account's mail; it changes with the mail.
    let q = c.call1("Quota/get", json!({"accountId": acc, "ids": null}));
    let quota = &q["list"][0];
    assert_eq!(quota["resourceType"], "octets");
    assert_eq!(quota["scope"], "account");
    assert_eq!(quota["types"], json!(["Mail"]));
    let used = quota["used"].as_u64().unwrap();
    assert!(used > 200, "{quota}");
    assert!(quota["hardLimit"].as_u64().unwrap() >= used);
    let q0 = q["state"].as_str().unwrap().to_owned();
    let same = c.call1("Quota/changes", json!({"accountId": acc, "sinceState": q0}));
    assert_eq!(same["updated"], json!([]));
    c.call1("Email/set", json!({"accountId": acc, "destroy": [m2]}));
    let q1 = c.call1("Quota/get", json!({"accountId": acc}));
    assert!(q1["list"][0]["used"].as_u64().unwrap() < used);
    let ch = c.call1("Quota/changes", json!({"accountId": acc, "sinceState": q0}));
    assert_eq!(ch["updated"], json!([quota["id"]]));
    assert_eq!(ch["newState"], q1["state"]);
    assert_eq!(
        error_of(
            &c,
            "Quota/changes",
            json!({"accountId": acc, "sinceState": "x"})
        ),
        "cannotCalculateChanges"
    );
}
