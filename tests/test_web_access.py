"""Who may see and do what in the review UI, against a real server on the real pipeline month.

The heart is one table: every route (JSON API and pages, both audio channels) times every
kind of visitor (anonymous, admin, supervisor, an operator on their own call, the same
operator on another operator's call, auditor), with the status each must get:

* anonymous: 401 from the API, a 303 to /login from a page;
* a role the route is for: 200 (206 for a ranged audio request), 204 or the form's 303;
* anyone else: 404, exactly as if the thing did not exist.

The rest checks the other promises one by one: CSRF, sign-in throttling, idle timeout,
disabled accounts, masking of numbers, audio playback in the audit trail, cookie flags,
security headers, no default account, and the ``callmon user`` command.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from starlette.routing import Mount, Route

from callmon.store import decisions
from callmon.store.db import open_store
from callmon.store.models import Call, Score, Transcript
from callmon.store.review_models import AuditRecord, CalibrationSample, Dispute, User, WebSession
from callmon.web.app import create_app
from tests.webapp import PASSWORDS, add_accounts, copy_db, serve, web_config

ROLES = ("anonymous", "admin", "supervisor", "operator_own", "operator_other", "auditor")
USER_OF = {"admin": "admin", "supervisor": "sup", "operator_own": "op1", "operator_other": "op1", "auditor": "aud"}
VIEWERS = frozenset({"supervisor", "operator_own", "operator_other", "auditor"})
CALL_VIEWERS = frozenset({"supervisor", "operator_own", "auditor"})  # of one particular call
SIGNED_IN = frozenset(ROLES) - {"anonymous"}
OWN, OTHER = "op1001", "op1002"  # the member names of op1 and op2
LONG_NUMBER = re.compile(r"[0-9]{8,}")


# --------------------------------------------------------------------------------------------
# a signed-in browser, and the site the table runs against
# --------------------------------------------------------------------------------------------

@dataclass
class Browser:
    client: httpx.Client
    csrf: str
    username: str


def sign_in(base: str, username: str, password: str | None = None) -> Browser:
    client = httpx.Client(base_url=base, timeout=30)
    r = client.post("/api/session", json={"username": username, "password": password or PASSWORDS[username]})
    assert r.status_code == 200, (username, r.status_code, r.text)
    return Browser(client, r.json()["csrf"], username)


def anonymous(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, timeout=30)


@dataclass
class Site:
    base: str
    url: str
    engine: Engine
    browsers: dict[str, Browser]
    own_call: int  # op1001's, with both channels recorded
    other_call: int  # op1002's, with both channels recorded
    month: str
    sample_id: int

    def browser(self, role: str) -> Browser:
        return self.browsers[USER_OF[role]]

    def call_for(self, role: str) -> int:
        return self.other_call if role == "operator_other" else self.own_call

    def operator_for(self, role: str) -> str:
        return OTHER if role == "operator_other" else OWN

    def free_item(self, call_id: int) -> str:
        """An item of the call with no open dispute (so a new dispute on it can be opened)."""
        with Session(self.engine) as session:
            score = session.scalars(select(Score).where(Score.call_id == call_id)).one()
            taken = set(session.scalars(select(Dispute.item_id).where(Dispute.call_id == call_id,
                                                                      Dispute.state == "open")))
            free = [str(i["id"]) for i in score.items if str(i["id"]) not in taken]
        assert free, f"call {call_id}: every item has an open dispute already"
        return free[0]

    def open_dispute(self) -> int:
        """A fresh open dispute by op1 on one of op1's scored calls, made in the store."""
        with Session(self.engine) as session, session.begin():
            calls = session.scalars(select(Call.id).join(Score, Score.call_id == Call.id)
                                    .where(Call.operator == OWN, Score.score.is_not(None)).order_by(Call.id))
            for call_id in calls:
                score = session.scalars(select(Score).where(Score.call_id == call_id)).one()
                taken = set(session.scalars(select(Dispute.item_id).where(Dispute.call_id == call_id,
                                                                          Dispute.state == "open")))
                free = [str(i["id"]) for i in score.items if str(i["id"]) not in taken]
                if free:
                    return decisions.open_dispute(session, call_id, free[0], "op1", OWN, "setup", 7).id
        raise AssertionError("no item left to dispute")


def recorded_calls(engine: Engine, operator: str) -> list[int]:
    """The operator's calls with a transcribed recording on both channels."""
    with Session(engine) as session:
        rows = session.execute(select(Transcript.call_id, Transcript.channel).join(Call, Call.id == Transcript.call_id)
                               .where(Call.operator == operator)).all()
    channels: dict[int, set[str]] = {}
    for call_id, channel in rows:
        channels.setdefault(call_id, set()).add(channel)
    return sorted(c for c, chans in channels.items() if {"operator", "caller"} <= chans)


def month_of(engine: Engine, call_id: int, cfg_tz: Any) -> str:
    with Session(engine) as session:
        first = session.get(Call, call_id).first_event_us  # type: ignore[union-attr]
    assert first is not None
    return datetime.fromtimestamp(first / 1e6, cfg_tz).strftime("%Y-%m")


