"""Secrets and applicant PII: the whole pipeline with recognisable fake secrets and PII, then a scan of everything.

The service-account key (a real RSA key made for the test) sits in a Prefect Secret block, as the staff guide
says; the SMTP password comes from an environment variable and the SMTP server requires it. The flows read the
Google Sheet (through a local Sheets API and token endpoint), select, write back, and send over SMTP, with
Prefect told to persist results by default. Then logs, artifacts, flow and task run records, persisted results,
console output, the state store, the sheet and every output file are searched: no secret anywhere; PII only in
the files meant to hold it (decisions, intake, report, outbox, store, sheet, the messages themselves).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import inspect
import json
import logging
import re
import secrets
import threading
import types
import typing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from examples.generate import HEADERS
from tests.support.configs import make_config
from tests.support.corpus import answers, line
from tests.support.sheets import GOOGLE_HOSTS, FakeSheetsServer, LocalRedirectAdapter
from tests.support.smtp import RecordingHandler, free_port

PII = re.compile("zqxpii", re.IGNORECASE)  # every applicant name, address and phone below carries it
KEY = "1SecretsTestSpreadsheetKey0123456789"
TAB = "Form Responses 1"
SELECT_AS_OF = "2021-06-08 09:00"  # on the cohort's clock, as staff type it in the UI
NOTIFY_AS_OF = "2021-06-22 09:00"  # after notify_by
FAILING = "casey.zqxpii@local2.example.org"
IAM = "https://iamcredentials.googleapis.com/"


def applicants() -> list[list[str]]:
    """Four teams whose people are all marked; one lead address is refused by the server, one row is invalid."""
    people = []
    for n, (lead, state) in enumerate([("avery", "Ohio"), ("casey", "Texas"), ("dale", "Iowa"), ("erin", "Utah")], 1):
        address = f"{lead}.zqxpii@local{n}.example.org"
        people.append(
            answers(
                n,
                State=state,
                **{
                    "Team lead name": f"{lead.title()} Zqxpii",
                    "Team lead email": address,
                    "Email Address": f"clerk.zqxpii@local{n}.example.org",
                    "Team lead phone": f"(518) 555-01{n}0 zqxpii",
                    "Team member 2 name": f"Member{n} Zqxpii",
                    "Team member 2 email": f"member{n}.zqxpii@local{n}.example.org",
                },
            )
        )
    people[2]["Team lead email"] = "dale.zqxpii@; other.zqxpii@local3.example.org"  # invalid: quoted in its reason
    return [list(HEADERS), *(line(p) for p in people)]


# ---------------------------------------------------------------------------- fake secrets and their servers


class ServiceAccount:
    """A real RSA key pair and a key file around it, with a token endpoint on 127.0.0.1 that checks its JWTs."""

    def __init__(self) -> None:
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        self.key_id = "keyid-" + secrets.token_hex(12)
        lines = pem.splitlines()[1:-1]
        self.fragments = [lines[i][8:48] for i in (3, len(lines) // 2, len(lines) - 3)]  # 40-char pieces
        self.assertions: list[str] = []
        self.lookups: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.token_uri = f"{self.base_url}/token"
        self.info = {
            "type": "service_account",
            "project_id": "cohort-select-test",
            "private_key_id": self.key_id,
            "private_key": pem,
            "client_email": "cohort-select@cohort-select-test.iam.gserviceaccount.com",
            "client_id": "100000000000000000001",
            "token_uri": self.token_uri,
        }

    def _handler(self):
        account = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                account.assertions.append(parse_qs(body)["assertion"][0])
                data = json.dumps({"access_token": "ya29.test-token", "expires_in": 3600, "token_type": "Bearer"})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data.encode())

            def do_GET(self):  # google-auth's look-up of the account's allowed locations
                data = json.dumps({"encodedLocations": "0x0", "locations": []})
                account.lookups.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data.encode())

            def log_message(self, *args):
                pass

        return Handler

    def signed_by_this_key(self, jwt: str) -> bool:
        head, claims, signature = jwt.split(".")
        pad = "=" * (-len(signature) % 4)
        try:
            self.private.public_key().verify(
                base64.urlsafe_b64decode(signature + pad),
                f"{head}.{claims}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except Exception:
            return False
        return True

    def __enter__(self) -> ServiceAccount:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class AuthSmtp:
    """aiosmtpd on 127.0.0.1 that requires AUTH with the test password and refuses one recipient for good."""

    def __init__(self, username: str, password: str) -> None:
        self.handler = RecordingHandler()
        self.handler.rcpt_replies[FAILING] = ["550 5.1.1 no such user"] * 5
        self.logins: list[tuple[bytes, bool]] = []
        self.port = free_port()

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login == username.encode() and auth_data.password == password.encode()
            self.logins.append((auth_data.login, ok))
            return AuthResult(success=ok)

        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            enable_SMTPUTF8=True,
            authenticator=authenticator,
            auth_required=True,
            auth_require_tls=False,
        )

    def __enter__(self) -> AuthSmtp:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


# ---------------------------------------------------------------------------- static rules


def _flows() -> list:
    from flows.intake import intake
    from flows.promote_waitlist import promote_waitlist
    from flows.select_cohort import select_cohort
    from flows.send_notices import send_notices
    from flows.simulate import simulate

    return [intake, select_cohort, send_notices, promote_waitlist, simulate]


PLAIN = (str, bool, int, float, dt.datetime, type(None))


def _plain(annotation) -> bool:
    if annotation in PLAIN:
        return True
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _plain(args[0])
    if origin is typing.Literal:
        return all(isinstance(a, str) for a in args)
    if origin in (typing.Union, types.UnionType, list, tuple):
        return all(_plain(a) for a in args if a is not Ellipsis)
    return False


@pytest.mark.parametrize("flow", _flows(), ids=lambda f: f.name)
def test_flow_parameters_are_plain_values_never_secrets_or_applicant_data(flow):
    hints = typing.get_type_hints(flow.fn, include_extras=True)
    for name in inspect.signature(flow.fn).parameters:
        assert _plain(hints[name]), f"{flow.name}: parameter {name} is {hints[name]} (the UI shows parameters)"
        assert not re.search(r"password|secret|token|credential|key|email|applicant", name), f"{flow.name}: {name}"
    assert "config_path" in inspect.signature(flow.fn).parameters


def test_no_task_persists_or_caches_its_result():
    from prefect import Task

    import flows.steps

    tasks = [obj for obj in vars(flows.steps).values() if isinstance(obj, Task)]
    assert len(tasks) >= 20
    for task in tasks:
        assert task.persist_result is False, f"task {task.name!r} may persist applicant data"
        assert task.cache_policy in (None, flows.steps.NONE), f"task {task.name!r} has a cache policy"


# ---------------------------------------------------------------------------- the whole pipeline, then the scan


def _flush_logs() -> None:
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()


def _prefect_records(flow_run_ids: list) -> dict[str, str]:
    """Every log, artifact, flow run and task run of these runs, as JSON text, keyed by what it is."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )

    found: dict[str, str] = {}
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=flow_run_ids)), limit=200)
        found["logs"] = "\n".join(log.message for log in logs)
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=flow_run_ids)), limit=200
        )
        found["artifacts"] = "\n".join(a.model_dump_json() for a in artifacts)
        runs = FlowRunFilter(id=FlowRunFilterId(any_=flow_run_ids))
        found["flow runs"] = "\n".join(r.model_dump_json() for r in client.read_flow_runs(flow_run_filter=runs))
        found["task runs"] = "\n".join(
            t.model_dump_json() for t in client.read_task_runs(flow_run_filter=runs, limit=200)
        )
    found["log count"] = str(len(logs))
    return found


