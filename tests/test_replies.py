"""Applicants answer for themselves, end to end: the bundled 2021 call selected and notified over a real SMTP server,
the reply links read from the delivered messages, replies written into the reply form's sheet on the local Sheets
API server (valid, forged, another call's code, a choice the form does not have, repeated, a change of mind, late),
and the promotion run on them. The store holds exactly the valid replies as the teams' own actions, the refusals
are listed by row, the declined seats are offered to the waitlist, and reminders reach only the silent teams."""

from __future__ import annotations

import contextlib
import email
import email.policy
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
import yaml

import tasks.sheets
from flows.cli import EXIT_STAFF_ERROR, main
from schemas.columns import Col, Derived, Kind, Status
from schemas.replies import APPLICANT, ReplyCol, ReplyOutcome
from schemas.store import StoreCol
from tasks.reply_tokens import Claim, make_token, read_token
from tasks.store import action_log, open_store
from tasks.teams import current_decisions, team_rows
from tests.support.configs import make_config, reply_form
from tests.support.moments import AFTER
from tests.support.paths import CONFIG_PATH, EXAMPLE_PATH
from tests.support.sheets import FakeSheetsServer, client_for
from tests.support.smtp import SmtpServer

REPLIES_KEY = "1ReplyFormResponsesKey0123456789"
TAB = "Form Responses 1"
SECRET = "a-test-reply-key-of-forty-characters-00"
TOKEN_ENTRY, CHOICE_ENTRY = "entry.1111", "entry.2222"
HEADER = ["Timestamp", "Reply code", "Your answer"]
LINK = re.compile(r"https://docs\.google\.com/forms/\S+")


@pytest.fixture
def call(prefect_server, tmp_path, monkeypatch):
    """The 2021 call with a reply form, selected and its decision notices sent."""
    with _call(tmp_path, monkeypatch) as made:
        yield made


@contextlib.contextmanager
def _call(tmp_path, monkeypatch, **changes):
    with SmtpServer() as smtp, FakeSheetsServer() as sheets:
        sheets.add_spreadsheet(REPLIES_KEY, {TAB: [HEADER]})
        monkeypatch.setenv("COHORT_TEST_SHEETS_KEY", "{}")
        monkeypatch.setenv("COHORT_REPLY_KEY", SECRET)
        monkeypatch.setattr(tasks.sheets, "service_account_client", lambda _key: client_for(sheets))
        sheet = {"kind": "google_sheet", "key": REPLIES_KEY, "worksheet": TAB}
        sheet["credentials"] = {"env": "COHORT_TEST_SHEETS_KEY"}
        replies = reply_form(sheet, remind=[72, 24]) | changes
        config, path = make_config(tmp_path, smtp.port, replies=replies)
        assert main(["select", "--config", str(path), "--as-of", AFTER, "--out", str(tmp_path / "sel")]) == 0
        assert main(["notify", "--config", str(path), "--as-of", AFTER, "--out", str(tmp_path / "n"), "--send"]) == 0
        yield config, path, smtp, sheets


def _links(message) -> dict[str, str]:
    """The message's reply links by choice (the form's choice text), each a prefilled link of the form."""
    found = {}
    for url in LINK.findall(message.get_body(("plain",)).get_content()):
        query = parse_qs(urlsplit(url).query)
        found[query[CHOICE_ENTRY][0]] = query[TOKEN_ENTRY][0]
    return found


def _promote(path, tmp_path, as_of: str, out: str) -> int:
    return main(["replies", "--config", str(path), "--as-of", as_of, "--out", str(tmp_path / out), "--send"])


