"""Delivery: the dry-run outbox, and SMTP sending recorded in the notice ledger (outbox pattern).

Each notice is marked `sending` (committed) once the server has accepted its recipients, just before
its DATA goes out, and `sent` (committed) after the server accepts it. A kill before that point leaves
it pending, and the next run sends it. A notice found `sending` at the start of a run was cut off in between: it becomes
`unknown`, is listed, and is resent (with the same Message-ID) only when staff ask.
"""

from __future__ import annotations

import contextlib
import csv
import os
import smtplib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path

import sqlalchemy as sa
from pydantic import BaseModel

from schemas.columns import INITIAL_DECISION_KINDS
from schemas.config import CohortConfig
from schemas.errors import StaffError
from tasks.notices import Notice, kinds_of, needs_smtputf8
from tasks.store import (
    FAILED,
    PENDING,
    REFUSED,
    SENDING,
    SENT,
    SUPERSEDED,
    UNKNOWN,
    LedgerWriter,
    StoreError,
    advice,
    freeze_latest,
    ledger,
    notices,
    now,
)

# Notices a changed decision may replace: never one that is unknown, since it may have reached its recipient.
REPLACEABLE = (PENDING, FAILED)


class SmtpSettingsError(StaffError):
    """SMTP settings are incomplete (e.g. a username without a password)."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str
    username: str | None
    password: str | None

    def __repr__(self) -> str:
        return f"SmtpSettings(host={self.host!r}, port={self.port}, security={self.security!r}, password=***)"


def smtp_settings(config: CohortConfig) -> SmtpSettings:
    """Config values, overridden by SMTP_HOST / SMTP_PORT / SMTP_USERNAME / SMTP_PASSWORD."""
    smtp = config.email.smtp
    username = os.environ.get("SMTP_USERNAME", smtp.username)
    password = os.environ.get("SMTP_PASSWORD")
    if password is None and username and smtp.password is not None:
        password = smtp.password.reveal()
    if username and not password:
        raise SmtpSettingsError("an SMTP username is set but no password: set SMTP_PASSWORD or email.smtp.password")
    port = os.environ.get("SMTP_PORT")
    return SmtpSettings(
        host=os.environ.get("SMTP_HOST", smtp.host),
        port=int(port) if port else smtp.port,
        security=smtp.security,
        username=username or None,
        password=password or None,
    )


class DeliveryReport(BaseModel):
    """What a notify run did, notice by notice."""

    dry_run: bool
    counts: dict[str, int]
    failed: list[str]
    unknown: list[str]
    refused: list[str]
    outbox: str | None = None
    problems: list[str] = []

    def as_text(self) -> str:
        lines = [("Dry run: nothing was sent" if self.dry_run else "Sent over SMTP")]
        lines += [f"  {state:<11} {n:>5}" for state, n in self.counts.items()]
        for title, items in (("Failed", self.failed), ("Unknown", self.unknown), ("Refused", self.refused)):
            if items:
                lines.append(f"{title}:")
                lines += [f"  - {item}" for item in items]
        if self.outbox:
            lines.append(f"Outbox: {self.outbox} (index.csv lists every message)")
        lines += [f"PROBLEM: {problem}" for problem in self.problems]
        return "\n".join(lines)


def write_outbox(planned: list[Notice], config: CohortConfig, out_dir: Path) -> Path:
    """Every message as an .eml file plus index.csv (recipient, kind, subject, file, refusal)."""
    outbox = out_dir / "outbox"
    outbox.mkdir(parents=True, exist_ok=True)
    for old in outbox.glob("*.eml"):
        old.unlink()
    with (outbox / "index.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["file", "recipient", "cc", "kind", "subject", "refused_because"])
        for number, notice in enumerate(planned, start=1):
            name = f"{number:04d}-{notice.kind}.eml"
            if not notice.refusal:
                (outbox / name).write_bytes(notice.payload)
            safe = [_cell(v) for v in (notice.to, notice.cc, notice.kind, notice.subject, notice.refusal)]
            writer.writerow([name if not notice.refusal else "", *safe])
    return outbox


def _cell(text: str) -> str:
    text = text.replace("\r", " ").replace("\n", " ")
    return "'" + text if text.startswith(("=", "+", "-", "@", "\t")) else text


def sync_ledger(engine: sa.Engine, cohort: str, planned: list[Notice], kinds: Iterable[str]) -> None:
    """One transaction: cut-off sends become unknown, stale unsent notices superseded, new ones pending."""
    kinds = set(kinds)
    stamp = now()
    current = {(n.applicant, n.kind, n.version) for n in planned}
    try:
        with engine.begin() as conn:
            conn.execute(
                notices.update()
                .where(notices.c.cohort == cohort, notices.c.state == SENDING)
                .values(state=UNKNOWN, updated_at=stamp, last_error="the run stopped between sending and recording")
            )
            existing = conn.execute(
                sa.select(notices.c.id, notices.c.applicant, notices.c.kind, notices.c.version, notices.c.state).where(
                    notices.c.cohort == cohort, notices.c.kind.in_(kinds)
                )
            ).all()
            known = {(r.applicant, r.kind, r.version) for r in existing}
            stale = [
                r.id for r in existing if (r.applicant, r.kind, r.version) not in current and r.state in REPLACEABLE
            ]
            if stale:
                conn.execute(
                    notices.update()
                    .where(notices.c.id.in_(stale))
                    .values(state=SUPERSEDED, updated_at=stamp, last_error="the decision changed before it was sent")
                )
            fresh = [n for n in planned if (n.applicant, n.kind, n.version) not in known]
            if fresh:
                conn.execute(
                    notices.insert(),
                    [
                        {
                            "cohort": cohort,
                            "applicant": n.applicant,
                            "kind": n.kind,
                            "version": n.version,
                            "state": REFUSED if n.refusal else PENDING,
                            "attempts": 0,
                            "last_error": n.refusal,
                            "message_id": n.message_id,
                            "recipient": n.to,
                            "cc": n.cc,
                            "subject": n.subject,
                            "created_at": stamp,
                            "updated_at": stamp,
                        }
                        for n in fresh
                    ],
                )
    except sa.exc.OperationalError as exc:
        raise StoreError(f"the notice ledger could not be updated (nothing was changed): {advice(exc)}") from None


class _Connection:
    """One SMTP connection per batch, reopened after the server drops it."""

    def __init__(self, settings: SmtpSettings, timeout: float) -> None:
        self.settings = settings
        self.timeout = timeout
        self.smtp: smtplib.SMTP | None = None

    def get(self) -> smtplib.SMTP:
        if self.smtp is None:
            s = self.settings
            if s.security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=self.timeout)
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=self.timeout)
                if s.security == "starttls":
                    smtp.starttls()
            if s.username:
                smtp.login(s.username, s.password or "")
            self.smtp = smtp
        return self.smtp

    def drop(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.close()
            finally:
                self.smtp = None

    def quit(self) -> None:
        if self.smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self.smtp.quit()
            self.smtp = None


class _Ambiguous(Exception):
    """The connection broke after DATA went out: the server may or may not have accepted the message."""


def _transmit(
    smtp: smtplib.SMTP,
    sender: str,
    recipients: list[str],
    message: bytes,
    options: list[str],
    before_data: Callable[[], None],
) -> None:
    """MAIL, RCPT, DATA step by step, so a failure before DATA is known to be safe to retry."""
    smtp.ehlo_or_helo_if_needed()
    if options and not smtp.has_extn("smtputf8"):
        raise smtplib.SMTPNotSupportedError("the SMTP server does not accept internationalized (UTF-8) addresses")
    code, reply = smtp.mail(sender, options)
    if code != 250:
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    for recipient in recipients:
        code, reply = smtp.rcpt(recipient)
        if code not in (250, 251):
            smtp.rset()
            raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
    before_data()
    try:
        code, reply = smtp.data(message)
    except (smtplib.SMTPServerDisconnected, OSError) as exc:
        raise _Ambiguous(str(exc)) from exc
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)


def _code_of(exc: Exception) -> int | None:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return next(iter(exc.recipients.values()))[0]
    return getattr(exc, "smtp_code", None)


def send_notices(
    engine: sa.Engine,
    cohort: str,
    planned: list[Notice],
    config: CohortConfig,
    settings: SmtpSettings,
    resend_unknown: bool = False,
    attempts: int = 4,
    base_delay: float = 1.0,
    timeout: float = 30.0,
) -> None:
    """Send every notice of the plan that the ledger does not have as sent: 4xx retried, 5xx recorded."""
    by_key = {(n.applicant, n.kind, n.version): n for n in planned}
    wanted = (PENDING, FAILED, UNKNOWN) if resend_unknown else (PENDING, FAILED)
    rows = ledger(engine, cohort)
    rows = rows[rows["state"].isin(wanted)]
    sender = build_sender(config)
    connection = _Connection(settings, timeout)
    writer = LedgerWriter(engine)
    try:
        for row in rows.itertuples():
            notice = by_key.get((row.applicant, row.kind, row.version))
            if notice is None or notice.refusal:
                continue
            payload = notice.payload
            recipients = [notice.to, *([notice.cc] if notice.cc else [])]
            options = ["SMTPUTF8"] if needs_smtputf8(notice) else []
            _deliver_one(writer, connection, int(row.id), sender, recipients, payload, options, attempts, base_delay)
    finally:
        connection.quit()
        writer.close()


def build_sender(config: CohortConfig) -> str:
    return parseaddr(config.email.sender)[1]


def _deliver_one(
    writer: LedgerWriter,
    connection: _Connection,
    notice_id: int,
    sender: str,
    recipients: list[str],
    payload: bytes,
    options: list[str],
    attempts: int,
    base_delay: float,
) -> None:
    """One notice through the ledger: sending → sent, or failed with the server's words, or unknown."""
    for attempt in range(1, attempts + 1):
        handed_over = False

        def before_data() -> None:
            nonlocal handed_over
            writer.move(notice_id, SENDING, attempt=True)
            handed_over = True

        try:
            _transmit(connection.get(), sender, recipients, payload, options, before_data)
        except _Ambiguous as exc:
            connection.drop()
            writer.move(notice_id, UNKNOWN, f"connection lost after the message was handed over: {exc}")
            return
        except (TimeoutError, smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, ConnectionError) as exc:
            connection.drop()
            error = f"temporary: connection problem before sending ({exc.__class__.__name__})"
        except smtplib.SMTPException as exc:
            code = _code_of(exc)
            text = _server_words(exc)
            if code is None or not 400 <= code < 500:
                refused = f"refused by the server: {code or ''} {text}".replace("  ", " ")
                writer.move(notice_id, FAILED, refused, attempt=not handed_over)
                return
            error = f"temporary: server said {code} {text}"
        except OSError as exc:
            connection.drop()
            error = f"temporary: cannot reach the SMTP server ({exc.__class__.__name__}: {exc})"
        else:
            writer.move(notice_id, SENT)
            return
        writer.move(notice_id, FAILED, error, attempt=not handed_over)
        if attempt < attempts:
            time.sleep(base_delay * 2 ** (attempt - 1))


