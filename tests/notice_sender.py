"""The sender as its own process, for kill tests: plan from the recorded selection, sync the ledger, send."""

from __future__ import annotations

import sys

from schemas.config import load_config
from tasks.delivery import deliver, smtp_settings
from tasks.notices import decision_notices, sender_domain
from tasks.store import latest_selection, open_store


def main(config_path: str) -> None:
    config = load_config(config_path)
    engine = open_store(config.database_url)
    _, decided = latest_selection(engine, config.cohort)
    planned = decision_notices(decided, config, sender_domain(config))
    deliver(engine, config, planned, "decisions", smtp_settings(config), base_delay=0.01)


if __name__ == "__main__":
    main(sys.argv[1])
