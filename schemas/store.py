"""Column names of the state store's tables: tasks/store.py defines its tables from these, and the frames and rows
read from the store are labelled by them.

A column that holds a canonical field has that field's name (`Col`, `Derived`: a decision's `status`, a notice's
`applicant`); these are the store's own.
"""

import dataclasses
import datetime as dt
from enum import StrEnum


class StoreCol(StrEnum):
    """The store's own columns, by the tables that have them."""

    # every table: the row's key, and the cohort it belongs to
    ID = "id"
    COHORT = "cohort"
    # selections
    RECORDED_AT = "recorded_at"  # also in actions
    INPUT_SHA256 = "input_sha256"
    CONFIG_SHA256 = "config_sha256"
    PROVISIONAL = "provisional"
    # decisions, freezes
    SELECTION_ID = "selection_id"
    FROZEN_AT = "frozen_at"
    # actions (with applicant, respond_by, reserved_seat)
    ACTION = "action"
    FROM_STATUS = "from_status"
    TO_STATUS = "to_status"
    ACTOR = "actor"
    REASON = "reason"
    AT = "at"  # when the action took effect (recorded_at: when it was written)
    ORIGIN = "origin"  # the Overrides row an action came from, so it is recorded once
    # notices (with applicant)
    KIND = "kind"  # also in approvals: the kind of notice run approved
    VERSION = "version"
    LEDGER_STATE = "state"  # where the notice is: schemas.ledger.LedgerState
    ATTEMPTS = "attempts"
    LAST_ERROR = "last_error"
    MESSAGE_ID = "message_id"
    RECIPIENT = "recipient"
    CC = "cc"
    SUBJECT = "subject"
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    CLAIMED_BY = "claimed_by"
    CC_REFUSED = "cc_refused"
    # cohorts
    PROGRAM = "program"
    NAME = "name"
    SOURCE = "source"
    REGISTERED_AT = "registered_at"
    # action_sequences
    SEQ = "seq"
    # leases
    OWNER = "owner"
    HOLDER = "holder"
    ACQUIRED_AT = "acquired_at"
    HEARTBEAT_AT = "heartbeat_at"
    EXPIRES_AT = "expires_at"
    TOKEN = "token"  # noqa: S105 - the lease's version number, not a secret
    # approvals
    FLOW_RUN_ID = "flow_run_id"
    OUTCOME = "outcome"
    NOTE = "note"
    APPROVER = "approver"  # who answered, as they typed their name in the Resume form
    DECIDED_AT = "decided_at"


@dataclasses.dataclass(frozen=True)
class SelectionHead:
    """A recorded selection without its decisions: a row of the selections table, each field named after its
    column."""

    id: int
    cohort: str
    recorded_at: dt.datetime
    input_sha256: str
    config_sha256: str
    provisional: bool  # made by a preview: no notice goes out from it


@dataclasses.dataclass(frozen=True)
class DecisionsHead(SelectionHead):
    """The selection decisions are read from, and the number of recorded actions applied on top of it: moves
    computed from these decisions are recorded only while the action sequence still is `actions_seen`."""

    actions_seen: int


@dataclasses.dataclass(frozen=True)
class Freeze:
    """The selection the decision notices are sent from: the cohort's row of the freezes table."""

    cohort: str
    selection_id: int
    frozen_at: dt.datetime
