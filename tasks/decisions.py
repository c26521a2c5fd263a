"""Files staff open: CSVs safe to open in a spreadsheet, with lists and times in readable form."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pandas as pd
from pydantic import BaseModel

from schemas.columns import LIST_SEPARATOR, Col, Derived, Status
from schemas.config import CohortConfig
from schemas.review import decision_columns
from tasks.cells import spreadsheet_safe
from tasks.files import write_whole
from tasks.score import points_column


def printable(frame: pd.DataFrame, *, neutralize: bool = True) -> pd.DataFrame:
    """Lists joined with '; ' (LIST_SEPARATOR), times as ISO-8601 UTC, missing as empty; text formula-safe for CSV."""
    safe = spreadsheet_safe if neutralize else (lambda text: text.astype(str))
    out = pd.DataFrame(index=frame.index)
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            out[name] = column.dt.strftime("%Y-%m-%dT%H:%M:%SZ").fillna("")
        elif column.dtype == object and column.map(lambda v: isinstance(v, list)).any():
            out[name] = safe(column.map(lambda v: LIST_SEPARATOR.join(v) if isinstance(v, list) else ""))
        elif pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            out[name] = column
        else:
            out[name] = safe(column.astype(object).where(column.notna(), "").astype(str))
    return out


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write the frame for staff, ordered by sheet row, byte-identical for the same input."""
    return write_whole(path, printable(frame.sort_values(Col.SOURCE_ROW)).to_csv(index=False, lineterminator="\n"))


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """Any staff table as a formula-safe CSV, in the frame's own order."""
    return write_whole(path, printable(frame).to_csv(index=False, lineterminator="\n"))


DECISION_COLUMNS: tuple[str, ...] = (
    Col.SOURCE_ROW,
    Col.STATUS,
    Derived.RANK,
    Derived.SELECTION_RANK,
    Derived.WAITLIST_POSITION,
    Derived.SCORE,
    Col.REASONS,
    Derived.DUPLICATE_OF,
    Derived.POSSIBLE_DUPLICATE_OF,
    Derived.TEAM_KEY,
    Col.LOCAL_NAME,
    Col.STATE,
    Col.LEAD_NAME,
    Col.LEAD_EMAIL,
    Col.SUBMITTER_EMAIL,
    Col.SUBMITTED_AT,
    Derived.RESERVED_SEAT,
)
PROVISIONAL = "PROVISIONAL (the deadline has not passed): "
FINAL_STATUSES = (Status.SELECTED, Status.WAITLISTED, Status.INVALID, Status.DUPLICATE, Status.LATE)


class SelectionSummary(BaseModel):
    """summary.json: what was decided, from which input and config, against which limits."""

    program: str
    cohort: str
    provisional: bool
    deadline: str
    capacity: int
    max_per_state: int
    rows: int
    counts: dict[str, int]
    selected_per_state: dict[str, int]
    score_cutoff: float | None
    input_sha256: str
    config_sha256: str

    def as_text(self) -> str:
        width = max(len(s) for s in self.counts)
        lines = [f"{self.program} {self.cohort}" + (" (PROVISIONAL)" if self.provisional else "")]
        lines.append(f"capacity {self.capacity}, at most {self.max_per_state} per state, {self.rows} rows")
        lines += [f"  {status:<{width}}  {count:>5}" for status, count in self.counts.items()]
        if self.selected_per_state:
            per_state = ", ".join(f"{state} {n}" for state, n in self.selected_per_state.items())
            lines.append(f"selected per state: {per_state}")
        if self.score_cutoff is not None:
            lines.append(f"lowest selected score: {self.score_cutoff:g}")
        return "\n".join(lines)


