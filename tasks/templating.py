"""The jinja2 environment every rendered text comes from: notices (tasks/notices.py) and the report (tasks/report.py).

Files under templates/ ending in .html are autoescaped, so applicant text cannot become markup; .txt files and
strings (subjects, the reason sentences of templates/notices/reasons.yaml) are plain text and are not. Undefined
values are errors (StrictUndefined), so a template that needs a missing value fails at preview, never at send.
"""

from __future__ import annotations

import functools
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


@functools.cache
def template_environment() -> Environment:
    """One environment per process: templates compile once."""
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        keep_trailing_newline=True,
    )
