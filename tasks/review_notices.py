"""The review round's notices to reviewers, through the same ledger, outbox and approval as the decision notices.

`review_assignment`: one per reviewer, saying how many applications, where (the reviewer's sheet, or the workbook
attached) and by when; its version is the set of teams assigned and the due moment, so a reviewer whose assignment
changed after a late re-run is told again, and one whose assignment did not is never told twice.
`review_reminder`: at most one per reviewer and day (its version is the day on the cohort's clock), only before the
due moment, only to a reviewer already told of the assignment, and only while some assigned application still lacks
a usable score of a criterion.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import pandas as pd
import sqlalchemy as sa

from schemas.columns import Derived, Kind
from schemas.config import CohortConfig, ReviewConfig, ReviewCriterion
from schemas.ledger import MAYBE_DELIVERED, RunKind
from schemas.review import AssignCol, ProgressCol, RosterCol
from schemas.store import StoreCol
from tasks.ledger import ledger
from tasks.local_time import local_time_text
from tasks.messages import Attachment, Notice, message_id, sender_domain, with_payload
from tasks.notices import NoticePlan, address_refusal, common_context, render_notice
from tasks.review_assign import read_roster
from tasks.review_collect import collect_tables
from tasks.review_files import reviewer_file
from tasks.review_round import read_assignments, review_client, review_of, reviewer_tables
from tasks.review_sheets import worksheet_ids, worksheet_title, worksheet_url


def scale_words(criterion: ReviewCriterion) -> str:
    """'1, 2, 3, 4 or 5', or '0 to 10 in steps of 0.5': the allowed scores as a reviewer reads them."""
    if isinstance(criterion.scale, list):
        values = [f"{v:g}" for v in criterion.values]
        return f"{', '.join(values[:-1])} or {values[-1]}"
    return f"{criterion.scale.min:g} to {criterion.scale.max:g} in steps of {criterion.scale.step:g}"


def assignment_version(team_keys: list[str], due: dt.datetime) -> str:
    """The same teams and due moment give the same version, whatever order the assignment lists them in."""
    material = "|".join(sorted(team_keys)) + f"|due:{due.isoformat()}"
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:16]


def sheet_links(config: CohortConfig) -> dict[str, str]:
    """Reviewer email → the link to their worksheet, when the round reviews in a spreadsheet (else empty)."""
    review = review_of(config)
    if review.spreadsheet is None:
        return {}
    ids = worksheet_ids(review_client(config), review.spreadsheet)
    emails = read_assignments(review)[AssignCol.REVIEWER_EMAIL].astype(str).unique()
    return {e: worksheet_url(review.spreadsheet, ids[worksheet_title(e)]) for e in emails if worksheet_title(e) in ids}


def _review_context(
    config: CohortConfig, review: ReviewConfig, email: str, assigned: int, remaining: int, url: str
) -> dict:
    return {
        "assigned": assigned,
        "remaining": remaining,
        "due": local_time_text(review.due_moment(config.zone), config.timezone),
        "criteria": [{"name": c.name, "description": c.description, "scale": scale_words(c)} for c in review.criteria],
        "url": url,
        "file": reviewer_file(review.folder, email).name,
    }


def _reviewer_notice(
    config: CohortConfig, reviewer: dict, kind: Kind, version: str, review_facts: dict, *, attach: bool
) -> Notice:
    email = str(reviewer[AssignCol.REVIEWER_EMAIL])
    name = str(reviewer[AssignCol.REVIEWER_NAME] or "").strip()
    context = common_context(config) | {"reviewer": {"name": name or "reviewer"}, "review": review_facts}
    subject, text, html = render_notice(kind, context, config.notices.subjects[kind] if config.notices else "")
    path = reviewer_file(review_of(config).folder, email)
    attachments = (
        [Attachment(filename=path.name, content=path.read_bytes())]
        if attach and not review_facts["url"] and path.is_file()
        else []
    )
    refusal = address_refusal(email)
    if not refusal and not review_facts["url"] and not path.is_file():
        refusal = "the reviewer has no review sheet or file: run the review assignment (review-assign) first"
    domain = sender_domain(config)
    notice = Notice(
        applicant=email,
        kind=kind,
        version=version,
        to=email,
        subject=subject,
        text=text,
        html=html,
        message_id=message_id(config.cohort_id, email, kind, version, domain),
        refusal=refusal,
        people=[name] if name else [],
        attachments=attachments,
    )
    return with_payload(notice, config)


def _reviewers(assignments: pd.DataFrame, roster: pd.DataFrame) -> pd.DataFrame:
    """One row per assigned reviewer (email, name, how many teams), the name as the roster has it now."""
    counts = assignments.groupby(AssignCol.REVIEWER_EMAIL, sort=True).agg(
        **{
            AssignCol.REVIEWER_NAME: (AssignCol.REVIEWER_NAME, "first"),
            ProgressCol.ASSIGNED: (AssignCol.TEAM_KEY, "count"),
        }
    )
    names = roster.set_index(RosterCol.EMAIL)[RosterCol.NAME]
    counts[AssignCol.REVIEWER_NAME] = names.reindex(counts.index).fillna(counts[AssignCol.REVIEWER_NAME])
    return counts.reset_index()


def assignment_notices(config: CohortConfig) -> list[Notice]:
    """One review_assignment notice per reviewer with assignments, from review.folder/assignments.csv."""
    review = review_of(config)
    assignments = read_assignments(review)
    due = review.due_moment(config.zone)
    keys = assignments.groupby(AssignCol.REVIEWER_EMAIL)[AssignCol.TEAM_KEY].apply(list)
    links = sheet_links(config)
    made = []
    for reviewer in _reviewers(assignments, read_roster(review.roster)).to_dict(orient="records"):
        email = str(reviewer[AssignCol.REVIEWER_EMAIL])
        facts = _review_context(config, review, email, int(reviewer[ProgressCol.ASSIGNED]), 0, links.get(email, ""))
        version = assignment_version(list(keys[email]), due)
        made.append(_reviewer_notice(config, reviewer, Kind.REVIEW_ASSIGNMENT, version, facts, attach=True))
    return made


def scoring_progress(config: CohortConfig, assignments: pd.DataFrame) -> pd.DataFrame:
    """Per reviewer: assigned, scored (every criterion usable) and remaining, from the reviewers' sheets as they are.

    The answers are not compared here (no teams are given): whether an assignment is scored depends only on its
    score cells, and `review collect` reports edited answers."""
    no_teams = pd.DataFrame(columns=[Derived.TEAM_KEY])
    tables = reviewer_tables(config, assignments)
    return collect_tables(tables, assignments, no_teams, review_of(config)).reviewer_progress


def told_reviewers(engine: sa.Engine, cohort: str) -> set[str]:
    """Reviewers whose assignment notice may have reached them: only they are reminded."""
    rows = ledger(engine, cohort)
    told = rows[(rows[StoreCol.KIND] == Kind.REVIEW_ASSIGNMENT) & rows[StoreCol.LEDGER_STATE].isin(MAYBE_DELIVERED)]
    return set(told[Derived.APPLICANT])


def reminder_notices(config: CohortConfig, told: set[str], as_of: dt.datetime) -> list[Notice]:
    """A review_reminder for each told reviewer with unscored assignments, dated to `as_of`'s day; none from the
    due moment on."""
    review = review_of(config)
    if as_of >= review.due_moment(config.zone):
        return []
    assignments = read_assignments(review)
    progress = scoring_progress(config, assignments)
    unscored = dict(zip(progress[AssignCol.REVIEWER_EMAIL], progress[ProgressCol.REMAINING], strict=True))
    day = as_of.astimezone(config.zone).date().isoformat()
    links = sheet_links(config)
    made = []
    for reviewer in _reviewers(assignments, read_roster(review.roster)).to_dict(orient="records"):
        email = str(reviewer[AssignCol.REVIEWER_EMAIL])
        remaining = int(unscored.get(email, 0))
        if email not in told or remaining == 0:
            continue
        facts = _review_context(
            config, review, email, int(reviewer[ProgressCol.ASSIGNED]), remaining, links.get(email, "")
        )
        made.append(_reviewer_notice(config, reviewer, Kind.REVIEW_REMINDER, day, facts, attach=False))
    return made


def plan_review_notices(engine: sa.Engine, config: CohortConfig, run: RunKind, as_of: dt.datetime) -> NoticePlan:
    """The reviewers' notices of one run. They are planned from the round's assignments, not from a selection
    (the review comes before it), so the plan names no selection and no lifecycle sequence."""
    if run == RunKind.REVIEW_ASSIGNMENTS:
        chosen = assignment_notices(config)
    else:
        chosen = reminder_notices(config, told_reviewers(engine, config.cohort_id), as_of)
    return NoticePlan(run=run, selection_id=None, actions_seq=0, notices=chosen)