def reasons_without_answers(decisions: pd.DataFrame) -> pd.Series:
    """Reasons with the applicant's own answers left out, for places that are no place for applicant data (Prefect
    artifacts): an invalid row keeps which checks failed, a duplicate which row is used. The files keep every word.
    """
    reasons = decisions[Col.REASONS].fillna("").astype(str)
    provisional = reasons.str.startswith(PROVISIONAL)
    reasons = reasons.str.removeprefix(PROVISIONAL)
    invalid = decisions[Col.STATUS] == Status.INVALID
    failed = (
        reasons[invalid]
        .str.split(LIST_SEPARATOR, regex=False)
        .map(lambda parts: LIST_SEPARATOR.join(dict.fromkeys(part.split(": ")[0] for part in parts if part)))
    )
    duplicate = decisions[Col.STATUS] == Status.DUPLICATE
    used = reasons[duplicate].str.split(" (this row also had problems", n=1, regex=False).str[0]
    shown = reasons.where(~invalid, failed).where(~duplicate, used)
    return shown.where(~provisional, PROVISIONAL + shown)


# Anything shaped like an address, or like a North American phone number, wherever a text in an artifact quotes it:
# the artifacts show none (a sentence keeps its words, the address or number becomes a mark).
_ADDRESS = r"[^\s'\",;<>()]+@[^\s'\",;<>()]*"
_PHONE = r"(?<![\w-])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-]?)\d{3}[\s.-]?\d{4}(?![\w-])"
ADDRESS_MARK = "(address)"
PHONE_MARK = "(phone)"
ARTIFACT_COLUMNS: tuple[str, ...] = (
    Col.SOURCE_ROW,
    Col.STATUS,
    Derived.SELECTION_RANK,
    Derived.WAITLIST_POSITION,
    Derived.SCORE,
    Derived.TEAM_KEY,
    Col.LOCAL_NAME,
    Col.STATE,
    Derived.DUPLICATE_OF,
    Derived.POSSIBLE_DUPLICATE_OF,
    Derived.RESERVED_SEAT,
    Col.REASONS,
)


def without_contacts(text: pd.Series) -> pd.Series:
    """The text with every address and phone number in it replaced by a mark: for the Prefect UI, which is no place
    for an applicant's contact details, whichever answer or note they were typed into."""
    return (
        text.fillna("")
        .astype(str)
        .str.replace(_ADDRESS, ADDRESS_MARK, regex=True)
        .str.replace(_PHONE, PHONE_MARK, regex=True)
    )


def sentences_only(flags: pd.Series) -> pd.Series:
    """Each staff flag without what it quotes: a rule's sentence ends before the ": " that introduces the values it
    names (the addresses and teams of a shared roster), as the checks' reasons do."""
    parts = flags.fillna("").astype(str).str.split(LIST_SEPARATOR, regex=False)
    return parts.map(lambda found: LIST_SEPARATOR.join(dict.fromkeys(p.split(": ")[0] for p in found if p)))


def artifact_decisions(decided: pd.DataFrame, config: CohortConfig, *, provisional: bool) -> pd.DataFrame:
    """The decisions table staff read in the Prefect UI: who is selected (selection rank) and waitlisted (waitlist
    position), the team key staff copy into Overrides, the duplicate links, and no contact details or applicants'
    own answers (the files and the sheet keep every word). An address or phone number in any text shows as a mark."""
    if Derived.STAFF_FLAGS in decided.columns:
        decided = decided.assign(**{Derived.STAFF_FLAGS: sentences_only(decided[Derived.STAFF_FLAGS])})
    shown = decisions_frame(decided, config, provisional=provisional)
    shown[Col.REASONS] = reasons_without_answers(shown)
    for column in (Col.REASONS, Col.LOCAL_NAME, Derived.TEAM_KEY, Derived.POSSIBLE_DUPLICATE_OF):
        shown[column] = without_contacts(shown[column])
    return shown[list(ARTIFACT_COLUMNS)]


def with_split_ranks(decisions: pd.DataFrame) -> pd.DataFrame:
    """The frame with `rank` split by what it counts: `selection_rank` for a selected team, `waitlist_position`
    for a waitlisted one (a team has one of them, or neither)."""
    rank = pd.to_numeric(decisions[Derived.RANK], errors="coerce").astype("Int64")
    status = decisions[Col.STATUS]
    return decisions.assign(
        **{
            Derived.SELECTION_RANK: rank.where(status == Status.SELECTED),
            Derived.WAITLIST_POSITION: rank.where(status == Status.WAITLISTED),
        }
    )


