"""A new revision: `python -m tasks.migrations "what changed"`, after changing the tables in tasks/store.py.

Alembic compares those tables with a throwaway SQLite store brought to the newest revision and writes what differs
as versions/<next number>_<what_changed>.py (an empty revision when nothing does: the place for a data change).
Read it, say in its docstring why the schema changes and what existing rows become, then run
tests/test_migrations.py: it builds the revisions on SQLite and PostgreSQL and fails while they and the tables
disagree (SQLite cannot see every type change, so the PostgreSQL run is the one that catches those).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from alembic import command

from tasks import migrations


def _tidy(path: Path) -> None:
    """The new file as the project's lint wants it (imports sorted, unused ones gone, formatted)."""
    ruff = Path(sys.executable).parent / "ruff"
    executable = str(ruff) if ruff.exists() else shutil.which("ruff")
    if executable is None:
        print("ruff is not installed: run `make lint` after editing the revision", file=sys.stderr)
        return
    subprocess.run([executable, "check", "--fix", "--quiet", str(path)], check=False)  # noqa: S603 -- ruff, on the file
    subprocess.run([executable, "format", "--quiet", str(path)], check=False)  # noqa: S603 -- written just now


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].strip():
        print('usage: python -m tasks.migrations "what changed"', file=sys.stderr)
        return 2
    with sa.create_engine("sqlite://").begin() as conn:
        migrations.upgrade(conn)
        current = migrations.head()
        number = f"{int(current) + 1:04d}" if current.isdigit() else None
        made = command.revision(
            migrations.alembic_config(conn), message=argv[0].strip(), autogenerate=True, rev_id=number
        )
    scripts = made if isinstance(made, list) else [made]
    for script in scripts:
        if script is not None:
            _tidy(Path(script.path))
            print(f"wrote {script.path} (revision {script.revision}, after {script.down_revision})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
