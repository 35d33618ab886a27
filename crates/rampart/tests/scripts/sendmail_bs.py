"""`sendmail -bs` driven from Python's subprocess, as a program that speaks SMTP to a pipe does.

argv: rampart_binary config_file recipient
smtplib cannot speak over pipes, so the dialogue is written here by hand: greeting, EHLO, a
MAIL FROM with the null sender, RCPT, DATA with a dot-stuffed line, RSET, NOOP, a second
message, QUIT. Each reply's code and enhanced status code are checked; prints the two queue
ids, one per line; exits non-zero on the first unexpected reply.
"""
import subprocess
import sys

binary, config, rcpt = sys.argv[1:4]
p = subprocess.Popen(
    [binary, "--config", config, "sendmail", "-bs"],
    stdin=subprocess.PIPE,
    stdout=subprocess.PIPE,
)


def reply():
    lines = []
    while True:
        line = p.stdout.readline().decode()
        if not line:
            sys.exit(f"no reply; got {lines}")
        lines.append(line.rstrip("\r\n"))
        if line[3:4] != "-":
            return int(line[:3]), lines


def expect(code, enhanced=None):
    got, lines = reply()
    if got != code or (enhanced and not lines[-1][4:].startswith(enhanced)):
        sys.exit(f"expected {code} {enhanced or ''}, got {lines}")
    return lines


def send(line):
    p.stdin.write(line.encode() + b"\r\n")
    p.stdin.flush()


expect(220)
send("MAIL FROM:<>")
expect(503, "5.5.1")
send("EHLO client.example.test")
ehlo = expect(250)
if not any("ENHANCEDSTATUSCODES" in l for l in ehlo):
    sys.exit(f"EHLO does not offer ENHANCEDSTATUSCODES: {ehlo}")
send("DATA")
expect(503, "5.5.1")
send("MAIL FROM:<>")
expect(250, "2.1.0")
send(f"RCPT TO:<{rcpt}>")
expect(250, "2.1.5")
send("DATA")
expect(354)
for line in [
    "Subject: over -bs",
    f"To: <{rcpt}>",
    "",
    "first line",
    "..a line that starts with a dot",
    "last line",
    ".",
]:
    send(line)
first = expect(250, "2.0.0")[-1].split("queued as ")[-1]
send("MAIL FROM:<nobody@example.test>")
expect(250)
send("RSET")
expect(250, "2.0.0")
send("NOOP")
expect(250, "2.0.0")
send("BOGUS")
expect(500, "5.5.2")
send("HELO again.example.test")
expect(250)
send("MAIL FROM:<>")
expect(250)
send(f"RCPT TO:<{rcpt}>")
expect(250)
send("DATA")
expect(354)
for line in ["Subject: second over -bs", "", "second", "."]:
    send(line)
second = expect(250, "2.0.0")[-1].split("queued as ")[-1]
send("QUIT")
expect(221, "2.0.0")
p.stdin.close()
if p.wait(timeout=30) != 0:
    sys.exit(f"sendmail -bs exited {p.returncode}")
print(first)
print(second)
