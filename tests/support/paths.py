"""Where the project's bundled files are, for tests and benchmarks."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG_PATH = ROOT / "cohorts" / "esp-2021.yaml"
EXAMPLE_PATH = ROOT / "examples" / "esp-2021-responses.csv"
CORPUS_DIR = ROOT / "tests" / "corpus"
