"""Which call a cohort file is: its stable id in the state store, so a renamed call never starts a second ledger.

Everything the store keeps is keyed by `config.cohort_id` (`id:` in the cohort file, else the cohort name).
The first run registers the id with the program and cohort names and the responses source. A later file
that names the same call differently (a renamed `program` or `cohort`) after its notices went out is refused
with one message, unless `id:` says explicitly which call it is: then the new names are recorded.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

from schemas.config import CohortConfig, FileSourceConfig
from schemas.errors import StaffError
from schemas.ledger import MAYBE_DELIVERED
from schemas.store import StoreCol
from tasks.store import StoreError, advice, cohorts, notices, now, open_store, write_transaction


class CohortIdentityError(StaffError):
    """The cohort file names a call the state store knows under another name: nothing was done."""


def source_ref(config: CohortConfig) -> str:
    """Where the responses come from: the sheet's key, or the export file's path."""
    if isinstance(config.source, FileSourceConfig):
        return f"file:{config.source.path}"
    return f"sheet:{config.source.key}"


def _notified(conn: sa.Connection) -> set[str]:
    """Cohort ids whose notices may have reached someone."""
    rows = conn.execute(sa.select(notices.c.cohort).where(notices.c.state.in_(sorted(MAYBE_DELIVERED))).distinct())
    return {row.cohort for row in rows}


def _renamed_words(config: CohortConfig, old: sa.RowMapping) -> str:
    return (
        f"the state store holds cohort id {config.cohort_id!r} as {old[StoreCol.PROGRAM]!r} / "
        f"{old[StoreCol.NAME]!r}, and its notices have gone out; the cohort file now says {config.program!r} / "
        f"{config.cohort!r}. To keep its "
        f"ledger under the new name (no notice is sent again), add `id: {config.cohort_id}` to the cohort file; "
        "nothing was done"
    )


def _sibling_words(config: CohortConfig, sibling: str, known: sa.RowMapping | None) -> str:
    names = f" ({known[StoreCol.PROGRAM]!r} / {known[StoreCol.NAME]!r})" if known is not None else ""
    return (
        f"the state store already holds cohort {sibling!r}{names}, whose notices have gone out, and this cohort "
        f"file names a call it does not know ({config.program!r} / {config.cohort!r}). If the call was renamed, "
        f"add `id: {sibling}` to the cohort file to keep its ledger (otherwise every notice would be sent again); "
        "if it is a new call, give it an `id:` of its own (e.g. esp-2022) or its own state_dir; nothing was done"
    )


def check_identity(engine: sa.Engine, config: CohortConfig) -> None:
    """Register the cohort's id, or refuse a file that renames a notified call without saying which it is."""
    source = source_ref(config)
    if _registered_as(engine, config):
        return
    try:
        with write_transaction(engine) as conn:
            known = conn.execute(sa.select(cohorts).where(cohorts.c.cohort == config.cohort_id)).mappings().first()
            notified = _notified(conn)
            if known is not None:
                if (known[StoreCol.PROGRAM], known[StoreCol.NAME]) == (config.program, config.cohort):
                    return
                if config.id is None and config.cohort_id in notified:
                    raise CohortIdentityError(_renamed_words(config, known))
                conn.execute(
                    cohorts.update()
                    .where(cohorts.c.cohort == config.cohort_id)
                    .values(program=config.program, name=config.cohort, source=source)
                )
                return
            if config.id is None:
                registered = {row[StoreCol.COHORT]: row for row in conn.execute(sa.select(cohorts)).mappings()}
                for sibling in sorted(notified - {config.cohort_id}):
                    other = registered.get(sibling)
                    if other is None or other[StoreCol.SOURCE] == source or other[StoreCol.PROGRAM] == config.program:
                        raise CohortIdentityError(_sibling_words(config, sibling, other))
            conn.execute(
                cohorts.insert().values(
                    cohort=config.cohort_id,
                    program=config.program,
                    name=config.cohort,
                    source=source,
                    registered_at=now(),
                )
            )
    except IntegrityError:
        return  # another run registered it at the same moment
    except OperationalError as exc:
        raise StoreError(f"the state store could not be read: {advice(exc)}") from None


def _registered_as(engine: sa.Engine, config: CohortConfig) -> bool:
    """Already registered under these names: nothing to write (so no write lock is taken)."""
    try:
        with engine.connect() as conn:
            known = conn.execute(sa.select(cohorts).where(cohorts.c.cohort == config.cohort_id)).mappings().first()
    except OperationalError as exc:
        raise StoreError(f"the state store could not be read: {advice(exc)}") from None
    return known is not None and (known[StoreCol.PROGRAM], known[StoreCol.NAME]) == (config.program, config.cohort)


def open_cohort_store(config: CohortConfig) -> sa.Engine:
    """The state store of this call, with its identity checked."""
    engine = open_store(config.database_url)
    check_identity(engine, config)
    return engine
