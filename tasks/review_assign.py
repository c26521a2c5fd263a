"""Who reviews which application: every eligible team gets exactly `per_application` distinct reviewers, none with a
conflict, reviewers without a cap within one review of each other, caps respected, the same answer for the same input.

The rules are a flow problem, solved exactly rather than greedily, so "no assignment exists" is a proof and not a
greedy's dead end: source -> team (capacity k) -> reviewer without a conflict (capacity 1) -> sink. Balance is a
lower and an upper bound on each reviewer's load, [L, L+1] for a reviewer without a cap, handled by the usual
reduction of lower bounds: each reviewer sends its lower bound straight to the sink and at most the rest through one
shared edge whose capacity is N minus the sum of the lower bounds, so a flow of N (every team covered) gives each
reviewer at least its lower bound. L is tried from the smallest that can carry every review upward. A reviewer with
a cap c is first balanced with the others too, [min(c, L), min(c, L+1)], so a cap above the even share changes
nothing; when conflicts leave a capped reviewer too few teams for that, its lower bound is dropped (the issue's rule
binds reviewers without a cap only).

When no flow covers every team, the teams on the source side of a minimum cut are the ones that cannot all be
covered, and their possible reviewers are what runs out: that set is named, with each team's conflicts.

The flows are scipy's (scipy.sparse.csgraph.maximum_flow, Dinic's algorithm), on integer capacities.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.sparse import csr_array  # type: ignore[import-untyped]
from scipy.sparse.csgraph import breadth_first_order, maximum_flow  # type: ignore[import-untyped]

from schemas.columns import LIST_SEPARATOR, Col, Derived
from schemas.errors import StaffError
from schemas.review import ROSTER_REQUIRED, AssignCol, Conflict, RosterCol
from tasks.dedupe import name_key
from tasks.normalize import to_state_codes


class RosterError(StaffError):
    """The reviewer roster cannot be read or has a row the assignment cannot use."""


class AssignmentError(StaffError):
    """No assignment satisfies the rules; the message names the teams (or reviewers) and why."""

    def __init__(self, message: str, teams: Iterable[str] = (), reviewers: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.teams = tuple(teams)
        self.reviewers = tuple(reviewers)


TEAM_COLUMNS: tuple[str, ...] = (Derived.TEAM_KEY, Col.SOURCE_ROW, Col.STATE, Col.AFFILIATE, Col.LEAD_EMAIL)


def read_roster(path: Path) -> pd.DataFrame:
    """The roster (CSV or XLSX; headers read without case) as name, email (casefolded), state (USPS code),
    affiliate and cap (a whole number, or missing for no cap), one row per reviewer."""
    try:
        if path.suffix.lower() == ".xlsx":
            raw = pd.read_excel(path, dtype=str, keep_default_na=False)
        else:
            raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise RosterError(f"cannot read the reviewer roster {path} (review.roster): {exc}") from None
    raw.columns = [str(c).strip().casefold() for c in raw.columns]
    missing = [c for c in ROSTER_REQUIRED if c not in raw.columns]
    if missing:
        raise RosterError(
            f"the reviewer roster {path} (review.roster) needs the column(s) {', '.join(missing)}; "
            f"its header is {', '.join(raw.columns)}"
        )
    return roster_frame(raw, str(path))


def roster_frame(raw: pd.DataFrame, origin: str = "roster") -> pd.DataFrame:
    """A roster as read, checked row by row: a problem names the file's row (the header is row 1)."""
    text = {c: raw[c].astype(str).str.strip() for c in raw.columns}
    email = text[RosterCol.EMAIL].str.casefold()
    states = to_state_codes(text[RosterCol.STATE])
    caps = text.get(RosterCol.CAP, pd.Series("", index=raw.index))
    problems: list[str] = []
    for at, row in enumerate(raw.index):
        sheet_row = at + 2
        if not text[RosterCol.NAME][row]:
            problems.append(f"row {sheet_row}: no name")
        if "@" not in email[row]:
            problems.append(f"row {sheet_row}: {text[RosterCol.EMAIL][row]!r} is not an email address")
        if pd.isna(states[row]):
            problems.append(f"row {sheet_row}: {text[RosterCol.STATE][row]!r} is not a US state")
        if caps[row] and not (caps[row].isdigit() and int(caps[row]) >= 1):
            problems.append(f"row {sheet_row}: cap {caps[row]!r} is not a whole number of at least 1 (or empty)")
    doubled = sorted(set(email[email.duplicated() & (email != "")]))
    problems += [f"{address} is listed more than once" for address in doubled]
    if not problems and raw.empty:
        problems.append("it lists no reviewer")
    if problems:
        raise RosterError(f"the reviewer roster {origin} (review.roster) cannot be used: {'; '.join(problems)}")
    return pd.DataFrame(
        {
            RosterCol.NAME: text[RosterCol.NAME].to_numpy(),
            RosterCol.EMAIL: email.to_numpy(),
            RosterCol.STATE: states.astype(str).to_numpy(),
            RosterCol.AFFILIATE: text[RosterCol.AFFILIATE].to_numpy(),
            RosterCol.CAP: pd.array([int(c) if c else pd.NA for c in caps], dtype="Int64"),
        }
    )


