//! Intrusion prevention's bans and allow-list (NC-2.4.2): list, ban an address or network,
//! lift a ban, put a network on the allow-list or take it off, as `rampart ban allow` does (the
//! same functions, crates/rampart/src/ban.rs). Each change is the administrator's, needs the
//! CSRF token, and (but a ban) a confirmation; the trace records it and names who did it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::Extension;
use rampart_config::IpNet;
use rampart_store::admins::AdminRole;
use rampart_store::NewBan;

use super::{client_of, confirm_page, escape, page, see_other, when, Console, Form};

type St = State<Arc<Console>>;

/// `GET /bans`.
pub(super) async fn list(
    State(c): St,
    headers: HeaderMap,
    ext: Option<Extension<SocketAddr>>,
) -> Response {
    let Some(who) = c.signed(&headers, client_of(ext)).await else {
        return see_other("/login");
    };
    // Through the Bans trait: on PostgreSQL the bans every node enforces.
    let now = rampart_store::now_micros();
    let (bans, allowed) = match (c.store.list_active(now).await, c.store.allowed().await) {
        (Ok(bans), Ok(allowed)) => (bans, allowed),
        (Err(e), _) | (_, Err(e)) => return super::unreadable(Some(&who), "Bans", &e),
    };
    let csrf = who.csrf();
    let rows: String = bans
        .iter()
        .map(|b| {
            format!(
                "<tr><td class=\"network\">{net}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td><form method=\"post\" class=\"inline\" action=\"/bans/remove\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                 <input type=\"hidden\" name=\"network\" value=\"{net}\"><button class=\"unban\">Unban</button></form></td></tr>",
                escape(&b.detector),
                escape(&b.reason),
                when(b.created),
                b.expires.map(when).unwrap_or_else(|| "permanent".into()),
                net = escape(&b.network),
            )
        })
        .collect();
    // The configuration's entries are changed in the file; the stored ones here.
    let mut allow: String = c
        .config
        .ids
        .allow
        .iter()
        .map(|n| {
            format!(
                "<tr><td class=\"network\">{}</td><td>in the configuration ([ids] allow)</td><td></td><td></td></tr>",
                escape(&n.to_string())
            )
        })
        .collect();
    allow.extend(allowed.iter().map(|a| {
        format!(
            "<tr><td class=\"network\">{net}</td><td>{}</td><td>{}</td>\
             <td><form method=\"post\" class=\"inline\" action=\"/bans/disallow\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <input type=\"hidden\" name=\"network\" value=\"{net}\"><button class=\"disallow\">Remove</button></form></td></tr>",
            escape(&a.note),
            when(a.created),
            net = escape(&a.network),
        )
    }));
    let body = format!(
        "<form method=\"post\" action=\"/bans/add\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input name=\"network\" id=\"ban-network\" placeholder=\"address or network\" required> \
         <input name=\"reason\" id=\"ban-reason\" placeholder=\"reason\"> <button id=\"ban\">Ban</button></form>\
         <table id=\"bans\"><tr><th>Network</th><th>Detector</th><th>Reason</th><th>Since</th><th>Until</th><th></th></tr>{rows}</table>\
         <h2>Never banned (allow-list)</h2>\
         <form method=\"post\" action=\"/bans/allow\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input name=\"network\" id=\"allow-network\" placeholder=\"address or network\" required> \
         <input name=\"note\" id=\"allow-note\" placeholder=\"why\"> <button id=\"allow-add\">Allow</button></form>\
         <table id=\"allow\"><tr><th>Network</th><th>Why</th><th>Since</th><th></th></tr>{allow}</table>"
    );
    page(Some(&who), "Bans", &body)
}

