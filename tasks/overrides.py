"""Staff overrides, read from an "Overrides" worksheet (or a CSV/XLSX file) and applied on the next run.

Columns: team (a team_key from decisions.csv) or source_row, action (force-select, force-decline,
extension, note, message), note, by, and optionally message_to_team. Every applied override is written
into the decision's reasons, which are for staff only: `note` and `by` never reach an applicant. Words
staff do want the team to read go in `message_to_team` (on a row of any action, or on a `message` row,
which does nothing else); the team's notices show them under "A note from the program staff".
After the notices, confirm / decline / withdraw rows are recorded by the promote-waitlist flow
(tasks/staff_actions.py), once each, with `by` as the actor and `note` as the reason.
"""

from __future__ import annotations

from collections.abc import Sequence

import gspread
import pandas as pd
from pydantic import BaseModel

from schemas.columns import LIST_SEPARATOR, Col, Derived, ReasonCode, Status
from schemas.config import CohortConfig, Extension
from schemas.errors import StaffError
from schemas.lifecycle import STAFF_ACTIONS, OverrideAction, OverrideCol
from schemas.states import STATE_LOOKUP, state_key
from tasks.dedupe import name_key
from tasks.reason_codes import codes_column, codes_where, constant_codes
from tasks.sheets import NOT_SHARED, sheets_errors, worksheet_values, worksheets
from tasks.sources import FileSource

OVERRIDES_TITLE = "Overrides"
# Every action an Overrides row may name, in the order a refusal lists them.
ACTIONS = (*OverrideAction, *STAFF_ACTIONS)


class OverrideError(StaffError):
    """An override row cannot be understood; the message names its row."""


class Override(BaseModel):
    row: int
    team: str = ""
    source_row: int | None = None
    action: str
    note: str = ""
    by: str = ""
    message_to_team: str = ""  # the only words of an override that reach the team

    def said(self) -> str:
        return f"{self.note or 'no note'}{self._who()}"

    def message_said(self) -> str:
        """The message as the staff reasons record it, with who wrote it."""
        return f"{self.message_to_team}{self._who()}"

    def _who(self) -> str:
        return f" ({self.by})" if self.by else ""


def parse_overrides(values: list[list[str]]) -> list[Override]:
    """Override rows from sheet values (header first); blank rows skipped, a bad row is a clear error."""
    if not values:
        return []
    header = [str(title).strip().casefold() for title in values[0]]
    if OverrideCol.ACTION not in header or not ({OverrideCol.TEAM, Col.SOURCE_ROW} & set(header)):
        raise OverrideError("the Overrides sheet needs an `action` column and a `team` or `source_row` column")
    made = []
    for sheet_row, cells in enumerate(values[1:], start=2):
        record = dict(zip(header, [str(c).strip() for c in cells] + [""] * (len(header) - len(cells)), strict=False))
        if not any(record.values()):
            continue
        action = record.get(OverrideCol.ACTION, "").casefold()
        if action not in ACTIONS:
            raise OverrideError(f"Overrides row {sheet_row}: action {action!r} is not one of {', '.join(ACTIONS)}")
        target = record.get(Col.SOURCE_ROW, "")
        if target and not target.isdigit():
            raise OverrideError(f"Overrides row {sheet_row}: source_row {target!r} is not a row number")
        team = record.get(OverrideCol.TEAM, "")
        if not team and not target:
            raise OverrideError(f"Overrides row {sheet_row}: give the team (team_key) or the source_row")
        if action == OverrideAction.MESSAGE and not record.get(Derived.MESSAGE_TO_TEAM, ""):
            raise OverrideError(f"Overrides row {sheet_row}: a `message` row needs the words in `message_to_team`")
        if action == OverrideAction.EXCUSE_REVIEW and not record.get(OverrideCol.NOTE, ""):
            raise OverrideError(f"Overrides row {sheet_row}: an `excuse-review` row needs its reason in `note`")
        made.append(
            Override(
                row=sheet_row,
                team=team,
                source_row=int(target) if target else None,
                action=action,
                note=record.get(OverrideCol.NOTE, ""),
                by=record.get(OverrideCol.BY, ""),
                message_to_team=record.get(Derived.MESSAGE_TO_TEAM, ""),
            )
        )
    return made