def _emails(value: object) -> set[str]:
    """Addresses in a cell: one address, a list (member_emails), or several joined by the list separator."""
    if isinstance(value, list | tuple | set | np.ndarray):
        items: Iterable[object] = value
    elif isinstance(value, str):
        items = value.replace(LIST_SEPARATOR, ",").split(",")
    else:
        items = ()
    return {str(item).strip().casefold() for item in items if isinstance(item, str) and str(item).strip()}


def _affiliate_key(value: object) -> str:
    return name_key(value) if isinstance(value, str) and value.strip() else ""


@dataclass(frozen=True)
class Conflicts:
    """Per (team, reviewer), in the order of the frames given: which rule forbids the pair (empty: none)."""

    state: np.ndarray
    affiliate: np.ndarray
    email: np.ndarray

    @property
    def any(self) -> np.ndarray:
        return self.state | self.affiliate | self.email

    def by_rule(self) -> dict[Conflict, np.ndarray]:
        return {Conflict.STATE: self.state, Conflict.AFFILIATE: self.affiliate, Conflict.EMAIL: self.email}

    def reasons(self, team: int, reviewers: Iterable[int]) -> dict[Conflict, int]:
        """How many of `reviewers` each rule keeps from `team`."""
        chosen = list(reviewers)
        return {
            Conflict.STATE: int(self.state[team, chosen].sum()),
            Conflict.AFFILIATE: int(self.affiliate[team, chosen].sum()),
            Conflict.EMAIL: int(self.email[team, chosen].sum()),
        }


def conflicts(teams: pd.DataFrame, roster: pd.DataFrame) -> Conflicts:
    """Which reviewers may not review which teams: the same state; the same affiliate (the team's state affiliate,
    or its local, since a reviewer's `affiliate` may name either; compared as name keys, so "Kentucky EA" is
    "Kentucky Education Association", and an empty one matches nothing); or an address of the reviewer's among the
    team's lead, submitter and member emails."""
    team_states = teams[Col.STATE].astype(str).to_numpy()
    state = team_states[:, None] == roster[RosterCol.STATE].astype(str).to_numpy()[None, :]
    reviewer_affiliates = [_affiliate_key(a) for a in roster[RosterCol.AFFILIATE]]
    locals_ = teams[Col.LOCAL_NAME] if Col.LOCAL_NAME in teams else pd.Series("", index=teams.index)
    affiliate = np.zeros_like(state)
    email = np.zeros_like(state)
    reviewer_emails = roster[RosterCol.EMAIL].tolist()
    email_columns = [c for c in (Col.LEAD_EMAIL, Col.SUBMITTER_EMAIL, Col.MEMBER_EMAILS) if c in teams]
    for i, (team_affiliate, local) in enumerate(zip(teams[Col.AFFILIATE], locals_, strict=True)):
        names = {_affiliate_key(team_affiliate), _affiliate_key(local)} - {""}
        affiliate[i] = [key in names for key in reviewer_affiliates]
        addresses = set().union(*(_emails(teams[c].iloc[i]) for c in email_columns))
        email[i] = [address in addresses for address in reviewer_emails]
    return Conflicts(state=state, affiliate=affiliate, email=email)