def possible_duplicate_notes(rows: pd.Series) -> pd.Series:
    """For each `possible_duplicate_of` (sheet rows joined by LIST_SEPARATOR), the sentence that asks staff to
    confirm it; "" where there is none. The rows are named with commas and "and", so the sentence is one reason."""
    named = rows.fillna("").astype(str)
    several = named.str.contains(LIST_SEPARATOR, regex=False)
    listed = named.str.replace(re.escape(LIST_SEPARATOR) + r"(?!.*;)", " and ", regex=True).str.replace(
        LIST_SEPARATOR, ", ", regex=False
    )
    noun = pd.Series("row ", index=named.index).where(~several, "rows ")
    note = (
        "Possible duplicate of "
        + noun
        + listed
        + " (a similar name, or the same team lead, in the same state): staff confirm in the Overrides sheet"
    )
    return note.where(named != "", "")


def with_sentence(reasons: pd.Series, sentence: pd.Series) -> pd.Series:
    """Each reason with the sentence after it (LIST_SEPARATOR between), where there is one."""
    text = reasons.fillna("").astype(str)
    joined = text.where(text == "", text + LIST_SEPARATOR) + sentence
    return reasons.where(sentence == "", joined)


def decisions_frame(decided: pd.DataFrame, config: CohortConfig, *, provisional: bool) -> pd.DataFrame:
    """One row per input row in sheet order: the decision columns, then points per rubric criterion, then the
    review's columns (tasks/review_round.py) when the call has a review round. The reasons
    close with the possible duplicates staff are to confirm and the form's flags for staff (shared rosters)."""
    reviewed = decision_columns([c.name for c in config.review.criteria]) if config.review is not None else []
    columns = [*DECISION_COLUMNS, *(points_column(c) for c in config.rubric), *reviewed]
    out = decided.sort_values(Col.SOURCE_ROW).reset_index(drop=True)
    for column in columns:
        if column not in out.columns:
            out[column] = pd.NA
    out = with_split_ranks(out)
    out[Col.REASONS] = with_sentence(out[Col.REASONS], possible_duplicate_notes(out[Derived.POSSIBLE_DUPLICATE_OF]))
    if Derived.STAFF_FLAGS in out.columns:
        out[Col.REASONS] = with_sentence(out[Col.REASONS], out[Derived.STAFF_FLAGS].fillna("").astype(str))
    out = out[columns].copy()
    if provisional:
        out[Col.REASONS] = PROVISIONAL + out[Col.REASONS].astype(str)
    return out


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def summarize_selection(
    decided: pd.DataFrame, config: CohortConfig, config_path: Path, input_sha: str, *, provisional: bool
) -> SelectionSummary:
    """Counts by status (every status listed), selected per state and the fingerprints of the inputs."""
    counts = decided[Col.STATUS].value_counts()
    selected = decided[decided[Col.STATUS] == Status.SELECTED]
    per_state = selected[Col.STATE].value_counts()
    return SelectionSummary(
        program=config.program,
        cohort=config.cohort,
        provisional=provisional,
        deadline=config.deadline.isoformat(),
        capacity=config.capacity,
        max_per_state=config.max_per_state,
        rows=len(decided),
        counts={status.value: int(counts.get(status.value, 0)) for status in FINAL_STATUSES},
        selected_per_state={str(k): int(per_state[k]) for k in sorted(per_state.index)},
        score_cutoff=float(selected[Derived.SCORE].min()) if len(selected) else None,
        input_sha256=input_sha,
        config_sha256=file_sha256(config_path),
    )


def write_decisions(decisions: pd.DataFrame, summary: SelectionSummary, out_dir: Path) -> tuple[Path, Path]:
    """decisions.csv and summary.json: byte-identical for the same input and config."""
    csv_path = write_csv(decisions, out_dir / "decisions.csv")
    json_path = out_dir / "summary.json"
    write_whole(json_path, json.dumps(summary.model_dump(), indent=2, sort_keys=True) + "\n")
    return csv_path, json_path