@pytest.fixture(scope="module")
def site(pipeline_db_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    url = copy_db(pipeline_db_template, tmp_path_factory.mktemp("access") / "month.db")
    add_accounts(url)
    cfg = web_config(url)
    engine = open_store(url)
    own, other = recorded_calls(engine, OWN), recorded_calls(engine, OTHER)
    assert own and other, "the pipeline month should have recorded calls of op1001 and op1002"
    month = month_of(engine, own[0], cfg.tz)
    with serve(cfg) as base:
        browsers = {name: sign_in(base, name) for name in PASSWORDS}
        sup = browsers["sup"]
        drawn = sup.client.post("/api/calibration", json={"month": month, "percent": 100},
                                headers={"X-CSRF-Token": sup.csrf})
        assert drawn.status_code == 200, drawn.text
        assert own[0] in drawn.json()["calls"] and other[0] in drawn.json()["calls"]
        yield Site(base, url, engine, browsers, own[0], other[0], month, drawn.json()["id"])
        for b in browsers.values():
            b.client.close()
    engine.dispose()


# --------------------------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class R:
    """One route: method, path (the app's parameter names), who is served and with what status."""

    method: str
    path: str
    ok: frozenset[str]
    status: int = 200
    channel: str = ""
    query: str = ""
    body: str = ""  # which request body to send (see ``body_for``)
    range: bool = False

    @property
    def api(self) -> bool:
        return self.path.startswith("/api/")

    def id(self) -> str:
        return f"{self.method} {self.path.replace('{channel}', self.channel)}{'?' + self.query if self.query else ''}" \
               f"{' (Range)' if self.range else ''}"


SUP = frozenset({"supervisor"})
SUP_AUD = frozenset({"supervisor", "auditor"})
AUDIT_READERS = frozenset({"admin", "supervisor", "auditor"})
ADMIN = frozenset({"admin"})
OWN_OPERATOR = frozenset({"operator_own"})

TABLE = [
    # JSON API
    R("GET", "/api/me", SIGNED_IN),
    R("GET", "/api/openapi.json", SIGNED_IN),
    R("GET", "/api/calls", VIEWERS, query="flagged=false&month={month}"),
    R("GET", "/api/calls/{call_id}", CALL_VIEWERS),
    R("GET", "/api/calls/{call_id}/audio/{channel}", CALL_VIEWERS, channel="operator"),
    R("GET", "/api/calls/{call_id}/audio/{channel}", CALL_VIEWERS, channel="caller"),
    R("GET", "/api/calls/{call_id}/audio/{channel}", CALL_VIEWERS, 206, channel="operator", range=True),
    R("GET", "/api/calls/{call_id}/audio/{channel}", CALL_VIEWERS, 206, channel="caller", range=True),
    R("POST", "/api/calls/{call_id}/review", SUP, body="review"),
    R("POST", "/api/calls/{call_id}/disputes", OWN_OPERATOR, body="dispute"),
    R("GET", "/api/disputes", VIEWERS),
    R("POST", "/api/disputes/{dispute_id}/resolve", SUP, body="resolve"),
    R("GET", "/api/operators/{operator}/scorecard", CALL_VIEWERS, query="month={month}"),
    R("GET", "/api/search", VIEWERS, query="q=%E4%BD%A0%E5%A5%BD"),  # 你好
    R("POST", "/api/calibration", SUP, body="draw"),
    R("GET", "/api/calibration/{sample_id}", SUP),
    R("POST", "/api/calibration/{sample_id}/calls/{call_id}", SUP, body="blind"),
    R("GET", "/api/calibration/{sample_id}/agreement", SUP_AUD),
    R("GET", "/api/audit", AUDIT_READERS),
    R("GET", "/api/users", ADMIN),
    # pages
    R("GET", "/login", frozenset(ROLES)),
    R("GET", "/", SIGNED_IN, 303),
    R("GET", "/queue", VIEWERS, query="month={month}&flagged=0"),
    R("GET", "/calls/{call_id}", CALL_VIEWERS),
    R("POST", "/calls/{call_id}/review", SUP, 303, body="review_form"),
    R("POST", "/calls/{call_id}/disputes", OWN_OPERATOR, 303, body="dispute_form"),
    R("GET", "/disputes", VIEWERS),
    R("POST", "/disputes/{dispute_id}/resolve", SUP, 303, body="resolve_form"),
    R("GET", "/operators/{operator}", CALL_VIEWERS, query="month={month}"),
    R("GET", "/search", VIEWERS, query="q=%E4%BD%A0%E5%A5%BD"),
    R("GET", "/calibration", SUP_AUD),
    R("POST", "/calibration", SUP, 303, body="draw_form"),
    R("GET", "/calibration/{sample_id}", SUP),
    R("GET", "/calibration/{sample_id}/calls/{call_id}", SUP),
    R("POST", "/calibration/{sample_id}/calls/{call_id}", SUP, 303, body="blind_form"),
    R("GET", "/audit", AUDIT_READERS),
    R("GET", "/admin/users", ADMIN),
    R("GET", "/exports", SUP_AUD),
    R("GET", "/live", SUP),
    R("GET", "/api/live", SUP, 503),  # the board lives in `callmon run`; this app is `callmon web` alone
    R("GET", "/api/live/stream", SUP, 503),
    R("GET", "/exports/{month}.{fmt}", SUP_AUD, channel="pdf"),
    R("GET", "/exports/{month}.{fmt}", SUP_AUD, channel="zip"),
]
# tested on their own below, as they end the session or start one
OPS_ROUTES = {"/healthz", "/readyz", "/metrics"}  # callmon/ops/health.py, tested there and above
SESSION_ROUTES = {("POST", "/api/session"), ("DELETE", "/api/session"), ("POST", "/logout"), ("POST", "/login")}


def body_for(kind: str, site: Site, role: str, call_id: int, csrf: str) -> dict[str, Any]:
    bodies: dict[str, dict[str, Any]] = {
        "": {},
        "review": {"json": {"reason": "access table: confirmed", "changes": {}}},
        "dispute": {"json": {"item_id": site.free_item(call_id), "reason": "access table dispute"}},
        "resolve": {"json": {"accept": False, "reason": "access table: rejected"}},
        "draw": {"json": {"month": site.month, "percent": 50}},
        "blind": {"json": {"items": {"greeting": True, "element.where": False}}},
        "review_form": {"data": {"reason": "access table: confirmed", "csrf": csrf}},
        "dispute_form": {"data": {"item_id": site.free_item(call_id), "reason": "access table dispute", "csrf": csrf}},
        "resolve_form": {"data": {"accept": "0", "reason": "access table: rejected", "csrf": csrf}},
        "draw_form": {"data": {"month": site.month, "percent": "50", "csrf": csrf}},
        "blind_form": {"data": {"item:greeting": "1", "item:element.where": "0", "csrf": csrf}},
    }
    return bodies[kind]


CASES = [pytest.param(route, role, id=f"{route.id()} as {role}") for route in TABLE for role in ROLES]


@pytest.mark.parametrize(("route", "role"), CASES)
def test_access_table(site: Site, route: R, role: str) -> None:
    call_id = site.call_for(role)
    values = {"call_id": call_id, "operator": site.operator_for(role), "sample_id": site.sample_id,
              "channel": route.channel, "month": site.month, "fmt": route.channel}
    if "{dispute_id}" in route.path:
        values["dispute_id"] = site.open_dispute()
    path = route.path.format(**values) + ("?" + route.query.format(month=site.month) if route.query else "")
    if role == "anonymous":
        client, csrf = anonymous(site.base), ""
    else:
        browser = site.browser(role)
        client, csrf = browser.client, browser.csrf
    headers = {"X-CSRF-Token": csrf} if route.api and route.method != "GET" and csrf else {}
    if route.range:
        headers["Range"] = "bytes=0-99"
    r = client.request(route.method, path, headers=headers, **body_for(route.body, site, role, call_id, csrf))
    where = f"{route.method} {path} as {role}"
    if role in route.ok:
        assert r.status_code == route.status, f"{where}: {r.status_code} {r.text[:300]}"
        if route.status == 303:
            assert not r.headers["location"].startswith("/login"), where
        if route.range:
            assert r.headers["content-range"].startswith("bytes 0-99/"), where
            assert len(r.content) == 100, where
        if route.path.startswith("/exports/"):
            assert r.content[:4] == (b"%PDF" if route.channel == "pdf" else b"PK\x03\x04"), where
        if "/audio/" in route.path and not route.range:
            assert r.content[:4] == b"RIFF" and r.headers["content-type"].startswith("audio/"), where
    elif role == "anonymous" and route.api:
        assert r.status_code == 401, f"{where}: {r.status_code} {r.text[:300]}"
        assert r.json() == {"detail": "sign-in required"}
    elif role == "anonymous":
        assert r.status_code == 303, f"{where}: {r.status_code} {r.text[:300]}"
        assert r.headers["location"].startswith("/login"), where
    else:
        assert r.status_code == 404, f"{where}: {r.status_code} {r.text[:300]}"


def app_routes(site: Site) -> list[tuple[str, str]]:
    """(method, path) of every route the app serves (included routers walked; static files excluded)."""
    app = create_app(web_config(site.url), engine=site.engine)
    out: list[tuple[str, str]] = []

    def walk(routes: list[Any]) -> None:
        for route in routes:
            if isinstance(route, Mount):
                continue
            included = getattr(route, "original_router", None)  # FastAPI >= 0.165 includes routers lazily
            if included is not None:
                walk(list(included.routes))
            elif isinstance(route, APIRoute | Route):
                out.extend((method, route.path) for method in sorted(route.methods or ()))

    walk(list(app.routes))
    assert len(out) > 30, out
    return out


def test_the_table_covers_every_route(site: Site) -> None:
    """A route added later without a row here (and so without an access decision) fails this test."""
    served = {(m, p) for m, p in app_routes(site) if m != "HEAD" and p not in OPS_ROUTES}
    in_table = {(r.method, r.path) for r in TABLE} | SESSION_ROUTES
    assert served - in_table == set(), "routes without an access-table row"
    assert in_table - served == set(), "table rows for routes that do not exist"


def test_nothing_but_login_static_and_healthz_is_served_without_a_session(site: Site) -> None:
    """Every route of the app, anonymously, with plausible parameters: only the public ones answer 2xx."""
    values = {"call_id": site.own_call, "operator": OWN, "sample_id": site.sample_id, "channel": "operator",
              "dispute_id": 1, "month": site.month, "fmt": "xlsx"}
    client = anonymous(site.base)
    public = {("GET", "/login"), ("GET", "/healthz"), ("GET", "/readyz")}
    for method, template in app_routes(site):
        path = template.format(**values)
        r = client.request(method, path, json={} if method in ("POST", "PUT", "PATCH") else None)
        if (method, template) in public or (method, template) == ("HEAD", "/login"):
            assert r.status_code == 200, path
        elif (method, template) == ("GET", "/metrics"):
            assert r.status_code == 404 and b"callmon_" not in r.content  # off without [http] metrics_token
        elif (method, template) in (("POST", "/api/session"), ("POST", "/login")):
            assert r.status_code in (401, 403, 422), (method, path, r.status_code)  # sign-in itself: no data
        elif path.startswith("/api/"):
            assert r.status_code == 401, (method, path, r.status_code, r.text[:200])
        else:
            assert r.status_code == 303 and r.headers["location"].startswith("/login"), (method, path, r.status_code)
    assert client.get("/static/app.css").status_code == 200
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/healthz").json() == {"status": "ok"}
    # yes/no per check and nothing else: no host, no counts, no versions
    assert client.get("/readyz").json() == {"ready": True, "checks": {"ami": True, "database": True,
                                                                      "backlog": True, "spool": True}}


# --------------------------------------------------------------------------------------------
# operators see their own calls only; admin sees no call; auditor changes nothing
# --------------------------------------------------------------------------------------------

def test_operator_typing_another_operators_call_url_gets_404(site: Site) -> None:
    """Every stored call, both operators, the call page, the call API and both audio URLs."""
    with Session(site.engine) as session:
        calls = {c.id: c.operator for c in session.scalars(select(Call))}
        recorded = {(t.call_id, t.channel) for t in session.scalars(select(Transcript))
                    if Path(t.file).is_file()}
    assert len(set(calls.values()) - {None}) >= 2
    missing = site.browser("supervisor").client.get("/api/calls/987654321")
    assert missing.status_code == 404
    for user, member in (("op1", OWN), ("op2", OTHER)):
        client = site.browsers[user].client
        for call_id, operator in calls.items():
            mine = operator == member
            page = client.get(f"/calls/{call_id}")
            api = client.get(f"/api/calls/{call_id}")
            assert page.status_code == (200 if mine else 404), (user, call_id)
            assert api.status_code == (200 if mine else 404), (user, call_id)
            if not mine:  # indistinguishable from a call that does not exist
                assert api.json() == missing.json()
            for channel in ("operator", "caller"):
                audio = client.get(f"/api/calls/{call_id}/audio/{channel}")
                expected = 200 if mine and (call_id, channel) in recorded else 404
                assert audio.status_code == expected, (user, call_id, channel, audio.status_code)
        # the list, search and scorecard are narrowed to their own calls whatever they ask for
        listed = client.get("/api/calls", params={"flagged": "false", "operator": OTHER if member == OWN else OWN,
                                                  "limit": 500})
        assert listed.status_code == 200
        assert {i["id"] for i in listed.json()["items"]} == {c for c, o in calls.items() if o == member}
        assert client.get(f"/api/operators/{OTHER if member == OWN else OWN}/scorecard").status_code == 404
        assert client.get(f"/operators/{OTHER if member == OWN else OWN}").status_code == 404


def test_supervisor_and_auditor_see_every_call_and_admin_none(site: Site) -> None:
    with Session(site.engine) as session:
        calls = set(session.scalars(select(Call.id)))
    for role in ("supervisor", "auditor"):
        client = site.browser(role).client
        listed = client.get("/api/calls", params={"flagged": "false", "limit": 500})
        assert {i["id"] for i in listed.json()["items"]} == calls
        for call_id in calls:
            assert client.get(f"/api/calls/{call_id}").status_code == 200
    admin = site.browser("admin").client
    assert admin.get("/api/calls").status_code == 404
    for call_id in calls:
        assert admin.get(f"/api/calls/{call_id}").status_code == 404
        assert admin.get(f"/calls/{call_id}").status_code == 404
        assert admin.get(f"/api/calls/{call_id}/audio/operator").status_code == 404


def _state(engine: Engine) -> tuple[Any, ...]:
    with Session(engine) as session:
        return (
            session.scalar(select(func.count()).select_from(Dispute)),
            session.scalar(select(func.count()).select_from(CalibrationSample)),
            tuple(session.execute(select(Score.call_id, Score.reviewed_score, Score.reviewed_by, Score.review_state)
                                  .order_by(Score.call_id)).all()),
            tuple(session.execute(select(Dispute.id, Dispute.state).order_by(Dispute.id)).all()),
            session.scalar(select(func.count()).select_from(AuditRecord).where(
                AuditRecord.action.not_in(("play", "sign_in")))),
        )


def test_auditor_is_read_only(site: Site) -> None:
    aud = site.browser("auditor")
    dispute = site.open_dispute()
    before = _state(site.engine)
    h = {"X-CSRF-Token": aud.csrf}
    c = site.own_call
    attempts: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", f"/api/calls/{c}/review", {"json": {"reason": "auditor tries", "changes": {}}}),
        ("POST", f"/api/calls/{c}/review", {"json": {"reason": "auditor tries", "score": 100}}),
        ("POST", f"/api/calls/{c}/disputes", {"json": {"item_id": "greeting", "reason": "auditor tries"}}),
        ("POST", f"/api/disputes/{dispute}/resolve", {"json": {"accept": True, "reason": "auditor tries"}}),
        ("POST", "/api/calibration", {"json": {"month": site.month, "percent": 100}}),
        ("POST", f"/api/calibration/{site.sample_id}/calls/{c}", {"json": {"items": {"greeting": True}}}),
        ("POST", f"/calls/{c}/review", {"data": {"reason": "auditor tries", "csrf": aud.csrf}}),
        ("POST", f"/calls/{c}/disputes", {"data": {"item_id": "greeting", "reason": "x", "csrf": aud.csrf}}),
        ("POST", f"/disputes/{dispute}/resolve", {"data": {"accept": "1", "reason": "x", "csrf": aud.csrf}}),
        ("POST", "/calibration", {"data": {"month": site.month, "percent": "100", "csrf": aud.csrf}}),
        ("POST", f"/calibration/{site.sample_id}/calls/{c}", {"data": {"item:greeting": "1", "csrf": aud.csrf}}),
    ]
    for method, path, kwargs in attempts:
        r = aud.client.request(method, path, headers=h, **kwargs)
        assert r.status_code == 404, (method, path, r.status_code)
    assert _state(site.engine) == before
    # what they may read, they can
    assert aud.client.get(f"/api/calls/{c}").status_code == 200
    assert aud.client.get("/api/audit").status_code == 200
    assert aud.client.get(f"/api/calibration/{site.sample_id}/agreement").status_code == 200