@dataclass(frozen=True)
class _Flow:
    """A maximum flow found by scipy's Dinic (scipy.sparse.csgraph.maximum_flow): its value, the capacities it was
    found on and the flow (u -> v positive, v -> u the same negated)."""

    value: int
    capacity: csr_array
    flow: csr_array
    source: int

    @classmethod
    def solve(cls, edges: list[tuple[np.ndarray, np.ndarray, np.ndarray]], nodes: int, source: int, sink: int) -> _Flow:
        """The maximum flow from `source` to `sink` over the edges (tails, heads, capacities), none given twice."""
        tails, heads, caps = (np.concatenate(part).astype(np.int32) for part in zip(*edges, strict=True))
        keep = caps > 0
        capacity = csr_array((caps[keep], (tails[keep], heads[keep])), shape=(nodes, nodes), dtype=np.int32)
        result = maximum_flow(capacity, source, sink, method="dinic")
        return cls(value=int(result.flow_value), capacity=capacity, flow=csr_array(result.flow), source=source)

    def sending(self, first: int, stop: int) -> np.ndarray:
        """Which of the nodes first..stop-1 send flow on (by offset from `first`), as a mask."""
        block = self.flow[first:stop].tocoo()
        mask = np.zeros(stop - first, dtype=bool)
        mask[block.row[block.data > 0]] = True
        return mask

    def reachable(self) -> np.ndarray:
        """The nodes the residual network (capacity minus flow) reaches from the source, as a mask: one side of a
        minimum cut, and the same set whichever maximum flow was found."""
        residual = csr_array(self.capacity - self.flow)
        residual.data = (residual.data > 0).astype(np.int32)
        residual.eliminate_zeros()
        side = np.zeros(self.capacity.shape[0], dtype=bool)
        side[breadth_first_order(residual, self.source, directed=True, return_predecessors=False)] = True
        return side


def _spread_order(team_key: str, emails: list[str], allowed: list[int]) -> list[int]:
    """A team's possible reviewers in an order of their own, fixed by the team key and the address: the flow takes
    edges in order, so this varies who reviews with whom (which standardisation needs) and stays deterministic."""
    return sorted(allowed, key=lambda j: hashlib.sha256(f"{team_key}\n{emails[j]}".encode()).digest())


