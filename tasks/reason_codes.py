"""Reason codes as a column: per row, a list of the codes (schemas.columns.ReasonCode, check codes) of its status.

Each step sets the codes of the rows whose status it decides, next to the `reasons` text it writes for staff.
A notice is worded from these codes (tasks/notices.py), never from that text. Lists are made fresh for each row
and never changed in place, so one frame's codes cannot change under another's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from schemas.columns import Derived


def no_codes(index: pd.Index) -> pd.Series:
    """An empty list of codes for every row."""
    return pd.Series(_objects([[] for _ in range(len(index))]), index=index, dtype=object, name=Derived.REASON_CODES)


def codes_column(frame: pd.DataFrame) -> pd.Series:
    """The frame's codes; none for any row when no earlier step gave codes (a frame built by hand)."""
    if Derived.REASON_CODES not in frame.columns:
        return no_codes(frame.index)
    return frame[Derived.REASON_CODES].map(lambda codes: list(codes) if isinstance(codes, list | tuple) else [])


def code_lists(*parts: pd.Series) -> pd.Series:
    """Per row, the non-empty codes of these aligned columns (one code or "" each), in order, as one list."""
    index = parts[0].index
    lists = [[str(code) for code in row if code] for row in zip(*parts, strict=True)]
    return pd.Series(_objects(lists), index=index, dtype=object)


def constant_codes(index: pd.Index, *codes: str) -> pd.Series:
    """The same codes for every row (a fresh list each)."""
    plain = [str(code) for code in codes]
    return pd.Series(_objects([list(plain) for _ in range(len(index))]), index=index, dtype=object)


def codes_where(codes: pd.Series, where: pd.Series, given: pd.Series) -> pd.Series:
    """`given` (aligned by index) on the rows `where` holds, `codes` on the others."""
    mask = where.reindex(codes.index, fill_value=False).to_numpy(dtype=bool)
    values = codes.to_numpy(dtype=object, copy=True)
    replacement = given.reindex(codes.index).to_numpy(dtype=object)
    values[mask] = replacement[mask]
    return pd.Series(values, index=codes.index, dtype=object, name=Derived.REASON_CODES)


def codes_added(codes: pd.Series, where: pd.Series, code: str) -> pd.Series:
    """`code` appended to the codes of the rows `where` holds."""
    mask = where.reindex(codes.index, fill_value=False).to_numpy(dtype=bool)
    values = codes.to_numpy(dtype=object, copy=True)
    values[mask] = _objects([[*got, str(code)] for got in values[mask]])
    return pd.Series(values, index=codes.index, dtype=object, name=Derived.REASON_CODES)


def _objects(items: list) -> np.ndarray:
    """A one-dimensional object array of these lists (numpy would make equal-length lists a 2-D array)."""
    array = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        array[i] = item
    return array