# --------------------------------------------------------------------------------------------
# CSRF
# --------------------------------------------------------------------------------------------

def test_api_changes_need_the_sessions_csrf_header(site: Site) -> None:
    sup, other_sup, op = site.browsers["sup"], site.browsers["sup2"], site.browsers["op1"]
    assert sup.csrf != other_sup.csrf
    before = _state(site.engine)
    c = site.own_call
    dispute = site.open_dispute()
    before = _state(site.engine)
    attempts: list[tuple[Browser, str, str, dict[str, Any]]] = [
        (sup, "POST", f"/api/calls/{c}/review", {"json": {"reason": "no token", "changes": {}}}),
        (sup, "POST", f"/api/disputes/{dispute}/resolve", {"json": {"accept": True, "reason": "no token"}}),
        (sup, "POST", "/api/calibration", {"json": {"month": site.month}}),
        (sup, "POST", f"/api/calibration/{site.sample_id}/calls/{c}", {"json": {"items": {"greeting": True}}}),
        (op, "POST", f"/api/calls/{c}/disputes", {"json": {"item_id": site.free_item(c), "reason": "no token"}}),
        (sup, "DELETE", "/api/session", {}),
    ]
    for who, method, path, kwargs in attempts:
        for headers in ({}, {"X-CSRF-Token": ""}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": other_sup.csrf},
                        {"X-CSRF-Token": who.csrf + "x"}):
            r = who.client.request(method, path, headers=headers, **kwargs)
            assert r.status_code == 403, (method, path, headers, r.status_code)
    assert _state(site.engine) == before
    assert sup.client.get("/api/me").status_code == 200  # the refused sign-out did not end the session
    # the token in a form field does not stand in for the header on the API
    r = sup.client.post(f"/api/calls/{c}/review", json={"reason": "ok", "changes": {}}, params={"csrf": sup.csrf})
    assert r.status_code == 403
    ok = sup.client.post(f"/api/calls/{c}/review", json={"reason": "with the token", "changes": {}},
                         headers={"X-CSRF-Token": sup.csrf})
    assert ok.status_code == 200


