"""Team keys and deduplication: one decision per local association in one state.

Rows are linked by the name key within a state, and by similar local names (fuzzy, within a block: state +
first word + the numbers of the name) when they also share the lead's email or name; a shared email also links
similar names of one state whose first words differ (a typo there). Similar names without a shared lead are
reported as `possible_duplicate_of` for staff to confirm. Rows never merge across states, and the lead's email
alone links nothing: one person may lead the teams of several locals, so rows of one state that share it under
names that are not similar are `possible_duplicate_of` too. A row without a name or a readable state joins, by
the lead's email, the one team whose rows share it (and its state, or its name).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import unicodedata
from typing import Any

import numpy as np
import pandas as pd
from anyascii import anyascii
from rapidfuzz import fuzz, process

from schemas.columns import FORM_FIELDS, LIST_SEPARATOR, Col, Derived, Status
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
    """The name key with look-alike letters (Cyrillic "Т", accents) read as plain Latin: for comparing only."""  # noqa: RUF002 -- the Cyrillic letter is the example
    return anyascii(key).casefold()


def add_team_keys(frame: pd.DataFrame) -> pd.DataFrame:
    """Adds name_key, team_key (STATE:name key) and a stable id that does not depend on row order."""
    out = frame.copy()
    names = out[Col.LOCAL_NAME].fillna("").astype(str)
    codes, uniques = pd.factorize(names)
    keys = np.array([name_key(name) for name in uniques.tolist()] + [""], dtype=object)
    out[Derived.NAME_KEY] = pd.Series(keys[codes], index=out.index, dtype="str") if len(names) else names
    state = out[Col.STATE].astype(object).where(out[Col.STATE].notna(), "??")
    out[Derived.TEAM_KEY] = state.astype(str) + ":" + out[Derived.NAME_KEY]
    out[Derived.STABLE_ID] = _content_ids(out)
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


def answer_text(value: Any) -> str:
    """One answer as hashed for the stable id: str() of it, a list's items joined by \\x1f, a missing answer ""."""
    if isinstance(value, list):
        return "\x1f".join(map(str, value))
    return "" if pd.api.types.is_scalar(value) and pd.isna(value) else str(value)


def _answer_texts(values: pd.Series) -> list[str]:
    """answer_text of each of a column's answers, for the column types the pipeline makes without a Python call
    per answer (tests/test_fast_paths.py holds the two to agreeing)."""
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
    items = values.tolist()
    if values.dtype == object and all(type(v) is list for v in items):
        with contextlib.suppress(TypeError):  # an item that is not text: answer_text makes it text
            return ["\x1f".join(v) for v in items]
    return [answer_text(value) for value in items]


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


def _complete(frame: pd.DataFrame) -> np.ndarray:
    """Rows that name a local and a readable state: a team is made of these."""
    return ((frame[Derived.NAME_KEY] != "") & frame[Col.STATE].notna()).to_numpy(dtype=bool)


