#!/usr/bin/env python3
"""bench/gateway_probe.py: before bench/gateway_peer.sh measures a gateway, it proves that the
gateway's checks are really on, with three messages over SMTP (Python's smtplib):

  clean  from sender@remote.test (SPF pass, DMARC pass: aligned)         must get 250
  eicar  the same sender, the EICAR test file as a base64 attachment     must get 5xx (NC-2.3.2)
  spoof  envelope sender@remote.test, header From: ceo@bank.test, whose
         DMARC record says p=reject and whose SPF allows nobody          must get 5xx (AL-2.4)

  gateway_probe.py HOST:PORT NAME

Prints one line per message (NAME, message, reply code and text) and exits 1 if any reply is
not the one required.
"""
import base64
import smtplib
import sys

# Assembled at run time so this file is not itself a detection.
EICAR = ("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*").encode()
RCPT = "alice@example.test"
SENDER = "sender@remote.test"


def message(kind):
    head = (f"To: {RCPT}\r\nDate: Fri, 04 Dec 2026 12:00:00 +0000\r\n"
            f"Message-ID: <probe-{kind}@remote.test>\r\nMIME-Version: 1.0\r\n")
    if kind == "clean":
        return (f"From: Sender <{SENDER}>\r\nSubject: Quarterly figures\r\n{head}"
                "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
                "Hello Alice,\r\n\r\nthe figures are attached to the ticket.\r\n\r\nSender\r\n")
    if kind == "eicar":
        b = "probe-boundary"
        att = base64.encodebytes(EICAR).decode().replace("\n", "\r\n")
        return (f"From: Sender <{SENDER}>\r\nSubject: The tool\r\n{head}"
                f'Content-Type: multipart/mixed; boundary="{b}"\r\n\r\n'
                f"--{b}\r\nContent-Type: text/plain\r\n\r\nThe tool is attached.\r\n"
                f'--{b}\r\nContent-Type: application/octet-stream; name="tool.com"\r\n'
                'Content-Disposition: attachment; filename="tool.com"\r\n'
                f"Content-Transfer-Encoding: base64\r\n\r\n{att}--{b}--\r\n")
    if kind == "spoof":
        return (f"From: The CEO <ceo@bank.test>\r\nSubject: Urgent wire transfer\r\n{head}"
                "Content-Type: text/plain\r\n\r\nPlease wire the amount today.\r\n")
    raise ValueError(kind)


def send(host, port, kind):
    """(code, text) of the reply that decided the message's fate."""
    try:
        with smtplib.SMTP(host, port, local_hostname="client.remote.test", timeout=60) as s:
            s.ehlo()
            code, text = s.mail(SENDER)
            if code != 250:
                return code, text.decode(errors="replace")
            code, text = s.rcpt(RCPT)
            if code != 250:
                return code, text.decode(errors="replace")
            code, text = s.data(message(kind).encode())
            return code, text.decode(errors="replace")
    except smtplib.SMTPResponseException as e:
        return e.smtp_code, e.smtp_error.decode(errors="replace")
    except (OSError, smtplib.SMTPException) as e:
        return 0, f"{type(e).__name__}: {e}"


def main():
    if len(sys.argv) != 3 or ":" not in sys.argv[1]:
        sys.exit("usage: gateway_probe.py HOST:PORT NAME")
    host, port = sys.argv[1].rsplit(":", 1)
    name = sys.argv[2]
    bad = 0
    for kind, want in (("clean", "250"), ("eicar", "5xx"), ("spoof", "5xx")):
        code, text = send(host, int(port), kind)
        ok = code == 250 if want == "250" else 500 <= code < 600
        bad += not ok
        print(f"  {name:8} {kind:6} {code} {' '.join(text.split())[:110]}"
              f"{'' if ok else f'   <-- wanted {want}'}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