def test_form_posts_need_the_sessions_csrf_field(site: Site) -> None:
    sup, other_sup, op = site.browsers["sup"], site.browsers["sup2"], site.browsers["op1"]
    c = site.own_call
    dispute = site.open_dispute()
    before = _state(site.engine)
    forms: list[tuple[Browser, str, dict[str, str]]] = [
        (sup, f"/calls/{c}/review", {"reason": "no token"}),
        (sup, f"/disputes/{dispute}/resolve", {"accept": "1", "reason": "no token"}),
        (sup, "/calibration", {"month": site.month, "percent": "100"}),
        (sup, f"/calibration/{site.sample_id}/calls/{c}", {"item:greeting": "1"}),
        (op, f"/calls/{c}/disputes", {"item_id": site.free_item(c), "reason": "no token"}),
        (sup, "/logout", {}),
    ]
    for who, path, data in forms:
        for token in (None, "", "wrong", other_sup.csrf):
            form = dict(data) if token is None else {**data, "csrf": token}
            # the header alone does not do for a form either
            r = who.client.post(path, data=form, headers={"X-CSRF-Token": who.csrf})
            assert r.status_code == 403, (path, token, r.status_code)
            assert "text/html" in r.headers["content-type"]
    assert _state(site.engine) == before
    assert sup.client.get("/api/me").status_code == 200


