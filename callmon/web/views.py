"""Store rows turned into what the pages and the JSON API show (one shape for both)."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from callmon.compliance.labels import ITEM_NAMES
from callmon.compliance.rescore import verdict_of
from callmon.store.models import Call, Score
from callmon.store.review import effective_score
from callmon.timeutil import local_clock

ACTION_NAMES = {"confirm": "确认", "override": "改判", "dispute": "申诉", "dispute_accepted": "采纳申诉",
                "dispute_rejected": "驳回申诉", "play": "播放录音", "calibration_verdict": "校准评判",
                "calibration_draw": "校准抽样",
                "export": "导出报表", "sign_in": "登录", "user_add": "新增用户", "user_passwd": "修改密码",
                "user_disable": "停用用户", "user_enable": "启用用户", "retention_purge": "按保留期限删除"}
VERDICT_NAMES = {"found": "符合", "missed": "未做到", "not_owed": "不适用"}
RING_OUTCOMES = {"answered": "接听", "no_answer": "未接", "cancelled": "振铃取消", "busy": "忙",
                 "unavailable": "不可用", "unknown": "未知"}
PROHIBITED_VERDICT_NAMES = {"found": "说了禁用语", "missed": "未发现", "not_owed": "不适用"}


def iso(us: int | None, tz: tzinfo) -> str | None:
    return None if us is None else datetime.fromtimestamp(us / 1e6, tz).isoformat(timespec="seconds")


def call_summary(call: Call, score: Score | None, tz: tzinfo) -> dict[str, Any]:
    """One call as a list row: the API's item keys."""
    effective = None if score is None else effective_score(score)
    return {
        "id": call.id, "linkedid": call.linkedid, "operator": call.operator, "caller": call.caller,
        "offered_at": iso(call.offered_us, tz), "answered_at": iso(call.answered_us, tz),
        "ring_seconds": None if call.ring_ms is None else round(call.ring_ms / 1000, 3), "rings": call.rings,
        "within_limit": call.within_limit, "outcome": call.outcome,
        "score": None if score is None else score.score,
        "reviewed_score": None if score is None else score.reviewed_score, "effective_score": effective,
        "flagged": bool(score and score.flagged), "flag_reasons": [] if score is None else list(score.flag_reasons),
        "review_state": "unreviewed" if score is None else score.review_state,
    }


def utterances(transcripts: list[Any]) -> list[dict[str, Any]]:
    """Both channels' utterances in the order the checks numbered them (evidence ``utterance`` index)."""
    rows = [dict(u) for t in sorted(transcripts, key=lambda t: t.channel) for u in t.utterances]
    rows.sort(key=lambda u: float(u["start"]))
    for k, u in enumerate(rows):
        u["index"] = k
        u.pop("words", None)
    return rows


def checklist(items: list[dict[str, Any]], said: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rule items with a verdict, a name, and where the evidence is (channel, time, words)."""
    out = []
    for item in items:
        verdict = verdict_of(item)
        names = PROHIBITED_VERDICT_NAMES if item["kind"] == "prohibited" else VERDICT_NAMES
        where = item.get("utterance")
        utt = said[where] if isinstance(where, int) and 0 <= where < len(said) else None
        ok = verdict != "missed" if item["kind"] != "prohibited" else verdict != "found"
        out.append({
            "id": item["id"], "name": ITEM_NAMES.get(str(item["id"]), str(item["id"])), "kind": item["kind"],
            "verdict": verdict, "verdict_name": names[verdict], "ok": ok, "owed": item["owed"],
            "found": item["found"], "source": item.get("source"), "expected": item.get("expected"),
            "matched": item.get("matched"), "similarity": item.get("similarity"), "utterance": where,
            "channel": None if utt is None else utt["channel"], "start": item.get("start"), "end": item.get("end"),
            "deduction": item.get("deduction", 0), "note": item.get("note"),
            "overridden": bool(item.get("overridden")),
        })
    return out


def timeline(call: Call, rings: list[Any], tz: tzinfo) -> list[dict[str, Any]]:
    """Offered, each operator rung (and for how long), answered, transferred, ended, in time order."""
    zero = call.offered_us or call.first_event_us or 0
    events: list[tuple[int, str, str]] = []
    if call.offered_us is not None:
        events.append((call.offered_us, "offered", "来电进入队列"))
    for r in rings:
        seconds = "" if r.ring_ms is None else f"，响铃 {r.ring_ms / 1000:.1f} 秒"
        rings_text = "" if r.rings is None else f"（{r.rings} 声）"
        outcome = RING_OUTCOMES.get(r.outcome, r.outcome)
        events.append((r.rung_us, "rung", f"振铃 {r.operator}{seconds}{rings_text}，{outcome}"))
    if call.answered_us is not None:
        events.append((call.answered_us, "answered", f"{call.operator or '?'} 接听"))
    if call.transferred:
        events.append((call.ended_us or call.answered_us or zero, "transferred", f"转接 {call.transfer_target or ''}"))
    if call.ended_us is not None:
        events.append((call.ended_us, "ended", "通话结束"))
    events.sort(key=lambda e: e[0])
    return [{"at": local_clock(us, tz), "offset_seconds": round((us - zero) / 1e6, 1), "kind": kind, "text": text}
            for us, kind, text in events]
