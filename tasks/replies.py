"""Applicants' replies from the reply form: each response row judged once, the valid ones recorded as the team's own
confirm or decline (a step of the promote-waitlist flow, which records them with their notices under the lease).

A row counts when its reply code verifies for this call (tasks/reply_tokens.py), names the team's decision as it
stands apart from the team's own replies (a staff withdrawal, an expiry or a new selection since the notice makes the
code stale), and was submitted by the time the reply was due; then the team's latest such row counts and any earlier
one is superseded. Each row is recorded at most once: its action's origin names the row and its timestamp.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import gspread
import pandas as pd

from schemas.columns import Col, Derived, Status
from schemas.config import CohortConfig, FileSourceConfig, RepliesConfig
from schemas.lifecycle import TRANSITIONS, Move, StaffRequest
from schemas.replies import APPLICANT, LINKED_KINDS, REPLY_ORIGIN, UNSUBSCRIBE, Choice, ReplyCol, ReplyOutcome
from schemas.store import StoreCol
from tasks.local_time import local_time_text
from tasks.normalize import parse_form_times
from tasks.notices import notice_key, reply_due
from tasks.reply_tokens import ReplyError, is_unsubscribe, read_token, replies_of, reply_key
from tasks.sheets import SourceError, sheet_client, sheets_errors
from tasks.sources import FileSource, SheetSource, values_to_frame
from tasks.staff_actions import LifecycleError, staff_move
from tasks.teams import apply_actions, team_rows

REPLIES_FILE = "replies.csv"  # in the promote run's outbox folder: what became of each response row
# The responses frame's columns besides ReplyCol's: the reply code and the choice as the form wrote them.
TOKEN = "reply_code"  # noqa: S105 -- a column name, not a secret
CHOICE_TEXT = "choice_text"


def read_responses(config: CohortConfig) -> pd.DataFrame:
    """The reply form's responses: sheet row, the form's timestamp (aware UTC; NaT when unreadable), the reply
    code and the choice as typed; none when the sheet is empty."""
    replies = replies_of(config)
    source = replies.responses
    try:
        if isinstance(source, FileSourceConfig):
            values = FileSource(source.path).read_values()
        else:
            client = sheet_client(source)
            check_sheet_clock(client, source.key, config.timezone)
            values = SheetSource(source.key, source.worksheet, client).read_values()
    except SourceError as exc:
        raise ReplyError(f"the reply form's responses (replies.responses) cannot be read: {exc}") from None
    columns = [ReplyCol.ROW, ReplyCol.SUBMITTED, TOKEN, CHOICE_TEXT]
    if not any(any(str(cell).strip() for cell in row) for row in values):
        return pd.DataFrame(columns=columns)
    frame = values_to_frame(values)
    wanted = {
        "replies.timestamp_column": replies.timestamp_column,
        "replies.token_column": replies.token_column,
        "replies.choice_column": replies.choice_column,
    }
    by_name = {str(c).strip().casefold(): c for c in frame.columns}
    missing = [f"{key} ({title!r})" for key, title in wanted.items() if title.strip().casefold() not in by_name]
    if missing:
        raise ReplyError(
            f"the reply form's responses have no column {', '.join(missing)}; their header is "
            f"{', '.join(map(str, frame.columns))}"
        )
    found = [by_name[title.strip().casefold()] for title in wanted.values()]
    text = frame[found[0]].fillna("").astype(str)
    submitted = parse_form_times(text, config.timezone, config.timestamp_order, frame[Col.SOURCE_ROW])
    return pd.DataFrame(
        {
            ReplyCol.ROW: frame[Col.SOURCE_ROW].astype(int),
            ReplyCol.SUBMITTED: submitted,
            TOKEN: frame[found[1]].fillna("").astype(str).str.strip(),
            CHOICE_TEXT: frame[found[2]].fillna("").astype(str).str.strip(),
        }
    )


def check_sheet_clock(client: gspread.Client, key: str, zone: str) -> None:
    """The form writes its timestamps on the responses spreadsheet's clock: it must be the cohort's, or every reply
    would be judged early or late by the difference."""
    with sheets_errors(key, "read of the reply form's settings", "cannot be read: share it with the service account"):
        kept = client.http_client.fetch_sheet_metadata(key).get("properties", {}).get("timeZone")
    if kept and kept != zone:
        raise ReplyError(
            f"replies.responses: the responses spreadsheet {key} keeps its timestamps in {kept}, and the cohort's "
            f"clock is {zone}: set the spreadsheet's time zone to {zone} (File, Settings) before replies are read"
        )


@dataclasses.dataclass(frozen=True)
class Judged:
    """What the replies make of the decisions: the moves to record, and a row per response row for staff."""

    moves: list[Move]
    table: pd.DataFrame


def reply_origin(row: int, submitted: pd.Timestamp) -> str:
    """The origin of a reply's recorded action: the same response row always gives the same origin."""
    return f"{REPLY_ORIGIN}:{row}:{submitted.isoformat()}"


