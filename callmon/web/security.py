"""Who may see and do what: sign-in state, roles, CSRF, call access and number masking.

Every route depends on ``principal`` (or ``page_principal`` for HTML pages), so nothing is
served without a session; role checks and call ownership are enforced here, on every request
and every audio file, not by hiding links.  A call a user may not see is "not found" (404),
exactly like a call that does not exist, so URLs reveal nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypeVar, cast

from fastapi import Depends, HTTPException, Path, Query, Request
from sqlalchemy.orm import Session

from callmon.config import WebConfig
from callmon.masking import mask_number, mask_text
from callmon.store.accounts import Principal, resume_session
from callmon.store.models import Call

T = TypeVar("T")
COOKIE = "callmon_session"
LOGIN_COOKIE = "callmon_login_csrf"
CSRF_HEADER = "x-csrf-token"
CALL_VIEWERS = ("supervisor", "auditor", "operator")
REVIEWERS = ("supervisor",)
# a row id in a URL: beyond a 64-bit key (SQLite INTEGER, PostgreSQL bigint) the driver fails (a 500), so refuse it
MAX_ID = 2**63 - 1
DbId = Annotated[int, Path(ge=1, le=MAX_ID)]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]


class SignInRequired(Exception):
    """No valid session: the API answers 401, a page redirects to the sign-in page."""

    def __init__(self, api: bool) -> None:
        super().__init__("sign-in required")
        self.api = api


def db(request: Request) -> Iterator[Session]:
    """One database session per request, committed when the handler returns without error."""
    with Session(request.app.state.engine) as session, session.begin():
        yield session


# Committed before the answer goes out: FastAPI ends a yield dependency after the response by default
# ("request" scope), so a client could be told 200 and act on it (the next request with a new session
# cookie, the page after a form's redirect) before the commit, or even though the commit then failed.
DB = Depends(db, scope="function")


def web_config(request: Request) -> WebConfig:
    cfg: WebConfig = request.app.state.config.web
    return cfg


def _resume(request: Request, session: Session, api: bool) -> Principal:
    token = request.cookies.get(COOKIE)
    if not token:
        raise SignInRequired(api)
    idle_us = int(web_config(request).idle_minutes * 60_000_000)
    # last_seen is refreshed at most every 30 s (fewer writes), but often enough for a short idle time
    found = resume_session(session, token, idle_us, touch_every_us=min(30_000_000, idle_us // 4))
    if found is None:
        session.commit()  # an expired session's deletion must outlive the refusal raised below
        raise SignInRequired(api)
    return found


def principal(request: Request, session: Session = DB) -> Principal:
    """The signed-in user of an API request (401 without one)."""
    return _resume(request, session, api=True)


def page_principal(request: Request, session: Session = DB) -> Principal:
    """The signed-in user of a page request (a redirect to /login without one)."""
    return _resume(request, session, api=False)


def not_found() -> HTTPException:
    return HTTPException(status_code=404, detail="not found")


def require(*roles: str, page: bool = False) -> Callable[..., Principal]:
    """A dependency admitting only ``roles``; anyone else gets 404 (the route does not exist for them)."""
    base = page_principal if page else principal

    def check(who: Principal = Depends(base)) -> Principal:
        if who.role not in roles:
            raise not_found()
        return who

    return check


def check_csrf(request: Request, who: Principal, form_token: str | None = None) -> None:
    """A state-changing request must carry the session's CSRF token (header or form field)."""
    sent = form_token if form_token is not None else request.headers.get(CSRF_HEADER, "")
    if not sent or not secrets.compare_digest(sent, who.csrf):
        raise HTTPException(status_code=403, detail="CSRF token missing or wrong")


def visible_call(session: Session, who: Principal, call_id: int) -> Call:
    """The call if this user may see it, else 404: operators see only the calls they answered."""
    call = session.get(Call, call_id)
    if call is None or who.role not in CALL_VIEWERS:
        raise not_found()
    if who.role == "operator" and (who.operator is None or call.operator != who.operator):
        raise not_found()
    return call


def masks(request: Request, who: Principal) -> bool:
    """Whether this user's role sees numbers masked ([web] unmasked_roles lists those that do not)."""
    return who.role not in web_config(request).unmasked_roles


TEXT_KEYS = frozenset({"text", "raw_text", "matched", "snippet", "note", "evidence", "reason", "resolution"})


def masked(value: T, on: bool) -> T:
    """``value`` with caller numbers (key ``caller``) and the numbers inside spoken text (keys in
    ``TEXT_KEYS``) masked when ``on``; identifiers such as a Linkedid are left alone."""
    return cast(T, _masked(value) if on else value)


def _masked(value: Any) -> Any:
    if isinstance(value, list):
        return [_masked(v) for v in value]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "caller" and isinstance(v, str):
                out[k] = mask_number(v)
            elif k in TEXT_KEYS and isinstance(v, str):
                out[k] = mask_text(v)
            else:
                out[k] = _masked(v)
        return out
    return value
