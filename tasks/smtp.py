"""SMTP: the settings, one connection per batch, and each notice through MAIL, RCPT, claim, DATA.

The ledger is told what happens (tasks/ledger.py): a notice is claimed (`sending`) once the server has accepted
its lead's address, just before DATA, and `sent` after the server's 250; 4xx replies and dropped connections are
retried with backoff, a 5xx is recorded as `failed` with the server's words. A cc the server refuses is left
off and reported; it never holds back the lead's notice. A server that cannot be reached stops the batch
within `budget` seconds, every notice not sent left as it was for the next run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import smtplib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parseaddr

from schemas.columns import LIST_SEPARATOR
from schemas.config import CohortConfig, SecretError
from schemas.errors import StaffError
from schemas.ledger import LedgerState
from tasks.ledger import LedgerWriter
from tasks.messages import Notice, dated, message_bytes, needs_smtputf8


class SmtpSettingsError(StaffError):
    """SMTP settings are incomplete or wrong (a missing password, a login the server refuses)."""


class SmtpUnreachableError(StaffError):
    """The SMTP server could not be reached for the whole of the time allowed: the batch stopped."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str
    username: str | None
    password: str | None

    def __repr__(self) -> str:
        return f"SmtpSettings(host={self.host!r}, port={self.port}, security={self.security!r}, password=***)"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def smtp_settings(config: CohortConfig) -> SmtpSettings:
    """Config values, overridden by SMTP_HOST / SMTP_PORT / SMTP_USERNAME / SMTP_PASSWORD."""
    smtp = config.email.smtp
    username = os.environ.get("SMTP_USERNAME", smtp.username)
    password = os.environ.get("SMTP_PASSWORD")
    if password is None and username and smtp.password is not None:
        try:
            password = smtp.password.reveal()
        except SecretError as exc:
            raise SmtpSettingsError(
                f"the SMTP password for {username} cannot be read: {exc}. Set it there (email.smtp.password "
                "in the cohort file says where), or set SMTP_PASSWORD; nothing was sent"
            ) from None
    if username and not password:
        raise SmtpSettingsError(
            f"an SMTP username ({username}) is set but no password: set SMTP_PASSWORD, or email.smtp.password "
            "to {env: NAME} or {prefect_secret: BLOCK}; nothing was sent"
        )
    return SmtpSettings(
        host=os.environ.get("SMTP_HOST", smtp.host),
        port=_port_from_environment(smtp.port),
        security=smtp.security,
        username=username or None,
        password=password or None,
    )


def _port_from_environment(configured: int) -> int:
    """SMTP_PORT when set (a whole number from 1 to 65535), else email.smtp.port."""
    text = os.environ.get("SMTP_PORT", "").strip()
    if not text:
        return configured
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise SmtpSettingsError(
            f"SMTP_PORT is {text[:20]!r}, not a port number (a whole number from 1 to 65535, e.g. 587): "
            "correct or unset it (email.smtp.port is used then); nothing was sent"
        )
    return int(text)


def _open(settings: SmtpSettings, timeout: float) -> smtplib.SMTP:
    """A connection greeted (EHLO), secured (STARTTLS or SSL) and logged in as the settings say."""
    if settings.security == "ssl":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port, timeout=timeout)
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
        if settings.security == "starttls":
            smtp.starttls()
    smtp.ehlo_or_helo_if_needed()
    if settings.username:
        smtp.login(settings.username, settings.password or "")
    return smtp