def _around(pattern: re.Pattern, text: str) -> list[str]:
    return [text[max(0, m.start() - 80) : m.end() + 20] for m in pattern.finditer(text)][:2]


def _files(folder: Path) -> dict[str, str]:
    return {str(p): p.read_bytes().decode("utf-8", errors="replace") for p in folder.rglob("*") if p.is_file()}


def _results(folder: Path) -> dict[str, str]:
    """Persisted result records, with their base64 payloads (pickles, JSON) decoded so their text can be searched."""
    found = {}
    for name, text in (_files(folder) if folder.exists() else {}).items():
        parts = [text]
        try:
            record = json.loads(text)
        except json.JSONDecodeError:
            record = None
        for value in [text, *_strings(record)]:  # a whole file, or a field, may be base64
            with contextlib.suppress(ValueError):
                parts.append(base64.b64decode(re.sub(r"\s", "", value), validate=True).decode("utf-8", "replace"))
        found[name] = "\n".join(parts)
    return found


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_no_secret_anywhere_and_pii_only_where_it_belongs(prefect_server, tmp_path, monkeypatch, capfd, caplog):
    from prefect.blocks.system import Secret
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, PREFECT_RESULTS_PERSIST_BY_DEFAULT, temporary_settings

    import tasks.sheets
    from flows.intake import intake
    from flows.select_cohort import select_cohort
    from flows.send_notices import send_notices
    from schemas.config import load_config
    from tasks.sheets import service_account_client

    caplog.set_level(logging.INFO)
    password = "smtp-pw-" + secrets.token_hex(16)
    block = "secrets-test-" + secrets.token_hex(4)
    monkeypatch.setenv("COHORT_TEST_SMTP_SECRET", password)
    results = tmp_path / "prefect-results"
    with (
        ServiceAccount() as account,
        AuthSmtp("mailer@example.org", password) as smtp,
        FakeSheetsServer() as sheets,
    ):
        Secret(value=account.info).save(block, overwrite=True)  # as staff paste the key file's JSON in the UI
        sheets.add_spreadsheet(KEY, {TAB: applicants()})
        email = {
            "sender": "ESP Peer Mentoring <esp-mentoring@example.org>",
            "smtp": {
                "host": "127.0.0.1",
                "port": smtp.port,
                "security": "none",
                "username": "mailer@example.org",
                "password": {"env": "COHORT_TEST_SMTP_SECRET"},
            },
        }
        source = {"kind": "google_sheet", "key": KEY, "worksheet": TAB, "credentials": {"prefect_secret": block}}
        _, config_path = make_config(tmp_path, smtp.port, source=source, email=email)

        def local_client(credentials_json: str):
            """The real client from the real key; only the Google hosts are redirected to 127.0.0.1."""
            client = service_account_client(credentials_json)
            session = client.http_client.session
            session.trust_env = False
            for prefix in GOOGLE_HOSTS:
                session.mount(prefix, LocalRedirectAdapter(sheets.base_url))
            session._auth_request_session.trust_env = False  # google-auth's own requests (token, locations)
            session._auth_request_session.mount(IAM, LocalRedirectAdapter(account.base_url))
            return client

        monkeypatch.setattr(tasks.sheets, "service_account_client", local_client)
        out = tmp_path / "out"
        settings = {PREFECT_RESULTS_PERSIST_BY_DEFAULT: True, PREFECT_LOCAL_STORAGE_PATH: str(results)}
        with temporary_settings(updates=settings):
            states = [
                intake(config_path=str(config_path), out_dir=str(out / "intake"), return_state=True),
                select_cohort(
                    config_path=str(config_path), out_dir=str(out / "select"), as_of=SELECT_AS_OF, return_state=True
                ),
                send_notices(
                    config_path=str(config_path),
                    out_dir=str(out / "notices"),
                    send=True,
                    require_approval=False,
                    as_of=NOTIFY_AS_OF,
                    return_state=True,
                ),
            ]
        assert [s.is_completed() for s in states] == [True, True, True], [s.message for s in states]
        report = states[2].result()
        _flush_logs()
        sheet_values = json.dumps(sheets.values(KEY, "Decisions"))
        received = [m.message.as_string() for m in smtp.handler.received]

    # The secrets were really used: the SMTP login and the JWTs signed with the key from the Secret block.
    assert smtp.logins and all(ok for _, ok in smtp.logins)
    assert account.assertions and all(account.signed_by_this_key(jwt) for jwt in account.assertions)
    assert len(account.assertions) == 1, "the runs' reads and the write-back share one client and its access token"
    assert len(received) == 2 and report.failed and report.problems  # one refused by the server, one invalid row

    config = load_config(config_path)
    records = _prefect_records([s.state_details.flow_run_id for s in states])
    assert int(records.pop("log count")) > 10, "the scan must see the runs' logs"
    assert "Selection summary" in records["logs"] and "notices" in records["artifacts"]
    console = capfd.readouterr()
    store = Path(config.database_url.removeprefix("sqlite:///"))
    outputs = _files(out)
    stored_results = _results(results)

    not_for_pii = {
        **{f"prefect {what}": text for what, text in records.items()},
        "console": console.out + console.err,
        "python log records": "\n".join(  # but the test SMTP server's own log of what it received
            r.getMessage() for r in caplog.records if not r.name.startswith("mail.log")
        ),
        **{f"persisted result {name}": text for name, text in stored_results.items()},
        "summary.json": outputs[str(out / "select" / "summary.json")],
    }
    everything = {
        **not_for_pii,
        **outputs,
        **{f"store {p.name}": p.read_bytes().decode("utf-8", "replace") for p in store.parent.glob(store.name + "*")},
        "Decisions sheet": sheet_values,
        **{f"message {i}": text for i, text in enumerate(received)},
    }
    needles = [password, account.key_id, *account.fragments]
    leaks = [(where, needle[:12]) for where, text in everything.items() for needle in needles if needle in text]
    assert not leaks, f"secrets found: {leaks}"
    pii = {where: _around(PII, text) for where, text in not_for_pii.items() if PII.search(text)}
    assert not pii, f"applicant PII outside the outputs meant to hold it: {pii}"
    # The scan can see PII: it is where it belongs.
    for meant in ("select/decisions.csv", "intake/intake.csv", "select/report.html", "notices/outbox/index.csv"):
        assert PII.search(outputs[str(out / meant)]), meant
    assert PII.search(everything[f"store {store.name}"] + everything.get(f"store {store.name}-wal", ""))
    assert PII.search(sheet_values)


