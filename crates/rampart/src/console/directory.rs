//! The directory: users (their state, send-as grants and API tokens), domains and aliases.
//! Every role reads these pages; only an administrator changes them. The changes are the
//! store's own functions, the ones `rampart user|domain|alias ...` call, and a new password
//! meets the same policy (`password_policy`, NIST SP 800-63B).
//!
//! Nothing secret is ever on a page: no password hash, no token (a token is stored only as its
//! hash; its id, name and scopes are shown). A new password is sent in a form and never shown
//! back. Deleting a user, removing a domain or an alias and revoking a token ask for
//! confirmation first. Every change is a trace event naming the administrator (AL-3.1); a token
//! revoked is also in the user's mailbox audit, as one revoked with the CLI is.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::Extension;
use rampart_store::admins::AdminRole;
use rampart_store::mailbox_audit::op;
use rampart_store::{ActorKind, MailboxEvent};

use super::{
    client_of, confirm_page, dir_ops, escape, not_done, page, page_status, see_other, when,
    Console, Form, Signed,
};

type St = State<Arc<Console>>;

/// The mailbox audit's service name for the console's actions.
const SERVICE: &str = "console";

/// `s` percent-encoded for a path segment.
fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A hidden CSRF field and a button: one action's form.
fn button(who: &Signed, action: &str, id: &str, label: &str, danger: bool, fields: &str) -> String {
    format!(
        "<form method=\"post\" class=\"inline\" action=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">{fields}\
         <button id=\"{}\"{}>{}</button></form>",
        escape(action),
        who.csrf(),
        escape(id),
        if danger { " class=\"danger\"" } else { "" },
        escape(label)
    )
}

fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
        escape(name),
        escape(value)
    )
}

fn is_admin(who: &Signed) -> bool {
    who.admin.role >= AdminRole::Administrator
}

fn read_only_note(who: &Signed) -> String {
    format!(
        "<p class=\"warn\">Your role ({}) reads the directory; changing it needs the administrator role.</p>",
        who.admin.role
    )
}

/// A confirmation page (the same POST again with `confirm=yes`) with one box to tick, sent as
/// `name=yes` when ticked.
fn confirm_with_box(
    who: &Signed,
    action: &str,
    question: &str,
    fields: &[(&str, &str)],
    (name, label): (&str, &str),
) -> Response {
    let hidden_fields: String = fields.iter().map(|(k, v)| hidden(k, v)).collect();
    let body = format!(
        "<p class=\"warn\">{}</p><form method=\"post\" action=\"{}\">{}{}{hidden_fields}\
         <p><label><input type=\"checkbox\" id=\"{}\" name=\"{}\" value=\"yes\"> {}</label></p>\
         <button id=\"confirm\" class=\"danger\">Yes, do it</button> <a href=\"/\">Cancel</a></form>",
        escape(question),
        escape(action),
        hidden("csrf", &who.csrf()),
        hidden("confirm", "yes"),
        escape(name),
        escape(name),
        escape(label)
    );
    page(Some(who), "Confirm", &body)
}

/// `GET /users`.
pub(super) async fn users(
    State(c): St,
    headers: HeaderMap,
    ext: Option<Extension<SocketAddr>>,
) -> Response {
    let Some(who) = c.signed(&headers, client_of(ext)).await else {
        return see_other("/login");
    };
    let listed = dir_ops::users(&c).await;
    let users = match listed {
        Ok(u) => u,
        Err(e) => return not_done(&who, "The users could not be read", &e, "/"),
    };
    let rows: String = users
        .iter()
        .map(|(u, disabled, send_as)| {
            format!(
                "<tr><td><a href=\"/users/{}\" class=\"user\">{}</a></td><td>{}</td><td>{}</td></tr>",
                enc(u),
                escape(u),
                if *disabled { "disabled" } else { "enabled" },
                escape(&send_as.join(", "))
            )
        })
        .collect();
    let add = if is_admin(&who) {
        format!(
            "<h2>Add a user</h2><form method=\"post\" action=\"/users/add\">{}\
             <label>Address <input id=\"new-address\" name=\"address\" required></label> \
             <label>Password <input id=\"new-password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" required></label> \
             <button id=\"add-user\">Add user</button></form>\
             <p>At least {} characters{} ([passwords]).</p>",
            hidden("csrf", &who.csrf()),
            c.config.passwords.min_length,
            if c.config.passwords.refuse_common {
                ", and not one of the most common passwords"
            } else {
                ""
            }
        )
    } else {
        read_only_note(&who)
    };
    let body = format!(
        "<p>{} user(s). <a href=\"/domains\">Domains and aliases</a></p>\
         <table id=\"users\"><tr><th>Address</th><th>State</th><th>May send as</th></tr>{rows}</table>{add}",
        users.len()
    );
    page(Some(&who), "Users", &body)
}