def check_smtp(settings: SmtpSettings, timeout: float = 10.0) -> None:
    """Before staff are asked to approve a send: connect, EHLO, STARTTLS, log in and quit, or say what is wrong."""
    try:
        smtp = _open(settings, timeout)
    except smtplib.SMTPAuthenticationError as exc:
        raise SmtpSettingsError(
            f"the SMTP server {settings.address} refused the login of {settings.username} "
            f"({exc.smtp_code}): check SMTP_PASSWORD or the secret email.smtp.password names; nothing was sent"
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise SmtpSettingsError(
            f"the SMTP server {settings.address} does not offer what email.smtp asks for ({exc}): check "
            "email.smtp.security (starttls, ssl or none) and SMTP_PORT; nothing was sent"
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise SmtpSettingsError(
            f"cannot reach the SMTP server {settings.address} ({exc.__class__.__name__}: {exc}): check "
            "email.smtp.host/port (or SMTP_HOST/SMTP_PORT) and that the server is up; nothing was sent"
        ) from None
    with contextlib.suppress(smtplib.SMTPException, OSError):
        smtp.quit()


@dataclass
class _Trouble:
    """Time spent failing to reach the server since the last message that went through."""

    budget: float
    since: float | None = None

    def start(self) -> None:
        if self.since is None:
            self.since = time.monotonic()

    def clear(self) -> None:
        self.since = None

    def remaining(self) -> float:
        return self.budget if self.since is None else self.budget - (time.monotonic() - self.since)


@dataclass
class _Connection:
    """One SMTP connection per batch, reopened after the server drops it."""

    settings: SmtpSettings
    timeout: float
    trouble: _Trouble
    smtp: smtplib.SMTP | None = None

    def get(self) -> smtplib.SMTP:
        if self.smtp is None:
            self.smtp = _open(self.settings, max(0.5, min(self.timeout, self.trouble.remaining())))
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


class _ClaimedElsewhere(Exception):
    """Another run claimed the notice first: it is that run's to send."""


@dataclass
class _Handover:
    """One notice on the wire: whether it was claimed, and the cc the server refused."""

    claimed: bool = False
    cc_refused: dict[str, str] = field(default_factory=dict)


def _reply_text(reply: object) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)


def _transmit(
    smtp: smtplib.SMTP,
    sender: str,
    notice: Notice,
    config: CohortConfig,
    claim: Callable[[], bool],
    handover: _Handover,
) -> None:
    """MAIL, RCPT for each recipient, the claim, DATA: a failure before DATA is known to be safe to retry.

    The lead's address refused ends the attempt; a refused cc is left off the message (and its Cc header).
    """
    options = ["SMTPUTF8"] if needs_smtputf8(notice) else []
    smtp.ehlo_or_helo_if_needed()
    if options and not smtp.has_extn("smtputf8"):
        raise smtplib.SMTPNotSupportedError("the SMTP server does not accept internationalized (UTF-8) addresses")
    code, reply = smtp.mail(sender, options)
    if code != 250:
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    code, reply = smtp.rcpt(notice.to)
    if code not in (250, 251):
        smtp.rset()
        raise smtplib.SMTPRecipientsRefused({notice.to: (code, reply)})
    payload = notice.payload
    if notice.cc:
        code, reply = smtp.rcpt(notice.cc)
        if code not in (250, 251):
            handover.cc_refused[notice.cc] = f"{code} {_reply_text(reply)}"
            payload = message_bytes(notice.model_copy(update={"cc": ""}), config)
    if not claim():
        smtp.rset()
        raise _ClaimedElsewhere
    handover.claimed = True
    try:
        code, reply = smtp.data(dated(payload, dt.datetime.now(dt.UTC)))
    except (smtplib.SMTPServerDisconnected, OSError) as exc:
        raise _Ambiguous(str(exc)) from exc
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)


def _code_of(exc: Exception) -> int | None:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return next(iter(exc.recipients.values()))[0]
    return getattr(exc, "smtp_code", None)


