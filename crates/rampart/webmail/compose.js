// The webmail's composer and vacation form (AL-4.1), split from app.js: write, reply, reply-all,
// forward with attachments, drafts saved and reopened, send; the vacation reply.
//
// Loaded before app.js; app.js calls window.RampartCompose with the helpers both share (its
// state, the JMAP calls, the alert) and wires the returned functions to the page.
"use strict";

window.RampartCompose = function (h) {
  const { $, el, st, CSRF, api, call, http, failed, checkSet, setErrors, describe, status, clearAlert,
    show, addr, who, date, size, parseAddrs, textOf, current, mailboxByRole, local, refresh } = h;

  // ---- compose -------------------------------------------------------------------------------

  function quote(e) {
    return "\n\nOn " + date(e.sentAt || e.receivedAt) + ", " + who(e.from) + " wrote:\n" +
      textOf(e).split("\n").map((l) => "> " + l).join("\n");
  }

  function startCompose(mode) {
    const e = mode === "new" ? null : current();
    st.compose = { draftId: null, attachments: [], inReplyTo: null, references: null, discard: false };
    $("c-close").textContent = "Close";
    $("c-to").value = "";
    $("c-cc").value = "";
    $("c-bcc").value = "";
    $("c-subject").value = "";
    $("c-body").value = "";
    $("c-attachments").replaceChildren();
    $("compose-heading").textContent = { new: "New message", reply: "Reply", all: "Reply all", forward: "Forward" }[mode];
    if (e && (mode === "reply" || mode === "all")) {
      const me = st.identities.map((i) => i.email.toLowerCase());
      const to = (e.replyTo && e.replyTo.length) ? e.replyTo : (e.from || []);
      $("c-to").value = addr(to);
      if (mode === "all") {
        const seen = new Set(to.map((a) => a.email.toLowerCase()));
        const cc = (e.to || []).concat(e.cc || []).filter((a) => {
          const k = a.email.toLowerCase();
          if (seen.has(k) || me.includes(k)) return false;
          seen.add(k);
          return true;
        });
        $("c-cc").value = addr(cc);
      }
      $("c-subject").value = /^re:/i.test(e.subject || "") ? e.subject : "Re: " + (e.subject || "");
      $("c-body").value = quote(e);
      st.compose.inReplyTo = e.messageId || null;
      st.compose.references = (e.references || []).concat(e.messageId || []);
    } else if (e && mode === "forward") {
      $("c-subject").value = /^fwd?:/i.test(e.subject || "") ? e.subject : "Fwd: " + (e.subject || "");
      $("c-body").value = "\n\n---------- Forwarded message ----------\nFrom: " + addr(e.from) +
        "\nDate: " + date(e.sentAt || e.receivedAt) + "\nSubject: " + (e.subject || "") +
        "\nTo: " + addr(e.to) + "\n\n" + textOf(e);
      // The original's attachments go along by blobId: nothing is downloaded and uploaded again.
      for (const a of e.attachments || []) {
        addAttachment({ blobId: a.blobId, name: a.name || "attachment", type: a.type, size: a.size || 0 });
      }
    }
    show("compose");
    (mode === "new" || mode === "forward" ? $("c-to") : $("c-body")).focus();
    if (mode !== "new" && mode !== "forward") {
      $("c-body").setSelectionRange(0, 0);
    }
  }

  // Reopens the draft open in the reader. A message cannot change in place, so saving or sending
  // it creates a new one and destroys this draft (draftId), which must not stay in Drafts.
  function editDraft() {
    const e = current();
    if (!e || !(e.keywords || {}).$draft) return;
    startCompose("new");
    $("compose-heading").textContent = "Edit draft";
    st.compose.draftId = e.id;
    st.compose.inReplyTo = e.inReplyTo || null;
    st.compose.references = e.references || null;
    const from = ((e.from || [])[0] || {}).email || "";
    const ident = st.identities.find((i) => i.email.toLowerCase() === from.toLowerCase());
    if (ident) $("c-from").value = ident.id;
    $("c-to").value = addr(e.to);
    $("c-cc").value = addr(e.cc);
    $("c-bcc").value = addr(e.bcc);
    $("c-subject").value = e.subject || "";
    $("c-body").value = textOf(e);
    for (const a of e.attachments || []) {
      addAttachment({ blobId: a.blobId, name: a.name || "attachment", type: a.type, size: a.size || 0 });
    }
    // The reader showed the draft, which is about to be replaced: back to the list after.
    st.open = null;
    st.thread = [];
    $("c-body").focus();
  }

  function addAttachment(a) {
    st.compose.attachments.push(a);
    const li = el("li", {}, el("span", { text: a.name + " (" + size(a.size) + ", " + (a.type || "unknown type") + ") " }),
      el("button", {
        type: "button",
        "aria-label": "Remove attachment " + a.name,
        text: "Remove",
        onclick: () => {
          st.compose.attachments = st.compose.attachments.filter((x) => x !== a);
          li.remove();
        },
      }));
    $("c-attachments").append(li);
  }

  async function upload(file) {
    const url = local(st.session.uploadUrl).replace("{accountId}", encodeURIComponent(st.account));
    status("Uploading " + file.name + "…");
    const r = await http(url, {
      method: "POST",
      headers: { "Content-Type": file.type || "application/octet-stream", "X-Rampart-CSRF": CSRF },
      body: file,
    });
    if (r.status === 413) {
      throw failed("The file " + file.name + " is too large to attach (" + size(file.size) + ").");
    }
    if (!r.ok) {
      throw failed("The file " + file.name + " could not be uploaded (the server answered " + r.status + ").");
    }
    const b = await r.json();
    addAttachment({ blobId: b.blobId, name: file.name, type: b.type || file.type || "application/octet-stream", size: b.size });
    status("Attached " + file.name + ".");
  }

  function composed() {
    const c = st.compose;
    const drafts = mailboxByRole("drafts");
    const ident = st.identities.find((i) => i.id === $("c-from").value) || st.identities[0];
    const email = {
      mailboxIds: drafts ? { [drafts.id]: true } : {},
      keywords: { $draft: true, $seen: true },
      from: ident ? [{ name: ident.name || null, email: ident.email }] : undefined,
      to: parseAddrs($("c-to").value),
      cc: parseAddrs($("c-cc").value),
      bcc: parseAddrs($("c-bcc").value),
      subject: $("c-subject").value,
      bodyValues: { body: { value: $("c-body").value } },
      textBody: [{ partId: "body", type: "text/plain" }],
    };
    if (c.inReplyTo) email.inReplyTo = c.inReplyTo;
    if (c.references && c.references.length) email.references = c.references;
    if (c.attachments.length) {
      email.attachments = c.attachments.map((a) => ({
        blobId: a.blobId, type: a.type || "application/octet-stream", name: a.name, disposition: "attachment",
      }));
    }
    for (const k of ["to", "cc", "bcc"]) if (!email[k].length) delete email[k];
    return { email, ident };
  }

  function composeEmpty() {
    return !["c-to", "c-cc", "c-bcc", "c-subject", "c-body"].some((id) => $(id).value.trim() !== "") &&
      !st.compose.attachments.length;
  }

  // Saves the draft: a new draft replaces the previous one (a message cannot change in place).
  // `leaving`: the page is going away, so the request must outlive it (fetch keepalive).
  async function saveDraft(leaving) {
    if (!st.compose || composeEmpty()) return;
    if (!mailboxByRole("drafts")) throw failed("There is no Drafts mailbox to save into.");
    const { email } = composed();
    const args = { accountId: st.account, create: { draft: email } };
    if (st.compose.draftId) args.destroy = [st.compose.draftId];
    const res = checkSet((await api([["Email/set", args, "0"]], false, leaving === true))["0"]);
    st.compose.draftId = res.created.draft.id;
    status("Draft saved.");
  }

  async function send() {
    clearAlert();
    const { email, ident } = composed();
    if (!ident) throw failed("You have no identity to send from.");
    if (!email.to && !email.cc && !email.bcc) throw failed("Add at least one recipient.");
    const drafts = mailboxByRole("drafts");
    const sent = mailboxByRole("sent");
    const onSuccess = { "keywords/$draft": null };
    if (drafts) onSuccess["mailboxIds/" + drafts.id] = null;
    if (sent) onSuccess["mailboxIds/" + sent.id] = true;
    const create = { draft: email };
    const args = { accountId: st.account, create };
    if (st.compose.draftId) args.destroy = [st.compose.draftId];
    status("Sending…");
    const r = await api([
      ["Email/set", args, "e"],
      ["EmailSubmission/set", {
        accountId: st.account,
        create: { s: { identityId: ident.id, emailId: "#draft" } },
        onSuccessUpdateEmail: { "#s": onSuccess },
      }, "s"],
    ], true);
    if (r.e.__name === "error") throw failed(describe(r.e));
    const made = r.e.created && r.e.created.draft;
    if (!made) {
      // Not even stored: the submission's own error (no such email) would say nothing more.
      status("Not sent.");
      throw failed(setErrors(r.e).join(" ") || "The message could not be stored.");
    }
    st.compose.draftId = made.id;
    const words = r.s.__name === "error" ? [describe(r.s)] : setErrors(r.s);
    if (words.length) {
      // The message stays in Drafts, so nothing typed is lost.
      status("Not sent; the message was kept in Drafts.");
      await refresh();
      throw failed(words.join(" "));
    }
    st.compose = null;
    status("Message sent.");
    show(st.open ? "reader" : null);
    await refresh();
    if (st.open) $("reader-heading").focus(); else $("list-heading").focus();
  }

  // Closing keeps the text as a draft. If it cannot be saved, the composer stays open with the
  // error shown, and a second Close discards it.
  async function closeCompose() {
    if (!st.compose.discard) {
      try {
        await saveDraft(false);
      } catch (err) {
        st.compose.discard = true;
        $("c-close").textContent = "Discard";
        throw err;
      }
    }
    st.compose = null;
    $("c-close").textContent = "Close";
    show(st.open ? "reader" : null);
    await refresh();
  }

  // ---- vacation reply ------------------------------------------------------------------------

  // datetime-local <-> UTCDate
  function toLocalInput(s) {
    if (!s) return "";
    const d = new Date(s);
    if (isNaN(d)) return "";
    const p = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + "T" + p(d.getHours()) + ":" + p(d.getMinutes());
  }
  function fromLocalInput(v) {
    if (!v) return null;
    const d = new Date(v);
    return isNaN(d) ? null : d.toISOString().replace(/\.\d{3}Z$/, "Z");
  }

  async function openVacation() {
    clearAlert();
    const r = await call("VacationResponse/get", { ids: ["singleton"] });
    const v = r.list[0] || {};
    $("v-on").checked = !!v.isEnabled;
    $("v-subject").value = v.subject || "";
    $("v-text").value = v.textBody || "";
    $("v-from").value = toLocalInput(v.fromDate);
    $("v-to").value = toLocalInput(v.toDate);
    show("vacation");
    $("vacation-heading").focus();
  }

  async function saveVacation() {
    clearAlert();
    checkSet(await call("VacationResponse/set", {
      update: {
        singleton: {
          isEnabled: $("v-on").checked,
          subject: $("v-subject").value || null,
          textBody: $("v-text").value || null,
          fromDate: fromLocalInput($("v-from").value),
          toDate: fromLocalInput($("v-to").value),
        },
      },
    }));
    status($("v-on").checked ? "Vacation reply is on." : "Vacation reply is off.");
    show(st.open ? "reader" : null);
  }
  return { startCompose, editDraft, saveDraft, send, closeCompose, upload, composeEmpty,
    openVacation, saveVacation };
};
