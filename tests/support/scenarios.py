"""Staff steps through the command line, in this process, that several tests start from."""

from __future__ import annotations

from pathlib import Path

from flows.cli import main
from schemas.columns import Col, Derived, Status
from tasks.store import open_store
from tasks.teams import current_decisions, team_rows
from tests.support.configs import make_config
from tests.support.moments import AFTER
from tests.support.smtp import SmtpServer


def selected_and_sent(tmp_path: Path, smtp: SmtpServer, **changes):
    """The bundled example selected and its decision notices sent (in this process), for the cases after them.

    These notices go without the server's delay per message, if it has one: a race test slows its server for
    the runs it races, not for the fifty notices before them."""
    config, path = make_config(tmp_path, smtp.port, **changes)
    assert main(["select", "--config", str(path), "--as-of", AFTER, "--out", str(tmp_path / "sel")]) == 0
    delay, smtp.handler.delay = smtp.handler.delay, (0.0, 0.0)
    try:
        assert main(["notify", "--config", str(path), "--as-of", AFTER, "--out", str(tmp_path / "n"), "--send"]) == 0
    finally:
        smtp.handler.delay = delay
    return config, path


def free_a_seat(path: Path, config) -> str:
    """A selected team declines (recorded by staff), so a seat is free for the waitlist."""
    engine = open_store(config.database_url)
    teams = team_rows(current_decisions(engine, config.cohort_id)[1])
    leaving = teams.loc[teams[Col.STATUS] == Status.SELECTED, Derived.APPLICANT].iloc[0]
    said = ["decline", "--config", str(path), "--team", leaving, "--reason", "cannot attend", "--as-of", AFTER]
    assert main(said) == 0
    return leaving