/// `POST /bans/{add|remove}` (form: csrf, network, reason; confirm for remove).
pub(super) async fn act(
    State(c): St,
    Path(action): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    ext: Option<Extension<SocketAddr>>,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let what = match action.as_str() {
        "add" => "ban an address",
        "remove" => "lift a ban",
        "allow" => "change the allow-list",
        "disallow" => "change the allow-list",
        _ => return super::forbidden("No such action."),
    };
    let who = match c
        .authorise_post(
            &headers,
            &uri,
            client_of(ext),
            &form,
            AdminRole::Administrator,
            what,
        )
        .await
    {
        Ok(w) => w,
        Err(r) => return r,
    };
    let Some(net) = form
        .get("network")
        .and_then(|n| rampart_ids::net::parse_network(n.trim()).ok())
    else {
        return super::forbidden("That is not an address or network.");
    };
    let net_s = net.to_string();
    let store = c.store.clone();
    let now = rampart_store::now_micros();
    let by = who.admin.name.clone();
    if action == "add" {
        let reason = form
            .get("reason")
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .unwrap_or("banned by the administrator")
            .to_owned();
        let allow: Vec<IpNet> = c.config.ids.allow.clone();
        let length = rampart_ids::ladder(&c.config.ids);
        let n = net_s.clone();
        let done = async {
            let stored = store.allowed().await?;
            let allowed = allow
                .iter()
                .copied()
                .chain(
                    stored
                        .iter()
                        .filter_map(|a| a.network.parse::<IpNet>().ok()),
                )
                .any(|a| a.contains(&net) || net.contains(&a));
            if allowed {
                return Ok(false);
            }
            store
                .ban_network(
                    NewBan {
                        network: n,
                        reason,
                        detector: "admin".into(),
                        evidence: format!("console, by {by}"),
                    },
                    length,
                    now,
                )
                .await
                .map(|_| true)
        }
        .await;
        return match done {
            Ok(true) => {
                c.record(&who, "console", format!("banned {net_s}"), None)
                    .await;
                see_other("/bans")
            }
            Ok(false) => super::forbidden(&format!(
                "{net_s} is on the allow-list; it cannot be banned."
            )),
            _ => super::forbidden("The ban could not be stored."),
        };
    }
    if action == "allow" || action == "disallow" {
        return allow_list(&c, &who, &action, net, &form).await;
    }
    if form.get("confirm") != Some("yes") {
        return confirm_page(
            &who,
            "/bans/remove",
            &format!("Lift the ban of {net_s}?"),
            &[("network", &net_s)],
        );
    }
    let n = net_s.clone();
    let by = format!("{} (console)", who.admin.name);
    let done = store.unban_network(&n, &by, now).await;
    match done {
        Ok(true) => {
            c.record(&who, "console", format!("unbanned {net_s}"), None)
                .await;
            see_other("/bans")
        }
        Ok(false) => super::forbidden(&format!("{net_s} is not banned.")),
        _ => super::forbidden("The ban could not be lifted."),
    }
}

/// `allow` and `disallow`, after the confirmation: `rampart ban allow [--remove]`'s functions.
async fn allow_list(
    c: &Console,
    who: &super::Signed,
    action: &str,
    net: IpNet,
    form: &Form,
) -> Response {
    let net_s = net.to_string();
    let note = form
        .get("note")
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .unwrap_or("allowed by the administrator")
        .to_owned();
    if form.get("confirm") != Some("yes") {
        let question = if action == "allow" {
            format!("Never ban {net_s} (bans inside it are lifted)?")
        } else {
            format!("Take {net_s} off the allow-list, so that it can be banned again?")
        };
        return confirm_page(
            who,
            &format!("/bans/{action}"),
            &question,
            &[("network", &net_s), ("note", &note)],
        );
    }
    let store = c.store.clone();
    let now = rampart_store::now_micros();
    let note_by = format!("{note} (by {}, console)", who.admin.name);
    let adding = action == "allow";
    // `rampart ban allow [--remove]`'s rule, through the Bans trait (either store).
    let done = async {
        if adding {
            let inside = crate::ban::bans_touching(store.list_active(now).await?, &net);
            store
                .allow(&net_s, &note_by, inside, now)
                .await
                .map(|n| (true, n))
        } else {
            store.disallow(&net_s).await.map(|d| (d, 0))
        }
    }
    .await;
    match done {
        Ok((true, lifted)) => {
            let what = if adding {
                format!("allowed {net_s} ({lifted} ban(s) lifted)")
            } else {
                format!("removed {net_s} from the allow-list")
            };
            c.record(who, "console", what, None).await;
            see_other("/bans")
        }
        Ok((false, _)) => super::forbidden(&format!(
            "{net_s} is not on the stored allow-list (entries of the configuration are changed in its file)."
        )),
        _ => super::forbidden("The allow-list could not be changed."),
    }
}