def _choice(replies: RepliesConfig, text: str) -> Choice | None:
    said = text.strip().casefold()
    return {replies.confirm_choice.casefold(): Choice.CONFIRM, replies.decline_choice.casefold(): Choice.DECLINE}.get(
        said
    )


@dataclasses.dataclass
class _Judge:
    """The judgement of one run: the teams' decisions apart from their own replies (what a code must answer), the
    teams as they stand now, the origins already recorded."""

    config: CohortConfig
    key: bytes
    basis: dict[str, dict]
    current: pd.DataFrame
    done: set[str]

    def __post_init__(self) -> None:
        self.rows: list[dict] = []
        self.waiting: dict[str, list[tuple[pd.Timestamp, int, Choice]]] = {}

    def said(self, row: int, submitted: pd.Timestamp, team: str, choice: str, outcome: ReplyOutcome, why: str) -> None:
        when = "" if pd.isna(submitted) else local_time_text(submitted, self.config.timezone)
        self.rows.append(
            {
                ReplyCol.ROW: row,
                ReplyCol.SUBMITTED: when,
                ReplyCol.TEAM: team,
                ReplyCol.CHOICE: choice,
                ReplyCol.OUTCOME: outcome.value,
                ReplyCol.WHY: why,
            }
        )

    def check(self, row: int, submitted: pd.Timestamp, token: str, text: str) -> None:
        """One response row: refused or late here with its reason, or kept to be weighed with its team's others."""
        claim = read_token(self.key, token)
        if claim is None:
            self.said(
                row, submitted, "", text, ReplyOutcome.REFUSED, "not a reply code of this call (forged, or mistyped)"
            )
            return
        if claim.cohort != self.config.cohort_id:
            why = f"the reply code of another call ({claim.cohort})"
            self.said(row, submitted, "", text, ReplyOutcome.REFUSED, why)
            return
        if is_unsubscribe(claim):
            self.said(row, submitted, claim.applicant, UNSUBSCRIBE, ReplyOutcome.UNSUBSCRIBED, "")
            return
        team, choice = claim.applicant, _choice(replies_of(self.config), text)
        basis = self.basis.get(team)
        if basis is None or claim.kind not in LINKED_KINDS:
            self.said(row, submitted, team, text, ReplyOutcome.REFUSED, "names no team of the selection as it stands")
            return
        if (claim.kind, claim.version) != (basis["kind"], basis["version"]):
            why = f"answers a decision that has since changed (the team is {basis['status']} now)"
            self.said(row, submitted, team, text, ReplyOutcome.REFUSED, why)
            return
        if choice is None:
            replies = replies_of(self.config)
            why = f"the choice {text!r} is neither {replies.confirm_choice!r} nor {replies.decline_choice!r}"
            self.said(row, submitted, team, text, ReplyOutcome.REFUSED, why)
            return
        if pd.isna(submitted):
            self.said(row, submitted, team, choice, ReplyOutcome.REFUSED, "its timestamp cannot be read")
            return
        due = basis["due"]
        if due is not None and submitted >= pd.Timestamp(due):
            why = f"after the reply was due ({local_time_text(pd.Timestamp(due), self.config.timezone)}): not applied"
            self.said(row, submitted, team, choice, ReplyOutcome.LATE, why)
            return
        self.waiting.setdefault(team, []).append((submitted, row, choice))

    def weigh(self) -> list[Move]:
        """Each team's latest valid row, recorded unless it was before; the earlier ones superseded."""
        moves = []
        for team, replies in sorted(self.waiting.items()):
            *earlier, (submitted, row, choice) = sorted(replies)
            for when, number, said in earlier:
                done = reply_origin(number, when) in self.done
                outcome = ReplyOutcome.ALREADY if done else ReplyOutcome.SUPERSEDED
                self.said(number, when, team, said, outcome, "a later reply of the team counts")
            origin = reply_origin(row, submitted)
            if origin in self.done:
                self.said(row, submitted, team, choice, ReplyOutcome.ALREADY, "")
                continue
            reason = f"reply form row {row}, {local_time_text(submitted, self.config.timezone)}"
            request = StaffRequest(team, choice.value, reason, APPLICANT, submitted.to_pydatetime(), origin)
            try:
                move = staff_move(self.current, request)
            except LifecycleError as exc:
                self.said(row, submitted, team, choice, ReplyOutcome.REFUSED, f"{exc}: staff decide")
                continue
            if move is None:
                already = TRANSITIONS[choice.value][0].value
                self.said(row, submitted, team, choice, ReplyOutcome.UNCHANGED, f"the team is already {already}")
                continue
            moves.append(move)
            self.current.loc[self.current[Derived.APPLICANT] == team, Col.STATUS] = move.to_status
            self.said(row, submitted, team, choice, ReplyOutcome.APPLIED, "")
        return moves