/// `GET /users/{address}`: state, send-as grants, tokens; the administrator's forms.
pub(super) async fn user(
    State(c): St,
    Path(address): Path<String>,
    headers: HeaderMap,
    ext: Option<Extension<SocketAddr>>,
) -> Response {
    let Some(who) = c.signed(&headers, client_of(ext)).await else {
        return see_other("/login");
    };
    let address = address.trim().to_ascii_lowercase();
    let read = dir_ops::user(&c, &address).await;
    let (disabled, emails, send_as, tokens) = match read {
        Ok(Some(r)) => r,
        Ok(None) => {
            return page_status(
                StatusCode::NOT_FOUND,
                Some(&who),
                "No such user",
                &format!(
                    "<p class=\"error\">No user {}; see <a href=\"/users\">the users</a>.</p>",
                    escape(&address)
                ),
            )
        }
        Err(e) => return not_done(&who, "The user could not be read", &e, "/users"),
    };
    let base = format!("/users/{}", enc(&address));
    let admin = is_admin(&who);
    let grant_rows: String = send_as
        .iter()
        .map(|g| {
            let remove = if admin {
                button(
                    &who,
                    &format!("{base}/send-as-remove"),
                    &format!("send-as-remove-{g}"),
                    "Remove",
                    false,
                    &hidden("address", g),
                )
            } else {
                String::new()
            };
            format!("<tr><td>{}</td><td>{remove}</td></tr>", escape(g))
        })
        .collect();
    let token_rows: String = tokens
        .iter()
        .map(|t| {
            let scopes: Vec<&str> = t.scopes.iter().map(|s| s.as_str()).collect();
            let revoke = if admin {
                button(
                    &who,
                    &format!("{base}/token-revoke"),
                    &format!("revoke-{}", t.id),
                    "Revoke",
                    true,
                    &hidden("token", &t.id),
                )
            } else {
                String::new()
            };
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{revoke}</td></tr>",
                escape(&t.id),
                escape(&t.name),
                escape(&scopes.join(", ")),
                when(t.created),
                t.expires.map_or("never".into(), when),
                t.last_used.map_or("never".into(), when),
            )
        })
        .collect();
    let forms = if admin {
        let toggle = if disabled {
            button(
                &who,
                &format!("{base}/enable"),
                "enable",
                "Enable",
                false,
                "",
            )
        } else {
            button(
                &who,
                &format!("{base}/disable"),
                "disable",
                "Disable",
                false,
                "",
            )
        };
        format!(
            "<h2>Change</h2><p>{toggle} {}</p>\
             <form method=\"post\" action=\"{base}/password\">{}\
             <label>New password <input id=\"set-password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" required></label> \
             <button id=\"change-password\">Change password</button></form>\
             <form method=\"post\" action=\"{base}/send-as-add\">{}\
             <label>May also send as <input id=\"send-as-address\" name=\"address\" required></label> \
             <button id=\"send-as-add\">Grant</button></form>\
             <h2>New API token</h2><form method=\"post\" action=\"{base}/token-add\">{}\
             <label>Name <input id=\"token-name\" name=\"name\" value=\"token\" maxlength=\"64\" required></label> \
             <label><input type=\"checkbox\" id=\"token-jmap\" name=\"scope_jmap\" value=\"yes\" checked> JMAP</label> \
             <label><input type=\"checkbox\" id=\"token-submission\" name=\"scope_submission\" value=\"yes\"> Submission</label> \
             <label>Expires <select id=\"token-expires\" name=\"expires\"><option value=\"30d\">in 30 days</option>\
             <option value=\"90d\" selected>in 90 days</option><option value=\"365d\">in a year</option>\
             <option value=\"never\">never</option></select></label> \
             <button id=\"token-add\">Create token</button></form>\
             <p>The token is shown once, on the next page; only its hash is kept.</p>",
            button(
                &who,
                &format!("{base}/delete"),
                "delete-user",
                "Delete user",
                true,
                ""
            ),
            hidden("csrf", &who.csrf()),
            hidden("csrf", &who.csrf()),
            hidden("csrf", &who.csrf()),
        )
    } else {
        read_only_note(&who)
    };
    let body = format!(
        "<table><tr><th>Address</th><td id=\"address\">{}</td></tr>\
         <tr><th>State</th><td id=\"state\">{}</td></tr><tr><th>Messages in the mailbox</th><td>{emails}</td></tr></table>\
         <h2>May send as (NC-2.1.7)</h2><table id=\"send-as\"><tr><th>Address</th><th></th></tr>{grant_rows}</table>\
         <h2>API tokens</h2><table id=\"tokens\"><tr><th>Id</th><th>Name</th><th>Scopes</th><th>Created</th><th>Expires</th><th>Last used</th><th></th></tr>{token_rows}</table>\
         {forms}",
        escape(&address),
        if disabled { "disabled" } else { "enabled" },
    );
    page(Some(&who), "User", &body)
}

