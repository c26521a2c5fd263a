"""The sender as its own process, for kill tests: plan from the recorded selection, sync the ledger, send."""

from __future__ import annotations

import sys

from schemas.config import load_config
from tasks.delivery import deliver
from tasks.messages import sender_domain
from tasks.notices import NoticePlan, decision_notices
from tasks.smtp import smtp_settings
from tasks.store import latest_selection, open_store


def main(config_path: str) -> None:
    config = load_config(config_path)
    engine = open_store(config.database_url)
    head, decided = latest_selection(engine, config.cohort_id)
    planned = decision_notices(decided, config, sender_domain(config))
    plan = NoticePlan(run="decisions", selection_id=head.id, actions_seq=0, notices=planned)
    deliver(engine, config, plan, smtp_settings(config), base_delay=0.01)


if __name__ == "__main__":
    main(sys.argv[1])
