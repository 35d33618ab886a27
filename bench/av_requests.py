#!/usr/bin/env python3
"""bench/av_requests.py: what each way of asking clamd costs and what it catches (NC-2.3.2).

Starts a private clamd (its own directory, a unix socket, a database of the bench's own: the
EICAR string by MD5 in an .hdb, a custom body pattern in an .ndb; freshclam cannot run here),
then, for each request shape below:

  1. protection: sends messages carrying EICAR or the custom pattern in each encoding Rampart
     must see through (plain text, base64, quoted-printable, uuencode in a text body, a nested
     message/rfc822, a zip, a zip in a zip) and a clean message, and prints which are caught;
  2. cost: sends N clean 10 KB messages (the bench's smtp-source shape: one text/plain part)
     and N clean messages with a 10 KB base64 attachment, and prints clamd's CPU per message
     (user+system from /proc/PID/stat) and the client's wall time per message.

Request shapes (one INSTREAM = one connection to clamd):
  whole+parts  the whole message, then every decoded leaf part (Rampart before this change)
  whole        the whole message only (clamd decodes MIME itself)
  parts        every decoded leaf part only
  tar          ONE INSTREAM: a POSIX tar holding the whole message and every decoded leaf part
               as members; clamd unpacks tar (ScanArchive) and scans each member as its own file

Each shape is sent both ways clamd takes bytes on a unix socket (--via):
  instream     zINSTREAM: the bytes streamed over the socket (clamd copies them into a file)
  fd           zFILDES: an in-memory file (memfd) passed as a descriptor; clamd reads it in place
The protection table must come out the same both ways (the script fails otherwise).

Decoded parts are taken with Python's email package (Rampart uses mail-parser); for these
messages both give the same leaves.

  python3 bench/av_requests.py [--messages 400] [--via instream,fd] [--tmpdir DIR]
                               [--clamd /usr/sbin/clamd]

clamd writes every INSTREAM, and every file it unpacks, to a file in its TemporaryDirectory, so
its cost per request depends on that file system (--tmpdir): on ext4 without a journal, as on
the machine this was written on, creating a file slows down after many deletions.
"""
import argparse
import base64
import email
import email.policy
import io
import os
import quopri
import shutil
import socket
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
import hashlib

CLK_TCK = os.sysconf("SC_CLK_TCK")
# Assembled at run time so this file is not itself a detection.
EICAR = ("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*").encode()
CUSTOM = b"RAMPART-CUSTOM-TEST-PATTERN"


def start_clamd(binary, work):
    db = os.path.join(work, "db")
    os.makedirs(db)
    with open(os.path.join(db, "bench.hdb"), "w") as f:
        f.write(f"{hashlib.md5(EICAR).hexdigest()}:{len(EICAR)}:Eicar-Test-Signature\n")
    with open(os.path.join(db, "bench.ndb"), "w") as f:
        f.write(f"Rampart.Test.Custom:0:*:{CUSTOM.hex()}\n")
    sock = os.path.join(work, "clamd.sock")
    conf = os.path.join(work, "clamd.conf")
    with open(conf, "w") as f:
        f.write(f"Foreground yes\nLocalSocket {sock}\nDatabaseDirectory {db}\n"
                f"LogFile {work}/clamd.log\nPidFile {work}/clamd.pid\n"
                f"TemporaryDirectory {work}\nLogTime no\nScanMail yes\nScanArchive yes\n"
                "AlertExceedsMax yes\n")
    proc = subprocess.Popen([binary, "-c", conf], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=open(f"{work}/clamd.stderr", "w"))
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"error: clamd exited: {open(f'{work}/clamd.stderr').read()}")
        try:
            if command(sock, b"zPING\0") == "PONG":
                return proc, sock
        except OSError:
            pass
        time.sleep(0.05)
    proc.kill()
    sys.exit("error: clamd did not answer PING within 90 s")


def command(sock, cmd):
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(sock)
        s.sendall(cmd)
        return read_reply(s)


def read_reply(s):
    buf = b""
    while b"\0" not in buf:
        chunk = s.recv(512)
        if not chunk:
            break
        buf += chunk
    return buf.split(b"\0")[0].decode(errors="replace").strip()


def instream(sock, data):
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(sock)
        s.sendall(b"zINSTREAM\0" + struct.pack(">I", len(data)) + data + struct.pack(">I", 0))
        return read_reply(s)


def fildes(sock, data):
    fd = os.memfd_create("av-requests", os.MFD_CLOEXEC)
    try:
        os.pwrite(fd, data, 0)
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(sock)
            s.sendall(b"zFILDES\0")
            socket.send_fds(s, [b"\0"], [fd])
            return read_reply(s)
    finally:
        os.close(fd)


