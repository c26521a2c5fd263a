"""The vocabulary of applicants' replies: the two choices, what became of each response row, who a reply is by,
and the columns of the replies table staff read (replies.csv and its artifact)."""

from enum import StrEnum

from schemas.columns import Kind
from schemas.lifecycle import Action

# The actor of a reply a team gave through the reply form (the store's actions table): never a staff member.
APPLICANT = "the team (reply form)"
# The origin of a reply's recorded action: `reply:<sheet row>:<the form's timestamp>`, so each row is applied once.
REPLY_ORIGIN = "reply"
# A reply code starts with its format's version, so a later format can be told apart.
TOKEN_PREFIX = "r1"  # noqa: S105 -- a format marker, not a secret

# The decision an unsubscribe code answers (with the interest notice's kind): to hear no more from the program.
UNSUBSCRIBE = "unsubscribe"

# The notices that carry the reply links: a selection, and an offer of a freed seat.
LINKED_KINDS: frozenset[str] = frozenset({Kind.SELECTED, Kind.OFFER})


class Choice(StrEnum):
    """What a team answers; each is recorded as the lifecycle action of the same name."""

    CONFIRM = Action.CONFIRM.value
    DECLINE = Action.DECLINE.value


class ReplyOutcome(StrEnum):
    """What became of one response row of the reply form."""

    APPLIED = "applied"  # recorded by this run as the team's action
    TO_APPLY = "to apply"  # a dry run's APPLIED: a send would record it, this run recorded nothing
    ALREADY = "applied before"  # recorded by an earlier run
    SUPERSEDED = "superseded"  # a later reply of the same team, before its reply was due, counts instead
    UNCHANGED = "unchanged"  # the team already had that status
    LATE = "late"  # after the team's reply was due: recorded here, not applied
    REFUSED = "refused"  # never applied: the reason says why
    UNSUBSCRIBED = "unsubscribed"  # an address that asked to hear no more: no interest notice goes to it again


class ReplyCol(StrEnum):
    """Columns of the replies table: one row per response row of the form."""

    ROW = "row"  # the responses sheet's row number
    SUBMITTED = "submitted"  # the form's timestamp, on the cohort's clock
    TEAM = "team"  # the team the reply code names, when it is a reply code of this call
    CHOICE = "choice"
    OUTCOME = "outcome"
    WHY = "why"