/// The administrator's gate for every directory POST.
async fn authorise(
    c: &Console,
    headers: &HeaderMap,
    uri: &Uri,
    client: Option<SocketAddr>,
    form: &Form,
    what: &str,
) -> Result<Signed, Response> {
    c.authorise_post(headers, uri, client, form, AdminRole::Administrator, what)
        .await
}

/// `POST /users/add` (form: csrf, address, password).
pub(super) async fn user_add(
    State(c): St,
    headers: HeaderMap,
    uri: Uri,
    ext: Option<Extension<SocketAddr>>,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let who = match authorise(&c, &headers, &uri, client_of(ext), &form, "add users").await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let address = form
        .get("address")
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let password = form.get("password").unwrap_or("").to_string();
    if let Err(why) = crate::password_policy::check_password(&c.config.passwords, &password) {
        return not_done(&who, &format!("User {address} not added"), &why, "/users");
    }
    match c
        .store
        .add_user(&address, &password)
        .await
        .map_err(|e| e.to_string())
    {
        Ok(()) => {
            c.record(&who, "console", format!("added user {address}"), None)
                .await;
            see_other(&format!("/users/{}", enc(&address)))
        }
        Err(e) => not_done(&who, &format!("User {address} not added"), &e, "/users"),
    }
}

/// `POST /users/{address}/{action}`: password, disable, enable, delete, send-as-add,
/// send-as-remove, token-add, token-revoke.
pub(super) async fn user_act(
    State(c): St,
    Path((address, action)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    ext: Option<Extension<SocketAddr>>,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let what = match action.as_str() {
        "password" => "change users' passwords",
        "disable" | "enable" => "disable or enable users",
        "delete" => "delete users",
        "send-as-add" | "send-as-remove" => "change send-as grants",
        "token-add" => "create users' tokens",
        "token-revoke" => "revoke users' tokens",
        _ => return super::forbidden("No such action."),
    };
    let who = match authorise(&c, &headers, &uri, client_of(ext), &form, what).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let address = address.trim().to_ascii_lowercase();
    let base = format!("/users/{}", enc(&address));
    let field = |n: &str| form.get(n).unwrap_or("").trim().to_string();
    let confirmed = form.get("confirm") == Some("yes");
    let outcome: Result<String, String> = match action.as_str() {
        "password" => {
            let password = form.get("password").unwrap_or("").to_string();
            if let Err(why) = crate::password_policy::check_password(&c.config.passwords, &password)
            {
                return not_done(&who, "Password not changed", &why, &base);
            }
            dir_ops::set_password(&c, &address, password)
                .await
                .map(|()| format!("changed the password of {address}; its webmail sessions ended"))
        }
        "disable" | "enable" => {
            let disabled = action == "disable";
            dir_ops::set_disabled(&c, &address, disabled)
                .await
                .map(|()| format!("{action}d user {address}"))
        }
        "delete" => {
            let purge = form.get("purge_mail") == Some("yes");
            if !confirmed {
                return confirm_with_box(
                    &who,
                    &format!("{base}/delete"),
                    &format!(
                        "Delete user {address}: the account, its tokens, sessions and grants, and \
                         the aliases that point at it? While its mailbox holds mail this is \
                         refused, unless the box below is ticked."
                    ),
                    &[],
                    ("purge_mail", "Delete its mail too (it cannot be recovered)"),
                );
            }
            match dir_ops::delete_user(&c, &address, purge).await {
                Ok(gone) => {
                    c.record(
                        &who,
                        "console",
                        format!(
                            "deleted user {}; {} message(s) purged; aliases removed: {}",
                            gone.address,
                            gone.messages_purged,
                            gone.aliases_removed.join(", ")
                        ),
                        None,
                    )
                    .await;
                    return see_other("/users");
                }
                Err(e) => Err(e),
            }
        }
        "send-as-add" => c
            .store
            .add_send_as(&address, &field("address"))
            .await
            .map_err(|e| e.to_string())
            .map(|()| format!("let {address} send as {}", field("address"))),
        "send-as-remove" => dir_ops::remove_send_as(&c, &address, &field("address"))
            .await
            .map(|()| format!("{address} may no longer send as {}", field("address"))),
        "token-add" => return token_add(&c, &who, &address, &form).await,
        _ => {
            let token = field("token");
            if !confirmed {
                return confirm_page(
                    &who,
                    &format!("{base}/token-revoke"),
                    &format!(
                        "Revoke token {token} of {address}? The clients using it stop working."
                    ),
                    &[("token", &token)],
                );
            }
            // AL-3.1: in the user's mailbox audit, by this administrator.
            let mut e = MailboxEvent::new(
                &address,
                SERVICE,
                op::TOKEN_REVOKE,
                format!("token {token}"),
            );
            e.actor = format!("admin:{}", who.admin.name);
            e.actor_kind = ActorKind::Administrator;
            dir_ops::token_revoke_audited(&c, &address, &token, e)
                .await
                .map(|()| format!("revoked token {token} of {address}"))
        }
    };
    match outcome {
        Ok(done) => {
            c.record(&who, "console", done, None).await;
            see_other(&base)
        }
        Err(e) => not_done(&who, "It could not be done", &e, &base),
    }
}

/// `token-add`: a bearer token for `address`, made as `rampart user token add` makes it, and
/// shown on the page that answers (the only time it is shown; pages are `no-store`). In the
/// user's mailbox audit as made by this administrator, and in the trace (AL-3.1).
async fn token_add(c: &Console, who: &Signed, address: &str, form: &Form) -> Response {
    let base = format!("/users/{}", enc(address));
    let name = form.get("name").unwrap_or("").trim().to_string();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return not_done(
            who,
            "Token not created",
            "give it a name of 1 to 64 characters, such as the device it is for",
            &base,
        );
    }
    let scopes: Vec<String> = ["jmap", "submission"]
        .into_iter()
        .filter(|s| form.get(&format!("scope_{s}")) == Some("yes"))
        .map(str::to_owned)
        .collect();
    if scopes.is_empty() {
        return not_done(
            who,
            "Token not created",
            "tick what it may be used for: JMAP, submission or both",
            &base,
        );
    }
    let expires = form.get("expires").unwrap_or("90d");
    let (scopes, expires) = match crate::admin_mailbox::token_terms(&scopes, expires) {
        Ok(t) => t,
        Err(e) => return not_done(who, "Token not created", &e.to_string(), &base),
    };
    let by = who.admin.name.clone();
    let made = dir_ops::token_create(c, address, &name, scopes, expires, |info| {
        let mut e = crate::admin_mailbox::token_created_event(info);
        e.actor = format!("admin:{by}");
        e.service = SERVICE.into();
        e
    })
    .await;
    let (token, info) = match made {
        Ok(m) => m,
        Err(e) => return not_done(who, "Token not created", &e, &base),
    };
    let scopes: Vec<&str> = info.scopes.iter().map(|s| s.as_str()).collect();
    let expires = info.expires.map_or("never".into(), when);
    c.record(
        who,
        "console",
        format!(
            "created token {} for {address} ({}), expires {expires}",
            info.id,
            scopes.join(",")
        ),
        None,
    )
    .await;
    page(
        Some(who),
        "New API token",
        &format!(
            "<p>Token <span id=\"token-id\">{}</span> \"{}\" for {} ({}), expires {}. Copy it now: \
             it is shown only this once, and only its hash is kept.</p>\
             <p><code id=\"new-token\">{}</code></p>\
             <p>A client sends it as <code>Authorization: Bearer</code> (JMAP) or as the password of \
             SMTP AUTH PLAIN (submission).</p><p><a href=\"{}\">Back to {}</a></p>",
            escape(&info.id),
            escape(&info.name),
            escape(address),
            escape(&scopes.join(", ")),
            escape(&expires),
            escape(&token),
            escape(&base),
            escape(address),
        ),
    )
}