def test_teams_reply_by_their_links_and_silent_teams_are_reminded(call, tmp_path):
    config, path, smtp, sheets = call
    key = SECRET.encode()
    selected = [m.message for m in smtp.received if m.message["Subject"].startswith("Your team is selected")]
    assert len(selected) == 20
    codes = {}  # team → its confirm and decline codes, read from its own message
    for message in selected:
        links = _links(message)
        assert set(links) == {"Confirm", "Decline"} and links["Confirm"] == links["Decline"]
        claim = read_token(key, links["Confirm"])
        assert claim is not None and claim.kind == Kind.SELECTED and claim.cohort == config.cohort_id
        codes[claim.applicant] = links["Confirm"]
        assert "by June 28, 2021" in message.get_body(("plain",)).get_content()
    others = [m.message for m in smtp.received if not m.message["Subject"].startswith("Your team is selected")]
    assert not any(LINK.search(m.get_body(("plain",)).get_content()) for m in others)  # only selected notices link

    a, b, c, e, f, g = sorted(codes)[:6]
    withdraw = ["withdraw", "--config", str(path), "--team", g, "--reason", "left the union", "--as-of", AFTER]
    assert main(withdraw) == 0  # staff withdraw g after its notice: g's code now answers a changed decision
    forged = codes[a][:-2] + ("AA" if not codes[a].endswith("AA") else "BB")
    claim = read_token(key, codes[a])
    another_call = make_token(key, Claim("esp-2020", a, Kind.SELECTED, claim.version))
    rows = [
        ["6/10/2021 10:00:00", codes[a], "Confirm"],  # row 2: valid
        ["6/10/2021 10:05:00", codes[b], "Decline"],  # row 3: valid, frees a seat
        ["6/10/2021 10:10:00", forged, "Confirm"],  # row 4: forged
        ["6/10/2021 10:15:00", another_call, "Confirm"],  # row 5: another call's code
        ["6/10/2021 11:00:00", codes[f], "Confirm"],  # row 6: superseded by row 7
        ["6/11/2021 9:00:00", codes[f], "Decline"],  # row 7: a change of mind
        ["6/11/2021 10:00:00", codes[a], "Confirm"],  # row 8: repeated
        ["6/11/2021 10:30:00", codes[c], "Maybe"],  # row 9: a choice the form does not have
        ["6/29/2021 8:00:00", codes[e], "Confirm"],  # row 10: after confirm-by (June 28, whole day)
        ["6/10/2021 12:00:00", codes[g], "Confirm"],  # row 11: a decision that has since changed
    ]
    sheets.sheet(REPLIES_KEY, TAB).rows.extend(rows)

    sent_before = len(smtp.received)
    assert _promote(path, tmp_path, "2021-06-12 09:00", "p1") == 0
    engine = open_store(config.database_url)
    log = action_log(engine, config.cohort_id)
    own = log[log[StoreCol.ACTOR] == APPLICANT]
    assert sorted(zip(own[Derived.APPLICANT], own[StoreCol.ACTION], strict=True)) == sorted(
        [(a, "confirm"), (b, "decline"), (f, "decline")]
    )
    assert set(own[StoreCol.ORIGIN]) == {
        "reply:8:2021-06-11T14:00:00+00:00",
        "reply:3:2021-06-10T14:05:00+00:00",
        "reply:7:2021-06-11T13:00:00+00:00",
    }
    table = pd.read_csv(tmp_path / "p1" / "replies.csv", dtype=str, keep_default_na=False).set_index(ReplyCol.ROW)
    assert list(table.index) == [*map(str, range(2, 10)), "11"]  # row 10 was submitted after this run's moment
    outcome = table[ReplyCol.OUTCOME].to_dict()
    assert outcome == {
        "2": ReplyOutcome.SUPERSEDED,
        "3": ReplyOutcome.APPLIED,
        "4": ReplyOutcome.REFUSED,
        "5": ReplyOutcome.REFUSED,
        "6": ReplyOutcome.SUPERSEDED,
        "7": ReplyOutcome.APPLIED,
        "8": ReplyOutcome.APPLIED,
        "9": ReplyOutcome.REFUSED,
        "11": ReplyOutcome.REFUSED,
    }
    assert "answers a decision that has since changed (the team is withdrawn now)" in table.loc["11", ReplyCol.WHY]
    assert "forged" in table.loc["4", ReplyCol.WHY] and "another call (esp-2020)" in table.loc["5", ReplyCol.WHY]
    assert "'Maybe'" in table.loc["9", ReplyCol.WHY]

    teams = team_rows(current_decisions(engine, config.cohort_id)[1]).set_index(Derived.APPLICANT)
    assert teams.loc[a, Col.STATUS] == Status.CONFIRMED and teams.loc[f, Col.STATUS] == Status.DECLINED
    offered = teams[teams[Col.STATUS] == Status.OFFERED]
    assert len(offered) == 3  # the two declined seats and the withdrawn team's, offered by waitlist rank
    new = [m.message for m in smtp.received[sent_before:]]
    kinds = sorted(m["Subject"].split(":")[0] for m in new)
    assert len(new) == 7 and kinds.count("A seat is open for your team") == 3, kinds
    offer = next(m for m in new if m["Subject"].startswith("A seat is open"))
    offer_claim = read_token(key, _links(offer)["Confirm"])
    assert offer_claim.kind == Kind.OFFER and offer_claim.applicant in offered.index

    # Again on the same sheet: every row is judged as before and nothing is recorded or sent twice.
    assert _promote(path, tmp_path, "2021-06-12 09:30", "p2") == 0
    assert len(action_log(engine, config.cohort_id)) == len(log) and len(smtp.received) == sent_before + 7
    again = pd.read_csv(tmp_path / "p2" / "replies.csv", dtype=str, keep_default_na=False)
    assert (again[ReplyCol.OUTCOME] == ReplyOutcome.ALREADY).sum() == 3

    # June 26, 09:00: the 72-hour reminder before confirm-by (June 29, 00:00) goes to each selected team that has
    # not replied, and to no one else; the offers of June 12 have expired and the freed seats are offered again.
    before = len(smtp.received)
    assert _promote(path, tmp_path, "2021-06-26 09:00", "p3") == 0
    silent = set(teams.index[teams[Col.STATUS] == Status.SELECTED])
    reminders = [m.message for m in smtp.received[before:] if m.message["Subject"].startswith("Please reply by")]
    leads = team_rows(current_decisions(engine, config.cohort_id)[1]).set_index(Derived.APPLICANT)[Col.LEAD_EMAIL]
    assert sorted(m["To"] for m in reminders) == sorted(leads[sorted(silent)])
    assert len(reminders) == 16 and {a, b, f, g}.isdisjoint(silent)
    text = reminders[0].get_body(("plain",)).get_content()
    assert "Please answer by June 28, 2021." in text and len(_links(reminders[0])) == 2
    count = len(smtp.received)
    assert _promote(path, tmp_path, "2021-06-26 15:00", "p4") == 0  # the same moment's reminders: not again
    assert not any(m.message["Subject"].startswith("Please reply by") for m in smtp.received[count:])

    # After confirm-by: the late reply is recorded as late and not applied; the silent teams are listed for staff.
    assert _promote(path, tmp_path, "2021-06-29 09:00", "p5") == 0
    late = pd.read_csv(tmp_path / "p5" / "replies.csv", dtype=str, keep_default_na=False).set_index(ReplyCol.ROW)
    assert late.loc["10", ReplyCol.OUTCOME] == ReplyOutcome.LATE
    assert (
        team_rows(current_decisions(engine, config.cohort_id)[1]).set_index(Derived.APPLICANT).loc[e, Col.STATUS]
        == Status.SELECTED
    )