def _server_words(exc: smtplib.SMTPException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        recipient, (_, reply) = next(iter(exc.recipients.items()))
        return f"for {recipient}: {reply.decode(errors='replace') if isinstance(reply, bytes) else reply}"
    reply = getattr(exc, "smtp_error", None)
    if reply is None:
        return str(exc)
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)


def delivery_report(
    engine: sa.Engine, cohort: str, kinds: Iterable[str], dry_run: bool, outbox: Path | None
) -> DeliveryReport:
    """Counts by ledger state and the notices staff must look at."""
    rows = ledger(engine, cohort)
    rows = rows[rows["kind"].isin(set(kinds))]
    counts = rows["state"].value_counts()

    def listed(state: str) -> list[str]:
        chosen = rows[rows["state"] == state]
        return [f"{r.recipient} ({r.kind}): {r.last_error}" for r in chosen.itertuples()]

    return DeliveryReport(
        dry_run=dry_run,
        counts={state: int(counts.get(state, 0)) for state in (SENT, PENDING, FAILED, UNKNOWN, SUPERSEDED, REFUSED)},
        failed=listed(FAILED),
        unknown=listed(UNKNOWN),
        refused=listed(REFUSED),
        outbox=str(outbox) if outbox else None,
    )


def _not_sent(engine: sa.Engine, cohort: str, planned: list[Notice]) -> list[Notice]:
    rows = ledger(engine, cohort)
    done = {(r.applicant, r.kind, r.version) for r in rows[rows["state"] == SENT].itertuples()}
    return [n for n in planned if (n.applicant, n.kind, n.version) not in done]