/// `GET /domains`: the domains and the aliases.
pub(super) async fn domains(
    State(c): St,
    headers: HeaderMap,
    ext: Option<Extension<SocketAddr>>,
) -> Response {
    let Some(who) = c.signed(&headers, client_of(ext)).await else {
        return see_other("/login");
    };
    // Through the Directory trait: on PostgreSQL every node's one directory.
    let read = async {
        Ok::<_, String>((
            c.store.domains().await.map_err(|e| e.to_string())?,
            c.store.aliases().await.map_err(|e| e.to_string())?,
        ))
    }
    .await;
    let (domains, aliases) = match read {
        Ok(r) => r,
        Err(e) => return not_done(&who, "The directory could not be read", &e, "/"),
    };
    let admin = is_admin(&who);
    let domain_rows: String = domains
        .iter()
        .map(|d| {
            let remove = if admin {
                button(
                    &who,
                    "/domains/remove",
                    &format!("remove-domain-{d}"),
                    "Remove",
                    true,
                    &hidden("name", d),
                )
            } else {
                String::new()
            };
            format!("<tr><td>{}</td><td>{remove}</td></tr>", escape(d))
        })
        .collect();
    let alias_rows: String = aliases
        .iter()
        .map(|(a, t)| {
            let remove = if admin {
                button(
                    &who,
                    "/aliases/remove",
                    &format!("remove-alias-{a}-{t}"),
                    "Remove",
                    true,
                    &format!("{}{}", hidden("alias", a), hidden("target", t)),
                )
            } else {
                String::new()
            };
            format!(
                "<tr><td>{}</td><td>{}</td><td>{remove}</td></tr>",
                escape(a),
                escape(t)
            )
        })
        .collect();
    let forms = if admin {
        let csrf = hidden("csrf", &who.csrf());
        format!(
            "<h2>Add</h2><form method=\"post\" action=\"/domains/add\">{csrf}\
             <label>Domain <input id=\"new-domain\" name=\"name\" required></label> \
             <button id=\"add-domain\">Add domain</button></form>\
             <form method=\"post\" action=\"/aliases/add\">{csrf}\
             <label>Alias <input id=\"new-alias\" name=\"alias\" required></label> \
             <label>delivers to <input id=\"new-target\" name=\"target\" required></label> \
             <button id=\"add-alias\">Add alias</button></form>\
             <p>A domain with users or aliases is removed only with them: the confirmation asks.</p>"
        )
    } else {
        read_only_note(&who)
    };
    let body = format!(
        "<p><a href=\"/users\">Users</a></p><h2>Domains</h2><table id=\"domains\"><tr><th>Domain</th><th></th></tr>{domain_rows}</table>\
         <h2>Aliases</h2><table id=\"aliases\"><tr><th>Alias</th><th>Delivers to</th><th></th></tr>{alias_rows}</table>{forms}"
    );
    page(Some(&who), "Domains and aliases", &body)
}

