"""The notice ledger's vocabulary: the state of each notice, and the kinds of notice run."""

from enum import StrEnum
from typing import Literal


class LedgerState(StrEnum):
    """Where one notice is: planned, claimed by a run for sending, delivered, or why not.

    pending → sending (claimed by exactly one run, just before DATA) → sent; failed (retried by the next run),
    unknown (cut off after the hand-over: resent only when staff ask), superseded (its decision changed before
    it went out), refused (it must never be sent: a forged address, the course has started).
    """

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SUPERSEDED = "superseded"
    UNKNOWN = "unknown"
    REFUSED = "refused"


# Ledger states in which a notice may have reached its recipient: never replaced, never sent again by itself.
MAYBE_DELIVERED: frozenset[LedgerState] = frozenset({LedgerState.SENDING, LedgerState.SENT, LedgerState.UNKNOWN})
# Ledger states a run may claim a notice from; a notice whose decision changed may be superseded from them.
CLAIMABLE: tuple[LedgerState, ...] = (LedgerState.PENDING, LedgerState.FAILED)
REPLACEABLE = CLAIMABLE


class RunKind(StrEnum):
    """What one notify run sends: every decision notice, only those after a change, the interest list, or the
    review round's notices to reviewers (their assignments, or a reminder of what is still unscored)."""

    DECISIONS = "decisions"
    LIFECYCLE = "lifecycle"
    INTEREST = "interest"
    REVIEW_ASSIGNMENTS = "review-assignments"
    REVIEW_REMINDERS = "review-reminders"


# The notices a send-notices run can be asked for (the lifecycle's go with the promote flow).
SendKind = Literal[RunKind.DECISIONS, RunKind.INTEREST, RunKind.REVIEW_ASSIGNMENTS, RunKind.REVIEW_REMINDERS]

# The runs planned from the recorded selection: a send delivers them only while the store still holds it. The
# reviewer runs are planned from the review round's assignments instead (tasks/review_notices.py).
FROM_SELECTION: frozenset[RunKind] = frozenset({RunKind.DECISIONS, RunKind.LIFECYCLE, RunKind.INTEREST})


class ApprovalOutcome(StrEnum):
    """Staff's answer to a send that waits for approval in the Prefect UI (the store's approvals table)."""

    APPROVED = "approved"
    REJECTED = "rejected"
    TIMED_OUT = "timed out"


class ApprovalArtifact(StrEnum):
    """The artifacts a send publishes before it asks staff to approve it."""

    NOTICES = "notices-for-approval"  # a table: every message that goes, and every one held back with why
    SAMPLES = "notice-samples"  # markdown: the counts, where the outbox is, one message of each kind


class ApprovalCol(StrEnum):
    """Columns of the notices-for-approval table, one row per message; recipients masked."""

    TEAM = "team"
    STATE = "state"  # the team's US state
    KIND = "kind"
    SUBJECT = "subject"
    RECIPIENT = "recipient"
    CC = "cc"
    REFUSED_BECAUSE = "refused_because"  # empty for a message that goes
