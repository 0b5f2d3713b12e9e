"""Fuzzing the JSON API from its own OpenAPI schema (schemathesis): no request may make a 5xx.

A real server on a copy of the pipeline month, on SQLite and (the same rows copied) on
PostgreSQL, which refuses things SQLite takes (a NUL in text, say).  Every generated request
carries a signed-in session (cookie and ``X-CSRF-Token``) so the code behind the sign-in is
reached: a supervisor's, and an operator's for what only operators do.  ``DELETE
/api/session`` would end that session, so it runs on a throwaway one.  The pages' forms and
query strings, which the schema does not describe, are fuzzed after.  Hypothesis runs
derandomized: the same requests on every run.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from callmon.config import load_config
from callmon.store.db import open_store
from callmon.store.models import Base
from callmon.web.app import create_app
from tests.webapp import PASSWORDS, add_accounts, copy_db, serve, web_config

MAX_EXAMPLES = 20  # per API operation and target
PAGE_EXAMPLES = 15  # per page
USERS = ("sup", "op1")  # a supervisor decides; an operator disputes
TARGETS = ("sqlite-sup", "sqlite-op1", "postgresql-sup")


@dataclass
class Api:
    base: str
    sessions: dict[str, tuple[str, str]]  # user -> (session cookie, CSRF token)


def sign_in(base: str, user: str) -> tuple[str, str]:
    r = httpx.post(base + "/api/session", json={"username": user, "password": PASSWORDS[user]}, timeout=30)
    assert r.status_code == 200, r.text
    return r.cookies["callmon_session"], r.json()["csrf"]


def _serve_api(url: str) -> Iterator[Api]:
    add_accounts(url)
    cfg = web_config(url)
    cfg.web.login_max_failures = 10**6  # generated sign-ins fail by the hundred; throttling is tested elsewhere
    with serve(cfg) as base:
        yield Api(base, {user: sign_in(base, user) for user in USERS})


@pytest.fixture(scope="module")
def month_copy(pipeline_db_template: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    return copy_db(pipeline_db_template, tmp_path_factory.mktemp("fuzz") / "month.db")


@pytest.fixture(scope="module")
def api(month_copy: str) -> Iterator[Api]:
    yield from _serve_api(month_copy)


@pytest.fixture(scope="module")
def pg_api(postgres_base: str | None, pipeline_db_template: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The pipeline month's rows copied into a fresh PostgreSQL schema, served."""
    if postgres_base is None:
        pytest.skip("no PostgreSQL reachable (set CALLMON_TEST_POSTGRES_URL)")
    source = open_store(copy_db(pipeline_db_template, tmp_path_factory.mktemp("fuzz-pg") / "month.db"))
    schema_name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema_name}"'))
    url = f"{postgres_base}{'&' if '?' in postgres_base else '?'}options=-csearch_path%3D{schema_name}"
    target = open_store(url)
    try:
        with Session(source) as read, Session(target) as write, write.begin():
            for table in Base.metadata.sorted_tables:
                rows = [dict(r._mapping) for r in read.execute(select(table))]
                if rows:
                    write.execute(table.insert(), rows)
            for table in Base.metadata.sorted_tables:  # ids were copied: move the sequences past them
                if "id" in table.c:
                    write.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                       f"COALESCE((SELECT max(id) FROM {table.name}), 0) + 1, false)"))
        yield from _serve_api(url)
    finally:
        target.dispose()
        source.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema_name}" CASCADE'))
        admin.dispose()


def test_schema_lists_the_whole_api(api: Api) -> None:
    """The fuzzing below covers what the schema lists: make sure that is every API route."""
    r = httpx.get(api.base + "/api/openapi.json", cookies={"callmon_session": api.sessions["sup"][0]})
    assert r.status_code == 200
    assert r.json() == DOCUMENT  # what is fuzzed below is what the server documents
    paths = r.json()["paths"]
    listed = {(m.upper(), p) for p, ops in paths.items() for m in ops}
    assert {("POST", "/api/session"), ("DELETE", "/api/session"), ("GET", "/api/calls/{call_id}/audio/{channel}"),
            ("POST", "/api/calls/{call_id}/review"), ("POST", "/api/disputes/{dispute_id}/resolve"),
            ("POST", "/api/calibration/{sample_id}/calls/{call_id}"), ("GET", "/api/users")} <= listed
    assert len(listed) == 18


def _schema_document() -> dict[str, Any]:
    """The OpenAPI document the app serves at /api/openapi.json (checked equal to the served one below).

    Built from the app at import time because schemathesis's fixture-based loader
    (``schemathesis.pytest.from_fixture``) does not work with this pytest (it sets
    ``request.node._nodeid``, gone in pytest 9); no database is touched to build it.
    """
    app = create_app(load_config(None), engine=create_engine("sqlite://"))
    return app.openapi()


DOCUMENT = _schema_document()
schema = schemathesis.openapi.from_dict(DOCUMENT)


@schema.parametrize()
@schema.given(data=st.data())
@pytest.mark.parametrize("target", TARGETS)
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_generated_request_gets_a_server_error(case: Any, data: st.DataObject, target: str,
                                                  request: pytest.FixtureRequest) -> None:
    backend, user = target.split("-")
    api: Api = request.getfixturevalue("api" if backend == "sqlite" else "pg_api")
    # half the time, ids of rows that exist (the month's calls, samples, disputes), so generated requests
    # reach past "not found" into the decisions themselves
    for name in ("call_id", "sample_id", "dispute_id"):
        if case.path_parameters and name in case.path_parameters and data.draw(st.booleans(), label=name):
            case.path_parameters[name] = data.draw(st.integers(min_value=1, max_value=20), label=name + " row")
    cookie, csrf = api.sessions[user]
    if case.method.upper() == "DELETE" and case.path == "/api/session":
        cookie, csrf = sign_in(api.base, user)  # a throwaway session: this one may well end it
    with requests.Session() as session:  # a fresh connection: one failure cannot spill into the next case
        response = case.call(base_url=api.base, session=session, headers={"X-CSRF-Token": csrf},
                             cookies={"callmon_session": cookie}, timeout=30)
    assert response.status_code < 500, (
        f"{target}: {case.method} {case.formatted_path} -> {response.status_code}\n"
        f"query={case.query} body={getattr(case, 'body', None)!r}\n{response.text[:500]}")


