"""A minimal SMTP server on loopback that keeps what it is sent: enough of
RFC 5321 for smtplib's sendmail (EHLO/HELO, AUTH PLAIN, MAIL, RCPT, DATA,
RSET, NOOP, QUIT).  Python 3.12 dropped smtpd, and aiosmtpd is not in the
test host."""

from __future__ import annotations

import base64
import socketserver
import threading
from dataclasses import dataclass, field
from typing import Optional


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    data: str
    login: Optional[tuple[str, str]] = None


@dataclass
class Sink:
    mails: list[Mail] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    received: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout: float) -> list[Mail]:
        with self.received:
            self.received.wait_for(lambda: len(self.mails) >= count, timeout)
            return list(self.mails)


class _Handler(socketserver.StreamRequestHandler):
    sink: Sink

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:  # noqa: PLR0912 (one SMTP dialogue)
        self.reply("220 sink ESMTP")
        sender, recipients, login = "", [], None
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.reply("250-sink")
                self.reply("250 AUTH PLAIN")
            elif verb == "HELO":
                self.reply("250 sink")
            elif verb == "AUTH":
                parts = line.split()
                token = parts[2] if len(parts) > 2 else ""
                _, user, password = base64.b64decode(token).decode().split("\0")
                login = (user, password)
                self.sink.logins.append(login)
                self.reply("235 ok")
            elif verb == "MAIL":
                sender = line.split(":", 1)[1].strip().strip("<>").split(">")[0]
                recipients = []
                self.reply("250 ok")
            elif verb == "RCPT":
                recipients.append(line.split(":", 1)[1].strip().strip("<>"))
                self.reply("250 ok")
            elif verb == "DATA":
                self.reply("354 go on")
                lines = []
                while True:
                    data = self.rfile.readline().decode("utf-8", "replace")
                    if data in (".\r\n", ".\n", ""):
                        break
                    lines.append(data[1:] if data.startswith("..") else data)
                with self.sink.received:
                    self.sink.mails.append(Mail(sender, recipients, "".join(lines), login))
                    self.sink.received.notify_all()
                self.reply("250 kept")
            elif verb in ("RSET", "NOOP"):
                self.reply("250 ok")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not here")


class SmtpSink:
    """with SmtpSink() as sink: sink.address is "127.0.0.1:port"."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sink = Sink()
        handler = type("Handler", (_Handler,), {"sink": self.sink})
        self.server = socketserver.ThreadingTCPServer((host, 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host}:{port}"

    def __enter__(self) -> SmtpSink:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