def dry_run(engine: sa.Engine, config: CohortConfig, planned: list[Notice], kind: str, out_dir: Path) -> DeliveryReport:
    """The outbox of every notice not yet sent, for staff to review; the ledger is not changed."""
    waiting = _not_sent(engine, config.cohort, planned)
    outbox = write_outbox(waiting, config, out_dir)
    report = delivery_report(engine, config.cohort, kinds_of(kind), dry_run=True, outbox=outbox)
    report.refused = [f"{n.to} ({n.kind}): {n.refusal}" for n in waiting if n.refusal]
    report.counts["refused"] = len(report.refused)
    report.counts["would send"] = len(waiting) - len(report.refused)
    return report


def deliver(
    engine: sa.Engine,
    config: CohortConfig,
    planned: list[Notice],
    kind: str,
    settings: SmtpSettings,
    resend_unknown: bool = False,
    base_delay: float = 1.0,
) -> DeliveryReport:
    """Ledger first, then SMTP on one connection; the report says what each notice became."""
    kinds = kinds_of(kind)
    if kind == "decisions":
        freeze_latest(engine, config.cohort)
    sync_ledger(engine, config.cohort, planned, kinds)
    send_notices(engine, config.cohort, planned, config, settings, resend_unknown=resend_unknown, base_delay=base_delay)
    return delivery_report(engine, config.cohort, kinds, dry_run=False, outbox=None)