# --------------------------------------------------------------------------------------------
# the pages' forms and query strings are not in the schema: fuzzed here, field by field
# --------------------------------------------------------------------------------------------

HOSTILE = ["", " ", "²", "١٢", "０", "0000-01", "9999-12", "2026-11", "2026-13", "0000-01-01", "9999-12-31", "1e400",
           "-1", "0", "nan", "99999999999999999999999", "-99999999999999999999999", "1.5.5", "\x00", "%", "'--",
           "<script>", "a" * 5000]
ODD = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=24),
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)
PAGES = {  # user, method, path, fields
    "review form": ("sup", "POST", "/calls/{call}/review", ["score", "reason", "verdict:greeting", "verdict:rings"]),
    "dispute form": ("op1", "POST", "/calls/{call}/disputes", ["item_id", "reason"]),
    "resolve form": ("sup", "POST", "/disputes/{dispute}/resolve", ["accept", "reason"]),
    "draw form": ("sup", "POST", "/calibration", ["month", "percent"]),
    "blind form": ("sup", "POST", "/calibration/{sample}/calls/{call}", ["item:greeting", "item:element.who", "x"]),
    "queue": ("sup", "GET", "/queue", ["month", "operator", "reason", "min_score", "max_score", "state", "sort",
                                       "order", "page", "flagged", "date_from", "date_to"]),
    "own queue": ("op1", "GET", "/queue", ["month", "operator", "page", "flagged", "min_score"]),
    "search": ("sup", "GET", "/search", ["q", "month"]),
    "scorecard": ("sup", "GET", "/operators/{operator}", ["month"]),
    "disputes": ("sup", "GET", "/disputes", ["state"]),
    "audit": ("sup", "GET", "/audit", ["call_id"]),
    "login": ("", "POST", "/login", ["username", "password", "next"]),
}


@dataclass
class Rows:
    call: int
    sample: int
    dispute: int


@pytest.fixture(scope="module")
def rows(api: Api) -> Rows:
    """Rows the page routes act on: one of op1's calls, a calibration sample, an open dispute."""
    cookie, csrf = api.sessions["op1"]
    mine = httpx.get(api.base + "/api/calls", params={"flagged": "false", "limit": 500},
                     cookies={"callmon_session": cookie}).json()["items"]
    call = next(c["id"] for c in mine if c["score"] is not None)
    opened = httpx.post(f"{api.base}/api/calls/{call}/disputes", json={"item_id": "greeting", "reason": "fuzz"},
                        cookies={"callmon_session": cookie}, headers={"X-CSRF-Token": csrf})
    assert opened.status_code == 200, opened.text
    sup_cookie, sup_csrf = api.sessions["sup"]
    drawn = httpx.post(api.base + "/api/calibration", json={"month": mine[0]["answered_at"][:7], "percent": 100},
                       cookies={"callmon_session": sup_cookie}, headers={"X-CSRF-Token": sup_csrf})
    assert drawn.status_code == 200 and call in drawn.json()["calls"], drawn.text
    return Rows(call, drawn.json()["id"], opened.json()["id"])


def _page_request(api: Api, rows: Rows, page: str, values: dict[str, str]) -> httpx.Response:
    user, method, template, _ = PAGES[page]
    path = template.format(call=rows.call, sample=rows.sample, dispute=rows.dispute, operator="op1001")
    values = dict(values)
    cookies: dict[str, str] = {}
    if user:
        cookie, csrf = api.sessions[user]
        cookies["callmon_session"] = cookie
        if method == "POST":
            values["csrf"] = csrf
    else:  # the sign-in form: its double-submit token
        cookies["callmon_login_csrf"] = values["csrf"] = "fuzz-token"
    with httpx.Client(base_url=api.base, cookies=cookies, timeout=30) as client:
        return client.post(path, data=values) if method == "POST" else client.get(path, params=values)


def _check_page_answer(page: str, values: dict[str, str], r: httpx.Response) -> None:
    assert r.status_code < 500, f"{page}: {values!r} -> {r.status_code}\n{r.text[:300]}"
    if PAGES[page][0]:  # no input signs the user out or breaks through to another role's answer
        assert r.status_code in (200, 303, 409, 422), (page, values, r.status_code)


@pytest.mark.parametrize("page", sorted(set(PAGES) - {"login"}))  # sign-in: argon2 per request, random only
def test_every_page_field_with_every_hostile_value(page: str, api: Api, rows: Rows) -> None:
    """Each field alone with each value of HOSTILE: a deterministic sweep beside the random one below."""
    for field in PAGES[page][3]:
        for value in HOSTILE:
            _check_page_answer(page, {field: value}, _page_request(api, rows, page, {field: value}))


@pytest.mark.parametrize("page", sorted(PAGES))
@settings(max_examples=PAGE_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_no_page_input_gets_a_server_error(page: str, api: Api, rows: Rows, data: st.DataObject) -> None:
    values = data.draw(st.dictionaries(st.sampled_from(PAGES[page][3]), ODD, max_size=len(PAGES[page][3])),
                       label="fields")
    _check_page_answer(page, values, _page_request(api, rows, page, values))