@dataclass(frozen=True)
class _Problem:
    """The teams sorted by key, their possible reviewers, each reviewer's cap (None: none) and k."""

    keys: list[str]
    emails: list[str]
    allowed: list[list[int]]
    caps: list[int | None]
    k: int

    @property
    def total(self) -> int:
        return len(self.keys) * self.k

    @property
    def first_pair(self) -> int:
        """Node numbers: the source 0, the teams from 1, then one node per (team, reviewer) pair, the reviewers, the
        sink and the spill."""
        return 1 + len(self.keys)

    @property
    def first_reviewer(self) -> int:
        return self.first_pair + sum(map(len, self.allowed))

    def network(self, to_sink: list[int], to_spill: list[int]) -> _Flow:
        """The maximum flow of source -> team (k) -> (team, reviewer) pair (1) -> reviewer -> sink (to_sink) and ->
        spill (to_spill) -> sink (the reviews to_sink leaves, if any).

        scipy's Dinic takes a node's edges in the order of the nodes they lead to, not the order they were added, so
        the order is carried by the numbering: each pair is a node of its own, numbered in the team's spread order
        (the order its reviewers are tried in); the sink and spill come last, so a reviewer tries its pairs back (in
        team order) before the sink."""
        teams, reviewers = len(self.keys), len(self.emails)
        team_of = np.repeat(np.arange(teams), [len(allowed) for allowed in self.allowed])
        reviewer_of = np.fromiter((j for allowed in self.allowed for j in allowed), dtype=np.int64, count=len(team_of))
        pair = self.first_pair + np.arange(len(team_of))
        reviewer = self.first_reviewer + np.arange(reviewers)
        sink, spill = self.first_reviewer + reviewers, self.first_reviewer + reviewers + 1
        rest = max(0, self.total - sum(to_sink))
        edges = [
            (np.zeros(teams), 1 + np.arange(teams), np.full(teams, self.k)),
            (1 + team_of, pair, np.ones_like(pair)),
            (pair, reviewer[reviewer_of], np.ones_like(pair)),
            (reviewer, np.full(reviewers, sink), np.array(to_sink)),
            (reviewer, np.full(reviewers, spill), np.array(to_spill)),
            (np.array([spill]), np.array([sink]), np.array([rest])),
        ]
        return _Flow.solve(edges, spill + 1, 0, sink)

    def solve(self, lower: list[int], upper: list[int]) -> list[list[int]] | None:
        """Each team's reviewers with every reviewer's load within [lower, upper], or None when there is none."""
        if self.total - sum(lower) < 0:
            return None
        flow = self.network(lower, [u - lo for lo, u in zip(lower, upper, strict=True)])
        if flow.value < self.total:
            return None
        used = iter(flow.sending(self.first_pair, self.first_reviewer))
        return [[j for j in allowed if next(used)] for allowed in self.allowed]

    def bounds(self, level: int, *, capped_balanced: bool) -> tuple[list[int], list[int]]:
        upper = [level + 1 if cap is None else min(cap, level + 1) for cap in self.caps]
        lower = [level if cap is None else (min(cap, level) if capped_balanced else 0) for cap in self.caps]
        return lower, upper

    def levels(self, *, capped_balanced: bool) -> range:
        """The loads L worth trying: from the smallest whose upper bounds can carry every review."""
        level = 0
        while sum(self.bounds(level, capped_balanced=capped_balanced)[1]) < self.total:
            level += 1
        return range(level, max(level, math.ceil(self.total / max(1, self.caps.count(None)))) + 1)


def assign(teams: pd.DataFrame, roster: pd.DataFrame, per_application: int) -> pd.DataFrame:
    """`per_application` reviewers for each team (team_key, source_row, state, affiliate, lead/submitter/member
    emails) from the roster (read_roster's columns): assignments.csv's rows, sorted by team and reviewer.

    The teams and reviewers are ordered by key and address first, so the answer depends on who they are, not on the
    order of the rows. An AssignmentError names the teams that cannot be covered, or the reviewers that cannot be
    kept within one of the others' loads, and why.
    """
    missing = [c for c in TEAM_COLUMNS if c not in teams.columns]
    if missing:
        raise ValueError(f"assign needs the team columns {', '.join(missing)}")
    doubled = teams[Derived.TEAM_KEY][teams[Derived.TEAM_KEY].duplicated()]
    if not doubled.empty:
        raise ValueError(f"assign takes one row per team; {', '.join(sorted(set(doubled)))} appear more than once")
    teams = teams.sort_values(Derived.TEAM_KEY, kind="stable").reset_index(drop=True)
    roster = roster.sort_values(RosterCol.EMAIL, kind="stable").reset_index(drop=True)
    if teams.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in AssignCol})
    found = conflicts(teams, roster)
    keys = teams[Derived.TEAM_KEY].astype(str).tolist()
    emails = roster[RosterCol.EMAIL].tolist()
    free = ~found.any
    allowed = [_spread_order(keys[i], emails, np.flatnonzero(free[i]).tolist()) for i in range(len(keys))]
    problem = _Problem(
        keys=keys,
        emails=emails,
        allowed=allowed,
        caps=[None if pd.isna(c) else int(c) for c in roster[RosterCol.CAP]],
        k=per_application,
    )
    _too_few_reviewers(problem, found)
    chosen = _balanced(problem)
    if chosen is None:
        _uncoverable(problem, found)
        raise _unbalanced(problem)
    names = roster[RosterCol.NAME].tolist()
    rows = [
        (keys[i], teams[Col.SOURCE_ROW].iloc[i], emails[j], names[j])
        for i, picked in enumerate(chosen)
        for j in sorted(picked, key=emails.__getitem__)
    ]
    return pd.DataFrame(rows, columns=list(AssignCol))