def test_with_expire_unconfirmed_a_silent_selection_lapses_and_its_seat_goes_to_the_waitlist(
    prefect_server, tmp_path, monkeypatch
):
    with _call(tmp_path, monkeypatch, expire_unconfirmed=True, remind=[]) as (config, path, smtp, sheets):
        codes = {}
        for message in smtp.received:
            links = _links(message.message)
            if links:
                codes[read_token(SECRET.encode(), links["Confirm"]).applicant] = links["Confirm"]
        confirmed = sorted(codes)[:18]  # 18 of the 20 confirm in time; 2 stay silent
        sheets.sheet(REPLIES_KEY, TAB).rows.extend(["6/20/2021 9:00:00", codes[t], "Confirm"] for t in confirmed)
        before = len(smtp.received)
        assert _promote(path, tmp_path, "2021-06-27 09:00", "early") == 0  # before confirm-by: nobody lapses
        engine = open_store(config.database_url)
        teams = team_rows(current_decisions(engine, config.cohort_id)[1]).set_index(Derived.APPLICANT)
        silent = sorted(set(codes) - set(confirmed))
        assert set(teams.loc[silent, Col.STATUS]) == {Status.SELECTED}
        assert (teams[Col.STATUS] == Status.CONFIRMED).sum() == 18

        assert _promote(path, tmp_path, "2021-06-29 09:00", "after") == 0
        teams = team_rows(current_decisions(engine, config.cohort_id)[1]).set_index(Derived.APPLICANT)
        assert set(teams.loc[silent, Col.STATUS]) == {Status.EXPIRED}
        assert (teams[Col.STATUS] == Status.OFFERED).sum() == 2  # both seats offered to the waitlist
        new = [m.message for m in smtp.received[before:]]
        lapsed = [m for m in new if m["Subject"].startswith("Your team's place has lapsed")]
        assert len(lapsed) == 2
        assert "the place has lapsed" in lapsed[0].get_body(("plain",)).get_content()