def test_login_form_uses_a_double_submit_cookie(site: Site) -> None:
    client = anonymous(site.base)
    form = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    cookie = client.cookies.get("callmon_login_csrf")
    assert cookie == token.group(1)
    creds = {"username": "sup", "password": PASSWORDS["sup"]}
    # no cookie / wrong field / no field: refused before the password is even looked at
    bare = anonymous(site.base)
    assert bare.post("/login", data={**creds, "csrf": token.group(1)}).status_code == 403
    assert client.post("/login", data={**creds, "csrf": "not-the-cookie"}).status_code == 403
    assert client.post("/login", data=creds).status_code == 403
    assert client.cookies.get("callmon_session") is None
    r = client.post("/login", data={**creds, "csrf": token.group(1)})
    assert r.status_code == 303 and r.headers["location"] == "/queue"
    assert client.get("/api/me").json()["username"] == "sup"


def _browser_target(base: str, location: str) -> httpx.URL:
    """Where a browser goes with this Location: WHATWG URL parsing drops tabs and newlines and reads a
    backslash as a slash in http(s) URLs (urllib does neither)."""
    cleaned = location.replace("\t", "").replace("\n", "").replace("\r", "").replace("\\", "/")
    return httpx.URL(base).join(cleaned)


@pytest.mark.parametrize("target", ["//evil.example/", "/\\evil.example/", "https://evil.example/",
                                    "/\\/evil.example/", "\\\\evil.example", "/\t/evil.example/",
                                    "///evil.example/", "http:evil.example"])
def test_sign_in_never_redirects_off_site(site: Site, target: str) -> None:
    client = anonymous(site.base)
    client.get("/login", params={"next": target})
    token = client.cookies["callmon_login_csrf"]
    r = client.post("/login", data={"username": "aud", "password": PASSWORDS["aud"], "csrf": token, "next": target})
    assert r.status_code == 303
    went = _browser_target(site.base, r.headers["location"])
    assert went.host == httpx.URL(site.base).host and went.port == httpx.URL(site.base).port, r.headers["location"]


def test_sign_in_goes_back_to_the_page_asked_for(site: Site) -> None:
    client = anonymous(site.base)
    asked = client.get(f"/calls/{site.own_call}")
    assert asked.status_code == 303 and asked.headers["location"] == f"/login?next=/calls/{site.own_call}"
    client.get(asked.headers["location"])
    r = client.post("/login", data={"username": "sup", "password": PASSWORDS["sup"],
                                    "csrf": client.cookies["callmon_login_csrf"], "next": f"/calls/{site.own_call}"})
    assert r.status_code == 303 and r.headers["location"] == f"/calls/{site.own_call}"


def test_an_answer_is_committed_before_it_is_sent(site: Site) -> None:
    """What a 200 says has happened is visible to the very next request (sign-in, review, form + redirect)."""
    sup = site.browsers["sup"]
    for n in range(15):
        fresh = sign_in(site.base, "sup2")
        assert fresh.client.get("/api/me").status_code == 200, f"attempt {n}: the new session is not there yet"
        score = 60 + n
        r = sup.client.post(f"/api/calls/{site.own_call}/review", json={"reason": f"round {n}", "score": score},
                            headers={"X-CSRF-Token": sup.csrf})
        assert r.status_code == 200 and r.json()["reviewed_score"] == score
        assert sup.client.get(f"/api/calls/{site.own_call}").json()["reviewed_score"] == score, f"attempt {n}"
        form = sup.client.post(f"/calls/{site.own_call}/review",
                               data={"reason": f"form {n}", "score": str(score + 1), "csrf": sup.csrf})
        assert form.status_code == 303
        assert sup.client.get(form.headers["location"]).text.count(f"form {n}") >= 1, f"attempt {n}"


