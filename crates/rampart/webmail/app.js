// The webmail's script (AL-4.1: mail is read in the browser, over HTTPS): a JMAP client of this
// server (see crates/rampart/src/webmail/mod.rs).
//
// Hand-written, no framework, no build step; the composer and vacation form are in compose.js.
// The page's CSP allows no inline script or style, so every element is made with createElement and every text set with textContent:
// nothing from a message is ever parsed as HTML here. HTML mail is shown only in a sandboxed
// frame whose content the server cleaned (/webmail/html/...).
"use strict";

(function () {
  const USING = [
    "urn:ietf:params:jmap:core",
    "urn:ietf:params:jmap:mail",
    "urn:ietf:params:jmap:submission",
    "urn:ietf:params:jmap:vacationresponse",
    "urn:rampart:params:jmap:trustedsenders",
  ];
  const PAGE = 50;
  // Role mailboxes first, in this order; the others after them by name.
  const ROLE_ORDER = ["inbox", "drafts", "sent", "junk", "trash", "archive"];
  const LIST_PROPS = ["id", "threadId", "mailboxIds", "keywords", "from", "subject", "preview",
    "receivedAt", "hasAttachment"];
  const READ_PROPS = ["id", "threadId", "mailboxIds", "keywords", "from", "to", "cc", "bcc",
    "replyTo", "subject", "receivedAt", "sentAt", "messageId", "references", "inReplyTo",
    "textBody", "htmlBody", "attachments", "bodyValues", "hasAttachment", "size",
    "header:X-Spam-Flag:asText", "header:X-Spam-Score:asText"];

  const $ = (id) => document.getElementById(id);
  const meta = (name) => {
    const m = document.querySelector('meta[name="' + name + '"]');
    return m ? m.getAttribute("content") : "";
  };
  const CSRF = meta("rampart-csrf");

  const st = {
    session: null,
    account: "",
    urls: {},
    mailboxes: [],
    identities: [],
    mailbox: null, // the mailbox id shown, or null while searching
    search: "",
    position: 0,
    total: 0,
    rows: [], // emails of the list, in order
    open: null, // the email id open in the reader
    openRow: null, // its row's id, to give focus back to
    thread: [], // emails of the open thread
    compose: null, // {draftId, attachments: [...], inReplyTo, references}
    events: null,
    refreshTimer: 0,
    refreshWaiting: [],
  };

  // ---- errors, in plain words ----------------------------------------------------------------

  class ShownError extends Error {}

  function showAlert(text) {
    const a = $("alert");
    a.textContent = text;
    a.classList.add("visible");
  }
  function clearAlert() {
    const a = $("alert");
    a.textContent = "";
    a.classList.remove("visible");
  }
  function status(text) {
    $("status").textContent = text;
  }

  // A server's description as a sentence: an SMTP refusal (AL-1.5 DLP, NC-2.1.8 rate limit)
  // arrives as "550 5.7.1 Message refused: ...", and the codes mean nothing to a reader.
  function plain(text) {
    const t = String(text).replace(/^\d{3}[ -](\d\.\d{1,3}\.\d{1,3}\s+)?/, "").trim();
    if (!t) return "";
    const s = t.charAt(0).toUpperCase() + t.slice(1);
    return /[.!?)]$/.test(s) ? s : s + ".";
  }

  // A JMAP error object (method error or SetError) as a sentence a user understands.
  function describe(e) {
    const d = e && e.description ? " " + plain(e.description) : "";
    switch (e && e.type) {
      case "forbiddenFrom":
        return "The server refused to send this message: you may not send mail with this From address." + d;
      case "forbiddenMailFrom":
        return "The server refused to send this message: you may not send mail as this sender." + d;
      case "forbiddenToSend":
        return "The server refused to send this message: it was blocked by the server's checks (for example data-loss prevention)." + d;
      case "tooLarge": {
        const max = e.maxSize ? " The limit is " + size(e.maxSize) + "." : "";
        return "The message is too large to send." + max + d;
      }
      case "rateLimit":
        return "You are sending too much mail right now. Wait a while and try again." + d;
      case "overQuota":
        return "Your mailbox is full (over its quota). Delete some mail and try again." + d;
      case "invalidRecipients":
        return "These recipients were refused: " + (e.invalidRecipients || []).join(", ") + "." + d;
      case "noRecipients":
        return "Add at least one recipient." + d;
      case "tooManyRecipients":
        return "The message has too many recipients." + d;
      case "serverUnavailable":
        return "The server cannot send right now. Try again later." + d;
      case "forbidden":
        return "You are not allowed to do that." + d;
      case "notFound":
        return "That message or mailbox no longer exists." + d;
      case "invalidProperties":
        return "The server refused the request: invalid " + (e.properties || []).join(", ") + "." + d;
      case "requestTooLarge":
        return "The request is too large." + d;
      case "mailboxHasEmail":
        return "That mailbox still has messages." + d;
      default:
        return "The server refused the request: " + ((e && e.type) || "unknown error") + d;
    }
  }

  // ---- the JMAP API --------------------------------------------------------------------------

  // A URL of the session, made relative, so the page only ever talks to its own origin.
  function local(url) {
    return String(url || "").replace(/^https?:\/\/[^/]+/, "");
  }

  async function http(url, init) {
    let r;
    try {
      r = await fetch(url, Object.assign({ credentials: "same-origin", cache: "no-store" }, init));
    } catch (err) {
      throw failed("The server cannot be reached. Check your network connection.");
    }
    if (r.status === 401) {
      // The session ended (signed out elsewhere, idle timeout): back to the sign-in page.
      window.location.assign("/");
      throw new ShownError("Your session has ended. Please sign in again.");
    }
    if (r.status === 429) {
      throw failed("Too many requests right now. Wait a moment and try again.");
    }
    return r;
  }

  function failed(text) {
    showAlert(text);
    return new ShownError(text);
  }

  // Runs method calls; the responses by call id. A method error fails the whole request
  // unless `tolerate` is set.
  async function api(calls, tolerate, keepalive) {
    const r = await http(local(st.session ? st.session.apiUrl : "/jmap/api"), {
      method: "POST",
      keepalive: !!keepalive,
      headers: { "Content-Type": "application/json", "X-Rampart-CSRF": CSRF },
      body: JSON.stringify({ using: USING, methodCalls: calls }),
    });
    let body = null;
    try {
      body = await r.json();
    } catch (err) {
      body = null;
    }
    if (!r.ok || !body || !Array.isArray(body.methodResponses)) {
      const what = body && body.detail ? body.detail : "the server answered " + r.status;
      if (body && body.type && /limit/.test(body.type)) {
        throw failed("The server's limits refused this request: " + what + ".");
      }
      throw failed("The request failed: " + what + ".");
    }
    const out = {};
    for (const [name, args, id] of body.methodResponses) {
      if (name === "error" && !tolerate) {
        throw failed(describe(args));
      }
      out[id] = args;
      out[id].__name = name;
    }
    return out;
  }

  async function call(name, args) {
    const r = await api([[name, Object.assign({ accountId: st.account }, args), "0"]]);
    return r["0"];
  }

  // The SetErrors of a /set response, in words; empty if none.
  function setErrors(res) {
    const words = [];
    for (const k of ["notCreated", "notUpdated", "notDestroyed"]) {
      for (const e of Object.values((res && res[k]) || {})) {
        words.push(describe(e));
      }
    }
    return words;
  }

  function checkSet(res) {
    const w = setErrors(res);
    if (w.length) {
      throw failed(w.join(" "));
    }
    return res;
  }

  // ---- small helpers -------------------------------------------------------------------------

  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === "class") {
        e.className = v;
      } else if (k === "text") {
        e.textContent = v;
      } else if (k.startsWith("on")) {
        e.addEventListener(k.slice(2), v);
      } else if (v !== undefined && v !== null && v !== false) {
        e.setAttribute(k, v === true ? "" : v);
      }
    }
    for (const c of children) {
      if (c !== null && c !== undefined) {
        e.append(c);
      }
    }
    return e;
  }

  function size(n) {
    if (n < 1024) return n + " bytes";
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KB";
    return (n / 1024 / 1024).toFixed(1) + " MB";
  }

  function addr(list) {
    return (list || []).map((a) => (a.name ? a.name + " <" + a.email + ">" : a.email)).join(", ");
  }
  function who(list) {
    return (list || []).map((a) => a.name || a.email).join(", ") || "(unknown sender)";
  }
  function parseAddrs(text) {
    return text.split(/[,;]/).map((s) => s.trim()).filter(Boolean).map((s) => {
      const m = s.match(/^(.*)<([^>]+)>$/);
      return m ? { name: m[1].trim().replace(/^"|"$/g, "") || null, email: m[2].trim() } : { email: s };
    });
  }
  function date(s) {
    const d = new Date(s);
    return isNaN(d) ? "" : d.toLocaleString();
  }
  function mailboxByRole(role) {
    return st.mailboxes.find((m) => m.role === role) || null;
  }
  function typing(e) {
    const t = e.target;
    return t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName));
  }
  function narrow() {
    return window.matchMedia("(max-width: 600px)").matches;
  }

  // One pane at a time on a phone; beside each other on a wide screen.
  function show(pane) {
    for (const id of ["reader", "compose", "vacation", "trusted"]) {
      $(id).hidden = id !== pane;
    }
    document.body.dataset.pane = pane || "list";
  }

  // ---- mailboxes -----------------------------------------------------------------------------

  async function loadMailboxes() {
    const r = await call("Mailbox/get", {
      properties: ["id", "name", "role", "unreadEmails", "totalEmails", "sortOrder", "parentId"],
    });
    const rank = (m) => {
      const i = ROLE_ORDER.indexOf(m.role);
      return i < 0 ? ROLE_ORDER.length : i;
    };
    st.mailboxes = r.list.slice().sort((a, b) => rank(a) - rank(b) ||
      (a.sortOrder || 0) - (b.sortOrder || 0) || a.name.localeCompare(b.name));
    if (!st.mailbox && st.search === "") {
      const inbox = mailboxByRole("inbox") || st.mailboxes[0];
      st.mailbox = inbox ? inbox.id : null;
    }
    drawMailboxes();
  }

  // The id of the focused item of a list about to be redrawn, to focus its successor after.
  function focusedIn(ul) {
    const a = document.activeElement;
    return a && ul.contains(a) ? a.dataset.id : null;
  }
  function refocus(ul, id) {
    const e = id && Array.from(ul.querySelectorAll("button")).find((b) => b.dataset.id === id);
    if (e) e.focus();
  }

  function drawMailboxes() {
    const ul = $("mailbox-list");
    const keep = focusedIn(ul);
    ul.replaceChildren();
    for (const m of st.mailboxes) {
      const label = m.unreadEmails ? m.name + ", " + m.unreadEmails + " unread" : m.name;
      const b = el("button", {
        type: "button",
        class: "mailbox" + (m.id === st.mailbox ? " current" : ""),
        "aria-label": label,
        "aria-current": m.id === st.mailbox ? "true" : null,
        "data-id": m.id,
        "data-role": m.role || "",
        onclick: () => openMailbox(m.id),
      }, el("span", { class: "name", text: m.name }),
      m.unreadEmails ? el("span", { class: "count", "aria-hidden": "true", text: String(m.unreadEmails) }) : null);
      ul.append(el("li", {}, b));
    }
    refocus(ul, keep);
    // A redraw (push, unread counts) keeps the mailbox the user chose: Move must not take another.
    const sel = $("act-move-to");
    const chosen = sel.value;
    sel.replaceChildren(...st.mailboxes.map((m) => el("option", { value: m.id, text: m.name })));
    if (st.mailboxes.some((m) => m.id === chosen)) sel.value = chosen;
  }

  function openMailbox(id) {
    st.mailbox = id;
    st.search = "";
    $("search").value = "";
    st.position = 0;
    drawMailboxes();
    show(null);
    loadList(true);
  }

  // ---- the message list ----------------------------------------------------------------------

  function listFilter() {
    if (st.search !== "") {
      return { text: st.search };
    }
    return { inMailbox: st.mailbox };
  }

  async function loadList(focus) {
    const r = await api([
      ["Email/query", {
        accountId: st.account,
        filter: listFilter(),
        sort: [{ property: "receivedAt", isAscending: false }],
        collapseThreads: true,
        position: st.position,
        limit: PAGE,
        calculateTotal: true,
      }, "q"],
      ["Email/get", {
        accountId: st.account,
        "#ids": { resultOf: "q", name: "Email/query", path: "/ids" },
        properties: LIST_PROPS,
      }, "g"],
    ]);
    st.total = r.q.total || 0;
    st.rows = r.g.list;
    drawList();
    if (focus) {
      $("list-heading").focus();
    }
  }

  function drawList() {
    const m = st.mailboxes.find((x) => x.id === st.mailbox);
    $("list-heading").textContent = st.search !== "" ? "Search: " + st.search : (m ? m.name : "Mail");
    const ul = $("message-list");
    const keep = focusedIn(ul);
    ul.replaceChildren();
    if (!st.rows.length) {
      ul.append(el("li", { class: "empty", text: st.search !== "" ? "No messages found." : "No messages." }));
    }
    for (const e of st.rows) {
      const kw = e.keywords || {};
      const unread = !kw.$seen;
      const row = el("button", {
        type: "button",
        class: "row" + (unread ? " unread" : "") + (e.id === st.open ? " current" : ""),
        "data-id": e.id,
        id: "row-" + e.id,
        onclick: () => openEmail(e),
      },
      unread ? el("span", { class: "badge", text: "unread" }) : null,
      kw.$flagged ? el("span", { class: "badge flag", text: "flagged" }) : null,
      el("span", { class: "from", text: who(e.from) }),
      el("span", { class: "subject", text: e.subject || "(no subject)" }),
      e.hasAttachment ? el("span", { class: "clip", text: "attachment" }) : null,
      el("span", { class: "preview", text: e.preview || "" }),
      el("span", { class: "date", text: date(e.receivedAt) }));
      ul.append(el("li", {}, row));
    }
    refocus(ul, keep);
    const last = Math.min(st.position + st.rows.length, st.total);
    $("page-info").textContent = st.total ? (st.position + 1) + "–" + last + " of " + st.total : "";
    $("page-newer").disabled = st.position === 0;
    $("page-older").disabled = last >= st.total;
  }

  function page(delta) {
    st.position = Math.max(0, st.position + delta * PAGE);
    loadList(true).catch(report);
  }

  // ---- reading -------------------------------------------------------------------------------

  async function openEmail(row) {
    clearAlert();
    st.open = row.id;
    st.openRow = row.id;
    const r = await api([
      ["Thread/get", { accountId: st.account, ids: [row.threadId] }, "t"],
      ["Email/get", {
        accountId: st.account,
        "#ids": { resultOf: "t", name: "Thread/get", path: "/list/*/emailIds" },
        properties: READ_PROPS,
        fetchTextBodyValues: true,
        maxBodyValueBytes: 1000000,
      }, "g"],
    ]);
    // Drafts and messages in the Trash stay out of a thread opened from elsewhere.
    st.thread = r.g.list.length ? r.g.list : [];
    if (!st.thread.some((e) => e.id === row.id)) {
      const one = await call("Email/get", {
        ids: [row.id], properties: READ_PROPS, fetchTextBodyValues: true, maxBodyValueBytes: 1000000,
      });
      st.thread = one.list;
    }
    drawReader();
    const unseen = st.thread.filter((e) => e.id === row.id && !(e.keywords || {}).$seen);
    if (unseen.length) {
      const update = {};
      for (const e of unseen) update[e.id] = { "keywords/$seen": true };
      checkSet(await call("Email/set", { update }));
      for (const e of unseen) e.keywords = Object.assign({}, e.keywords, { $seen: true });
      // The reader was drawn while the message was unread: its button must now offer the reverse.
      if (st.open === row.id) $("act-unread").textContent = "Mark unread";
      refresh();
    }
  }

  function current() {
    return st.thread.find((e) => e.id === st.open) || null;
  }

  function drawReader() {
    const cur = current();
    if (!cur) {
      show(null);
      return;
    }
    show("reader");
    $("reader-heading").textContent = cur.subject || "(no subject)";
    const box = $("thread");
    box.replaceChildren();
    for (const e of st.thread) {
      if (e.id === cur.id) {
        box.append(fullMessage(e));
      } else {
        box.append(el("article", { class: "msg folded" }, el("button", {
          type: "button",
          class: "fold",
          onclick: () => { st.open = e.id; drawReader(); $("reader-heading").focus(); },
        }, el("span", { class: "from", text: who(e.from) }),
        el("span", { class: "date", text: date(e.receivedAt) }),
        el("span", { class: "preview", text: (e.subject || "") }))));
      }
    }
    const kw = cur.keywords || {};
    $("act-edit").hidden = !kw.$draft;
    $("act-flag").textContent = kw.$flagged ? "Unflag" : "Flag";
    $("act-unread").textContent = kw.$seen ? "Mark unread" : "Mark read";
    $("act-junk").textContent = inRole(cur, "junk") ? "Not junk" : "Junk";
    $("act-delete").textContent = inRole(cur, "trash") ? "Delete for good" : "Delete";
    $("reader-heading").focus();
  }

  function fullMessage(e) {
    const dl = el("dl", { class: "headers" });
    const line = (k, v) => {
      if (v) dl.append(el("dt", { text: k }), el("dd", { text: v }));
    };
    line("From", addr(e.from));
    line("To", addr(e.to));
    line("Cc", addr(e.cc));
    line("Date", date(e.sentAt || e.receivedAt));
    line("Subject", e.subject || "(no subject)");
    const art = el("article", { class: "msg open", "aria-label": "Message from " + who(e.from) }, dl);
    const why = spamNote(e);
    if (why) art.append(el("p", { class: "note spam-note", role: "note", text: why }));
    const html = (e.htmlBody || []).some((p) => p.type === "text/html");
    if (html) {
      art.append(htmlBody(e));
    } else {
      art.append(el("pre", { class: "body", text: textOf(e) }));
    }
    if ((e.attachments || []).length) {
      const ul = el("ul", { class: "attachments", "aria-label": "Attachments" });
      for (const a of e.attachments) {
        const name = a.name || "attachment";
        ul.append(el("li", {}, el("a", { href: download(a), download: name, text: name }),
          el("span", { class: "meta", text: " " + size(a.size || 0) + ", " + (a.type || "unknown type") })));
      }
      art.append(el("h3", { text: "Attachments" }), ul);
    }
    return art;
  }

  // Whether email `e` is in the mailbox with `role`.
  function inRole(e, role) {
    const m = mailboxByRole(role);
    return Boolean(m && e.mailboxIds[m.id]);
  }

  // AL-1.2: why a message is in Junk, in the user's words. The server removes every X-Spam
  // field a sender wrote, so these are its own spam check's (or its gateway's).
  function spamNote(e) {
    const flag = (e["header:X-Spam-Flag:asText"] || "").trim().toUpperCase();
    if (flag !== "YES") return "";
    const score = (e["header:X-Spam-Score:asText"] || "").trim();
    const scored = /^-?[0-9]+(\.[0-9]+)?$/.test(score) ? " scored it " + score + " and" : "";
    if (inRole(e, "junk")) {
      return "Why this is in Junk: the server's spam check" + scored + " tagged it as spam. " +
        "If you wanted it, choose Not junk: the filter learns from that.";
    }
    return "The server's spam check" + scored + " tagged this message as spam.";
  }

  function textOf(e) {
    return (e.textBody || []).map((p) => (e.bodyValues[p.partId] || {}).value || "").join("\n");
  }

  function download(a) {
    const t = local(st.session.downloadUrl)
      .replace("{accountId}", encodeURIComponent(st.account))
      .replace("{blobId}", encodeURIComponent(a.blobId))
      .replace("{name}", encodeURIComponent(a.name || "attachment"))
      .replace("{type}", encodeURIComponent("application/octet-stream"));
    return t;
  }

  // HTML mail: a frame the server fills with the cleaned message; no scripts, not our origin.
  function htmlBody(e) {
    const box = el("div", { class: "html" });
    const base = "/webmail/html/" + encodeURIComponent(st.account) + "/" + encodeURIComponent(e.id);
    const frame = (remote) => el("iframe", {
      sandbox: "allow-popups allow-popups-to-escape-sandbox",
      referrerpolicy: "no-referrer",
      title: "Message from " + who(e.from),
      src: base + (remote ? "?remote=1" : ""),
    });
    const note = el("p", { class: "note" });
    box.append(note);
    http(base, { method: "HEAD" }).then((r) => {
      if (!r.ok) {
        note.textContent = "This message could not be shown.";
        const text = textOf(e);
        if (text) box.append(el("pre", { class: "body", text }));
        return;
      }
      const blocked = parseInt(r.headers.get("X-Rampart-Remote-Blocked") || "0", 10);
      const mismatched = parseInt(r.headers.get("X-Rampart-Mismatched-Links") || "0", 10);
      let f = frame(false);
      box.append(f);
      if (mismatched > 0) {
        box.insertBefore(el("p", { class: "warning", text: "Warning: " + mismatched +
          " link(s) in this message show one address but lead to another. They are marked." }), f);
      }
      if (blocked > 0) {
        const b = el("button", { type: "button", class: "remote", text: "Show remote content (" + blocked + ")" });
        b.addEventListener("click", () => {
          const g = frame(true);
          f.replaceWith(g);
          f = g;
          b.remove();
        });
        box.insertBefore(el("p", { class: "note", text: "Remote images and styles were blocked." }), f);
        box.insertBefore(b, f);
      }
    }).catch(() => { note.textContent = "This message could not be shown."; });
    return box;
  }

  function closeReader() {
    st.open = null;
    st.thread = [];
    show(null);
    const row = st.openRow && $("row-" + st.openRow);
    if (row) row.focus(); else $("list-heading").focus();
  }

  // ---- actions on the open message -----------------------------------------------------------

  async function update(patch, words) {
    const cur = current();
    if (!cur) return;
    const res = checkSet(await call("Email/set", { update: { [cur.id]: patch } }));
    status(words);
    return res;
  }

  async function moveTo(target, extra) {
    const cur = current();
    if (!cur) return;
    const patch = Object.assign({ mailboxIds: { [target]: true } }, extra || {});
    checkSet(await call("Email/set", { update: { [cur.id]: patch } }));
    const m = st.mailboxes.find((x) => x.id === target);
    status("Moved to " + (m ? m.name : "the mailbox") + ".");
    closeReader();
    await refresh();
  }

  async function actFlag() {
    const cur = current();
    const on = !(cur.keywords || {}).$flagged;
    await update({ "keywords/$flagged": on ? true : null }, on ? "Flagged." : "Unflagged.");
    cur.keywords = Object.assign({}, cur.keywords, { $flagged: on });
    if (!on) delete cur.keywords.$flagged;
    drawReader();
    await refresh();
  }

  async function actUnread() {
    const cur = current();
    const seen = !(cur.keywords || {}).$seen;
    await update({ "keywords/$seen": seen ? true : null }, seen ? "Marked read." : "Marked unread.");
    cur.keywords = Object.assign({}, cur.keywords, { $seen: seen });
    if (!seen) delete cur.keywords.$seen;
    drawReader();
    await refresh();
  }

  async function actJunk() {
    const cur = current();
    const junk = mailboxByRole("junk");
    const inbox = mailboxByRole("inbox");
    if (inRole(cur, "junk")) {
      if (!inbox) throw failed("There is no Inbox to move the message back to.");
      await moveTo(inbox.id, { "keywords/$notjunk": true, "keywords/$junk": null });
    } else {
      if (!junk) throw failed("There is no Junk mailbox.");
      await moveTo(junk.id, { "keywords/$junk": true, "keywords/$notjunk": null });
    }
  }

  async function actDelete() {
    const cur = current();
    const trash = mailboxByRole("trash");
    if (trash && !cur.mailboxIds[trash.id]) {
      await moveTo(trash.id);
      return;
    }
    if (!window.confirm("Delete this message for good? This cannot be undone.")) return;
    checkSet(await call("Email/set", { destroy: [cur.id] }));
    status("Deleted for good.");
    closeReader();
    await refresh();
  }

  // ---- trusted senders (AL-1.2) ---------------------------------------------------------------

  async function openTrusted() {
    clearAlert();
    const r = await call("TrustedSender/get", { ids: null });
    drawTrusted(r.list);
    show("trusted");
    $("trusted-heading").focus();
  }

  function drawTrusted(list) {
    const ul = $("trusted-list");
    ul.replaceChildren();
    for (const t of list) {
      const since = new Date(t.added);
      ul.append(el("li", { class: "trusted-item" },
        el("span", { class: "trusted-email", text: t.email }),
        el("span", { class: "trusted-since", text: isNaN(since) ? "" : " since " + since.toLocaleDateString() }),
        el("button", { type: "button", class: "trusted-remove", "aria-label": "Stop trusting " + t.email,
          text: "Remove", onclick: guard(() => removeTrusted(t)) })));
    }
    $("trusted-none").hidden = list.length > 0;
  }

  async function addTrusted() {
    clearAlert();
    const email = $("t-email").value.trim();
    if (email === "") throw failed("Type the sender's address first, for example news@example.org.");
    const res = await call("TrustedSender/set", { create: { t: { email } } });
    const e = ((res && res.notCreated) || {}).t;
    if (e && e.type === "invalidProperties") {
      throw failed("\u201c" + email + "\u201d is not an address that can be trusted: write it as name@example.org.");
    }
    checkSet(res);
    $("t-email").value = "";
    status("You now trust " + email.toLowerCase() + ".");
    const r = await call("TrustedSender/get", { ids: null });
    drawTrusted(r.list);
    $("t-email").focus();
  }

  async function removeTrusted(t) {
    clearAlert();
    checkSet(await call("TrustedSender/set", { destroy: [t.id] }));
    status("You no longer trust " + t.email + ".");
    const r = await call("TrustedSender/get", { ids: null });
    drawTrusted(r.list);
    $("trusted-heading").focus();
  }

  // ---- compose and vacation: compose.js -----------------------------------------------------

  const composer = window.RampartCompose({ $, el, st, CSRF, api, call, http, failed, checkSet,
    setErrors, describe, status, clearAlert, show, addr, who, date, size, parseAddrs, textOf, current,
    mailboxByRole, local, refresh });
  const { startCompose, editDraft, saveDraft, send, closeCompose, upload, composeEmpty,
    openVacation, saveVacation } = composer;

  // ---- new mail without a reload -------------------------------------------------------------

  function listen() {
    if (!st.session.eventSourceUrl) return;
    const url = local(st.session.eventSourceUrl)
      .replace("{types}", "*").replace("{closeafter}", "no").replace("{ping}", "30");
    const es = new EventSource(url, { withCredentials: true });
    st.events = es;
    es.addEventListener("state", () => refresh());
    es.addEventListener("error", () => {
      // EventSource retries by itself while the connection is only interrupted; once it gives
      // up (CLOSED), start again after a pause, checking the session is still alive.
      if (es.readyState === EventSource.CLOSED) {
        st.events = null;
        window.setTimeout(() => {
          http(local("/jmap/session"), {}).then(listen).catch(() => {});
        }, 5000);
      }
    });
  }

  // Several changes in a row are one refresh. Every caller waits for that one: a push arriving
  // while an action awaits its refresh must not leave the action waiting forever (the send's
  // refusal would never reach the alert region).
  function refresh() {
    window.clearTimeout(st.refreshTimer);
    return new Promise((resolve) => {
      st.refreshWaiting.push(resolve);
      st.refreshTimer = window.setTimeout(() => {
        const waiting = st.refreshWaiting;
        st.refreshWaiting = [];
        Promise.all([loadMailboxes(), loadList(false)]).catch(report).then(() => {
          for (const r of waiting) r();
        });
      }, 100);
    });
  }

  // ---- keyboard ------------------------------------------------------------------------------

  function moveSelection(step) {
    const rows = Array.from(document.querySelectorAll("#message-list .row"));
    if (!rows.length) return;
    const at = rows.indexOf(document.activeElement);
    const i = at < 0 ? 0 : Math.min(rows.length - 1, Math.max(0, at + step));
    rows[i].focus();
  }

  function keys(e) {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e)) return;
    if (e.key === "c") {
      e.preventDefault();
      guard(() => startCompose("new"))();
    } else if (e.key === "/") {
      e.preventDefault();
      $("search").focus();
    } else if (e.key === "j") {
      moveSelection(1);
    } else if (e.key === "k") {
      moveSelection(-1);
    } else if (e.key === "Escape" && !$("reader").hidden) {
      closeReader();
    }
  }

  // ---- start ---------------------------------------------------------------------------------

  function report(err) {
    if (!(err instanceof ShownError)) {
      showAlert("Something went wrong: " + (err && err.message ? err.message : String(err)));
    }
  }

  // A handler whose failures end in the alert region.
  function guard(f) {
    return (...a) => {
      try {
        const p = f(...a);
        if (p && p.catch) p.catch(report);
      } catch (err) {
        report(err);
      }
    };
  }

  function wire() {
    const on = (id, ev, f) => $(id).addEventListener(ev, guard(f));
    on("compose-new", "click", () => startCompose("new"));
    on("search-form", "submit", (e) => {
      e.preventDefault();
      clearAlert();
      st.search = $("search").value.trim();
      st.position = 0;
      if (st.search === "" && !st.mailbox) st.mailbox = (mailboxByRole("inbox") || {}).id || null;
      if (st.search !== "") st.mailbox = null;
      drawMailboxes();
      show(null);
      return loadList(true);
    });
    on("vacation-open", "click", openVacation);
    on("trusted-open", "click", openTrusted);
    on("t-close", "click", () => show(st.open ? "reader" : null));
    on("trusted-form", "submit", (e) => {
      e.preventDefault();
      return addTrusted();
    });
    on("page-newer", "click", () => page(-1));
    on("page-older", "click", () => page(1));
    on("reader-back", "click", closeReader);
    on("act-edit", "click", editDraft);
    on("act-reply", "click", () => startCompose("reply"));
    on("act-reply-all", "click", () => startCompose("all"));
    on("act-forward", "click", () => startCompose("forward"));
    on("act-flag", "click", actFlag);
    on("act-unread", "click", actUnread);
    on("act-junk", "click", actJunk);
    on("act-delete", "click", actDelete);
    on("act-move", "click", () => moveTo($("act-move-to").value));
    on("compose-form", "submit", (e) => {
      e.preventDefault();
      return send();
    });
    on("c-save", "click", () => saveDraft(false));
    on("c-close", "click", closeCompose);
    on("c-files", "change", async () => {
      clearAlert();
      const input = $("c-files");
      for (const f of Array.from(input.files)) {
        await upload(f);
      }
      input.value = "";
    });
    on("vacation-form", "submit", (e) => {
      e.preventDefault();
      return saveVacation();
    });
    on("v-close", "click", () => show(st.open ? "reader" : null));
    document.addEventListener("keydown", keys);
    // Leaving the page while composing keeps the draft (best effort: the page may be gone).
    window.addEventListener("pagehide", () => {
      if (st.compose && !composeEmpty()) saveDraft(true).catch(() => {});
    });
  }

  async function start() {
    wire();
    show(null);
    const r = await http("/jmap/session", {});
    if (!r.ok) throw failed("The mail service is not available (the server answered " + r.status + ").");
    st.session = await r.json();
    st.account = st.session.primaryAccounts["urn:ietf:params:jmap:mail"];
    const ids = await call("Identity/get", {});
    st.identities = ids.list;
    $("c-from").replaceChildren(...st.identities.map((i) =>
      el("option", { value: i.id, text: i.name ? i.name + " <" + i.email + ">" : i.email })));
    await loadMailboxes();
    await loadList(false);
    listen();
    document.body.dataset.ready = "1";
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => start().catch(report));
  } else {
    start().catch(report);
  }
})();