def _next_call(tmp_path) -> Path:
    """The 2022 call's cohort file: its own store, an interest list and previous participants of its own."""
    data = yaml.safe_load(CONFIG_PATH.read_text())
    data |= {
        "cohort": "2022",
        "deadline": "2022-06-06T10:00:00-04:00",
        "notify_by": "2022-06-20",
        "state_url": f"sqlite:///{tmp_path / 'next.sqlite'}",
        "interest_list": "next-interest.csv",
        "previous_participants": "next-previous.csv",
    }
    data.pop("opens", None)
    data["notices"] |= {"confirm_by": "2022-06-27", "course_start": "2022-07-11"}
    data["source"]["path"] = str(EXAMPLE_PATH)
    (tmp_path / "next-interest.csv").write_text(
        "name,email,local,state,date\nSam Ortiz,sam.ortiz@kingstonesp.example.org,,WA,1/5/2022\n"
    )
    (tmp_path / "next-previous.csv").write_text("team_key\nNY:troy education association\n")
    path = tmp_path / "esp-2022.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_the_interest_notice_unsubscribes_in_one_click_and_carry_forward_leaves_them_out(call, tmp_path, capsys):
    config, path, smtp, sheets = call
    codes = [_links(m.message).get("Confirm") for m in smtp.received]
    confirming = [code for code in codes if code][:3]
    assert main(["notify", "--config", str(path), "--as-of", AFTER, "--out", str(tmp_path / "i"), "--interest"]) == 0
    files = sorted((tmp_path / "i" / "outbox").glob("*-interest.eml"))
    assert files
    message = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    raw = files[0].read_bytes()
    assert re.search(rb"\r\nList-Unsubscribe: <https://docs\.google\.com/forms/\S+>\r\n", raw)  # as clients read it
    assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in raw
    one_click = message["List-Unsubscribe"].strip("<>")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert one_click.startswith("https://docs.google.com/forms/d/e/1FAIpQLSe-reply/formResponse?usp=pp_url&")
    query = parse_qs(urlsplit(one_click).query)
    assert query[CHOICE_ENTRY] == ["Unsubscribe"]
    leaving = message["To"]
    claim = read_token(SECRET.encode(), query[TOKEN_ENTRY][0])
    assert claim == Claim(config.cohort_id, leaving.casefold(), Kind.INTEREST, "unsubscribe")
    text = message.get_body(("plain",)).get_content()
    assert "To hear no more from us" in text and "viewform?usp=pp_url" in text

    sheet = sheets.sheet(REPLIES_KEY, TAB)
    sheet.rows.append(["6/12/2021 9:00:00", query[TOKEN_ENTRY][0], "Unsubscribe"])
    sheet.rows.extend(["6/12/2021 9:30:00", code, "Confirm"] for code in confirming)  # 3 teams take their place
    assert _promote(path, tmp_path, "2021-06-12 10:00", "p") == 0
    table = pd.read_csv(tmp_path / "p" / "replies.csv", dtype=str, keep_default_na=False)
    assert list(table[ReplyCol.OUTCOME]) == [ReplyOutcome.UNSUBSCRIBED, *[ReplyOutcome.APPLIED] * 3]
    assert main(["notify", "--config", str(path), "--as-of", AFTER, "--out", str(tmp_path / "j"), "--interest"]) == 0
    index = pd.read_csv(tmp_path / "j" / "outbox" / "index.csv", dtype=str, keep_default_na=False)
    refused = index.set_index("recipient")["refused_because"]
    assert "asked to hear no more" in refused[leaving]
    assert (refused.drop(leaving) == "").all()

    target = _next_call(tmp_path)
    capsys.readouterr()
    assert main(["carry-forward", "--from", str(path), "--to", str(target)]) == 0
    said = capsys.readouterr().out
    carried = pd.read_csv(tmp_path / "next-interest.csv", dtype=str, keep_default_na=False)
    emails = list(carried["email"].str.casefold())
    assert leaving.casefold() not in emails and len(emails) == len(set(emails))
    engine = open_store(config.database_url)
    teams = team_rows(current_decisions(engine, config.cohort_id)[1])
    taking_part = teams[teams[Col.STATUS] == Status.CONFIRMED]  # with a reply form, the teams that confirmed
    silent = teams[teams[Col.STATUS] == Status.SELECTED]
    assert len(taking_part) == 3 and set(taking_part[Col.LEAD_EMAIL].str.lower()) <= set(emails)
    previous = pd.read_csv(tmp_path / "next-previous.csv", dtype=str)["team_key"]
    assert list(previous) == ["NY:troy education association", *taking_part[Derived.TEAM_KEY]]
    assert set(silent[Derived.TEAM_KEY]).isdisjoint(previous.iloc[1:])  # the first was on the list before
    assert "left out: they asked to hear no more" in said and "1 left out" in said
    before = len(carried)
    assert main(["carry-forward", "--from", str(path), "--to", str(target)]) == 0  # again: nothing new
    assert len(pd.read_csv(tmp_path / "next-interest.csv", dtype=str)) == before
    assert main(["carry-forward", "--from", str(path), "--to", str(target), "--waitlisted"]) == 0
    waiting = teams[teams[Col.STATUS] == Status.WAITLISTED][Col.LEAD_EMAIL].str.lower()
    assert set(waiting) <= set(pd.read_csv(tmp_path / "next-interest.csv", dtype=str)["email"].str.casefold())


def test_a_responses_sheet_on_another_clock_is_refused_naming_the_setting(call, tmp_path, capsys):
    _, path, _, sheets = call
    sheets.set_time_zone(REPLIES_KEY, "Europe/London")
    capsys.readouterr()
    assert _promote(path, tmp_path, "2021-06-12 09:00", "p") == EXIT_STAFF_ERROR
    err = capsys.readouterr().err
    assert "replies.responses: the responses spreadsheet" in err and "keeps its timestamps in Europe/London" in err
    assert "Traceback" not in err