def reply_basis(baseline: pd.DataFrame, log: pd.DataFrame, config: CohortConfig) -> dict[str, dict]:
    """Per team: its decision apart from its own replies (status, the notice's kind and version, when a reply to
    it is due): what a valid reply code answers."""
    own = log[StoreCol.ACTOR] == APPLICANT if len(log) else pd.Series(dtype=bool)
    teams = team_rows(apply_actions(baseline, log[~own] if len(log) else log))
    basis = {}
    for row in teams.to_dict(orient="records"):
        kind, version = notice_key(row)
        due = reply_due(row, kind, config) if kind in LINKED_KINDS else None
        basis[row[Derived.APPLICANT]] = {"status": row[Col.STATUS], "kind": kind, "version": version, "due": due}
    return basis


def judge_replies(  # noqa: PLR0913 -- the responses, the selection and its log, the teams now, the call, the run
    responses: pd.DataFrame,
    baseline: pd.DataFrame,
    log: pd.DataFrame,
    current: pd.DataFrame,
    config: CohortConfig,
    key: bytes,
    as_of: dt.datetime,
    basis_log: pd.DataFrame | None = None,
) -> Judged:
    """The replies submitted by `as_of`, judged against the decisions (`current`: the team rows as they stand
    before the replies; `basis_log`: the recorded log with this run's staff moves, `log` when there are none): the
    moves to record (the applicant's confirm or decline, at the form's time) and a table row for every response
    row read."""
    basis_log = log if basis_log is None else basis_log
    done = set(log[StoreCol.ORIGIN].fillna("")) if StoreCol.ORIGIN in log.columns else set()
    judge = _Judge(config, key, reply_basis(baseline, basis_log, config), current.copy(), done)
    ordered = responses.sort_values([ReplyCol.SUBMITTED, ReplyCol.ROW], kind="mergesort", na_position="first")
    for row, submitted, token, text in ordered.itertuples(index=False):
        if pd.notna(submitted) and submitted > pd.Timestamp(as_of):
            continue  # submitted after the moment this run is made as of: a later run reads it
        judge.check(int(row), submitted, token, text)
    moves = judge.weigh()
    table = pd.DataFrame(judge.rows, columns=list(ReplyCol)).sort_values(ReplyCol.ROW, kind="mergesort")
    return Judged(moves=moves, table=table.reset_index(drop=True))


def unconfirmed(teams: pd.DataFrame) -> pd.DataFrame:
    """The selected teams with no reply recorded: past confirm-by, the teams that stayed silent."""
    return teams[teams[Col.STATUS] == Status.SELECTED]


def unsubscribed_addresses(config: CohortConfig, responses: pd.DataFrame) -> frozenset[str]:
    """The addresses (casefolded) whose unsubscribe code of this call is in the reply form's responses: the reply
    sheet is the record of who asked to hear no more."""
    key = reply_key(config)
    found = set()
    for token in responses[TOKEN]:
        claim = read_token(key, token)
        if claim is not None and claim.cohort == config.cohort_id and is_unsubscribe(claim):
            found.add(claim.applicant)
    return frozenset(found)