def _balanced(problem: _Problem) -> list[list[int]] | None:
    if all(cap is not None for cap in problem.caps):  # no balance to keep: one try with the caps as bounds
        return problem.solve([0] * len(problem.caps), [int(cap or 0) for cap in problem.caps])
    for capped_balanced in (True, False):
        for level in problem.levels(capped_balanced=capped_balanced):
            chosen = problem.solve(*problem.bounds(level, capped_balanced=capped_balanced))
            if chosen is not None:
                return chosen
    return None


def _conflict_words(counts: dict[Conflict, int]) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in counts.items() if n) or "no conflicts"


def _too_few_reviewers(problem: _Problem, found: Conflicts) -> None:
    """Each team on its own: fewer reviewers without a conflict than reviews it needs."""
    short = [i for i, allowed in enumerate(problem.allowed) if len(allowed) < problem.k]
    if not short:
        return
    everyone = range(len(problem.emails))
    lines = [
        f"{problem.keys[i]} has {len(problem.allowed[i])} reviewer(s) without a conflict of {len(problem.emails)} "
        f"({_conflict_words(found.reasons(i, everyone))})"
        for i in short
    ]
    raise AssignmentError(
        f"{len(short)} team(s) cannot get {problem.k} distinct reviewers (review.per_application): "
        f"{'; '.join(lines)}; add reviewers from other states and affiliates to the roster (review.roster)",
        teams=[problem.keys[i] for i in short],
    )


def _uncoverable(problem: _Problem, found: Conflicts) -> None:
    """The teams that cannot all be covered within the caps, whatever the balance: a minimum cut's source side."""
    teams, reviewers = len(problem.keys), len(problem.emails)
    flow = problem.network([problem.total if cap is None else cap for cap in problem.caps], [0] * reviewers)
    if flow.value == problem.total:
        return
    side = flow.reachable()
    stuck = [i for i in range(teams) if side[1 + i]]
    pool = [j for j in range(reviewers) if side[problem.first_reviewer + j]]
    pool_words = ", ".join(
        f"{problem.emails[j]}" + ("" if problem.caps[j] is None else f" (cap {problem.caps[j]})") for j in pool
    )
    lines = [f"{problem.keys[i]} ({_conflict_words(found.reasons(i, range(reviewers)))})" for i in stuck]
    raise AssignmentError(
        f"{len(stuck)} team(s) cannot all get {problem.k} reviewers (review.per_application): {'; '.join(lines)}; "
        f"the only reviewers without a conflict for them, {pool_words}, cannot take {problem.k * len(stuck)} "
        "reviews within their caps: raise those caps or add reviewers from other states and affiliates to the "
        "roster (review.roster)",
        teams=[problem.keys[i] for i in stuck],
        reviewers=[problem.emails[j] for j in pool],
    )


def _unbalanced(problem: _Problem) -> AssignmentError:
    """Every team can be covered, but not with the loads of reviewers without a cap within one of each other: the
    reviewers with the fewest teams they may review are what holds the balance down."""
    uncapped = [j for j, cap in enumerate(problem.caps) if cap is None]
    share = problem.levels(capped_balanced=False).start
    reach = [0] * len(problem.emails)
    for allowed in problem.allowed:
        for j in allowed:
            reach[j] += 1
    few = sorted((j for j in uncapped if reach[j] < share), key=lambda j: (reach[j], problem.emails[j]))
    if not few:
        few = sorted(uncapped, key=lambda j: (reach[j], problem.emails[j]))[:3]
    words = "; ".join(f"{problem.emails[j]} may review {reach[j]} team(s) without a conflict" for j in few)
    return AssignmentError(
        f"every team can be covered, but not with the loads of reviewers without a cap within one of each other "
        f"(each would take at least {share}): {words}; give such a reviewer a cap (the cap column of review.roster)",
        reviewers=[problem.emails[j] for j in few],
    )


def loads(assignments: pd.DataFrame, roster: pd.DataFrame) -> pd.Series:
    """Reviews per reviewer (every roster address, 0 for one given none), by address."""
    counts = assignments[AssignCol.REVIEWER_EMAIL].value_counts()
    return counts.reindex(roster[RosterCol.EMAIL], fill_value=0).rename("reviews")