def read_sheet_overrides(client: gspread.Client, key: str) -> list[Override]:
    """The spreadsheet's Overrides worksheet; none when the worksheet does not exist."""
    with sheets_errors(key, "Overrides read", NOT_SHARED):
        if OVERRIDES_TITLE not in worksheets(client, key):
            return []
        values = worksheet_values(client, key, OVERRIDES_TITLE)
    return parse_overrides(values)


def read_file_overrides(config: CohortConfig) -> list[Override]:
    """The overrides file named in the config (CSV/XLSX), if any."""
    if config.overrides is None:
        return []
    return parse_overrides(FileSource(config.overrides).read_values())


def team_key(typed: str) -> str:
    """A team key as staff type it, read the way the pipeline makes team keys (tasks.dedupe.add_team_keys).

    The state before the first ":" in any spelling the form accepts (ny, N.Y., New York: NY), the local name after
    it through `name_key` (case, punctuation, Assn/EA spelled out): "NY:Troy Education Assn" is the team
    "NY:troy education association". A text without ":" is left as it is (it is no team key and matches no team).
    """
    state, colon, name = typed.strip().partition(":")
    if not colon:
        return typed.strip()
    code = STATE_LOOKUP.get(state_key(state)) or state.strip().upper()
    return f"{code}:{name_key(name)}"


def _targets(frame: pd.DataFrame, override: Override) -> pd.Series:
    if override.source_row is not None:
        return frame[Col.SOURCE_ROW] == override.source_row
    return frame[Derived.TEAM_KEY] == team_key(override.team)


def _granted(overrides: list[Override]) -> list[Extension]:
    """The extensions the Overrides sheet's `extension` rows grant (by source_row when given, else by team key)."""
    return [
        Extension(source_row=o.source_row, team=None if o.source_row else team_key(o.team), reason=f"{o.said()}")
        for o in overrides
        if o.action == OverrideAction.EXTENSION
    ]


def with_extensions(config: CohortConfig, overrides: list[Override]) -> CohortConfig:
    """Extension overrides join the config's extensions, so the cutoff treats them the same way.

    Every extension's team is read as `team_key` reads it, so the cutoff's exact comparison finds the team a staff
    member typed as "NY:Troy Education Assn" (the same reading as an Overrides row's and `unmatched_targets`').
    """
    own = [
        grant.model_copy(update={"team": team_key(grant.team)}) if grant.team is not None else grant
        for grant in config.extensions
    ]
    extensions = [*own, *_granted(overrides)]
    return config if extensions == list(config.extensions) else config.model_copy(update={"extensions": extensions})


def unmatched_targets(
    frame: pd.DataFrame, overrides: list[Override], extensions: Sequence[Extension] = ()
) -> list[str]:
    """What would silently do nothing: each Overrides row and each config `extensions:` entry whose team key or
    sheet row matches no row of the responses (`frame`, every answered row, whatever its status), one line each.

    Team keys are compared as `team_key` reads them (also how the overrides and extensions are applied). The
    extensions the Overrides sheet granted (`with_extensions`) are checked as their Overrides rows. confirm /
    decline / withdraw rows are left to the promote-waitlist run, which checks them against the selection the
    notices were sent from.
    """
    rows = set(frame[Col.SOURCE_ROW].tolist())
    keys = set(frame[Derived.TEAM_KEY].tolist()) if Derived.TEAM_KEY in frame.columns else set()

    def misses(source_row: int | None, team: str | None) -> list[str]:
        found = []
        if source_row is not None and source_row not in rows:
            found.append(f"source_row {source_row} is not an answered row of the responses sheet")
        if team and team_key(team) not in keys:
            read = "" if team_key(team) == team else f" (read as {team_key(team)!r})"
            found.append(f"team {team!r}{read} matches no team; copy the key from the team_key column of decisions.csv")
        return found

    problems = []
    for override in overrides:
        if override.action not in STAFF_ACTIONS:
            problems += [f"Overrides row {override.row}: {miss}" for miss in misses(override.source_row, override.team)]
    granted = _granted(overrides)
    for index, grant in enumerate(extensions):
        if grant not in granted:
            entry = f"extensions.{index} of the cohort config"
            problems += [f"{entry}: {miss}" for miss in misses(grant.source_row, grant.team)]
    return problems


