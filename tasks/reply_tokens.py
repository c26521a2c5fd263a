"""Reply codes and the personal reply links of the selected and offer notices.

A reply code names the call (its cohort id), the team (its applicant key) and the decision it answers (the notice's
kind and version), signed with HMAC-SHA256 under the key of `replies.secret`: `r1.<claim>.<signature>`, both parts
base64url. Anyone can read a code's claim; nobody without the key can make one that verifies, so a code verifies
for its own team, call and decision only. The link is the form's prefilled link: the code in one field, the choice
in the other, one link per choice.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
from urllib.parse import urlencode

from schemas.columns import Kind
from schemas.config import CohortConfig, RepliesConfig
from schemas.errors import StaffError
from schemas.replies import TOKEN_PREFIX, UNSUBSCRIBE, Choice

MIN_KEY_CHARACTERS = 32
SIGNATURE_BYTES = 16  # 128 bits of the HMAC-SHA256


class ReplyError(StaffError):
    """The reply form cannot be used as the cohort file says (its key, its responses sheet)."""


@dataclasses.dataclass(frozen=True)
class Claim:
    """What a reply code says it answers: this call's cohort, a team, and that team's notice (kind, version)."""

    cohort: str
    applicant: str
    kind: str
    version: str


def replies_of(config: CohortConfig) -> RepliesConfig:
    if config.replies is None:
        raise ReplyError(f"the cohort file of {config.cohort!r} has no `replies:` section (the reply form)")
    return config.replies


def reply_key(config: CohortConfig) -> bytes:
    """The signing key, read from where `replies.secret` says, at the moment it is needed."""
    key = replies_of(config).secret.reveal().strip()
    if len(key) < MIN_KEY_CHARACTERS:
        raise ReplyError(
            f"replies.secret: the key is {len(key)} characters; use at least {MIN_KEY_CHARACTERS} random ones, e.g. "
            "the output of "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return key.encode("utf-8")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, f"{TOKEN_PREFIX}.".encode("ascii") + payload, hashlib.sha256).digest()[:SIGNATURE_BYTES]


def make_token(key: bytes, claim: Claim) -> str:
    payload = json.dumps(dataclasses.astuple(claim), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return f"{TOKEN_PREFIX}.{_b64(payload)}.{_b64(_signature(key, payload))}"


def read_token(key: bytes, token: str) -> Claim | None:
    """The claim of a reply code signed with `key`, or None for anything else (mistyped, forged, another key's)."""
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    try:
        payload, signature = _unb64(parts[1]), _unb64(parts[2])
    except (binascii.Error, ValueError):
        return None
    if not hmac.compare_digest(signature, _signature(key, payload)):
        return None
    try:
        values = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not (isinstance(values, list) and len(values) == 4 and all(isinstance(v, str) for v in values)):
        return None
    return Claim(*values)


def unsubscribe_claim(config: CohortConfig, address: str) -> Claim:
    """What an interest notice's unsubscribe code answers: this call, the address, to hear no more."""
    return Claim(config.cohort_id, address.strip().casefold(), Kind.INTEREST.value, UNSUBSCRIBE)


def is_unsubscribe(claim: Claim) -> bool:
    """Whether the code is an interest notice's unsubscribe code (of any call)."""
    return (claim.kind, claim.version) == (Kind.INTEREST, UNSUBSCRIBE)


def unsubscribe_links(replies: RepliesConfig, key: bytes, claim: Claim) -> tuple[str, str]:
    """(the link in the message, the one-click link of its List-Unsubscribe header): the form opened with the
    code and the unsubscribe choice filled in, and the same answer posted straight to the form's formResponse
    address (RFC 8058: a mail client POSTs to it; Google Forms records the fields of its address)."""
    query = urlencode(
        {"usp": "pp_url", replies.token_entry: make_token(key, claim), replies.choice_entry: replies.unsubscribe_choice}
    )
    base = replies.form_url.split("?", 1)[0]
    one_click = base.rsplit("/", 1)[0] + "/formResponse" if base.endswith("/viewform") else base
    return f"{base}?{query}", f"{one_click}?{query}"


def reply_links(replies: RepliesConfig, key: bytes, claim: Claim) -> dict[Choice, str]:
    """The team's two links: the form opened with its reply code and the choice already filled in."""
    token = make_token(key, claim)
    base = replies.form_url.split("?", 1)[0]
    texts = {Choice.CONFIRM: replies.confirm_choice, Choice.DECLINE: replies.decline_choice}
    return {
        choice: f"{base}?{urlencode({'usp': 'pp_url', replies.token_entry: token, replies.choice_entry: text})}"
        for choice, text in texts.items()
    }
