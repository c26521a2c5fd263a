"""The vocabulary of backups and of the notice record kept outside the state store.

A backup (`cohort-select backup`) is a SQLite file holding one cohort's rows of the store's tables and a
`backup_info` table that says what it is (tasks/backup.py). The notice record is each team's notice state written
where staff keep their own copy: a `notice` column of the sheet's Decisions tab, or `notices-sent.csv` beside the
outbox's index.csv for a file source; a send compares it with the store before it plans anything.
"""

from enum import StrEnum

# The format of a backup file; a file of a higher format was made by a newer cohort-select and is refused.
BACKUP_FORMAT = 1
# The table of a backup file that marks it as one: one row per BackupInfo key.
BACKUP_INFO_TABLE = "backup_info"


class BackupInfo(StrEnum):
    """The keys of a backup's `backup_info` table (columns `key`, `value`; values are text)."""

    KEY = "key"  # the table's two columns
    VALUE = "value"
    FORMAT = "format"  # BACKUP_FORMAT of the version that wrote it
    COHORT = "cohort"  # the cohort id the rows belong to
    PROGRAM = "program"
    NAME = "name"  # the cohort's name
    MADE_AT = "made_at"  # ISO-8601 UTC
    BACKEND = "backend"  # the store it was taken from: sqlite or postgresql
    SCHEMA = "schema"  # JSON: {table: [column, ...]} of the rows it holds, so a restore can refuse a newer schema
    REVISION = "revision"  # the store's schema revision (tasks/migrations) when it was taken
    ROWS = "rows"  # JSON: {table: number of rows}


class NoticeRecordCol(StrEnum):
    """Columns of the notice record: `notice` in the Decisions tab (by `team_key`), and notices-sent.csv."""

    COHORT = "cohort"
    TEAM = "team"  # the applicant a notice goes to, as in the outbox's index.csv
    NOTICE = "notice"  # e.g. "selected sent 2021-06-08 09:00 EDT; offer sent 2021-06-10 08:00 EDT"


class RecordedState(StrEnum):
    """How the notice record words a notice that may have reached its team (the ledger's MAYBE_DELIVERED)."""

    SENT = "sent"  # the server accepted it
    MAYBE_SENT = "maybe sent"  # cut off between hand-over and record (the ledger's unknown or sending)


# The file of the notice record for a file source, in the outbox folder beside index.csv (which every dry run
# rewrites with only the messages it would send, so it cannot keep what was sent).
NOTICE_RECORD_FILE = "notices-sent.csv"
# How a recorded moment is written, in the cohort's zone.
RECORD_TIME_FORMAT = "%Y-%m-%d %H:%M %Z"