def unfinished(
    engine: sa.Engine, config: CohortConfig, planned: list[Notice], kind: str, as_of, report: DeliveryReport
) -> list[str]:
    """Failed and unknown notices, and after the notification date every unsent first decision notice, by name.

    Offers and other notices after a change come later by nature; the course start date bounds them instead.
    """
    problems = [f"{len(report.failed)} notices failed (see the list)"] if report.failed else []
    if report.unknown:
        problems.append(f"{len(report.unknown)} notices are unknown (see the list; --resend-unknown sends them)")
    if kind != "decisions" or as_of.astimezone(config.zone).date() <= config.notify_by:
        return problems
    unsent = [n for n in _not_sent(engine, config.cohort, planned) if n.kind in INITIAL_DECISION_KINDS]
    if unsent:
        # Teams by key, never by address: this text goes to the logs (the report lists the addresses).
        listed = [f"{n.applicant} ({n.kind}{', refused' if n.refusal else ''})" for n in unsent]
        names = ", ".join(listed[:10]) + (f" and {len(listed) - 10} more" if len(listed) > 10 else "")
        day = f"{config.notify_by:%B} {config.notify_by.day} {config.notify_by.year}"
        problems.append(f"{len(unsent)} notices unsent and the notification date {day} has passed: {names}")
    return problems