/// `POST /domains/{add|remove}` (form: csrf, name; remove: confirm, force).
pub(super) async fn domain_act(
    State(c): St,
    Path(action): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    ext: Option<Extension<SocketAddr>>,
    body: Bytes,
) -> Response {
    directory_act(
        &c,
        "domains",
        &action,
        &headers,
        &uri,
        client_of(ext),
        &body,
    )
    .await
}

/// `POST /aliases/{add|remove}` (form: csrf, alias, target; remove: confirm).
pub(super) async fn alias_act(
    State(c): St,
    Path(action): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    ext: Option<Extension<SocketAddr>>,
    body: Bytes,
) -> Response {
    directory_act(
        &c,
        "aliases",
        &action,
        &headers,
        &uri,
        client_of(ext),
        &body,
    )
    .await
}

async fn directory_act(
    c: &Console,
    kind: &str,
    action: &str,
    headers: &HeaderMap,
    uri: &Uri,
    client: Option<SocketAddr>,
    body: &[u8],
) -> Response {
    let form = Form::parse(body);
    let what = match (kind, action) {
        ("domains", "add" | "remove") => "add or remove domains",
        ("aliases", "add" | "remove") => "add or remove aliases",
        _ => return super::forbidden("No such action."),
    };
    let who = match authorise(c, headers, uri, client, &form, what).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let field = |n: &str| form.get(n).unwrap_or("").trim().to_ascii_lowercase();
    let confirmed = form.get("confirm") == Some("yes");
    let outcome: Result<String, String> = match (kind, action) {
        ("domains", "add") => {
            let name = field("name");
            let n = name.clone();
            c.store
                .add_domain(&n)
                .await
                .map_err(|e| e.to_string())
                .map(|()| format!("added domain {name}"))
        }
        ("domains", _) => {
            let name = field("name");
            let force = form.get("force") == Some("yes");
            if !confirmed {
                return confirm_with_box(
                    &who,
                    "/domains/remove",
                    &format!(
                        "Remove domain {name}? Mail for it is refused from now on. While users or \
                         aliases of it exist this is refused, unless the box below is ticked."
                    ),
                    &[("name", &name)],
                    (
                        "force",
                        "Delete its users (with their mail) and aliases too",
                    ),
                );
            }
            dir_ops::remove_domain(c, &name, force).await.map(|r| {
                format!(
                    "removed domain {}; users deleted: {}; aliases removed: {}",
                    r.name,
                    r.users.join(", "),
                    r.aliases.join(", ")
                )
            })
        }
        ("aliases", "add") => {
            let (alias, target) = (field("alias"), field("target"));
            let (a, t) = (alias.clone(), target.clone());
            c.store
                .add_alias(&a, &t)
                .await
                .map_err(|e| e.to_string())
                .map(|()| format!("added alias {alias} -> {target}"))
        }
        _ => {
            let (alias, target) = (field("alias"), field("target"));
            if !confirmed {
                return confirm_page(
                    &who,
                    "/aliases/remove",
                    &format!("Remove alias {alias} -> {target}? Mail for it is no longer delivered there."),
                    &[("alias", &alias), ("target", &target)],
                );
            }
            dir_ops::remove_alias(c, &alias, &target)
                .await
                .map(|gone| format!("removed alias {alias} -> {}", gone.join(", ")))
        }
    };
    match outcome {
        Ok(done) => {
            c.record(&who, "console", done, None).await;
            see_other("/domains")
        }
        Err(e) => not_done(&who, "It could not be done", &e, "/domains"),
    }
}