# --------------------------------------------------------------------------------------------
# sign-out, masking, audio in the audit trail
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("user", ["admin", "sup", "op1", "aud"])
def test_sign_out_ends_the_session_api_and_page(site: Site, user: str) -> None:
    api = sign_in(site.base, user)
    r = api.client.delete("/api/session", headers={"X-CSRF-Token": api.csrf})
    assert r.status_code == 204
    assert api.client.get("/api/me").status_code == 401
    page = sign_in(site.base, user)
    token = page.client.cookies["callmon_session"]
    r = page.client.post("/logout", data={"csrf": page.csrf})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    # even a browser that kept the cookie is signed out: the session is gone server-side
    again = httpx.Client(base_url=site.base, cookies={"callmon_session": token})
    assert again.get("/api/me").status_code == 401
    assert anonymous(site.base).delete("/api/session").status_code == 401
    assert anonymous(site.base).post("/logout", data={}).status_code == 303


def _real_callers(engine: Engine) -> dict[int, str]:
    with Session(engine) as session:
        return {c.id: c.caller for c in session.scalars(select(Call)) if c.caller}


def _spoken_numbers(engine: Engine) -> dict[int, set[str]]:
    """Per call, the runs of 8 or more digits in the stored utterance texts."""
    out: dict[int, set[str]] = {}
    with Session(engine) as session:
        for t in session.scalars(select(Transcript)):
            for u in t.utterances:
                for key in ("text", "raw_text"):
                    for run in LONG_NUMBER.findall(str(u.get(key) or "")):
                        out.setdefault(t.call_id, set()).add(run)
    return out


def _assert_masked_number(shown: str | None, real: str) -> None:
    assert shown is not None and shown != real
    assert re.fullmatch(r"[0-9]{3}\*+[0-9]{4}", shown), shown
    assert shown[:3] == real[:3] and shown[-4:] == real[-4:] and len(shown) == len(real)


def _masked_run(run: str) -> str:
    return run[:3] + "*" * (len(run) - 7) + run[-4:]


@pytest.mark.parametrize("role", ["operator_own", "auditor"])
def test_operator_and_auditor_see_masked_numbers(site: Site, role: str) -> None:
    callers = _real_callers(site.engine)
    spoken = _spoken_numbers(site.engine)
    assert spoken, "the pipeline month should have a caller dictating a number (to check masking on)"
    client = site.browser(role).client
    listed = client.get("/api/calls", params={"flagged": "false", "limit": 500})
    assert listed.status_code == 200 and listed.json()["items"]
    for item in listed.json()["items"]:
        _assert_masked_number(item["caller"], callers[item["id"]])
    visible = {i["id"] for i in listed.json()["items"]}
    for call_id in visible:
        detail = client.get(f"/api/calls/{call_id}")
        _assert_masked_number(detail.json()["caller"], callers[call_id])
        page = client.get(f"/calls/{call_id}")
        shown = re.search(r'<dd id="caller">([^<]*)</dd>', page.text)
        assert shown is not None
        _assert_masked_number(shown.group(1), callers[call_id])
        for run in spoken.get(call_id, ()):
            assert run not in detail.text and run not in page.text, (call_id, run)
            said = " ".join(u["text"] for u in detail.json()["utterances"])
            assert _masked_run(run) in said, (call_id, said)
            assert _masked_run(run) in page.text
    assert spoken.keys() & visible, "no call with a spoken number visible to check"
    # nowhere else either: lists, search, scorecards, audit, and their pages
    word = "电话"
    paths = ["/api/calls?flagged=true", f"/api/search?q={word}", f"/api/operators/{OWN}/scorecard?month={site.month}",
             "/api/disputes", "/queue?flagged=0&month=" + site.month, f"/search?q={word}",
             f"/operators/{OWN}?month={site.month}", "/disputes"]
    if role == "auditor":
        paths += ["/api/audit", "/audit", f"/api/operators/{OTHER}/scorecard?month={site.month}"]
    secrets = set(callers.values()) | {r for runs in spoken.values() for r in runs}
    for path in paths:
        r = client.get(path)
        assert r.status_code == 200, path
        leaked = [s for s in secrets if s in r.text]
        assert not leaked, (path, leaked)


def test_supervisor_sees_full_numbers(site: Site) -> None:
    callers = _real_callers(site.engine)
    spoken = _spoken_numbers(site.engine)
    client = site.browser("supervisor").client
    for item in client.get("/api/calls", params={"flagged": "false", "limit": 500}).json()["items"]:
        assert item["caller"] == callers[item["id"]]
    for call_id, runs in spoken.items():
        detail = client.get(f"/api/calls/{call_id}")
        assert detail.json()["caller"] == callers[call_id]
        page = client.get(f"/calls/{call_id}").text
        assert f'<dd id="caller">{callers[call_id]}</dd>' in page
        for run in runs:
            assert run in detail.text and run in page
    card = client.get(f"/api/operators/{OWN}/scorecard", params={"month": site.month}).json()
    assert {c["caller"] for c in card["flagged_calls"]} <= set(callers.values())


def _plays(engine: Engine) -> list[tuple[str, str, int | None, str | None]]:
    with Session(engine) as session:
        rows = session.execute(
            select(AuditRecord.username, AuditRecord.role, AuditRecord.call_id, AuditRecord.item_id)
            .where(AuditRecord.action == "play").order_by(AuditRecord.id))
        return [(r[0], r[1], r[2], r[3]) for r in rows]


