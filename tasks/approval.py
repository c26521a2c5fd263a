"""What staff read before they approve a send, and the words a finished send ends with.

From the notices a send has not yet delivered (tasks/outbox.py reads which from the ledger): the rows of the
notices-for-approval table (every message that goes, and every one held back with why), one message of each kind,
the counts the Resume form repeats, and the outcome ("sent 50", "rejected: nothing sent") that the run's name and
final state message carry. Every applicant address is masked (`j***@fairviewea.example.org`), because the Prefect
UI is read by people who need to know where a message goes, not the address itself; for the same reason the
names a sample greets or lists are masked word by word (`Dear J*** D***,`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping

from pydantic import BaseModel

from schemas.columns import Kind
from schemas.ledger import ApprovalArtifact, ApprovalCol, ApprovalOutcome
from schemas.replies import TOKEN_PREFIX
from schemas.states import USPS_STATES
from tasks.ledger import DeliveryReport
from tasks.messages import Notice

MASK = "***"
# Where a domain ends (a refusal quotes the address with its escaped CR/LF, a list goes on after a comma).
_DOMAIN_END = re.compile(r"[\s'\"`,;<>()\[\]\\]")
# An address inside text: the local part back to a space, quote, bracket or colon (`mailto:`), the @, then the
# domain without the full stop of a sentence that ends with it; `jane@` (an unusable answer) is one too.
_LOCAL = r"[^\s'\"`,;:<>()\[\]\\@]"
_HOST = r"[^\s'\"`,;<>()\[\]\\@]"
_IN_TEXT = re.compile(rf"(?:{_LOCAL}+@{_HOST}*|@{_HOST}+)(?<!\.)")


def mask_address(value: str) -> str:
    """The local part's first character, then ***, then the domain: `j***@fairviewea.example.org`.

    The local part is everything before the last @, so a value holding several addresses (a refused recipient)
    shows only the first character of all of it; "" for no value, and a value with no @ keeps its first
    character alone."""
    text = value.strip()
    if not text:
        return ""
    local, at, domain = text.rpartition("@")
    if not at:
        return text[:1] + MASK
    return f"{local[:1]}{MASK}@{_DOMAIN_END.split(domain, maxsplit=1)[0]}"


def mask_text(text: str, keep: Iterable[str] = ()) -> str:
    """The text with every address in it masked, except the program's own (`keep`: its sender and reply-to,
    which the notices name so that teams can write back), and every reply code."""
    kept = {address.casefold() for address in keep if address}

    def masked(found: re.Match[str]) -> str:
        return found.group(0) if found.group(0).casefold() in kept else mask_address(found.group(0))

    return _REPLY_CODE.sub(f"{TOKEN_PREFIX}.{MASK}", _IN_TEXT.sub(masked, text))


# A team's reply code in its links (tasks/reply_tokens.py): only the team's own message may hold it.
_REPLY_CODE = re.compile(rf"\b{TOKEN_PREFIX}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def mask_name(name: str) -> str:
    """Each word's first character, then ***: `J*** D***`."""
    return " ".join(word[:1] + MASK for word in name.split())


def mask_people(text: str, people: Iterable[str]) -> str:
    """The text with each of `people` masked: the whole name, then any word of it (two characters or more) that
    stands alone, so that a greeting by first name is masked too."""
    names = sorted({" ".join(name.split()) for name in people if name.strip()}, key=len, reverse=True)
    if not names:
        return text
    words = sorted({word for name in names for word in name.split() if len(word) > 1}, key=len, reverse=True)
    for name in names:
        text = re.sub(r"\s+".join(map(re.escape, name.split())), mask_name(name), text)
    return re.sub(rf"(?<!\w)(?:{'|'.join(map(re.escape, words))})(?!\w)", lambda m: mask_name(m.group(0)), text)


def team_state(applicant: str) -> str:
    """The US state of a team key (`NY:troy education association`); "" for a sheet row or an interest-list
    address."""
    prefix, colon, _ = applicant.partition(":")
    return prefix if colon and prefix in USPS_STATES else ""


class Sample(BaseModel):
    """One message as its recipient reads it (text part), addresses and names masked."""

    kind: str
    subject: str
    to: str
    cc: str
    text: str


class Review(BaseModel):
    """What a send would do, as staff read it before approving: a row per message (refused ones first), how many
    of each kind go, how many are held back, one message of each kind, and where the outbox is."""

    rows: list[dict[str, str]]
    going: dict[str, int]
    refused: int
    samples: list[Sample]
    outbox: str = ""

    @property
    def would_send(self) -> int:
        return sum(self.going.values())


_KINDS = [kind.value for kind in Kind]


def _kind_order(kind: str) -> int:
    return _KINDS.index(kind) if kind in _KINDS else len(_KINDS)


def by_kind(counts: Mapping[str, int]) -> dict[str, int]:
    """The counts in the order of the notice kinds (selected, waitlisted, not selected, …), none of zero."""
    return {kind: counts[kind] for kind in sorted(counts, key=_kind_order) if counts[kind]}


