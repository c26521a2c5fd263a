"""Notices as RFC 5322 messages: the model of one notice, its Message-ID, its wire bytes and its Date.

The bytes are built once when a notice is planned, so the outbox and the sender use the very same message;
the `Date:` header is added at the moment the message is written to the outbox or handed to the server.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import hashlib
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from pydantic import BaseModel

from schemas.config import CohortConfig


class Attachment(BaseModel):
    """A file sent with a notice: a reviewer's workbook of assigned applications."""

    filename: str
    content: bytes
    media_type: str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class Notice(BaseModel):
    """One message to one applicant (or reviewer); `refusal` says why it must not be sent, if so."""

    applicant: str
    kind: str
    version: str
    to: str
    cc: str = ""
    subject: str
    text: str
    html: str
    message_id: str
    refusal: str = ""
    message_to_team: str = ""  # staff's words to the team inside the message, listed in the outbox index
    people: list[str] = []  # the names the message greets or lists, masked where staff preview it (tasks/approval.py)
    payload: bytes = b""  # the message as sent, without its Date header, built once when the notice is planned
    attachments: list[Attachment] = []
    headers: dict[str, str] = {}  # more header fields: the interest notice's List-Unsubscribe (RFC 2369, RFC 8058)


def message_id(cohort: str, applicant: str, kind: str, version: str, domain: str) -> str:
    """The same notice always gets the same Message-ID, so a resend can be recognised downstream."""
    digest = hashlib.sha256(f"{cohort}|{applicant}|{kind}|{version}".encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def build_message(notice: Notice, config: CohortConfig) -> EmailMessage:
    """A multipart/alternative message (plain text + HTML) with the notice's fixed Message-ID; with attachments,
    that alternative inside a multipart/mixed one."""
    message = EmailMessage()
    message["From"] = config.email.sender
    message["To"] = notice.to
    if notice.cc:
        message["Cc"] = notice.cc
    if config.email.reply_to:
        message["Reply-To"] = config.email.reply_to
    message["Subject"] = notice.subject
    message["Message-ID"] = notice.message_id
    for name, value in notice.headers.items():
        message[name] = value
    message.set_content(notice.text)
    message.add_alternative(notice.html, subtype="html")
    for attached in notice.attachments:
        main, _, sub = attached.media_type.partition("/")
        message.add_attachment(attached.content, maintype=main, subtype=sub, filename=attached.filename)
    return message


def needs_smtputf8(notice: Notice) -> bool:
    """Internationalized addresses (zoë@…) must travel as UTF-8 (RFC 6531), never as encoded words."""
    return not (notice.to + notice.cc).isascii()


# RFC 5322's limit on a line. A List-Unsubscribe address is one long word that a mail client reads only as it is:
# folded at 78 characters, Python would write it as encoded words, which no client takes for a link.
MAX_LINE = 998


def message_bytes(notice: Notice, config: CohortConfig) -> bytes:
    """The message as it goes on the wire and into the outbox."""
    policy = email.policy.SMTPUTF8 if needs_smtputf8(notice) else email.policy.SMTP
    if notice.headers:
        policy = policy.clone(max_line_length=MAX_LINE)
    return build_message(notice, config).as_bytes(policy=policy)


def with_payload(notice: Notice, config: CohortConfig) -> Notice:
    """The notice with its wire bytes, so the outbox and the sender use the very same message."""
    if notice.refusal:
        return notice
    return notice.model_copy(update={"payload": message_bytes(notice, config)})


def sender_domain(config: CohortConfig) -> str:
    address = parseaddr(config.email.sender)[1]
    try:
        return Address(addr_spec=address).domain or "cohort-select.local"
    except (ValueError, IndexError):
        return "cohort-select.local"


def dated(payload: bytes, moment: dt.datetime) -> bytes:
    """The message with its `Date:` header (RFC 5322 requires one) for the moment it goes out or is written."""
    return f"Date: {format_datetime(moment.astimezone(dt.UTC))}\r\n".encode("ascii") + payload
