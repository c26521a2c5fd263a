"""The floor: the same intake and selection work in plain pandas, with no framework (no GX, no Prefect).

It is what the pipeline would cost if it did only the arithmetic: one function, vectorised pandas, no per-row
reasons, no fuzzy names. `benchmarks.run` compares the pipeline's time with it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from schemas.columns import JOB_FAMILIES, Col
from schemas.config import CohortConfig
from schemas.states import STATE_LOOKUP

_EMAIL = r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$"
_FORM_TIME = "%m/%d/%Y %H:%M:%S"


def floor(path: Path, config: CohortConfig) -> pd.DataFrame:
    """Read, normalize, check, dedupe on exact keys, score and select: the rows with `status` and `rank`."""
    lists = (Col.MEMBER_NAMES, Col.MEMBER_EMAILS)
    single = {title: name for title, name in config.columns.items() if name not in lists}
    member_names = [title for title, name in config.columns.items() if name == Col.MEMBER_NAMES]
    member_emails = [title for title, name in config.columns.items() if name == Col.MEMBER_EMAILS]

    # read and rename
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    raw.columns = [str(c).strip() for c in raw.columns]
    df = raw[list(single)].rename(columns=single)
    df = df.apply(lambda col: col.str.strip())
    df[Col.SOURCE_ROW] = range(2, len(df) + 2)

    # normalize
    local = pd.to_datetime(df[Col.SUBMITTED_AT], format=_FORM_TIME, errors="coerce")
    aware = local.dt.tz_localize(config.timezone, ambiguous="NaT", nonexistent="NaT")
    df["submitted_utc"] = aware.dt.tz_convert("UTC")
    df["state_code"] = df[Col.STATE].str.casefold().str.replace(r"\s+", " ", regex=True).map(STATE_LOOKUP)
    for field in (Col.SUBMITTER_EMAIL, Col.LEAD_EMAIL):
        df[field] = df[field].str.lower()
    names = raw[member_names].apply(lambda col: col.str.strip() != "")
    emails = raw[member_emails].apply(lambda col: col.str.strip().str.lower())

    # validate
    email_ok = {field: df[field].str.match(_EMAIL) for field in (Col.SUBMITTER_EMAIL, Col.LEAD_EMAIL)}
    members_ok = emails.apply(lambda col: (col == "") | col.str.match(_EMAIL)).all(axis=1)
    team_size = (df[Col.LEAD_NAME] != "").astype(int) + names.sum(axis=1)
    families = df[Col.JOB_FAMILIES].str.split(",").explode().str.strip()
    families_ok = (families.isin(JOB_FAMILIES) | (families == "")).groupby(level=0).all()
    valid = (
        df["submitted_utc"].notna()
        & (df[Col.LOCAL_NAME] != "")
        & df["state_code"].notna()
        & email_ok[Col.SUBMITTER_EMAIL]
        & (df[Col.LEAD_NAME] != "")
        & email_ok[Col.LEAD_EMAIL]
        & members_ok
        & team_size.between(config.team_size.min, config.team_size.max)
        & (df[Col.JOB_FAMILIES] != "")
        & families_ok
        & (df[Col.PRESIDENT_APPROVED].str.casefold() == "yes")
        & (df[Col.COMMITMENT].str.casefold() == "yes")
    )
    df["status"] = valid.map({True: "valid", False: "invalid"})

    # dedupe: rows linked by (name key, state) or lead email; connected components by label propagation
    name_key = df[Col.LOCAL_NAME].str.casefold().str.replace(r"[^\w\s]", "", regex=True).str.split().str.join(" ")
    has_key = (name_key != "") & df["state_code"].notna()
    team = pd.Series((name_key + "|" + df["state_code"].fillna("")).factorize()[0], index=df.index)
    team = team.where(has_key, len(df) + pd.Series(range(len(df)), index=df.index))
    has_email = df[Col.LEAD_EMAIL] != ""
    while True:
        by_email = team.where(~has_email, team.groupby(df[Col.LEAD_EMAIL]).transform("min"))
        merged = by_email.groupby(team).transform("min")
        if merged.equals(team):
            break
        team = merged
    on_time = (df["submitted_utc"] <= pd.Timestamp(config.deadline)).fillna(value=False)
    eligible = df[valid & on_time].assign(team=team[valid & on_time])
    kept = eligible.sort_values("submitted_utc", ascending=False).drop_duplicates("team")
    df.loc[valid & ~on_time, "status"] = "late"
    df.loc[valid & on_time & ~df.index.isin(kept.index), "status"] = "duplicate"

    # score and select
    kept = kept.assign(score=kept[Col.JOB_FAMILIES].str.count(",") + 1)
    ordered = kept.sort_values(["score", "submitted_utc"], ascending=[False, True], kind="mergesort")
    within_cap = ordered.groupby("state_code", sort=False).cumcount() < config.max_per_state
    chosen = ordered[within_cap].head(config.capacity).index
    df.loc[kept.index, "status"] = "waitlisted"
    df.loc[chosen, "status"] = "selected"
    df["rank"] = pd.Series(range(1, len(chosen) + 1), index=chosen)
    return df