def review(
    waiting: Iterable[Notice], held: Mapping[tuple[str, str, str], str], keep: Iterable[str] = (), outbox: str = ""
) -> Review:
    """The review of `waiting` (planned, not yet sent, in plan order): a notice goes unless it is refused or the
    ledger holds it back (`held`: (applicant, kind, version) → why)."""
    kept = tuple(keep)
    going: Counter[str] = Counter()
    refused: list[dict[str, str]] = []
    goes: list[dict[str, str]] = []
    samples: dict[str, Sample] = {}
    for notice in waiting:
        why = notice.refusal or held.get((notice.applicant, notice.kind, notice.version), "")
        row = {
            ApprovalCol.TEAM: mask_text(notice.applicant),
            ApprovalCol.STATE: team_state(notice.applicant),
            ApprovalCol.KIND: notice.kind,
            ApprovalCol.SUBJECT: mask_text(notice.subject, kept),
            ApprovalCol.RECIPIENT: mask_address(notice.to),
            ApprovalCol.CC: mask_address(notice.cc),
            ApprovalCol.REFUSED_BECAUSE: mask_text(why, kept),
        }
        (refused if why else goes).append({str(column): value for column, value in row.items()})
        if why:
            continue
        going[notice.kind] += 1
        samples.setdefault(
            notice.kind,
            Sample(
                kind=notice.kind,
                subject=mask_people(mask_text(notice.subject, kept), notice.people),
                to=mask_address(notice.to),
                cc=mask_address(notice.cc),
                text=mask_people(mask_text(notice.text, kept), notice.people),
            ),
        )
    ordered = sorted(samples.values(), key=lambda sample: _kind_order(sample.kind))
    return Review(rows=refused + goes, going=by_kind(going), refused=len(refused), samples=ordered, outbox=outbox)


def _notices(n: int) -> str:
    return f"{n} notice" if n == 1 else f"{n} notices"


def counts_text(counts: Mapping[str, int]) -> str:
    """`20 selected, 22 waitlisted, 8 not selected`."""
    return ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in by_kind(counts).items())


def approval_counts(found: Review) -> str:
    """`Approve sending 50 notices: 20 selected, 22 waitlisted, 8 not selected. Refused: 1.`"""
    if found.would_send:
        head = f"Approve sending {_notices(found.would_send)}: {counts_text(found.going)}."
    else:
        head = "Nothing to send: every notice of this run has gone out already."
    return f"{head} Refused: {found.refused}."


def resume_description(found: Review) -> str:
    """The Resume form's text: what approving sends, what is held back, and where to read them first."""
    refused = (
        f" The refused ones are named, with the reason, in the `{ApprovalArtifact.NOTICES}` artifact."
        if found.refused
        else ""
    )
    return (
        f"**{approval_counts(found)}**{refused}\n\n"
        f"Read the `{ApprovalArtifact.NOTICES}` and `{ApprovalArtifact.SAMPLES}` artifacts first. Give your name, "
        "then tick **approve** to send, or leave it unticked to send nothing. Your name and note go into the audit."
    )


def _fenced(text: str) -> str:
    """Text shown as it is in markdown: inside a fence longer than any run of backticks in it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text.rstrip()}\n{fence}"


def samples_markdown(found: Review) -> str:
    """The notice-samples artifact: the counts, where the outbox is, then one message of each kind that goes."""
    parts = [f"## Notices waiting for approval\n\n{approval_counts(found)}"]
    if found.outbox:
        parts.append(f"Every message is in the outbox, as .eml files with index.csv: {found.outbox}.")
    for sample in found.samples:
        heading = f"### {sample.kind.replace('_', ' ')} ({_notices(found.going.get(sample.kind, 0))})"
        cc = f"Cc: {sample.cc}\n" if sample.cc else ""
        message = f"To: {sample.to}\n{cc}Subject: {sample.subject}\n\n{sample.text}"
        parts.append(f"{heading}\n\n{_fenced(message)}")
    return "\n\n".join(parts) + "\n"


class ApprovalAnswer(BaseModel):
    """Staff's answer to a paused send, as the state store's approvals table keeps it."""

    outcome: ApprovalOutcome
    approver: str = ""  # none when nobody answered
    note: str = ""


class Outcome(BaseModel):
    """How a send ended: `headline` ends the run's name, `message` is its final state message and log line."""

    headline: str
    message: str


def outcome(found: Review, report: DeliveryReport, answer: ApprovalAnswer | None) -> Outcome:
    """`sent 50`, `rejected: nothing sent`, `timed out: nothing sent`, `dry run: 50 would send` or `nothing to
    send` (a send whose notices have all gone out, which does not pause for approval), with the counts by kind in
    the message."""
    refused = f"; refused: {found.refused}" if found.refused else ""
    waiting = f": {counts_text(found.going)}" if found.would_send else ""
    if answer is not None and answer.outcome != ApprovalOutcome.APPROVED:
        headline = f"{answer.outcome}: nothing sent"
        by = f" by {answer.approver}" if answer.approver else ""
        return Outcome(headline=headline, message=f"{headline} ({found.would_send} waiting{by}){refused}")
    if report.dry_run:
        headline = f"dry run: {found.would_send} would send"
        return Outcome(headline=headline, message=headline + waiting + refused)
    if not report.sent_by_this_run and not found.would_send:
        return Outcome(
            headline="nothing to send",
            message=f"nothing to send: every notice of this run has gone out already{refused}",
        )
    headline = f"sent {report.sent_by_this_run}"
    sent = f": {counts_text(report.sent_by_kind)}" if report.sent_by_kind else ""
    problems = "".join(f"; {mask_text(problem)}" for problem in report.problems)
    return Outcome(headline=headline, message=headline + sent + refused + problems)


def outcome_run_name(name: str, headline: str) -> str:
    """The run's name with its outcome after it, so the run list says what each send did."""
    return f"{name}: {headline}" if name else headline
