"""A real SMTP server for tests (aiosmtpd on 127.0.0.1) that records messages and injects replies."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import random
import signal
import socket
import threading
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: email.message.EmailMessage


@dataclass
class RecordingHandler:
    """Accepts mail, or answers with the replies a test queued for a command."""

    received: list[Received] = field(default_factory=list)
    rcpt_replies: dict[str, list[str]] = field(default_factory=dict)
    data_replies: list[str] = field(default_factory=list)
    drop_next_mail: int = 0
    kill_pid_at_data: tuple[int, int] | None = None  # (pid, k): SIGKILL pid when the k-th message arrives
    kill_pid_at_mail: tuple[int, int] | None = None  # (pid, k): SIGKILL pid at the k-th MAIL FROM
    delay: tuple[float, float] = (0.0, 0.0)  # seconds the server takes over each message, drawn uniformly
    mails: int = 0
    rcpt_seen: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        with self.lock:
            self.mails += 1
            if self.kill_pid_at_mail and self.mails == self.kill_pid_at_mail[1]:
                os.kill(self.kill_pid_at_mail[0], signal.SIGKILL)
            if self.drop_next_mail:
                self.drop_next_mail -= 1
                server.transport.close()
                return "421 closing"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:
            self.rcpt_seen.append(address)
            queued = self.rcpt_replies.get(address)
            if queued:
                return queued.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay[1]:
            await asyncio.sleep(random.uniform(*self.delay))
        with self.lock:
            if self.data_replies:
                return self.data_replies.pop(0)
            message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
            if self.kill_pid_at_data and len(self.received) == self.kill_pid_at_data[1]:
                os.kill(self.kill_pid_at_data[0], signal.SIGKILL)
        return "250 Message accepted for delivery"


class SmtpServer:
    """aiosmtpd on a free loopback port, with SMTPUTF8 for internationalized addresses."""

    def __init__(self) -> None:
        self.handler = RecordingHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, enable_SMTPUTF8=True)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    @property
    def received(self) -> list[Received]:
        return self.handler.received