def test_who_played_which_recording_is_logged(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """One audit row per listening (a player's many Range requests within PLAY_WINDOW_US are one)."""
    from callmon.web import service

    monkeypatch.setattr(service, "PLAY_WINDOW_US", 5_000_000)  # the server runs in this process
    time.sleep(5.2)  # earlier tests' plays are now outside the window
    before = _plays(site.engine)
    op, aud, sup = site.browsers["op1"], site.browsers["aud"], site.browsers["sup"]
    assert op.client.get(f"/api/calls/{site.own_call}/audio/operator").status_code == 200
    assert aud.client.get(f"/api/calls/{site.other_call}/audio/caller", headers={"Range": "bytes=0-"}).status_code \
        == 206
    assert op.client.get(f"/api/calls/{site.other_call}/audio/caller").status_code == 404  # refused: not a play
    new = _plays(site.engine)[len(before):]
    assert new == [("op1", "operator", site.own_call, "operator"), ("aud", "auditor", site.other_call, "caller")]
    trail = sup.client.get("/api/audit", params={"call_id": site.own_call}).json()["items"]
    assert any(a["action"] == "play" and a["by"] == "op1" and a["item_id"] == "operator" for a in trail)
    # a download that skips the first bytes is a play too; the player's follow-up ranges are not new ones
    mark = len(_plays(site.engine))
    for start in (1, 4096, 0):
        assert sup.client.get(f"/api/calls/{site.own_call}/audio/caller",
                              headers={"Range": f"bytes={start}-"}).status_code == 206
    assert _plays(site.engine)[mark:] == [("sup", "supervisor", site.own_call, "caller")]
    # operators do not get the trail through the API either (the page never showed it to them)
    assert "audit" not in op.client.get(f"/api/calls/{site.own_call}").json()


# --------------------------------------------------------------------------------------------
# cookies and headers
# --------------------------------------------------------------------------------------------

def _set_cookie(response: httpx.Response, name: str) -> str:
    found = [v for v in response.headers.get_list("set-cookie") if v.startswith(name + "=")]
    assert len(found) == 1, response.headers.get_list("set-cookie")
    return found[0]


def _attrs(set_cookie: str) -> dict[str, str]:
    out = {}
    for part in set_cookie.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        out[key.lower()] = value.lower()
    return out


@pytest.mark.parametrize("secure", [False, True])
def test_session_cookie_flags(pipeline_db: str, secure: bool) -> None:
    cfg = web_config(pipeline_db)
    cfg.web.secure_cookies = secure
    with serve(cfg) as base:
        client = anonymous(base)
        r = client.post("/api/session", json={"username": "sup", "password": PASSWORDS["sup"]})
        attrs = _attrs(_set_cookie(r, "callmon_session"))
        assert "httponly" in attrs and attrs["samesite"] == "strict" and attrs["path"] == "/"
        assert ("secure" in attrs) is secure
        page = client.get("/login")
        login_attrs = _attrs(_set_cookie(page, "callmon_login_csrf"))
        assert "httponly" in login_attrs and login_attrs["samesite"] == "strict"
        assert ("secure" in login_attrs) is secure
        token = page.cookies["callmon_login_csrf"]
        # sent by hand: a client keeps a Secure cookie off plain http, as it should
        form = anonymous(base).post("/login", data={"username": "sup", "password": PASSWORDS["sup"], "csrf": token},
                                    headers={"Cookie": f"callmon_login_csrf={token}"})
        form_attrs = _attrs(_set_cookie(form, "callmon_session"))
        assert "httponly" in form_attrs and form_attrs["samesite"] == "strict" and ("secure" in form_attrs) is secure
        # the CSRF token is not in any cookie a script could read
        assert r.json()["csrf"] not in " ".join(r.headers.get_list("set-cookie"))


def test_security_headers_on_every_kind_of_answer(site: Site) -> None:
    sup = site.browsers["sup"].client
    answers = {
        "login page": anonymous(site.base).get("/login"),
        "redirect": anonymous(site.base).get("/queue"),
        "api 401": anonymous(site.base).get("/api/me"),
        "api 200": sup.get("/api/calls"),
        "api 404": sup.get("/api/calls/987654321"),
        "page 200": sup.get(f"/calls/{site.own_call}"),
        "page 404": site.browsers["op1"].client.get(f"/calls/{site.other_call}"),
        "audio": sup.get(f"/api/calls/{site.own_call}/audio/operator"),
        "static": anonymous(site.base).get("/static/app.css"),
    }
    for name, r in answers.items():
        h = r.headers
        csp = h.get("content-security-policy", "")
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp, name
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, name
        assert h.get("x-content-type-options") == "nosniff", name
        assert h.get("x-frame-options") == "DENY", name
        assert h.get("referrer-policy") in ("same-origin", "no-referrer", "strict-origin"), name
        if name != "static":
            assert "no-store" in h.get("cache-control", ""), name


# --------------------------------------------------------------------------------------------
# throttling, idle timeout, disabled accounts
# --------------------------------------------------------------------------------------------

def test_sign_in_throttled_after_five_failures_until_the_window_passes(pipeline_db: str) -> None:
    cfg = web_config(pipeline_db)
    window_s = 3.0
    cfg.web.login_window_minutes = window_s / 60
    assert cfg.web.login_max_failures == 5
    with serve(cfg) as base:
        client = anonymous(base)
        started = time.monotonic()
        for n in range(5):
            r = client.post("/api/session", json={"username": "sup", "password": f"wrong-{n}"})
            assert r.status_code == 401, (n, r.status_code)
        last_failure = time.monotonic()
        assert last_failure - started < window_s - 0.5, "the failures took longer than the window: test too slow"
        right = {"username": "sup", "password": PASSWORDS["sup"]}
        assert client.post("/api/session", json=right).status_code == 429
        token = client.get("/login").cookies.get("callmon_login_csrf") or client.cookies["callmon_login_csrf"]
        form = client.post("/login", data={**right, "csrf": token})
        assert form.status_code == 429 and "callmon_session" not in form.cookies
        # per user name: another account from the same address is not locked out
        assert client.post("/api/session", json={"username": "sup2", "password": PASSWORDS["sup2"]}).status_code == 200
        # an unknown name is throttled the same way (no telling names apart)
        for n in range(5):
            assert client.post("/api/session", json={"username": "nobody", "password": f"x{n}"}).status_code == 401
        assert client.post("/api/session", json={"username": "nobody", "password": "x"}).status_code == 429
        time.sleep(max(0.0, last_failure + window_s + 0.5 - time.monotonic()))
        r = client.post("/api/session", json=right)
        assert r.status_code == 200, r.text
        assert client.get("/api/me").json()["username"] == "sup"


def test_idle_session_expires_but_an_active_one_does_not(pipeline_db: str) -> None:
    cfg = web_config(pipeline_db)
    idle_s = 3.0
    cfg.web.idle_minutes = idle_s / 60
    with serve(cfg) as base:
        b = sign_in(base, "sup")
        until = time.monotonic() + idle_s * 1.6
        while time.monotonic() < until:  # in use all along: stays signed in past the idle time
            assert b.client.get("/api/me").status_code == 200
            time.sleep(0.4)
        time.sleep(idle_s + 0.5)
        assert b.client.get("/api/me").status_code == 401
        page = b.client.get("/queue")
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        with Session(open_store(pipeline_db)) as session:  # and the expired session is gone from the store
            assert session.scalar(select(func.count()).select_from(WebSession).join(User).where(
                User.username == "sup")) == 0


def callmon_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "callmon", *args], input=stdin, capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).resolve().parent.parent)


