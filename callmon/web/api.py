"""The JSON API under /api/ (documented at /api/openapi.json); the pages' dynamic parts use it too.

Unauthenticated requests get 401; what a role may not see or do is 404, as if it did not exist.
State-changing requests need the session's CSRF token in the ``X-CSRF-Token`` header.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from callmon.store import accounts, decisions, review
from callmon.store.accounts import Principal
from callmon.store.models import Transcript
from callmon.web import service
from callmon.web.security import (
    CALL_VIEWERS,
    COOKIE,
    DB,
    REVIEWERS,
    DbId,
    QueryId,
    check_csrf,
    masked,
    masks,
    not_found,
    principal,
    require,
    visible_call,
    web_config,
)
from callmon.web.views import call_summary

router = APIRouter(prefix="/api")
Month = Query(default=None, pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM, site time zone")
DAY = r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"  # one Query object per parameter: FastAPI keeps one name each


class Credentials(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class ReviewIn(BaseModel):
    reason: str = Field(min_length=1, max_length=4000)
    changes: dict[str, Literal["found", "missed", "not_owed"]] = Field(default_factory=dict)
    score: int | None = Field(default=None, ge=0, le=100)


class DisputeIn(BaseModel):
    item_id: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=4000)


class ResolveIn(BaseModel):
    accept: bool
    reason: str = Field(min_length=1, max_length=4000)


class SampleIn(BaseModel):
    month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    percent: float | None = Field(default=None, gt=0, le=100)


class BlindIn(BaseModel):
    items: dict[str, bool]


@router.post("/session")
def sign_in(body: Credentials, request: Request, response: Response,
            session: Session = DB) -> dict[str, Any]:
    """Sign in: sets the HttpOnly session cookie; the answer carries the CSRF token for later requests."""
    token, user_or_error = service.sign_in(request, session, body.username, body.password)
    if token is None:
        session.commit()  # keep the failure just recorded: raising below would roll it back (and defeat throttling)
        raise HTTPException(status_code=429 if user_or_error == "throttled" else 401, detail=user_or_error)
    service.set_cookie(request, response, token)
    who = accounts.resume_session(session, token, 10**12)
    assert who is not None
    return {"username": who.username, "role": who.role, "operator": who.operator, "csrf": who.csrf}


@router.delete("/session", status_code=204)
def sign_out(request: Request, response: Response, who: Principal = Depends(principal),
             session: Session = DB) -> None:
    check_csrf(request, who)
    accounts.end_session(session, request.cookies.get(COOKIE, ""))
    response.delete_cookie(COOKIE, path="/")


@router.get("/me")
def me(who: Principal = Depends(principal)) -> dict[str, Any]:
    return {"username": who.username, "role": who.role, "operator": who.operator, "csrf": who.csrf}


@router.get("/calls")
def list_calls(request: Request, month: str | None = Month, flagged: bool = False, operator: str | None = None,
               reason: Literal["needs_human", "below_pass", "veto", "rings", "prohibited", "other"] | None = None,
               min_score: int | None = Query(default=None, ge=0, le=100),
               max_score: int | None = Query(default=None, ge=0, le=100),
               state: Literal["unreviewed", "reviewed", "disputed"] | None = None,
               sort: Literal["time", "score", "ring", "operator"] = "time", order: Literal["asc", "desc"] = "desc",
               offset: int = Query(default=0, ge=0, le=10**7), limit: int = Query(default=50, ge=1, le=500),
               date_from: str | None = Query(default=None, pattern=DAY, description="YYYY-MM-DD, first day"),
               date_to: str | None = Query(default=None, pattern=DAY, description="YYYY-MM-DD, last day (included)"),
               who: Principal = Depends(require(*CALL_VIEWERS)), session: Session = DB) -> dict[str, Any]:
    """Calls of a month and/or a date range (``flagged=true``: the review queue), newest first, with
    counts per flag kind."""
    f = service.queue_filter(request, who, month, flagged, operator, reason, min_score, max_score, state, sort,
                             order, offset, limit, date_from, date_to)
    found = review.queue(session, f)
    tz = request.app.state.config.tz
    items = [call_summary(call, score, tz) for score, call in found["rows"]]
    return masked({"items": items, "total": found["total"], "counts": found["counts"]}, masks(request, who))


@router.get("/calls/{call_id}")
def get_call(call_id: DbId, request: Request, who: Principal = Depends(require(*CALL_VIEWERS)),
             session: Session = DB) -> dict[str, Any]:
    """One call: timeline, transcript, the automatic and the reviewed verdicts with evidence, disputes, audit."""
    visible_call(session, who, call_id)
    page = service.call_page(request, session, call_id)
    if who.role == "operator":
        page.pop("audit", None)  # as on the page: who played or reviewed what is not an operator's to see
    return masked(page, masks(request, who))


@router.get("/calls/{call_id}/audio/{channel}", response_model=None)
def get_audio(call_id: DbId, channel: Literal["operator", "caller"], request: Request,
              who: Principal = Depends(require(*CALL_VIEWERS)), session: Session = DB) -> FileResponse:
    """A channel's recording (HTTP Range requests served, so the player can seek). Each playback is logged."""
    visible_call(session, who, call_id)
    rows = session.scalars(select(Transcript).where(Transcript.call_id == call_id)).all()
    path = service.audio_path(request, session, call_id, channel, list(rows))
    if path is None:
        raise not_found()
    if not service.played_recently(session, who.username, call_id, channel):  # every range, once per listening
        decisions.audit(session, who.username, who.role, "play", call_id, channel)  # who played which recording
    return FileResponse(path, media_type="audio/wav", headers={"Cache-Control": "private, no-store"})


