"""Assignment of reviewers: properties over random rosters and teams (coverage, no conflict, balance, caps,
determinism), the impossible cases named and checked against Hall's condition, and the roster's own checks."""

from __future__ import annotations

from itertools import combinations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.review import AssignCol, RosterCol
from tasks.review_assign import AssignmentError, RosterError, assign, loads, read_roster, roster_frame

STATES = ("NY", "CA", "TX", "KY")
AFFILIATES = ("", "New York State United Teachers", "Kentucky Education Association", "California Teachers Assn")


@st.composite
def cases(draw):
    """Teams and a roster on a few states and affiliates, some reviewers on a team's roster, some with caps."""
    n_reviewers = draw(st.integers(2, 9))
    reviewers = [
        {
            RosterCol.NAME: f"Reviewer {j}",
            RosterCol.EMAIL: f"r{j}@review.example.org",
            RosterCol.STATE: draw(st.sampled_from(STATES)),
            RosterCol.AFFILIATE: draw(st.sampled_from(AFFILIATES)),
            RosterCol.CAP: draw(st.one_of(st.just(""), st.just(""), st.integers(1, 6).map(str))),
        }
        for j in range(n_reviewers)
    ]
    n_teams = draw(st.integers(1, 8))
    teams = []
    for i in range(n_teams):
        member = draw(st.one_of(st.just(f"m{i}@local.example.org"), st.sampled_from([r["email"] for r in reviewers])))
        teams.append(
            {
                "team_key": f"{draw(st.sampled_from(STATES))}:local {i}",
                "source_row": i + 2,
                "local_name": f"Local {i}",
                "affiliate": draw(st.sampled_from(AFFILIATES)),
                "lead_email": f"lead{i}@local.example.org",
                "member_emails": [member],
            }
        )
    frame = pd.DataFrame(teams)
    frame["state"] = frame["team_key"].str[:2]
    return frame, roster_frame(pd.DataFrame(reviewers)), draw(st.integers(1, 3))


def _allowed(teams: pd.DataFrame, roster: pd.DataFrame) -> dict[tuple[str, str], bool]:
    """The rules written out plainly, apart from the module's own conflict code."""
    out = {}
    for team in teams.itertuples():
        for reviewer in roster.itertuples():
            same_state = team.state == reviewer.state
            same_affiliate = bool(reviewer.affiliate) and reviewer.affiliate.casefold() in {
                team.affiliate.casefold(),
                team.local_name.casefold(),
            }
            shared = reviewer.email in {team.lead_email, *team.member_emails}
            out[team.team_key, reviewer.email] = not (same_state or same_affiliate or shared)
    return out


def _caps(roster: pd.DataFrame) -> dict[str, int | None]:
    return {r.email: (None if pd.isna(r.cap) else int(r.cap)) for r in roster.itertuples()}


def _hall_violated(keys: list[str], allowed: dict, caps: dict, k: int) -> bool:
    """Whether these teams need more reviews than their possible reviewers can give within caps (the cut's cost)."""
    supply = 0
    for email, cap in caps.items():
        reach = sum(allowed[key, email] for key in keys)
        supply += reach if cap is None else min(cap, reach)
    return supply < k * len(keys)


