"""End to end with jmapc (PyPI), a JMAP client we did not write, against a real `rampart serve`.

argv: https_port mx_port submission_port ca_file password
Alice reads a message Bob sent her over SMTP (with swaks), moves it to the Archive, flags it,
replies through EmailSubmission (Bob receives the reply), and gets a push event when new mail
arrives. Prints one line per step; exits non-zero on the first failure.
"""
import os
import socket
import subprocess
import sys
import threading

https_port, mx_port, submission_port, ca_file, password = sys.argv[1:6]
HOST = "mail.example.test"

# The certificate names mail.example.test; the server listens on 127.0.0.1 (as curl's --resolve).
_real_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host, *args, **kwargs):
    if host == HOST:
        host = "127.0.0.1"
    return _real_getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _getaddrinfo
os.environ["REQUESTS_CA_BUNDLE"] = ca_file

import jmapc  # noqa: E402
from jmapc import Comparator, Email, EmailAddress, EmailBodyValue, EmailBodyPart  # noqa: E402
from jmapc import EmailQueryFilterCondition, EmailSubmission, Envelope, Address  # noqa: E402
from jmapc.methods import (  # noqa: E402
    EmailGet, EmailQuery, EmailSet, EmailSubmissionSet, IdentityGet, MailboxGet,
)


def swaks(frm, to, subject, body, extra=(), port=None):
    out = subprocess.run(
        ["swaks", "--server", "127.0.0.1", "--port", port or mx_port, "--from", frm, "--to", to,
         "--header", f"Subject: {subject}", "--body", body, "--helo", "client.example.org",
         *extra],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def client(user):
    return jmapc.Client.create_with_password(f"{HOST}:{https_port}", user, password)


alice = client("alice@example.test")
bob = client("bob@example.test")

# 1. Bob writes to Alice over SMTP submission (swaks, STARTTLS, AUTH PLAIN); Alice lists her
# mailboxes and finds it.
swaks("bob@example.test", "alice@example.test", "Lunch on Friday?", "Shall we meet at noon?",
      ["--header", "Message-Id: <lunch-1@example.test>", "--tls", "--auth", "PLAIN",
       "--auth-user", "bob@example.test", "--auth-password", password],
      port=submission_port)
boxes = alice.request(MailboxGet(ids=None)).data
roles = {m.role: m.id for m in boxes if m.role}
for r in ("inbox", "sent", "drafts", "trash", "junk", "archive"):
    assert r in roles, (r, roles)
print("mailboxes", sorted(roles))

found = alice.request(EmailQuery(
    filter=EmailQueryFilterCondition(in_mailbox=roles["inbox"], text="Friday"),
    sort=[Comparator(property="receivedAt", is_ascending=False)], limit=10))
assert not isinstance(found, jmapc.errors.Error), found
assert len(found.ids) == 1, found
eid = found.ids[0]
got = alice.request(EmailGet(ids=[eid], fetch_text_body_values=True,
                             properties=["subject", "from", "messageId", "textBody",
                                         "bodyValues", "mailboxIds", "keywords", "threadId"]))
msg = got.data[0]
assert msg.subject == "Lunch on Friday?", msg.subject
assert msg.mail_from[0].email == "bob@example.test", msg.mail_from
part = msg.text_body[0].part_id
assert "meet at noon" in msg.body_values[part].value, msg.body_values
print("read", msg.subject)

# 2. Move it to the Archive and flag it.
r = alice.request(EmailSet(update={eid: {
    f"mailboxIds/{roles['inbox']}": None,
    f"mailboxIds/{roles['archive']}": True,
    "keywords/$flagged": True,
}}))
assert r.updated is not None and eid in r.updated, r
after = alice.request(EmailGet(ids=[eid], properties=["mailboxIds", "keywords"])).data[0]
assert after.mailbox_ids == {roles["archive"]: True}, after.mailbox_ids
assert after.keywords.get("$flagged") is True, after.keywords
print("moved-and-flagged")

# 3. Reply through EmailSubmission: a draft, then a submission that files it in Sent.
identity = alice.request(IdentityGet(ids=None)).data[0]
assert identity.email == "alice@example.test", identity
draft = Email(
    mail_from=[EmailAddress(name="Alice", email="alice@example.test")],
    to=[EmailAddress(name="Bob", email="bob@example.test")],
    subject="Re: Lunch on Friday?",
    in_reply_to=["lunch-1@example.test"],
    references=["lunch-1@example.test"],
    keywords={"$draft": True},
    mailbox_ids={roles["drafts"]: True},
    body_values={"body": EmailBodyValue(value="Noon suits me.")},
    text_body=[EmailBodyPart(part_id="body", type="text/plain")],
)
results = alice.request([
    EmailSet(create={"draft": draft}),
    EmailSubmissionSet(
        create={"send": EmailSubmission(
            email_id="#draft", identity_id=identity.id,
            envelope=Envelope(mail_from=Address(email="alice@example.test"),
                              rcpt_to=[Address(email="bob@example.test")]))},
        on_success_update_email={"#send": {
            f"mailboxIds/{roles['drafts']}": None,
            f"mailboxIds/{roles['sent']}": True,
            "keywords/$draft": None,
        }},
    ),
])
created = results[0].response.created
assert created and "draft" in created, results[0].response
sub = results[1].response
assert sub.created and "send" in sub.created, sub
print("submitted", sub.created["send"].id)

# Bob receives it: local mail is in his mailbox once the submission is answered.
bob_boxes = {m.role: m.id for m in bob.request(MailboxGet(ids=None)).data if m.role}
got = bob.request(EmailQuery(filter=EmailQueryFilterCondition(
    in_mailbox=bob_boxes["inbox"], text="Noon suits")))
assert got.ids, "bob did not receive the reply"
reply = bob.request(EmailGet(ids=got.ids[:1], properties=["subject", "from", "inReplyTo"])).data[0]
assert reply.subject == "Re: Lunch on Friday?", reply.subject
assert reply.mail_from[0].email == "alice@example.test"
print("bob-received", reply.subject)

# 4. Push: Alice's EventSource connection hears of the next message that arrives.
alice_push = client("alice@example.test")
seen = []


def listen():
    for ev in alice_push.events:
        seen.append(ev)
        return


t = threading.Thread(target=listen, daemon=True)
t.start()
# The listener's connection may open after a message: send until one is heard (at most 20).
for i in range(20):
    swaks("carol@example.org", "alice@example.test", f"push {i}", "ping")
    t.join(timeout=3)
    if seen:
        break
assert seen, "no push event"
account = alice.account_id
changed = seen[0].data.changed
assert account in changed, changed
print("push", sorted(k for k, v in vars(changed[account]).items() if v))
