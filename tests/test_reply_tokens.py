"""Reply codes: a code verifies as its own claim only (team, call, decision), under its own key only; a changed
character never makes it verify as another claim; the links carry the code and the choice in the form's fields."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from hypothesis import given
from hypothesis import strategies as st

from schemas.config import RepliesConfig
from schemas.replies import Choice
from tasks.reply_tokens import Claim, make_token, read_token, reply_links
from tests.support.configs import reply_form

KEY = b"k" * 32
text = st.text(min_size=1, max_size=40)
claims = st.builds(Claim, cohort=text, applicant=text, kind=st.sampled_from(["selected", "offer"]), version=text)


@given(claims, claims)
def test_a_code_verifies_as_its_own_claim_and_never_as_another(claim, other):
    token = make_token(KEY, claim)
    assert read_token(KEY, token) == claim
    if other != claim:
        assert read_token(KEY, token) != other
        assert make_token(KEY, other) != token


@given(claims, st.binary(min_size=16, max_size=48).filter(lambda key: key != KEY))
def test_a_code_made_with_another_key_does_not_verify(claim, key):
    assert read_token(KEY, make_token(key, claim)) is None


@given(claims, st.data())
def test_a_changed_character_never_verifies_as_another_claim(claim, data):
    token = make_token(KEY, claim)
    at = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    changed = token[:at] + data.draw(st.sampled_from("AbZ09-_.x").filter(lambda c: c != token[at])) + token[at + 1 :]
    assert read_token(KEY, changed) in (None, claim)  # base64's unused low bits may decode to the same bytes


def test_the_links_fill_in_the_code_and_the_choice():
    form = reply_form() | {"form_url": "https://docs.google.com/forms/d/e/1FAIpQLSe-example/viewform?usp=sf_link"}
    replies = RepliesConfig.model_validate(form)
    claim = Claim("esp-2021", "NY:troy education association", "selected", "abc")
    links = reply_links(replies, KEY, claim)
    for choice, said in ((Choice.CONFIRM, "Confirm"), (Choice.DECLINE, "Decline")):
        parts = urlsplit(links[choice])
        assert parts.path == "/forms/d/e/1FAIpQLSe-example/viewform"
        query = parse_qs(parts.query)
        assert query["usp"] == ["pp_url"] and query["entry.2222"] == [said]
        assert read_token(KEY, query["entry.1111"][0]) == claim
