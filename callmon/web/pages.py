"""The server-rendered pages (简体中文): queue, call, scorecard, search, disputes, calibration, users.

Each page reads through ``service`` (the same data as the API) and each form carries the
session's CSRF token.  Forms post to the page routes and redirect back (POST/redirect/GET).
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session

from callmon.compliance.labels import FLAG_NAMES, ITEM_NAMES, STATE_NAMES, reason_zh
from callmon.store import accounts, decisions, review
from callmon.store.accounts import Principal
from callmon.store.review_models import CalibrationSample
from callmon.web import service
from callmon.web.security import (
    CALL_VIEWERS,
    COOKIE,
    DB,
    LOGIN_COOKIE,
    REVIEWERS,
    DbId,
    QueryId,
    check_csrf,
    masked,
    masks,
    not_found,
    require,
    visible_call,
    web_config,
)
from callmon.web.views import ACTION_NAMES, VERDICT_NAMES, call_summary

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
HOME = {"admin": "/admin/users", "supervisor": "/queue", "auditor": "/queue", "operator": "/queue"}


def render(request: Request, name: str, who: Principal | None, code: int = 200, **context: Any) -> HTMLResponse:
    context.update(who=who, item_names=ITEM_NAMES, flag_names=FLAG_NAMES, state_names=STATE_NAMES,
                   verdict_names=VERDICT_NAMES, action_names=ACTION_NAMES)
    return templates.TemplateResponse(request, name, context, status_code=code)


def error_page(request: Request, status: int, detail: str) -> HTMLResponse:
    message = {404: "页面不存在", 403: "请求被拒绝（表单已过期，请刷新后重试）"}.get(status, detail)
    return render(request, "error.html", None, status, status=status, message=message)


def _day(text: str | None) -> str | None:
    """A YYYY-MM-DD from a form, or None (anything else is ignored, as an empty field would be)."""
    return text if text and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else None


def _back(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def _safe_next(target: str | None) -> str | None:
    return target if target and target.startswith("/") and not target.startswith("//") else None


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", None, csrf=token, next=_safe_next(next) or "", error=None)
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict",
                        secure=web_config(request).secure_cookies, path="/login")
    return response


@router.post("/login")
def login(request: Request, username: str = Form(""), password: str = Form(""), csrf: str = Form(""),
          next: str = Form(""), session: Session = DB) -> Response:
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not secrets.compare_digest(expected, csrf):
        return error_page(request, 403, "CSRF")
    token, error = service.sign_in(request, session, username, password)
    if token is None:
        message = "登录失败次数过多，请稍后再试" if error == "throttled" else "用户名或密码错误"
        return render(request, "login.html", None, 429 if error == "throttled" else 401, csrf=csrf,
                      next=_safe_next(next) or "", error=message)
    who = accounts.resume_session(session, token, 10**12)
    assert who is not None
    response = _back(_safe_next(next) or HOME.get(who.role, "/queue"))
    service.set_cookie(request, response, token)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, csrf: str = Form(""), who: Principal = Depends(require(*HOME, page=True)),
           session: Session = DB) -> Response:
    check_csrf(request, who, csrf)
    accounts.end_session(session, request.cookies.get(COOKIE, ""))
    response = _back("/login")
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/")
def home(who: Principal = Depends(require(*HOME, page=True))) -> Response:
    return _back(HOME[who.role])


@router.get("/queue")
def queue_page(request: Request, month: str | None = None, operator: str | None = None, reason: str | None = None,
               min_score: str | None = None, max_score: str | None = None, state: str | None = None,
               sort: str = "time", order: str = "desc", page: int = 1, flagged: int = 1,
               date_from: str | None = None, date_to: str | None = None,
               who: Principal = Depends(require(*CALL_VIEWERS, page=True)),
               session: Session = DB) -> Response:
    month = month or service.current_month(request)
    size = web_config(request).page_size
    page = min(max(1, page), 10**6)  # a huge page is an offset SQLite cannot bind (a 500)
    low, high = _score_bound(min_score), _score_bound(max_score)  # the filter form sends empty fields as ""
    f = service.queue_filter(request, who, month, bool(flagged), operator or None,
                             reason if reason in FLAG_NAMES else None, low, high,
                             state if state in STATE_NAMES else None, sort, order, (page - 1) * size, size,
                             _day(date_from), _day(date_to))
    found = review.queue(session, f)
    tz = request.app.state.config.tz
    rows = masked([call_summary(c, s, tz) for s, c in found["rows"]], masks(request, who))
    kept = {"month": month, "operator": operator, "reason": reason, "min_score": min_score, "max_score": max_score,
            "state": state, "sort": sort, "order": order, "flagged": flagged, "date_from": _day(date_from),
            "date_to": _day(date_to)}
    query = urlencode({k: v for k, v in kept.items() if v not in (None, "")})  # the pager keeps every filter
    return render(request, "queue.html", who, rows=rows, total=found["total"], counts=found["counts"], query=query,
                  month=month, operator=operator or "", reason=reason or "", min_score=low,
                  max_score=high, state=state or "", sort=sort, order=order, page=page,
                  pages=max(1, -(-found["total"] // size)), flagged=flagged, date_from=_day(date_from) or "",
                  date_to=_day(date_to) or "",
                  operators=review.operators(session, f.start_us, f.end_us) if who.role != "operator" else [])


def _score_bound(text: str | None) -> int | None:
    """A score filter from the queue form: an empty (or non-numeric) field is no bound."""
    if not (text and text.strip().isascii() and text.strip().isdigit()):  # not "²" either
        return None
    return min(int(text), 10**6)  # a bigger number is one SQLite cannot bind (a 500)


@router.get("/calls/{call_id}")
def call_page(call_id: DbId, request: Request, who: Principal = Depends(require(*CALL_VIEWERS, page=True)),
              session: Session = DB) -> Response:
    visible_call(session, who, call_id)
    data = masked(service.call_page(request, session, call_id), masks(request, who))
    return render(request, "call.html", who, call=data, can_review=who.role in REVIEWERS,
                  can_dispute=who.role == "operator")


@router.post("/calls/{call_id}/review")
async def review_form(call_id: DbId, request: Request, who: Principal = Depends(require(*REVIEWERS, page=True)),
                      session: Session = DB) -> Response:
    form = await request.form()
    check_csrf(request, who, str(form.get("csrf", "")))
    visible_call(session, who, call_id)
    changes = {str(k)[8:]: str(v) for k, v in form.items() if str(k).startswith("verdict:") and v}
    raw_score = str(form.get("score", "")).strip()
    score = int(raw_score) if raw_score.isascii() and raw_score.isdigit() else None  # "²".isdigit() too
    service.decide(lambda: decisions.review(session, call_id, who.username, who.role, str(form.get("reason", "")),
                                            service.rescorer(request), changes, score,
                                            request.app.state.grammar.scoring.pass_mark))
    return _back(f"/calls/{call_id}")


@router.post("/calls/{call_id}/disputes")
def dispute_form(call_id: DbId, request: Request, item_id: str = Form(""), reason: str = Form(""),
                 csrf: str = Form(""), who: Principal = Depends(require("operator", page=True)),
                 session: Session = DB) -> Response:
    check_csrf(request, who, csrf)
    visible_call(session, who, call_id)
    service.decide(lambda: decisions.open_dispute(session, call_id, item_id, who.username, who.operator or "",
                                                  reason, web_config(request).dispute_days))
    return _back(f"/calls/{call_id}")


@router.get("/disputes")
def disputes_page(request: Request, state: str = "open",
                  who: Principal = Depends(require("supervisor", "operator", "auditor", page=True)),
                  session: Session = DB) -> Response:
    found = service.disputes(request, session, who, state if state in ("open", "accepted", "rejected") else None)
    return render(request, "disputes.html", who, disputes=masked(found, masks(request, who)), state=state)


@router.post("/disputes/{dispute_id}/resolve")
def resolve_form(dispute_id: DbId, request: Request, accept: str = Form(""), reason: str = Form(""),
                 csrf: str = Form(""), who: Principal = Depends(require(*REVIEWERS, page=True)),
                 session: Session = DB) -> Response:
    check_csrf(request, who, csrf)
    dispute = service.decide(lambda: decisions.resolve_dispute(session, dispute_id, who.username, who.role,
                                                               accept == "1", reason, service.rescorer(request)))
    return _back(f"/calls/{dispute.call_id}")


@router.get("/operators/{operator}")
def scorecard_page(operator: str, request: Request, month: str | None = None,
                   who: Principal = Depends(require(*CALL_VIEWERS, page=True)),
                   session: Session = DB) -> Response:
    if who.role == "operator" and who.operator != operator:
        raise not_found()
    card = service.scorecard(request, session, operator, month)
    return render(request, "scorecard.html", who, card=masked(card, masks(request, who)))


@router.get("/search")
def search_page(request: Request, q: str = "", month: str | None = None,
                who: Principal = Depends(require(*CALL_VIEWERS, page=True)),
                session: Session = DB) -> Response:
    hits = service.search(request, session, who, q[:200], month or None) if q.strip() else []
    tz = request.app.state.config.tz
    for hit in hits:
        hit["time"] = service.iso(hit.pop("first_event_us"), tz)
    return render(request, "search.html", who, q=q, month=month or "", hits=masked(hits, masks(request, who)))


@router.get("/calibration")
def calibration_page(request: Request, who: Principal = Depends(require(*REVIEWERS, "auditor", page=True)),
                     session: Session = DB) -> Response:
    samples = list(session.scalars(select(CalibrationSample).order_by(CalibrationSample.id.desc()).limit(50)))
    return render(request, "calibration.html", who, samples=samples, month=service.current_month(request),
                  percent=web_config(request).calibration_percent,
                  agreements={s.id: service.agreement(session, s.id) for s in samples[:5]})


@router.post("/calibration")
def draw_form(request: Request, month: str = Form(""), percent: str = Form(""), csrf: str = Form(""),
              who: Principal = Depends(require(*REVIEWERS, page=True)), session: Session = DB) -> Response:
    check_csrf(request, who, csrf)
    number = percent.replace(".", "", 1)
    share = float(percent) if number.isascii() and number.isdigit() and 0 < float(percent) <= 100 else None
    drawn = service.decide(lambda: service.draw(request, session, who, month, share))
    return _back(f"/calibration/{drawn['id']}")


@router.get("/calibration/{sample_id}")
def sample_page(sample_id: DbId, request: Request, who: Principal = Depends(require(*REVIEWERS, page=True)),
                session: Session = DB) -> Response:
    return render(request, "sample.html", who, sample=service.sample_json(session, who, sample_id),
                  agreement=service.agreement(session, sample_id))


@router.get("/calibration/{sample_id}/calls/{call_id}")
def blind_page(sample_id: DbId, call_id: DbId, request: Request,
               who: Principal = Depends(require(*REVIEWERS, page=True)), session: Session = DB) -> Response:
    sample = session.get(CalibrationSample, sample_id)
    if sample is None or call_id not in sample.call_ids:
        raise not_found()
    data = service.call_page(request, session, call_id)
    for hidden in ("automatic", "reviewed", "score", "reviewed_score", "effective_score", "flag_reasons", "audit",
                   "disputes", "flagged"):
        data.pop(hidden, None)  # blind: nothing of any verdict
    return render(request, "blind.html", who, call=masked(data, masks(request, who)), sample_id=sample_id,
                  item_ids=[i for i in ITEM_NAMES if i != "rings"])


@router.post("/calibration/{sample_id}/calls/{call_id}")
async def blind_form(sample_id: DbId, call_id: DbId, request: Request,
                     who: Principal = Depends(require(*REVIEWERS, page=True)),
                     session: Session = DB) -> Response:
    form = await request.form()
    check_csrf(request, who, str(form.get("csrf", "")))
    items = {str(k)[5:]: str(v) == "1" for k, v in form.items() if str(k).startswith("item:") and v in ("0", "1")}
    service.decide(lambda: decisions.blind_verdict(session, sample_id, call_id, who.username, items))
    return _back(f"/calibration/{sample_id}")


@router.get("/audit")
def audit_page(request: Request, call_id: QueryId = None,
               who: Principal = Depends(require("admin", "supervisor", "auditor", page=True)),
               session: Session = DB) -> Response:
    return render(request, "audit.html", who,
                  records=masked(service.audit_trail(request, session, call_id, limit=300), masks(request, who)))


@router.get("/admin/users")
def users_page(request: Request, who: Principal = Depends(require("admin", page=True)),
               session: Session = DB) -> Response:
    return render(request, "users.html", who, users=accounts.list_users(session))


def quote_path(text: str) -> str:
    return quote(text, safe="")


templates.env.filters["urlpart"] = quote_path
templates.env.filters["reason_zh"] = reason_zh
