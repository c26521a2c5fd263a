"""`make demo` (`cohort-select demo`): the selection and a dry run of the notices, on the demo's own copy of the
cohort (tasks/demo.py), with the flows staff run for the season."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from flows.select_cohort import select_cohort
from flows.send_notices import send_notices
from schemas.ledger import RunKind
from tasks.decisions import SelectionSummary
from tasks.demo import BUNDLED_RESPONSES, DEFAULT_COHORT, DEFAULT_FOLDER, DemoError, DemoPlan, own_store, prepare_demo
from tasks.drift import DriftReport
from tasks.ledger import DeliveryReport


class DemoRun(BaseModel):
    """What one demo run made, and where."""

    plan: DemoPlan
    selection: SelectionSummary
    notices: DeliveryReport

    def where_to_look(self) -> str:
        """The files to open, for the end of the demo's output."""
        folder = self.plan.folder
        return "\n".join(
            [
                f"Where to look (everything is in {folder}; the next demo empties it and starts again):",
                f"  Report:    {folder / 'report.html'}",
                f"  Decisions: {folder / 'decisions.csv'}",
                f"  Outbox:    {self.notices.outbox or folder / 'outbox'} (index.csv lists every message; "
                "nothing was sent)",
                f"  The demo's cohort file {self.plan.cohort_file} and state store {self.plan.state_dir}",
            ]
        )


def run_demo(
    cohort_file: Path = DEFAULT_COHORT, folder: Path = DEFAULT_FOLDER, responses: Path = BUNDLED_RESPONSES
) -> DemoRun:
    """Selection as of the deadline, then the notices' dry run the next morning, on a fresh copy of the cohort whose
    source is `responses` (a file) and whose state is under `folder`: the season's store, sheet and mail server
    are never used, and two runs give the same files."""
    plan = prepare_demo(cohort_file, responses, folder)
    with own_store(plan.state_dir):
        selection = select_cohort(
            config_path=str(plan.cohort_file), out_dir=str(folder), as_of=plan.select_at.isoformat()
        )
        if isinstance(selection, DriftReport):  # a fresh store has sent nothing, so nothing is frozen
            raise DemoError(f"the demo's fresh store in {plan.state_dir} was not empty: run the demo again")
        notices = send_notices(
            config_path=str(plan.cohort_file),
            out_dir=str(folder),
            send=False,
            kind=RunKind.DECISIONS,
            as_of=plan.notify_at.isoformat(),
            require_approval=False,
        )
    return DemoRun(plan=plan, selection=selection, notices=notices)
