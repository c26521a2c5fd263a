"""How a team's decision changes: the Overrides sheet's actions before the notices, recorded actions after them.

Before the first decision notice, staff change a decision with an override and the selection is run again. After
it, the selection is frozen and a team's status moves only by a recorded action, along TRANSITIONS.
"""

import dataclasses
import datetime as dt
from enum import StrEnum

from schemas.columns import INITIAL_KIND_FOR_STATUS, LIFECYCLE_KIND_FOR_STATUS, Status


class Action(StrEnum):
    """A recorded change to a team's decision after the notices (the `action` of the store's actions table)."""

    CONFIRM = "confirm"
    DECLINE = "decline"
    WITHDRAW = "withdraw"
    OFFER = "offer"  # a free seat offered to a waitlisted team, by the promotion
    EXPIRE = "expire"  # an offer unanswered past its respond-by time, or a selection unconfirmed by confirm-by
    # Not a team's move: the cohort's applicant data removed under retention (tasks/retention.py), one row with no
    # team, so the audit shows who purged what and when; no action is recorded after it.
    PURGE = "purge"


# The actions staff record (on the command line or as Overrides rows); offers and expiries are the promotion's.
STAFF_ACTIONS: tuple[Action, ...] = (Action.CONFIRM, Action.DECLINE, Action.WITHDRAW)

# action → (status it leads to, statuses it may start from)
TRANSITIONS: dict[str, tuple[Status, frozenset[Status]]] = {
    Action.CONFIRM: (Status.CONFIRMED, frozenset({Status.SELECTED, Status.OFFERED})),
    Action.DECLINE: (
        Status.DECLINED,
        frozenset({Status.SELECTED, Status.CONFIRMED, Status.OFFERED, Status.WAITLISTED}),
    ),
    Action.WITHDRAW: (
        Status.WITHDRAWN,
        frozenset({Status.SELECTED, Status.CONFIRMED, Status.OFFERED, Status.WAITLISTED}),
    ),
    Action.OFFER: (Status.OFFERED, frozenset({Status.WAITLISTED})),
    # An offer unanswered by its respond-by time, or (replies.expire_unconfirmed) a selection unconfirmed by
    # confirm-by.
    Action.EXPIRE: (Status.EXPIRED, frozenset({Status.OFFERED, Status.SELECTED})),
}


@dataclasses.dataclass(frozen=True)
class Move:
    """One recorded action, as a row of the store's actions table without the columns the store fills in when it
    records it (`id`, `cohort`, `recorded_at`): each field is named after its column (StoreCol, Derived)."""

    applicant: str
    action: Action
    from_status: str
    to_status: str
    actor: str
    reason: str
    at: dt.datetime  # when the action takes effect
    respond_by: dt.datetime | None = None  # an offer's answer is due by then
    reserved_seat: str = ""  # the reserve an offered seat counts towards
    origin: str = ""  # the Overrides row a staff action came from

    def as_row(self) -> dict[str, object]:
        """Column → value, for a frame or an insert."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class StaffRequest:
    """A confirm / decline / withdraw as staff ask for it: the team (its team_key, or row:N), the action, why, who
    asks and when it takes effect; `origin` names the Overrides row it came from, so it is recorded once."""

    team: str
    action: str
    reason: str
    actor: str
    at: dt.datetime
    origin: str = ""


# After the notices: the statuses that hold a seat (a promotion offers only the seats none of them holds).
SEAT_HOLDING: frozenset[str] = frozenset({Status.SELECTED, Status.CONFIRMED, Status.OFFERED})

# The statuses a team (one notice-bearing row per applicant) can hold: each gets a notice of its own.
TEAM_STATUSES: frozenset[str] = frozenset(INITIAL_KIND_FOR_STATUS) | frozenset(LIFECYCLE_KIND_FOR_STATUS)


class OverrideAction(StrEnum):
    """The Overrides sheet's own actions, applied by the next selection run; the sheet also takes STAFF_ACTIONS,
    which the promote-waitlist flow records once the notices are out."""

    FORCE_SELECT = "force-select"
    FORCE_DECLINE = "force-decline"
    EXTENSION = "extension"
    NOTE = "note"
    MESSAGE = "message"  # only carries a message_to_team
    # A review the team is short of, excused with the reason in `note`: the selection goes on with the reviews it has.
    EXCUSE_REVIEW = "excuse-review"


class OverrideCol(StrEnum):
    """Columns of the Overrides sheet besides `source_row` and `message_to_team` (Col, Derived)."""

    TEAM = "team"  # a team_key from decisions.csv
    ACTION = "action"  # an OverrideAction or one of STAFF_ACTIONS
    NOTE = "note"  # why, for staff (the reason of a staff action)
    BY = "by"  # who (the actor of a staff action)
