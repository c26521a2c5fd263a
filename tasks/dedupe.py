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
from rapidfuzz import fuzz

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
    codes, uniques = pd.factorize(names)
    keys = np.array([name_key(name) for name in uniques.tolist()] + [""], dtype=object)
    out[Out.NAME_KEY] = pd.Series(keys[codes], index=out.index, dtype="str") if len(names) else names
    state = out[Col.STATE].astype(object).where(out[Col.STATE].notna(), "??")
    out[Out.TEAM_KEY] = state.astype(str) + ":" + out[Out.NAME_KEY]
    out[Out.STABLE_ID] = _content_ids(out)
    return out


def _content_ids(frame: pd.DataFrame) -> pd.Series:
    """A hash of every answer in the row: ties never fall back to the row's position in the sheet."""
    answers = [c for c in frame.columns if c in FORM_FIELDS or c in (Col.SUBMITTED_AT_TEXT, Col.STATE_TEXT)]
    texts = [_answer_texts(frame[column]) for column in sorted(answers)]
    # Each row's material is "\x1e" before every answer, joined once per row (not grown column by column).
    materials = ["\x1e" + "\x1e".join(parts) for parts in zip(*texts, strict=True)] if texts else [""] * len(frame)
    ids = [hashlib.sha256(text.encode("utf-8")).hexdigest()[:16] for text in materials]
    return pd.Series(ids, index=frame.index, dtype="str")


_UTC_SECONDS = pd.DatetimeTZDtype(unit="s", tz="UTC")


def _answer_texts(values: pd.Series) -> list[str]:
    """One column's answers as hashed for the stable id: str() of each, lists joined by \\x1f, missing as ""."""
    if values.dtype == _UTC_SECONDS:
        naive = values.dt.tz_localize(None).to_numpy()
        years = naive[~np.isnat(naive)].astype("datetime64[Y]").astype("int64") + 1970
        if ((years >= 1000) & (years <= 9999)).all():
            # str(Timestamp) of a whole-second UTC time, without making a Timestamp per row.
            iso = np.datetime_as_string(naive, unit="s").tolist()
            return ["" if text == "NaT" else text.replace("T", " ") + "+00:00" for text in iso]
    if isinstance(values.dtype, pd.StringDtype):
        return values.fillna("").tolist() if values.hasnans else values.tolist()
    if isinstance(values.dtype, pd.BooleanDtype):
        truth = np.where(values.to_numpy(dtype=bool, na_value=False), "True", "False")
        return np.where(values.isna().to_numpy(dtype=bool), "", truth).tolist()
    if values.dtype == object:
        items = values.tolist()
        if all(type(v) is list for v in items):
            try:
                return ["\x1f".join(v) for v in items]
            except TypeError:
                return ["\x1f".join(map(str, v)) for v in items]
        values = values.map(lambda v: "\x1f".join(map(str, v)) if isinstance(v, list) else v)
    return values.astype(object).where(values.notna(), "").astype(str).tolist()


def _components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Connected components of rows 0..n-1 joined by edges left[k]–right[k]: the smallest row position labels each.

    Labels spread along the edges (each end takes the smaller label) and then through the labels themselves,
    until nothing changes: a few whole-array passes, however many edges.
    """
    label = np.arange(n)
    if not len(left):
        return label
    while True:
        low = np.minimum(label[left], label[right])
        spread = label.copy()
        np.minimum.at(spread, left, low)
        np.minimum.at(spread, right, low)
        spread = spread[spread]
        if np.array_equal(spread, label):
            return label
        label = spread


def _exact_edges(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Rows sharing the name key within a state, or the team lead's email: (first row of the key, row) pairs."""
    positions = pd.Series(np.arange(len(frame)), index=frame.index)
    left: list[np.ndarray] = []
    right: list[np.ndarray] = []
    has_name = (frame[Out.NAME_KEY] != "") & frame[Col.STATE].notna()
    has_email = frame[Col.LEAD_EMAIL].fillna("") != ""
    for keys, mask in ((frame[Out.TEAM_KEY], has_name), (frame[Col.LEAD_EMAIL], has_email)):
        rows = positions[mask].to_numpy(dtype="int64")
        # Codes number the keys in order of first appearance, so each key's first row is its smallest.
        codes, _ = pd.factorize(keys[mask])
        _, first = np.unique(codes, return_index=True)
        left.append(rows[first][codes])
        right.append(rows)
    return np.concatenate(left), np.concatenate(right)