def _key_edges(frame: pd.DataFrame, complete: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows sharing the name key within a state: (first row of the key, row) pairs."""
    rows = np.flatnonzero(complete)
    # Codes number the keys in order of first appearance, so each key's first row is its smallest.
    codes, _ = pd.factorize(frame[Derived.TEAM_KEY].to_numpy(dtype=object)[complete])
    _, first = np.unique(codes, return_index=True)
    return rows[first][codes], rows


_NO_PAIRS = np.empty((0, 2), dtype="int64")


def _lead_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows whose lead's email another row also gives: position, email, state ("" when unreadable), name key."""
    codes, unique_emails = pd.factorize(frame[Col.LEAD_EMAIL])
    uniques = np.asarray(unique_emails, dtype=object)
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    shared = (codes >= 0) & (counts[codes] > 1) & (uniques[codes] != "")
    state = frame[Col.STATE].to_numpy(dtype=object)[shared]
    state = np.where(pd.isna(state), "", state)
    state_codes, states = pd.factorize(state)
    return pd.DataFrame(
        {
            "pos": np.flatnonzero(shared),
            "email": uniques[codes[shared]],
            Col.STATE: state,
            "key": frame[Derived.NAME_KEY].to_numpy(dtype=object)[shared],
            "group": codes[shared] * max(1, len(states)) + state_codes,  # (email, state) as one integer
        }
    )


def _shared_lead_pairs(leads: pd.DataFrame, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Complete rows of one state that share the lead's email under different name keys: (links, pairs for staff).

    A pair whose names are a fuzzy match (ratio at least `threshold`, same numbers; the first words may differ,
    as in a typo there) is a link: similar names and a shared email merge. The other pairs are for staff: one
    person may lead the teams of several locals.
    """
    # Most rows sharing an email are one local's resubmissions: only (email, state) groups of two name keys or
    # more go on (found on integer codes).
    group, key = leads["group"].to_numpy(), pd.factorize(leads["key"])[0]
    width = int(key.max()) + 1 if len(key) else 1
    groups, names = np.unique(np.unique(group * width + key) // width, return_counts=True)
    leads = leads[np.isin(group, groups[names > 1])]
    if leads.empty:
        return _NO_PAIRS, _NO_PAIRS
    distinct = leads.drop_duplicates(["email", Col.STATE, "key"])
    keys = distinct.merge(distinct, on=["email", Col.STATE])
    keys = keys[keys["key_x"] < keys["key_y"]]
    plain = {key: skeleton(key) for key in set(keys["key_x"]) | set(keys["key_y"])}
    similar = np.array(
        [
            _DIGITS.findall(plain[a]) == _DIGITS.findall(plain[b])
            and fuzz.token_sort_ratio(plain[a], plain[b], score_cutoff=threshold) > 0
            for a, b in zip(keys["key_x"].tolist(), keys["key_y"].tolist(), strict=True)
        ],
        dtype=bool,
    )
    links = keys.loc[similar, ["pos_x", "pos_y"]].to_numpy(dtype="int64")
    apart = keys.loc[~similar, ["email", Col.STATE, "key_x", "key_y"]]
    rows = apart.merge(leads.rename(columns={"key": "key_x", "pos": "pos_a"}), on=["email", Col.STATE, "key_x"])
    rows = rows.merge(leads.rename(columns={"key": "key_y", "pos": "pos_b"}), on=["email", Col.STATE, "key_y"])
    return links, rows[["pos_a", "pos_b"]].to_numpy(dtype="int64")


def _incomplete_links(leads: pd.DataFrame, complete: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows without a name or a readable state, by the lead's email: (links, pairs for staff).

    Such a row is linked to the complete rows sharing its email (and its state, or its name) when they are all
    one team (`labels`); when they are several teams, it is a pair for staff with each of those rows.
    """
    positions = leads["pos"].to_numpy()
    whole_rows = complete[positions]
    if whole_rows.all():
        return _NO_PAIRS, _NO_PAIRS
    part = leads[~whole_rows]
    whole = leads[whole_rows & leads["email"].isin(set(part["email"])).to_numpy()]
    # Per (email, state), (email, name key) and email: the teams of the complete rows, each with its rows.
    teams_by: dict[tuple, dict[int, list[int]]] = {}
    for pos, email, state, key in zip(*(whole[c].tolist() for c in ("pos", "email", Col.STATE, "key")), strict=True):
        team = int(labels[pos])
        for by in ((Col.STATE, email, state), ("key", email, key), ("email", email)):
            teams_by.setdefault(by, {}).setdefault(team, []).append(pos)
    links, staff = [], []
    for pos, email, state, key in zip(*(part[c].tolist() for c in ("pos", "email", Col.STATE, "key")), strict=True):
        by = (Col.STATE, email, state) if state else ("key", email, key) if key else ("email", email)
        teams = teams_by.get(by, {})
        if len(teams) == 1:
            links.append((pos, next(iter(teams.values()))[0]))
        elif teams:
            staff += [(pos, other) for rows in teams.values() for other in rows]
    return np.array(links, dtype="int64").reshape(-1, 2), np.array(staff, dtype="int64").reshape(-1, 2)


def _similar_name_pairs(frame: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Distinct name keys of one block scoring at least `threshold` (compared through their skeletons)."""
    named = ((frame[Derived.NAME_KEY] != "") & frame[Col.STATE].notna()).to_numpy(dtype=bool)
    # Distinct (state, name key) pairs, first appearance first (no Python tuple per row: at 100,000 rows such
    # tuples keep the garbage collector busy).
    distinct = pd.DataFrame(
        {Col.STATE: frame[Col.STATE].to_numpy()[named], "key": frame[Derived.NAME_KEY].to_numpy()[named]}
    ).drop_duplicates()
    states, keys = distinct[Col.STATE].tolist(), distinct["key"].tolist()
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
    # The similar pairs of names within each block, blocks in order, then in the order the names appear.
    found = []
    for block in sorted(blocks):
        for i, j in _block_pairs(blocks[block], plains, threshold):
            found.append((states[i], keys[i], keys[j], plains[i] == plains[j]))
    return pd.DataFrame(found, columns=[Col.STATE, "name_a", "name_b", "lookalike"])


# A block of at most this many names is compared pair by pair; a larger one through rapidfuzz's cdist.
PAIRWISE_MAX_NAMES = 12
# Score-matrix cells per cdist call (float32: 4 MB).
_CDIST_CELLS = 1_000_000
_THREADED_CELLS = 250_000
_ASCII_SPACE = re.compile(r"[\t\n\x0b\x0c\r\x1c-\x1f ]+")


def _token_sorted(text: str) -> str:
    """What token_sort_ratio compares: the words in code-point order, one space apart (ASCII text)."""
    return " ".join(sorted(word for word in _ASCII_SPACE.split(text) if word))


def _block_pairs(members: list[int], plains: list[str], threshold: float) -> list[tuple[int, int]]:
    """Pairs (i, j) of a block's names, i before j, whose skeletons score `threshold` or more, in (i, j) order.

    Token_sort_ratio is the ratio of the words sorted, so a large block sorts each distinct skeleton once, pairs
    equal sorted texts outright (their score is 100) and scores the others with `process.cdist`, each name only
    against names of a length it can reach: a ratio of at least c needs the longer text within (2 - c) / c of
    the shorter. Same pairs as scoring every pair, in C and without the pairs lengths rule out.
    """
    if len(members) <= PAIRWISE_MAX_NAMES or not all(plains[i].isascii() for i in members):
        return [
            (i, j)
            for x, i in enumerate(members)
            for j in members[x + 1 :]
            if fuzz.token_sort_ratio(plains[i], plains[j], score_cutoff=threshold) > 0
        ]
    names_of: dict[str, list[int]] = {}
    for i in members:
        names_of.setdefault(_token_sorted(plains[i]), []).append(i)
    texts = sorted(names_of, key=len)
    lengths = np.array([len(text) for text in texts])
    # A little slack on the bound: a pair it lets through is still scored.
    reach = max(threshold / 100 - 1e-6, 1e-6)
    found = [(i, j) for same in names_of.values() for x, i in enumerate(same) for j in same[x + 1 :]]
    step = max(1, _CDIST_CELLS // len(texts))
    for start in range(0, len(texts), step):
        stop = min(start + step, len(texts))
        end = int(np.searchsorted(lengths, lengths[stop - 1] * (2 - reach) / reach + 1, side="right"))
        # Threads pay off only on a large matrix (measured on 2 cores: 1.9 s → 1.2 s at 10,000 names).
        workers = -1 if (stop - start) * (end - start) >= _THREADED_CELLS else 1
        scores = process.cdist(
            texts[start:stop], texts[start:end], scorer=fuzz.ratio, score_cutoff=threshold, workers=workers
        )
        rows, columns = np.nonzero(scores)
        for a, b in zip((rows + start).tolist(), (columns + start).tolist(), strict=True):
            if a < b:
                found += [(min(i, j), max(i, j)) for i in names_of[texts[a]] for j in names_of[texts[b]]]
    return sorted(found)


def _fuzzy_row_pairs(frame: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Row pairs with similar names: `same_person` when they share the lead's email or name."""
    pairs = _similar_name_pairs(frame, threshold)
    if pairs.empty:
        return pd.DataFrame({"pos_a": [], "pos_b": [], "same_person": []}).astype(
            {"pos_a": "int64", "pos_b": "int64", "same_person": bool}
        )
    # Only rows whose name is in some pair can join one.
    named = frame[Derived.NAME_KEY].isin(set(pairs["name_a"]) | set(pairs["name_b"])).to_numpy()
    candidates = frame.loc[named]
    rows = pd.DataFrame(
        {
            "pos": np.flatnonzero(named),
            Col.STATE: candidates[Col.STATE].to_numpy(),
            Derived.NAME_KEY: candidates[Derived.NAME_KEY].to_numpy(),
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
    return frame[Col.SUBMITTED_AT].astype("int64").astype(str).str.zfill(20) + frame[Derived.STABLE_ID]


def deduplicate(frame: pd.DataFrame, config: CohortConfig) -> pd.DataFrame:
    """Marks every row of a team but its latest valid on-time one `duplicate`, naming the kept row.

    A team without a valid on-time row keeps every row's status, and its rows take the team key of its latest
    complete row: they are one applicant, so the team gets one decision notice.
    """
    out = add_team_keys(frame)
    on_time, extension = on_time_mask(out, config)
    out[Derived.ON_TIME] = on_time
    out[Derived.EXTENSION] = extension
    out[Derived.DUPLICATE_OF] = pd.array([pd.NA] * len(out), dtype="Int64")
    out[Derived.POSSIBLE_DUPLICATE_OF] = ""
    if out.empty:
        return out
    threshold = config.dedupe.fuzzy_threshold
    fuzzy = _fuzzy_row_pairs(out, threshold)
    merge = fuzzy.loc[fuzzy["same_person"], ["pos_a", "pos_b"]].to_numpy(dtype="int64")
    complete = _complete(out)
    key_left, key_right = _key_edges(out, complete)
    leads = _lead_rows(out)
    lead_links, lead_pairs = _shared_lead_pairs(leads[complete[leads["pos"].to_numpy()]], threshold)
    left = np.concatenate([key_left, merge[:, 0], lead_links[:, 0]])
    right = np.concatenate([key_right, merge[:, 1], lead_links[:, 1]])
    labels = _components(len(out), left, right)
    # A row without a name or state joins one team at most, so no two teams meet through it (its label becomes
    # the team's, one of the team's row positions).
    row_links, row_pairs = _incomplete_links(leads, complete, labels)
    labels[row_links[:, 0]] = labels[row_links[:, 1]]
    team = pd.Series(labels, index=out.index)

    eligible = ((out[Col.STATUS] == Status.VALID) & out[Derived.ON_TIME]).to_numpy(dtype=bool)
    # Only the columns the choice needs, not a copy of every answer.
    candidates = out.loc[eligible, [Col.SUBMITTED_AT, Derived.STABLE_ID, Col.SOURCE_ROW, Derived.TEAM_KEY]]
    ranked = candidates.assign(_team=labels[eligible], _order=_order_key(candidates))
    kept = ranked.sort_values("_order", ascending=False).drop_duplicates("_team")
    # Per team label (a row position): whether the team keeps a row, its sheet row and its team key.
    kept_teams = kept["_team"].to_numpy()
    keeps, kept_row, kept_key = np.zeros(len(out), bool), np.zeros(len(out), "int64"), np.empty(len(out), object)
    keeps[kept_teams], kept_row[kept_teams], kept_key[kept_teams] = True, kept[Col.SOURCE_ROW], kept[Derived.TEAM_KEY]
    has_kept, kept_for = keeps[labels], kept_row[labels]
    source_rows = out[Col.SOURCE_ROW].to_numpy()
    is_duplicate = has_kept & (kept_for != source_rows)
    out[Derived.DUPLICATE_OF] = pd.arrays.IntegerArray(np.where(is_duplicate, kept_for, 0), ~is_duplicate)
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
    # A team of two rows or more that keeps no row takes the team key of its latest complete row (every such team
    # has one): one applicant, one notice.
    unkept = complete & ~has_kept & (np.bincount(labels, minlength=len(out))[labels] > 1)
    fallback = out.loc[unkept, [Col.SUBMITTED_AT, Derived.STABLE_ID, Derived.TEAM_KEY]]
    latest = (
        fallback.assign(_team=labels[unkept], _order=_order_key(fallback))
        .sort_values("_order", ascending=False)
        .drop_duplicates("_team")
    )
    keyed = keeps.copy()
    keyed[latest["_team"].to_numpy()] = True
    kept_key[latest["_team"].to_numpy()] = latest[Derived.TEAM_KEY].to_numpy(dtype=object)
    has_key = keyed[labels]
    team_key = out[Derived.TEAM_KEY].to_numpy(dtype=object, copy=True)
    team_key[has_key] = kept_key[labels[has_key]]
    out[Derived.TEAM_KEY] = pd.Series(team_key, index=out.index, dtype=out[Derived.TEAM_KEY].dtype)
    representative = pd.Series(np.where(has_kept, kept_for, source_rows), index=out.index).astype("int64")
    name_only = fuzzy.loc[~fuzzy["same_person"], ["pos_a", "pos_b"]].to_numpy(dtype="int64")
    staff = pd.DataFrame(np.concatenate([name_only, lead_pairs, row_pairs]), columns=["pos_a", "pos_b"])
    out[Derived.POSSIBLE_DUPLICATE_OF] = _possible_duplicates(staff, team, representative)
    return out


def _possible_duplicates(pairs: pd.DataFrame, team: pd.Series, representative: pd.Series) -> pd.Series:
    """For each row, the rows used for other teams whose names look alike or that share its lead's email (within
    a state): for staff to confirm."""
    if pairs.empty:
        return pd.Series("", index=team.index, dtype=object)
    teams = team.to_numpy()
    rows = representative.to_numpy().tolist()
    links: dict[int, set[int]] = {}
    for a, b in zip(pairs["pos_a"].tolist(), pairs["pos_b"].tolist(), strict=True):
        if teams[a] != teams[b]:
            links.setdefault(a, set()).add(rows[b])
            links.setdefault(b, set()).add(rows[a])
    result = np.full(len(team), "", dtype=object)
    for pos, others in links.items():
        result[pos] = LIST_SEPARATOR.join(str(r) for r in sorted(others))
    return pd.Series(result, index=team.index, dtype=object)