@router.post("/calls/{call_id}/review")
def post_review(call_id: DbId, body: ReviewIn, request: Request, who: Principal = Depends(require(*REVIEWERS)),
                session: Session = DB) -> dict[str, Any]:
    """Confirm or override (items' verdicts, or the score itself) with a reason; the audit keeps both sides."""
    check_csrf(request, who)
    visible_call(session, who, call_id)
    row = service.decide(lambda: decisions.review(
        session, call_id, who.username, who.role, body.reason, service.rescorer(request), body.changes, body.score,
        request.app.state.grammar.scoring.pass_mark))
    return {"call_id": call_id, "reviewed_score": row.reviewed_score, "reviewed_passed": row.reviewed_passed,
            "review_state": row.review_state}


@router.post("/calls/{call_id}/disputes")
def post_dispute(call_id: DbId, body: DisputeIn, request: Request, who: Principal = Depends(require("operator")),
                 session: Session = DB) -> dict[str, Any]:
    """An operator disputes one item of their own call, within the dispute window."""
    check_csrf(request, who)
    visible_call(session, who, call_id)
    dispute = service.decide(lambda: decisions.open_dispute(
        session, call_id, body.item_id, who.username, who.operator or "", body.reason,
        web_config(request).dispute_days))
    return service.dispute_json(dispute, request.app.state.config.tz)


@router.get("/disputes")
def list_disputes(request: Request, state: Literal["open", "accepted", "rejected"] | None = None,
                  who: Principal = Depends(require("supervisor", "operator", "auditor")),
                  session: Session = DB) -> dict[str, Any]:
    """Disputes (an operator sees their own)."""
    return masked({"items": service.disputes(request, session, who, state)}, masks(request, who))


@router.post("/disputes/{dispute_id}/resolve")
def resolve(dispute_id: DbId, body: ResolveIn, request: Request, who: Principal = Depends(require(*REVIEWERS)),
            session: Session = DB) -> dict[str, Any]:
    check_csrf(request, who)
    dispute = service.decide(lambda: decisions.resolve_dispute(
        session, dispute_id, who.username, who.role, body.accept, body.reason, service.rescorer(request)))
    return service.dispute_json(dispute, request.app.state.config.tz)


@router.get("/operators/{operator}/scorecard")
def scorecard(operator: str, request: Request, month: str | None = Month,
              who: Principal = Depends(require(*CALL_VIEWERS)), session: Session = DB) -> dict[str, Any]:
    """One operator's month, with the last 12 months' trend; an operator sees only their own."""
    if who.role == "operator" and who.operator != operator:
        raise not_found()
    return masked(service.scorecard(request, session, operator, month), masks(request, who))


@router.get("/search")
def search(request: Request, q: str = Query(min_length=1, max_length=200), month: str | None = Month,
           who: Principal = Depends(require(*CALL_VIEWERS)), session: Session = DB) -> dict[str, Any]:
    """Calls whose transcript contains ``q`` (spaces, punctuation and Traditional characters do not matter)."""
    return masked({"items": service.search(request, session, who, q, month)}, masks(request, who))


@router.post("/calibration")
def draw(body: SampleIn, request: Request, who: Principal = Depends(require(*REVIEWERS)),
         session: Session = DB) -> dict[str, Any]:
    """Draw a random sample of the month's answered calls to score blind."""
    check_csrf(request, who)
    return service.draw(request, session, who, body.month, body.percent)


@router.get("/calibration/{sample_id}")
def sample(sample_id: DbId, request: Request, who: Principal = Depends(require(*REVIEWERS)),
           session: Session = DB) -> dict[str, Any]:
    """The sample's calls and which of them this supervisor has scored (no automatic verdicts: blind)."""
    return service.sample_json(session, who, sample_id)


@router.post("/calibration/{sample_id}/calls/{call_id}")
def blind(sample_id: DbId, call_id: DbId, body: BlindIn, request: Request,
          who: Principal = Depends(require(*REVIEWERS)), session: Session = DB) -> dict[str, Any]:
    check_csrf(request, who)
    service.decide(lambda: decisions.blind_verdict(session, sample_id, call_id, who.username, body.items))
    return {"sample_id": sample_id, "call_id": call_id, "saved": True}


@router.get("/calibration/{sample_id}/agreement")
def agreement(sample_id: DbId, who: Principal = Depends(require(*REVIEWERS, "auditor")),
              session: Session = DB) -> dict[str, Any]:
    """Per item: percent agreement and Cohen's kappa, human against automatic and supervisor against supervisor."""
    return service.agreement(session, sample_id)


@router.get("/audit")
def audit_log(request: Request, call_id: QueryId = None, offset: int = Query(default=0, ge=0, le=10**7),
              who: Principal = Depends(require("admin", "supervisor", "auditor")),
              session: Session = DB) -> dict[str, Any]:
    """The audit trail, newest first (read-only: there is no route that changes it)."""
    return masked({"items": service.audit_trail(request, session, call_id, offset)}, masks(request, who))


@router.get("/users")
def users(request: Request, who: Principal = Depends(require("admin")),
          session: Session = DB) -> dict[str, Any]:
    tz = request.app.state.config.tz
    return {"items": [{"username": u.username, "role": u.role, "operator": u.operator, "disabled": u.disabled,
                       "created_at": service.iso(u.created_us, tz)} for u in accounts.list_users(session)]}

