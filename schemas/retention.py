"""The retention purge's vocabulary: what it writes where applicant data was, and which columns of the output files
it keeps, pseudonymizes or empties (tasks/retention.py)."""

from enum import StrEnum

from schemas.backup import NoticeRecordCol
from schemas.columns import AuditCol, Col, Derived, DriftCol, WhatIfCol
from schemas.store import StoreCol


class Retention(StrEnum):
    """Words and prefixes the purge writes."""

    REMOVED = "(removed under retention)"  # in place of free text: a staff note, an SMTP server's words
    RETAINED = "retained"  # the purge's action row moves the cohort's applicant data from retained …
    PURGED = "purged"  # … to purged
    TEAM = "team-"  # a pseudonymous team key: NY:team-3f9a1c2b4d5e
    PERSON = "person-"  # a pseudonymous interest-list address: person-3f9a1c2b4d5e
    MESSAGE = "purged-"  # a pseudonymous Message-ID: <purged-3f9a1c2b4d5e@example.org>
    REASON_CODES = "(removed under retention) reason codes: "  # a decision's reasons, its codes kept


class AfterPurge(StrEnum):
    """What a step that needs applicant data says once the purge has removed it (the end of its one sentence)."""

    SEND = "nothing can be sent"
    SELECT = "the selection cannot be run again"
    PROMOTE = "nothing can be promoted or sent"
    CHANGE = "no decision can change"


# Columns of the output CSVs kept as written: statuses, counts, ranks, scores, US states, times, reason codes,
# reserve names, the staff's own name in the audit, the fixed hints of drift.csv. Every other column of a CSV the
# pipeline wrote is emptied, except the team keys (KEYED_FILE_COLUMNS); points_<criterion> columns are kept too.
KEPT_FILE_COLUMNS: frozenset[str] = frozenset(
    {
        Col.SOURCE_ROW,
        Col.STATUS,
        Col.STATE,
        Col.SUBMITTED_AT,
        Col.TEAM_SIZE,
        Col.PRESIDENT_APPROVED,
        Col.COMMITMENT,
        Derived.RANK,
        Derived.SELECTION_RANK,
        Derived.WAITLIST_POSITION,
        Derived.SCORE,
        Derived.DUPLICATE_OF,
        Derived.POSSIBLE_DUPLICATE_OF,  # sheet row numbers
        Derived.RESERVED_SEAT,
        Derived.RESERVES,
        Derived.REASON_CODES,
        Derived.ON_TIME,
        Derived.DECIDED_STATUS,
        Derived.RESPOND_BY,
        StoreCol.KIND,
        AuditCol.AT,
        AuditCol.ACTOR,
        AuditCol.EVENT,
        AuditCol.STATUS,
        DriftCol.NOTIFIED,
        DriftCol.DECIDED,
        DriftCol.NOW,
        DriftCol.WOULD_BE,
        DriftCol.STAFF_ACTION,
        *WhatIfCol,
    }
)
# Columns holding a team key (or an interest-list address as the notice's applicant): made pseudonymous. The
# notice record's `team` is named itself, not left to share the audit's column name.
KEYED_FILE_COLUMNS: frozenset[str] = frozenset(
    {Derived.TEAM_KEY, Derived.APPLICANT, AuditCol.TEAM, NoticeRecordCol.TEAM}
)