def test_disabling_a_user_ends_their_session(pipeline_db: str) -> None:
    with serve(web_config(pipeline_db)) as base:
        op = sign_in(base, "op1")
        assert op.client.get("/api/me").status_code == 200
        done = callmon_cli("user", "disable", "op1", "--db", pipeline_db)
        assert done.returncode == 0, done.stderr
        assert op.client.get("/api/me").status_code == 401
        assert op.client.get("/queue").status_code == 303
        r = anonymous(base).post("/api/session", json={"username": "op1", "password": PASSWORDS["op1"]})
        assert r.status_code == 401
        assert callmon_cli("user", "enable", "op1", "--db", pipeline_db).returncode == 0
        assert sign_in(base, "op1").client.get("/api/me").json()["operator"] == OWN
        # a new password signs the user out everywhere too
        op = sign_in(base, "op1")
        done = callmon_cli("user", "passwd", "op1", "--db", pipeline_db, stdin="a-brand-new-password\n")
        assert done.returncode == 0, done.stderr
        assert op.client.get("/api/me").status_code == 401
        assert sign_in(base, "op1", "a-brand-new-password").client.get("/api/me").status_code == 200


# --------------------------------------------------------------------------------------------
# accounts: none by default, made on the command line, argon2id
# --------------------------------------------------------------------------------------------

def test_no_default_account_and_user_add_from_stdin(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    engine = open_store(url)
    with serve(web_config(url)) as base:
        client = anonymous(base)
        for name, password in (("admin", "admin"), ("admin", "password"), ("root", "root"), ("admin", "admin123456")):
            assert client.post("/api/session", json={"username": name, "password": password}).status_code == 401
        token = client.get("/login").cookies.get("callmon_login_csrf") or client.cookies["callmon_login_csrf"]
        r = client.post("/login", data={"username": "admin", "password": "admin", "csrf": token})
        assert r.status_code == 401 and "callmon_session" not in r.cookies
        with Session(engine) as session:
            assert session.scalar(select(func.count()).select_from(User)) == 0

        added = callmon_cli("user", "add", "chief", "--role", "admin", "--db", url, stdin="chief-password-123\n")
        assert added.returncode == 0, added.stderr
        assert "chief-password-123" not in added.stdout + added.stderr
        added = callmon_cli("user", "add", "desk7", "--role", "operator", "--operator", "op1007", "--db", url,
                            stdin="desk7-password-123\n")
        assert added.returncode == 0, added.stderr
        me = sign_in(base, "chief", "chief-password-123").client.get("/api/me").json()
        assert me["username"] == "chief" and me["role"] == "admin"
        assert sign_in(base, "desk7", "desk7-password-123").client.get("/api/me").json()["operator"] == "op1007"

        short = callmon_cli("user", "add", "shorty", "--role", "supervisor", "--db", url, stdin="short\n")
        assert short.returncode == 2 and "password" in short.stderr
        no_member = callmon_cli("user", "add", "desk8", "--role", "operator", "--db", url, stdin="desk8-password-1\n")
        assert no_member.returncode == 2
        twice = callmon_cli("user", "add", "chief", "--role", "admin", "--db", url, stdin="another-password-1\n")
        assert twice.returncode == 2
        assert client.post("/api/session", json={"username": "shorty", "password": "short"}).status_code == 401

        listed = callmon_cli("user", "list", "--json", "--db", url)
        assert {u["username"] for u in __import__("json").loads(listed.stdout)} == {"chief", "desk7"}
    with Session(engine) as session:
        users = {u.username: u.password_hash for u in session.scalars(select(User))}
    assert set(users) == {"chief", "desk7"}
    for name, digest in users.items():
        assert digest.startswith("$argon2id$"), (name, digest[:20])
        assert "password" not in digest
    engine.dispose()


def test_pipeline_accounts_are_argon2id(site: Site) -> None:
    with Session(site.engine) as session:
        hashes = list(session.scalars(select(User.password_hash)))
    assert len(hashes) == len(PASSWORDS)
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert len(set(hashes)) == len(hashes)  # salted


def test_dispute_reasons_are_masked_on_the_page_as_in_the_api(pipeline_db: str) -> None:
    """A number an operator writes in a dispute is masked for the auditor everywhere, not only in the API."""
    from fastapi.testclient import TestClient

    from callmon.web.app import create_app
    from tests.webapp import PASSWORDS, web_config

    app = create_app(web_config(pipeline_db))

    def client(name: str) -> TestClient:
        c = TestClient(app)
        assert c.post("/api/session", json={"username": name, "password": PASSWORDS[name]}).status_code == 200
        return c

    op = client("op1")
    own = next(i["id"] for i in op.get("/api/calls?limit=500").json()["items"] if i["score"] is not None)
    csrf = op.get("/api/me").json()["csrf"]
    assert op.post(f"/api/calls/{own}/disputes", json={"item_id": "greeting", "reason": "请回电13812345678核实"},
                   headers={"x-csrf-token": csrf}).status_code == 200
    aud, sup = client("aud"), client("sup")
    for page in (aud.get("/disputes").text, aud.get("/api/disputes").text):
        assert "138****5678" in page and "13812345678" not in page
    assert "13812345678" in sup.get("/disputes").text