MARKED_KEY = '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\nS3CRETKEYTEXT\\n"}'


@pytest.mark.parametrize(
    "text",
    [
        "\ufeff" + MARKED_KEY,  # saved with a BOM
        MARKED_KEY[:-1],  # cut short
        "private_key: S3CRETKEYTEXT\nclient_email: x@y.iam.gserviceaccount.com",  # YAML, not JSON
        "S3CRETKEYTEXT",  # a bare secret where the key or its path belongs
        '["S3CRETKEYTEXT"]',
        MARKED_KEY,  # JSON, but not a usable key
    ],
    ids=["bom", "truncated", "yaml", "bare", "list", "unusable"],
)
def test_a_bad_service_account_key_is_refused_without_quoting_it(text):
    from tasks.sheets import SourceError, service_account_client

    with pytest.raises(SourceError) as caught:
        service_account_client(text)
    assert "S3CRET" not in str(caught.value)
    assert "service-account key" in str(caught.value)


def test_one_client_per_service_account_key(tmp_path):
    """The same key gives the same client, given as JSON or as a key file (read on each call); another key, another."""
    from tasks.sheets import service_account_client

    with ServiceAccount() as account, ServiceAccount() as other:
        text = json.dumps(account.info)
        key_file = tmp_path / "key.json"
        key_file.write_text(text, encoding="utf-8")
        client = service_account_client(text)
        assert service_account_client(text) is client
        assert service_account_client(str(key_file)) is client
        assert service_account_client(json.dumps(other.info)) is not client
        key_file.write_text(json.dumps(other.info), encoding="utf-8")
        assert service_account_client(str(key_file)) is not client
