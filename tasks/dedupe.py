"""Team keys and deduplication: one decision per local association in one state.

Rows are linked by exact keys (name key + state, team lead email) and by fuzzy local names within a
block (state + first word of the name). A fuzzy name match merges only when the rows also share the
lead's email or name; otherwise it is reported as `possible_duplicate_of` for staff to confirm.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

import numpy as np
import pandas as pd
from anyascii import anyascii
from rapidfuzz import fuzz, process

from schemas.columns import FORM_FIELDS, Col, Out, Status
from schemas.config import CohortConfig
from tasks.cutoff import on_time_mask

_ABBREVIATIONS = {
    "assn": "association",
    "assoc": "association",
    "asso": "association",
    "ass'n": "association",
    "ed": "education",
    "educ": "education",
    "fed": "federation",
    "esp": "education support professionals",
    "esps": "education support professionals",
    "ea": "education association",
    "&": "and",
    "dist": "district",
    "co": "county",
    "cty": "county",
    "twp": "township",
}
_WORD = re.compile(r"[^\W_]+|&", re.UNICODE)
_DIGITS = re.compile(r"\d+")


def name_key(local_name: str) -> str:
    """NFKC + casefold, punctuation dropped and common abbreviations spelled out."""
    folded = unicodedata.normalize("NFKC", local_name).casefold()
    words = [_ABBREVIATIONS.get(word, word) for word in _WORD.findall(folded.replace("'", ""))]
    return " ".join(words)


def skeleton(key: str) -> str:
    """The name key with look-alike letters (Cyrillic "Т", accents) read as plain Latin: for comparing only."""
    return anyascii(key).casefold()


def add_team_keys(frame: pd.DataFrame) -> pd.DataFrame:
    """Adds name_key, team_key (STATE:name key) and a stable id that does not depend on row order."""
    out = frame.copy()
    names = out[Col.LOCAL_NAME].fillna("").astype(str)
    keys = pd.Series({n: name_key(n) for n in names.unique()}, dtype=object)
    out[Out.NAME_KEY] = names.map(keys).astype(str) if len(names) else names
    state = out[Col.STATE].astype(object).where(out[Col.STATE].notna(), "??")
    out[Out.TEAM_KEY] = state.astype(str) + ":" + out[Out.NAME_KEY]
    out[Out.STABLE_ID] = _content_ids(out)
    return out


def _content_ids(frame: pd.DataFrame) -> pd.Series:
    """A hash of every answer in the row: ties never fall back to the row's position in the sheet."""
    answers = [c for c in frame.columns if c in FORM_FIELDS or c in (Col.SUBMITTED_AT_TEXT, Col.STATE_TEXT)]
    material = pd.Series("", index=frame.index, dtype=object)
    for column in sorted(answers):
        values = frame[column]
        if values.dtype == object:
            values = values.map(lambda v: "\x1f".join(map(str, v)) if isinstance(v, list) else v)
        material = material + "\x1e" + values.astype(object).where(values.notna(), "").astype(str)
    return material.map(lambda text: hashlib.sha256(text.encode("utf-8")).hexdigest()[:16])


def _components(n: int, edges: list[tuple[int, int]]) -> np.ndarray:
    """Connected components of rows 0..n-1 joined by edges: the smallest row position labels each."""
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.array([find(i) for i in range(n)])


def _exact_edges(frame: pd.DataFrame) -> list[tuple[int, int]]:
    """Rows sharing the name key within a state, or the team lead's email."""
    positions = pd.Series(np.arange(len(frame)), index=frame.index)
    edges: list[tuple[int, int]] = []
    has_name = (frame[Out.NAME_KEY] != "") & frame[Col.STATE].notna()
    has_email = frame[Col.LEAD_EMAIL].fillna("") != ""
    for keys, mask in ((frame[Out.TEAM_KEY], has_name), (frame[Col.LEAD_EMAIL], has_email)):
        first = positions[mask].groupby(keys[mask]).transform("min")
        edges += list(zip(first.to_numpy().tolist(), positions[mask].to_numpy().tolist(), strict=True))
    return edges