def _coverable(teams: pd.DataFrame, allowed: dict, caps: dict, k: int) -> bool:
    keys = teams["team_key"].tolist()
    return not any(
        _hall_violated(list(subset), allowed, caps, k)
        for size in range(1, len(keys) + 1)
        for subset in combinations(keys, size)
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_assignment_covers_balances_and_names_what_cannot_be_done(case):
    teams, roster, k = case
    teams = teams.drop_duplicates("team_key")
    allowed, caps = _allowed(teams, roster), _caps(roster)
    try:
        result = assign(teams, roster, k)
    except AssignmentError as refused:
        if refused.teams:
            # The named teams really cannot all be covered: Hall's condition fails on exactly that set.
            assert _hall_violated(list(refused.teams), allowed, caps, k)
            assert all(key in str(refused) for key in refused.teams)
        else:
            # Coverage was possible (the message says so); the balance is what failed, named by reviewer.
            assert _coverable(teams, allowed, caps, k)
            assert refused.reviewers and all(caps[email] is None for email in refused.reviewers)
            assert all(email in str(refused) for email in refused.reviewers)
        return
    assert list(result.columns) == list(AssignCol)
    per_team = result.groupby(AssignCol.TEAM_KEY)[AssignCol.REVIEWER_EMAIL].agg(list)
    assert set(per_team.index) == set(teams["team_key"])
    assert all(len(emails) == k == len(set(emails)) for emails in per_team)
    assert all(allowed[row.team_key, row.reviewer_email] for row in result.itertuples())
    load = loads(result, roster)
    uncapped = [load[email] for email, cap in caps.items() if cap is None]
    assert not uncapped or max(uncapped) - min(uncapped) <= 1
    assert all(load[email] <= cap for email, cap in caps.items() if cap is not None)
    rows = dict(zip(teams["team_key"], teams["source_row"], strict=True))
    assert all(rows[row.team_key] == row.source_row for row in result.itertuples())
    # Deterministic, and the same whatever the order of the rows handed in.
    shuffled = assign(teams.iloc[::-1], roster.iloc[::-1], k)
    pd.testing.assert_frame_equal(result, shuffled)


def _team(key: str, **extra) -> dict:
    base = {
        "team_key": key,
        "source_row": 2,
        "state": key[:2],
        "local_name": key[3:],
        "affiliate": "",
        "lead_email": f"lead@{key[3:].replace(' ', '')}.org",
    }
    return base | extra


def _roster(*rows: tuple[str, str, str, str]) -> pd.DataFrame:
    return roster_frame(
        pd.DataFrame(rows, columns=[RosterCol.EMAIL, RosterCol.STATE, RosterCol.AFFILIATE, RosterCol.CAP]).assign(
            name="R"
        )
    )


def test_a_team_with_too_few_reviewers_is_named_with_its_conflicts():
    teams = pd.DataFrame(
        [
            _team("NY:troy", affiliate="NYSUT", member_emails=["b@x.org"]),
            _team("CA:fresno", source_row=3),
        ]
    )
    roster = _roster(("a@x.org", "NY", "", ""), ("b@x.org", "TX", "", ""), ("c@x.org", "KY", "nysut", ""))
    with pytest.raises(AssignmentError) as refused:
        assign(teams, roster, 2)
    assert refused.value.teams == ("NY:troy",)
    assert (
        "NY:troy has 0 reviewer(s) without a conflict of 3 (1 same state, 1 same affiliate, 1 shares an email"
        in str(refused.value)
    )
    assert "review.per_application" in str(refused.value)


def test_teams_that_exhaust_their_reviewers_caps_are_named_with_the_reviewers():
    teams = pd.DataFrame(
        [
            _team("NY:troy", affiliate="NYSUT"),
            _team("NY:albany", source_row=3, affiliate="NYSUT"),
            _team("CA:fresno", source_row=4),
        ]
    )
    roster = _roster(
        ("a@x.org", "CA", "", "1"),
        ("b@x.org", "TX", "", "1"),
        ("c@x.org", "NY", "", ""),
        ("d@x.org", "KY", "NYSUT", ""),
    )
    with pytest.raises(AssignmentError) as refused:
        assign(teams, roster, 2)
    assert set(refused.value.teams) == {"NY:troy", "NY:albany"}
    assert set(refused.value.reviewers) == {"a@x.org", "b@x.org"}
    assert "a@x.org (cap 1), b@x.org (cap 1), cannot take 4 reviews within their caps" in str(refused.value)


def test_a_reviewer_who_cannot_take_an_even_share_is_named_and_a_cap_suggested():
    # c may review only the one team outside NY, but the even share is 4 reviews each.
    teams = pd.DataFrame([_team(f"NY:local {i}", source_row=i + 2) for i in range(5)] + [_team("CA:fresno")])
    roster = _roster(("a@x.org", "TX", "", ""), ("b@x.org", "KY", "", ""), ("c@x.org", "NY", "", ""))
    with pytest.raises(AssignmentError) as refused:
        assign(teams, roster, 2)
    assert refused.value.teams == ()
    assert refused.value.reviewers == ("c@x.org",)
    assert "c@x.org may review 1 team(s) without a conflict" in str(refused.value)
    # With the cap it asks for, the others share the rest evenly.
    capped = _roster(("a@x.org", "TX", "", ""), ("b@x.org", "KY", "", ""), ("c@x.org", "NY", "", "1"))
    load = loads(assign(teams, capped, 2), capped)
    assert load.to_dict() == {"a@x.org": 6, "b@x.org": 5, "c@x.org": 1} or load.to_dict() == {
        "a@x.org": 5,
        "b@x.org": 6,
        "c@x.org": 1,
    }


def test_a_cap_above_the_even_share_changes_nothing():
    teams = pd.DataFrame([_team(f"{s}:local {i}", source_row=i + 2) for i, s in enumerate(["NY", "CA"] * 6)])
    roster = _roster(*[(f"r{j}@x.org", "TX", "", "50" if j == 0 else "") for j in range(4)])
    assert sorted(loads(assign(teams, roster, 2), roster)) == [6, 6, 6, 6]


def test_roster_files_are_read_and_their_mistakes_named_by_row(tmp_path):
    csv = tmp_path / "reviewers.csv"
    csv.write_text("Name,Email,State,Affiliate,Cap\nAna Ruiz,Ana@X.org,New York,NYSUT,\nBo Li,bo@x.org,ky,,3\n")
    roster = read_roster(csv)
    assert roster[RosterCol.EMAIL].tolist() == ["ana@x.org", "bo@x.org"]
    assert roster[RosterCol.STATE].tolist() == ["NY", "KY"]
    assert roster[RosterCol.CAP].tolist()[1] == 3 and pd.isna(roster[RosterCol.CAP].tolist()[0])
    xlsx = tmp_path / "reviewers.xlsx"
    pd.read_csv(csv, dtype=str, keep_default_na=False).to_excel(xlsx, index=False)
    pd.testing.assert_frame_equal(read_roster(xlsx), roster)
    bad = tmp_path / "bad.csv"
    bad.write_text("name,email,state,affiliate,cap\n,ana@x.org,Narnia,,two\nBo,ana@x.org,KY,,0\n")
    with pytest.raises(RosterError) as refused:
        read_roster(bad)
    message = str(refused.value)
    for part in (
        "(review.roster)",
        "row 2: no name",
        "row 2: 'Narnia' is not a US state",
        "row 2: cap 'two' is not a whole number",
        "row 3: cap '0'",
        "ana@x.org is listed more than once",
    ):
        assert part in message
    (tmp_path / "short.csv").write_text("name,email\nAna,ana@x.org\n")
    with pytest.raises(RosterError, match="needs the column"):
        read_roster(tmp_path / "short.csv")