def apply_before_selection(
    frame: pd.DataFrame, overrides: list[Override], extensions: Sequence[Extension] = ()
) -> pd.DataFrame:
    """force-decline takes a team out of the running (code `staff_declined`); force-select marks it for a seat first.

    An override or extension that matches no row is refused first (OverrideError naming every one, see
    `unmatched_targets`): it would otherwise do nothing without a word.
    """
    problems = unmatched_targets(frame, overrides, extensions)
    if problems:
        raise OverrideError(
            "overrides that match no response, so nothing was applied (correct or delete them):\n"
            + "\n".join(f"  - {problem}" for problem in problems)
        )
    out = frame.copy()
    out[Derived.STAFF_SELECT] = False
    out[Derived.REASON_CODES] = codes_column(out)
    for override in overrides:
        target = _targets(out, override) & (out[Col.STATUS] == Status.VALID)
        if override.action == OverrideAction.FORCE_DECLINE:
            out.loc[target, Col.STATUS] = Status.INVALID.value
            out.loc[target, Col.REASONS] = f"Declined by staff decision: {override.said()}"
            declined = constant_codes(out.index, ReasonCode.STAFF_DECLINED)
            out[Derived.REASON_CODES] = codes_where(out[Derived.REASON_CODES], target, declined)
        elif override.action == OverrideAction.FORCE_SELECT:
            out.loc[target, Derived.STAFF_SELECT] = True
    return out


def add_staff_notes(decided: pd.DataFrame, overrides: list[Override]) -> pd.DataFrame:
    """Notes (and the note of a force-select) appended to the decision's reasons, for staff; each override's
    message_to_team set as the team's `message_to_team` (several in sheet order) and recorded in the reasons too,
    so staff reviewing the decisions see what the team will read."""
    out = decided.copy()
    out[Derived.MESSAGE_TO_TEAM] = messages_column(out)
    for override in overrides:
        target = _targets(out, override)
        if override.action in (OverrideAction.NOTE, OverrideAction.FORCE_SELECT):
            label = "Staff note" if override.action == OverrideAction.NOTE else "Staff asked to select this team"
            out.loc[target, Col.REASONS] = out.loc[target, Col.REASONS] + f"{LIST_SEPARATOR}{label}: {override.said()}"
        if override.message_to_team:
            out.loc[target, Col.REASONS] = (
                out.loc[target, Col.REASONS] + f"{LIST_SEPARATOR}Message to the team: {override.message_said()}"
            )
            out[Derived.MESSAGE_TO_TEAM] = with_message(out[Derived.MESSAGE_TO_TEAM], target, override.message_to_team)
    return out


def messages_column(frame: pd.DataFrame) -> pd.Series:
    """The frame's messages to teams, "" where there is none."""
    if Derived.MESSAGE_TO_TEAM not in frame.columns:
        return pd.Series("", index=frame.index, dtype=object)
    return frame[Derived.MESSAGE_TO_TEAM].fillna("").astype(str).astype(object)


def with_message(messages: pd.Series, target: pd.Series, message: str) -> pd.Series:
    """`message` added to the targeted rows' messages, after a blank line when they already have one."""
    joined = messages.where(messages == "", messages + "\n\n") + message
    return messages.where(~target, joined)