def _similar_name_pairs(frame: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Distinct name keys of one block scoring at least `threshold` (compared through their skeletons)."""
    names = frame.loc[(frame[Out.NAME_KEY] != "") & frame[Col.STATE].notna(), [Col.STATE, Out.NAME_KEY]]
    names = names.drop_duplicates()
    plain = names[Out.NAME_KEY].map(skeleton)
    # Block: state, first word and the numbers in the name ("District 1" never meets "District 13").
    numbers = plain.str.findall(_DIGITS).str.join(" ")
    block = names[Col.STATE].astype(str) + ":" + plain.str.split(" ").str[0] + ":" + numbers
    names = names.assign(plain=plain, block=block)
    names = names[names.duplicated("block", keep=False)]
    found = []
    for _, group in names.groupby("block", sort=True):
        keys, plains = group[Out.NAME_KEY].tolist(), group["plain"].tolist()
        scores = process.cdist(plains, plains, scorer=fuzz.token_sort_ratio, score_cutoff=threshold, workers=1)
        left, right = np.nonzero(np.triu(scores, k=1))
        state = group[Col.STATE].iloc[0]
        pairs = zip(left.tolist(), right.tolist(), strict=True)
        found += [(state, keys[i], keys[j], plains[i] == plains[j]) for i, j in pairs]
    return pd.DataFrame(found, columns=[Col.STATE, "name_a", "name_b", "lookalike"])


def _fuzzy_row_pairs(frame: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Row pairs with similar names: `same_person` when they share the lead's email or name."""
    pairs = _similar_name_pairs(frame, threshold)
    rows = pd.DataFrame(
        {
            "pos": np.arange(len(frame)),
            Col.STATE: frame[Col.STATE].to_numpy(),
            Out.NAME_KEY: frame[Out.NAME_KEY].to_numpy(),
            "email": frame[Col.LEAD_EMAIL].fillna("").to_numpy(),
            "lead": frame[Col.LEAD_NAME].fillna("").str.casefold().to_numpy(),
        }
    )
    if pairs.empty:
        return pd.DataFrame({"pos_a": [], "pos_b": [], "same_person": []}).astype(
            {"pos_a": "int64", "pos_b": "int64", "same_person": bool}
        )
    joined = pairs.merge(rows.add_suffix("_a"), left_on=[Col.STATE, "name_a"], right_on=["state_a", "name_key_a"])
    joined = joined.merge(rows.add_suffix("_b"), left_on=[Col.STATE, "name_b"], right_on=["state_b", "name_key_b"])
    same_email = (joined["email_a"] != "") & (joined["email_a"] == joined["email_b"])
    same_lead = (joined["lead_a"] != "") & (joined["lead_a"] == joined["lead_b"])
    # Names equal only through look-alike letters never merge on the lead's name: staff confirm them.
    same_person = same_email | (same_lead & ~joined["lookalike"].astype(bool))
    return pd.DataFrame({"pos_a": joined["pos_a"], "pos_b": joined["pos_b"], "same_person": same_person})


def _order_key(frame: pd.DataFrame) -> pd.Series:
    """Later submissions first, then the stable id: the row a team keeps."""
    return frame[Col.SUBMITTED_AT].astype("int64").astype(str).str.zfill(20) + frame[Out.STABLE_ID]


def deduplicate(frame: pd.DataFrame, config: CohortConfig) -> pd.DataFrame:
    """Marks every row of a team but its latest valid on-time one `duplicate`, naming the kept row."""
    out = add_team_keys(frame)
    on_time, extension = on_time_mask(out, config)
    out[Out.ON_TIME] = on_time
    out[Out.EXTENSION] = extension
    out[Out.DUPLICATE_OF] = pd.array([pd.NA] * len(out), dtype="Int64")
    out[Out.POSSIBLE_DUPLICATE_OF] = ""
    if out.empty:
        return out
    fuzzy = _fuzzy_row_pairs(out, config.dedupe.fuzzy_threshold)
    merge = fuzzy.loc[fuzzy["same_person"]]
    edges = _exact_edges(out) + list(zip(merge["pos_a"].tolist(), merge["pos_b"].tolist(), strict=True))
    team = pd.Series(_components(len(out), edges), index=out.index)

    eligible = (out[Col.STATUS] == Status.VALID) & out[Out.ON_TIME]
    ranked = out.loc[eligible].assign(_team=team[eligible], _order=_order_key(out.loc[eligible]))
    kept = ranked.sort_values("_order", ascending=False).drop_duplicates("_team")
    kept_row = pd.Series(kept[Col.SOURCE_ROW].to_numpy(), index=kept["_team"].to_numpy())
    kept_for = team.map(kept_row).astype("Int64")
    is_duplicate = kept_for.notna() & (kept_for != out[Col.SOURCE_ROW])
    out.loc[is_duplicate, Out.DUPLICATE_OF] = kept_for[is_duplicate]
    out.loc[is_duplicate, Col.STATUS] = Status.DUPLICATE.value
    earlier_problems = out[Col.REASONS].where(
        out[Col.REASONS] == "", " (this row also had problems: " + out[Col.REASONS] + ")"
    )
    out.loc[is_duplicate, Col.REASONS] = (
        "Duplicate: the same team's submission in row "
        + kept_for[is_duplicate].astype(str)
        + " is the one used"
        + earlier_problems[is_duplicate]
    )
    kept_team_key = pd.Series(kept[Out.TEAM_KEY].to_numpy(), index=kept["_team"].to_numpy())
    has_kept = team.isin(kept_team_key.index)
    out.loc[has_kept, Out.TEAM_KEY] = team[has_kept].map(kept_team_key)
    representative = kept_for.fillna(out[Col.SOURCE_ROW]).astype("int64")
    out[Out.POSSIBLE_DUPLICATE_OF] = _possible_duplicates(fuzzy.loc[~fuzzy["same_person"]], team, representative)
    return out


def _possible_duplicates(name_only: pd.DataFrame, team: pd.Series, representative: pd.Series) -> pd.Series:
    """For each row, the rows used for other teams whose names look alike: for staff to confirm."""
    result = pd.Series("", index=team.index, dtype=object)
    if name_only.empty:
        return result
    teams = team.to_numpy()
    rows = representative.to_numpy()
    links: dict[int, set[int]] = {}
    for a, b in zip(name_only["pos_a"].tolist(), name_only["pos_b"].tolist(), strict=True):
        if teams[a] != teams[b]:
            links.setdefault(a, set()).add(int(rows[b]))
            links.setdefault(b, set()).add(int(rows[a]))
    for pos, others in links.items():
        result.iloc[pos] = "; ".join(str(r) for r in sorted(others))
    return result