def _similar_name_pairs(frame: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Distinct name keys of one block scoring at least `threshold` (compared through their skeletons)."""
    named = ((frame[Out.NAME_KEY] != "") & frame[Col.STATE].notna()).to_numpy(dtype=bool)
    # Distinct (state, name key) pairs, first appearance first (no Python tuple per row: at 100,000 rows those
    # tuples kept the garbage collector busy).
    distinct = pd.DataFrame(
        {"state": frame[Col.STATE].to_numpy()[named], "key": frame[Out.NAME_KEY].to_numpy()[named]}
    ).drop_duplicates()
    states, keys = distinct["state"].tolist(), distinct["key"].tolist()
    plains = [skeleton(key) for key in keys]
    # Block: state, first word and the numbers in the name ("District 1" never meets "District 13").
    block_of = [
        f"{state}:{text.split(' ')[0]}:{' '.join(_DIGITS.findall(text))}"
        for state, text in zip(states, plains, strict=True)
    ]
    shared = pd.Series(block_of, dtype=object).duplicated(keep=False).to_numpy()
    blocks: dict[str, list[int]] = {}
    for i in np.flatnonzero(shared).tolist():
        blocks.setdefault(block_of[i], []).append(i)
    # Every pair of names within a block, blocks in order, then in the order the names appear: blocks are
    # small and few names share one, so the pairs are few.
    found = []
    for block in sorted(blocks):
        members = blocks[block]
        for x, i in enumerate(members):
            for j in members[x + 1 :]:
                if fuzz.token_sort_ratio(plains[i], plains[j], score_cutoff=threshold) > 0:
                    found.append((states[i], keys[i], keys[j], plains[i] == plains[j]))
    return pd.DataFrame(found, columns=[Col.STATE, "name_a", "name_b", "lookalike"])


def _fuzzy_row_pairs(frame: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Row pairs with similar names: `same_person` when they share the lead's email or name."""
    pairs = _similar_name_pairs(frame, threshold)
    if pairs.empty:
        return pd.DataFrame({"pos_a": [], "pos_b": [], "same_person": []}).astype(
            {"pos_a": "int64", "pos_b": "int64", "same_person": bool}
        )
    # Only rows whose name is in some pair can join one.
    named = frame[Out.NAME_KEY].isin(set(pairs["name_a"]) | set(pairs["name_b"])).to_numpy()
    candidates = frame.loc[named]
    rows = pd.DataFrame(
        {
            "pos": np.flatnonzero(named),
            Col.STATE: candidates[Col.STATE].to_numpy(),
            Out.NAME_KEY: candidates[Out.NAME_KEY].to_numpy(),
            "email": candidates[Col.LEAD_EMAIL].fillna("").to_numpy(),
            "lead": candidates[Col.LEAD_NAME].fillna("").str.casefold().to_numpy(),
        }
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
    exact_left, exact_right = _exact_edges(out)
    left = np.concatenate([exact_left, merge["pos_a"].to_numpy(dtype="int64")])
    right = np.concatenate([exact_right, merge["pos_b"].to_numpy(dtype="int64")])
    labels = _components(len(out), left, right)
    team = pd.Series(labels, index=out.index)

    eligible = ((out[Col.STATUS] == Status.VALID) & out[Out.ON_TIME]).to_numpy(dtype=bool)
    # Only the columns the choice needs, not a copy of every answer.
    candidates = out.loc[eligible, [Col.SUBMITTED_AT, Out.STABLE_ID, Col.SOURCE_ROW, Out.TEAM_KEY]]
    ranked = candidates.assign(_team=labels[eligible], _order=_order_key(candidates))
    kept = ranked.sort_values("_order", ascending=False).drop_duplicates("_team")
    # Per team label (a row position): whether the team keeps a row, its sheet row and its team key.
    kept_teams = kept["_team"].to_numpy()
    keeps, kept_row, kept_key = np.zeros(len(out), bool), np.zeros(len(out), "int64"), np.empty(len(out), object)
    keeps[kept_teams], kept_row[kept_teams], kept_key[kept_teams] = True, kept[Col.SOURCE_ROW], kept[Out.TEAM_KEY]
    has_kept, kept_for = keeps[labels], kept_row[labels]
    source_rows = out[Col.SOURCE_ROW].to_numpy()
    is_duplicate = has_kept & (kept_for != source_rows)
    out[Out.DUPLICATE_OF] = pd.arrays.IntegerArray(np.where(is_duplicate, kept_for, 0), ~is_duplicate)
    if is_duplicate.any():
        status = out[Col.STATUS].to_numpy(dtype=object, copy=True)
        status[is_duplicate] = Status.DUPLICATE.value
        problems = out.loc[is_duplicate, Col.REASONS]
        earlier_problems = problems.where(problems == "", " (this row also had problems: " + problems + ")")
        reasons = out[Col.REASONS].to_numpy(dtype=object, copy=True)
        reasons[is_duplicate] = (
            "Duplicate: the same team's submission in row "
            + pd.Series(kept_for[is_duplicate], index=problems.index).astype(str)
            + " is the one used"
            + earlier_problems
        ).to_numpy(dtype=object)
        out[Col.STATUS] = pd.Series(status, index=out.index, dtype=out[Col.STATUS].dtype)
        out[Col.REASONS] = pd.Series(reasons, index=out.index, dtype=out[Col.REASONS].dtype)
    team_key = out[Out.TEAM_KEY].to_numpy(dtype=object, copy=True)
    team_key[has_kept] = kept_key[labels[has_kept]]
    out[Out.TEAM_KEY] = pd.Series(team_key, index=out.index, dtype=out[Out.TEAM_KEY].dtype)
    representative = pd.Series(np.where(has_kept, kept_for, source_rows), index=out.index).astype("int64")
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