def _server_words(exc: smtplib.SMTPException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        recipient, (_, reply) = next(iter(exc.recipients.items()))
        return f"for {recipient}: {_reply_text(reply)}"
    error_reply = getattr(exc, "smtp_error", None)
    return str(exc) if error_reply is None else _reply_text(error_reply)


def sender_address(config: CohortConfig) -> str:
    return parseaddr(config.email.sender)[1]


_CONNECTION_PROBLEMS = (TimeoutError, smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, ConnectionError)


@dataclass(frozen=True)
class Retry:
    """How a batch meets trouble: tries per notice, the first back-off (doubled after each try), the timeout of one
    SMTP command, and how long the server may stay unreachable before the batch stops."""

    attempts: int = 4
    base_delay: float = 1.0
    timeout: float = 10.0
    budget: float = 25.0


@dataclass
class _Batch:
    """What every notice of one batch is sent with: the ledger, one connection, the time lost to trouble."""

    writer: LedgerWriter
    connection: _Connection
    trouble: _Trouble
    sender: str
    config: CohortConfig
    retry: Retry


def send_batch(
    writer: LedgerWriter,
    batch: list[tuple[int, Notice]],
    config: CohortConfig,
    settings: SmtpSettings,
    *,
    still_holding: Callable[[], bool] = lambda: True,
    retry: Retry = Retry(),  # frozen, so one shared default is safe
) -> None:
    """Each (ledger id, notice) on one connection; stops when the server stays unreachable for `retry.budget`
    seconds (SmtpUnreachableError) or when this run no longer holds the cohort's lease (`still_holding`)."""
    trouble = _Trouble(retry.budget)
    sending = _Batch(
        writer, _Connection(settings, retry.timeout, trouble), trouble, sender_address(config), config, retry
    )
    try:
        for notice_id, notice in batch:
            if not still_holding():
                return
            _deliver_one(sending, notice_id, notice)
    finally:
        sending.connection.quit()


def _deliver_one(sending: _Batch, notice_id: int, notice: Notice) -> None:
    """One notice through the ledger: sending → sent, or failed with the server's words, or unknown."""
    unreachable: Exception | None = None
    for attempt in range(1, sending.retry.attempts + 1):
        handover = _Handover()
        failure = _attempt(sending, notice_id, notice, handover)
        if failure is None:
            return
        error, unreachable = failure
        _record_failure(sending.writer, notice_id, handover, error)
        if attempt < sending.retry.attempts:
            delay = sending.retry.base_delay * 2 ** (attempt - 1)
            time.sleep(max(0.0, min(delay, sending.trouble.remaining())))
    if unreachable is not None:  # every attempt failed to reach the server: the next notice would fare no better
        raise _unreachable_error(sending.connection, sending.trouble, unreachable)


def _attempt(
    sending: _Batch, notice_id: int, notice: Notice, handover: _Handover
) -> tuple[str, Exception | None] | None:
    """One try at a notice. None when it is settled (sent, another run's, unknown or refused); otherwise the
    failure to record and, when the server could not be reached, the error that says so."""
    writer, connection = sending.writer, sending.connection
    try:
        _transmit(connection.get(), sending.sender, notice, sending.config, lambda: writer.claim(notice_id), handover)
    except _ClaimedElsewhere:
        return None
    except _Ambiguous as exc:
        connection.drop()
        error = f"connection lost after the message was handed over: {exc}"
        writer.move(notice_id, LedgerState.UNKNOWN, error, only_from=(LedgerState.SENDING,))
        return None
    except _CONNECTION_PROBLEMS as exc:
        return _connection_trouble(writer, connection, sending.trouble, notice_id, handover, exc), exc
    except smtplib.SMTPException as exc:
        code = _code_of(exc)
        text = _server_words(exc)
        if code is None or not 400 <= code < 500:
            refused = f"refused by the server: {code or ''} {text}".replace("  ", " ")
            _record_failure(writer, notice_id, handover, refused)
            return None
        return f"temporary: server said {code} {text}", None
    except OSError as exc:  # after smtplib's errors, which are OSErrors too: the network itself
        return _connection_trouble(writer, connection, sending.trouble, notice_id, handover, exc), exc
    sending.trouble.clear()
    writer.move(notice_id, LedgerState.SENT)
    if handover.cc_refused:
        writer.cc_refused(notice_id, LIST_SEPARATOR.join(f"{a}: {w}" for a, w in handover.cc_refused.items()))
    return None


def _connection_trouble(
    writer: LedgerWriter,
    connection: _Connection,
    trouble: _Trouble,
    notice_id: int,
    handover: _Handover,
    exc: Exception,
) -> str:
    """The connection dropped or could not be made: the error to record, or the batch stops (SmtpUnreachableError)
    once the server has been out of reach for the whole budget."""
    connection.drop()
    trouble.start()
    error = f"temporary: connection problem before sending ({exc.__class__.__name__})"
    if not isinstance(exc, _CONNECTION_PROBLEMS):
        error = f"temporary: cannot reach the SMTP server {connection.settings.address} ({exc.__class__.__name__})"
    if trouble.remaining() > 0:
        return error
    _record_failure(writer, notice_id, handover, error)
    raise _unreachable_error(connection, trouble, exc)


def _unreachable_error(connection: _Connection, trouble: _Trouble, exc: Exception) -> SmtpUnreachableError:
    waited = trouble.budget - trouble.remaining()
    return SmtpUnreachableError(
        f"the SMTP server {connection.settings.address} could not be reached ({exc.__class__.__name__}, for "
        f"{waited:.0f} s): the send stopped; the notices not sent are listed and go out with the next run"
    )


def _record_failure(writer: LedgerWriter, notice_id: int, handover: _Handover, error: str) -> None:
    """`failed` with the reason: after this run's claim, from `sending`; before it, only while the notice is
    still claimable (another run may have claimed it meanwhile). The claim counts the attempt when there was one."""
    only_from = (LedgerState.SENDING,) if handover.claimed else writer.claimable
    writer.move(notice_id, LedgerState.FAILED, error, attempt=not handover.claimed, only_from=only_from)
