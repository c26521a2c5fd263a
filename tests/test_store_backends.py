"""The state store on SQLite and on PostgreSQL: the password behind a secret reference, timeouts so nothing hangs,
and every database error as one staff message."""

from __future__ import annotations

import socket
import time

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from schemas.config import ConfigError, SecretError
from schemas.errors import StaffError
from tasks.identity import open_cohort_store
from tasks.store import StoreError, notices, now, open_store
from tests.support.configs import make_config
from tests.support.postgres import PASSWORD

DB_PASSWORD_VARIABLE = "COHORT_TEST_DB_PASSWORD"  # the name of the variable, not a password


def _password_config(tmp_path, url: str, reference: dict):
    config, _ = make_config(tmp_path, 25, state_url={"url": url, "password": reference})
    return config


def test_state_url_password_from_an_environment_variable(postgres_cluster, tmp_path, monkeypatch):
    url = postgres_cluster.url(postgres_cluster.new_database(), password=False)
    config = _password_config(tmp_path, url, {"env": DB_PASSWORD_VARIABLE})
    with pytest.raises(SecretError, match=f"{DB_PASSWORD_VARIABLE} is not set"):
        open_cohort_store(config)
    monkeypatch.setenv(DB_PASSWORD_VARIABLE, "not-the-password")
    with pytest.raises(StoreError, match="password authentication failed") as refused:
        open_cohort_store(config)
    assert "not-the-password" not in str(refused.value)
    monkeypatch.setenv(DB_PASSWORD_VARIABLE, PASSWORD)
    engine = open_cohort_store(config)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT current_user").scalar() == "postgres"
    assert PASSWORD not in repr(engine.url)


def test_state_url_password_from_a_prefect_secret_block(postgres_cluster, tmp_path, prefect_server):
    from prefect.blocks.system import Secret

    Secret(value=PASSWORD).save("cohort-test-db-password", overwrite=True)
    url = postgres_cluster.url(postgres_cluster.new_database(), password=False)
    config = _password_config(tmp_path, url, {"prefect_secret": "cohort-test-db-password"})
    with open_cohort_store(config).connect() as conn:
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1


def test_a_password_written_into_state_url_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"state_url.*holds a password: give it as `password:`"):
        _password_config(tmp_path, "postgresql+psycopg://cohort:hunter2@db.example.org/c", {"env": "X"})


def test_postgres_connections_carry_timeouts_and_the_url_can_shorten_them(postgres_cluster):
    database = postgres_cluster.new_database()
    with open_store(postgres_cluster.url(database)).connect() as conn:
        shown = [conn.exec_driver_sql(f"SHOW {name}").scalar() for name in ("lock_timeout", "statement_timeout")]
    assert shown == ["15s", "1min"]
    with open_store(postgres_cluster.url(database, options="-c lock_timeout=250ms")).connect() as conn:
        assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "250ms"


def test_a_server_that_never_answers_is_a_message_within_the_connect_timeout():
    """A server that accepts the TCP connection and then says nothing (a hung host, a firewall that swallows)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(StoreError, match=r"cannot open the state store .*timeout"):
            open_store(f"postgresql+psycopg://cohort@127.0.0.1:{port}/c?connect_timeout=1")
        assert time.monotonic() - started < 10


def _notice_row() -> dict:
    stamp = now()
    return {
        "cohort": "2021",
        "applicant": "a",
        "kind": "selected",
        "version": "v1",
        "state": "pending",
        "message_id": "<m@x>",
        "recipient": "a@example.org",
        "subject": "s",
        "created_at": stamp,
        "updated_at": stamp,
    }


@pytest.mark.usefixtures("backend")
def test_every_store_error_is_one_staff_message_and_keeps_its_kind(state_url):
    """An IntegrityError (the same notice written twice), a statement the store does not know: each is a
    StaffError with the database's words on one line, and still the SQLAlchemy error steps may handle."""
    engine = open_store(state_url)
    with engine.begin() as conn:
        conn.execute(notices.insert(), [_notice_row()])
    with pytest.raises(StoreError) as duplicate, engine.begin() as conn:
        conn.execute(notices.insert(), [_notice_row()])
    with pytest.raises(StoreError) as unknown, engine.connect() as conn:
        conn.execute(sa.text("SELECT * FROM no_such_table"))
    assert isinstance(duplicate.value, IntegrityError)
    assert isinstance(unknown.value, OperationalError | ProgrammingError)  # SQLite's kind, PostgreSQL's
    for error in (duplicate.value, unknown.value):
        words = str(error)
        assert isinstance(error, StaffError)
        assert words.startswith("the state store could not be read or written (")
        assert "\n" not in words and "[SQL" not in words and "sqlalche.me" not in words
    assert "another run wrote the same record at the same moment" in str(duplicate.value)
    with engine.connect() as conn:  # the connection is usable again
        assert conn.execute(sa.select(sa.func.count()).select_from(notices)).scalar() == 1