SEND = {"instream": instream, "fd": fildes}


def leaves(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    out = []
    for part in msg.walk():
        if part.is_multipart() or part.get_content_type() == "message/rfc822":
            continue
        data = part.get_payload(decode=True) or b""
        if data:
            out.append(data)
    return out


def tar_of(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for i, data in enumerate(members):
            info = tarfile.TarInfo(f"{i}")
            info.size = len(data)
            info.mtime = 0
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


SHAPES = {
    "whole+parts": lambda raw: [raw] + leaves(raw),
    "whole": lambda raw: [raw],
    "parts": lambda raw: leaves(raw),
    "tar": lambda raw: [tar_of([raw] + leaves(raw))],
}


def scan(sock, shape, raw, via="instream"):
    """The first detection among the shape's requests, 'OK', or the error."""
    replies = [SEND[via](sock, r) for r in SHAPES[shape](raw)]
    for r in replies:
        if r.endswith("FOUND"):
            return r.split(":", 1)[1].strip().removesuffix(" FOUND")
    bad = [r for r in replies if not r.endswith(": OK")]
    return bad[0] if bad else "OK"


# ---- messages ----
HEAD = ("From: sender@remote.test\r\nTo: alice@example.test\r\nSubject: test\r\n"
        "Date: Fri, 04 Dec 2026 12:00:00 +0000\r\nMessage-ID: <{n}@remote.test>\r\n"
        "MIME-Version: 1.0\r\n")


def multipart(n, body_text, att_headers, att_body):
    b = "b0undary"
    return (HEAD.format(n=n) + f'Content-Type: multipart/mixed; boundary="{b}"\r\n\r\n'
            f"--{b}\r\nContent-Type: text/plain\r\n\r\n{body_text}\r\n"
            f"--{b}\r\n{att_headers}\r\n\r\n{att_body}\r\n--{b}--\r\n").encode()


def b64(data):
    return base64.encodebytes(data).decode().replace("\n", "\r\n")


def zip_of(entries):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries:
            z.writestr(name, data)
    return buf.getvalue()


def uuencode(name, data):
    import binascii
    lines = [f"begin 644 {name}"]
    for i in range(0, len(data), 45):
        lines.append(binascii.b2a_uu(data[i:i + 45]).decode().rstrip("\n"))
    lines += ["`", "end"]
    return "\r\n".join(lines)


def cases():
    qp = quopri.encodestring(EICAR, quotetabs=True).decode()
    # quopri leaves most EICAR characters as they are; encode every byte so the encoded form
    # does not contain the string.
    qp_all = "".join(f"={b:02X}" for b in EICAR)
    inner = multipart(99, "inner", 'Content-Type: application/octet-stream; name="e.com"\r\n'
                      'Content-Transfer-Encoding: base64', b64(EICAR)).decode()
    zipped = zip_of([("eicar.com", EICAR)])
    return [
        ("clean text", multipart(1, "hello", "Content-Type: text/plain", "nothing here"), False),
        ("eicar plain text attachment", multipart(2, "see", 'Content-Type: text/plain; name="e.txt"',
                                                  EICAR.decode()), True),
        ("eicar base64", multipart(3, "see", 'Content-Type: application/octet-stream; name="e.com"\r\n'
                                   "Content-Transfer-Encoding: base64", b64(EICAR)), True),
        ("eicar quoted-printable (every byte)", multipart(
            4, "see", 'Content-Type: text/plain; name="e.txt"\r\n'
            "Content-Transfer-Encoding: quoted-printable", qp_all), True),
        ("eicar quoted-printable (quopri)", multipart(
            5, "see", 'Content-Type: text/plain; name="e.txt"\r\n'
            "Content-Transfer-Encoding: quoted-printable", qp), True),
        ("eicar uuencoded in the text body", (HEAD.format(n=6) + "Content-Type: text/plain\r\n\r\n"
                                              "see below\r\n\r\n" + uuencode("e.com", EICAR) + "\r\n").encode(), True),
        ("eicar in nested message/rfc822", multipart(7, "fwd", "Content-Type: message/rfc822", inner), True),
        ("eicar in a zip (base64)", multipart(8, "zip", 'Content-Type: application/zip; name="e.zip"\r\n'
                                              "Content-Transfer-Encoding: base64", b64(zipped)), True),
        ("eicar in a zip in a zip", multipart(9, "zip", 'Content-Type: application/zip; name="o.zip"\r\n'
                                              "Content-Transfer-Encoding: base64",
                                              b64(zip_of([("inner.zip", zipped)]))), True),
        ("custom pattern in the text body", (HEAD.format(n=10) + "Content-Type: text/plain\r\n\r\n"
                                             "a RAMPART-CUSTOM-TEST-PATTERN b\r\n").encode(), True),
        ("custom pattern base64", multipart(11, "see", 'Content-Type: application/octet-stream; name="d.bin"\r\n'
                                            "Content-Transfer-Encoding: base64",
                                            b64(b"x " + CUSTOM + b" y")), True),
    ]


def clean_10k(n):
    # smtp-source's shape: headers, then ~10 KB of text lines, no MIME.
    line = "La de da de da 1.\r\n"
    body = line * (10240 // len(line))
    return (HEAD.format(n=n) + "\r\n" + body).encode()


def clean_attachment(n):
    data = os.urandom(10240)
    return multipart(n, "report attached", 'Content-Type: application/octet-stream; name="r.bin"\r\n'
                     "Content-Transfer-Encoding: base64", b64(data))


def cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=400)
    ap.add_argument("--order", default="whole,parts,tar,whole+parts",
                    help="the order the shapes are measured in (comma-separated)")
    ap.add_argument("--via", default="instream,fd",
                    help="how the bytes reach clamd: instream, fd, or both (comma-separated)")
    ap.add_argument("--tmpdir", default=None,
                    help="where clamd's directory (and its TemporaryDirectory) goes; default "
                    "the system's temporary directory")
    ap.add_argument("--clamd", default=shutil.which("clamd") or "/usr/sbin/clamd")
    args = ap.parse_args()
    if not os.path.exists(args.clamd):
        sys.exit("error: clamd not found: install clamav-daemon (apt-get install clamav-daemon)")
    work = tempfile.mkdtemp(prefix="rampart-av-requests.", dir=args.tmpdir)
    proc, sock = start_clamd(args.clamd, work)
    failures = 0
    try:
        version = command(sock, b"zVERSION\0")
        print(f"clamd {version}, private database (EICAR by MD5, a custom body pattern)")
        vias = args.via.split(",")
        cs = cases()
        seen = {}
        for via in vias:
            print(f"\nprotection via {via} (signature found, or OK):")
            print(f"  {'message':40} " + " ".join(f"{s:>28}" for s in SHAPES))
            for name, raw, infected in cs:
                row = []
                for shape in SHAPES:
                    r = scan(sock, shape, raw, via)
                    caught = r != "OK"
                    row.append(r if caught else "OK")
                    if shape == "tar" and caught != infected:
                        failures += 1
                    # The same shape must catch the same things whichever way it is sent.
                    if seen.setdefault((name, shape), r) != r:
                        failures += 1
                        print(f"  DIFFERENT from the first transport: {name}, {shape}")
                print(f"  {name:40} " + " ".join(f"{r[:28]:>28}" for r in row))
        print(f"\ncost: {args.messages} clean messages per shape, clamd CPU (user+system) per message")
        for label, make in (("10 KB text, no MIME (smtp-source)", clean_10k),
                            ("text + 10 KB base64 attachment", clean_attachment)):
            msgs = [make(i) for i in range(args.messages)]
            combos = [(shape, via) for shape in args.order.split(",") for via in vias]
            for m in msgs[:20]:  # warm-up
                for shape, via in combos:
                    scan(sock, shape, m, via)
            # In blocks of 50 messages, the order of the shapes rotated from round to round,
            # so that whatever else slows the machine down during the run weighs on every
            # shape alike; clamd's CPU is read from /proc in clock ticks, and the work it does
            # after a reply (removing its temporary files) falls into the next reading, so a
            # block of 50 keeps that spill-over small.
            spent = {c: [0.0, 0.0] for c in combos}
            blocks = [msgs[i:i + 50] for i in range(0, len(msgs), 50)]
            for r, block in enumerate(blocks):
                k = r % len(combos)
                for shape, via in combos[k:] + combos[:k]:
                    c0, t0 = cpu(proc.pid), time.monotonic()
                    for m in block:
                        if scan(sock, shape, m, via) != "OK":
                            failures += 1
                    spent[(shape, via)][0] += cpu(proc.pid) - c0
                    spent[(shape, via)][1] += time.monotonic() - t0
            for shape, via in combos:
                c, t = spent[(shape, via)]
                print(f"  {label:36} {shape:12} {via:9} clamd {1e6 * c / len(msgs):7.0f} us/msg"
                      f"   wall {1e6 * t / len(msgs):7.0f} us/msg"
                      f"   requests/msg {len(SHAPES[shape](msgs[0]))}")
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        sys.exit(f"error: {failures} result(s) differ from what was expected (the tar shape "
                 "must catch every case, and each shape the same whichever way it is sent)")


if __name__ == "__main__":
    main()
