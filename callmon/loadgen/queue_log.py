"""The queue_log lines Asterisk's app_queue would have written for a stream of AMI events.

Why: the daemon backfills calls missed while disconnected from queue_log, so the load
generator must produce the file Asterisk would have, consistent with the AMI stream.

Line format (``ast_queue_log`` in main/logger.c): ``epoch|callid|queue|agent|EVENT|data...``
with integer epoch seconds, callid = the queue caller channel's Uniqueid, agent = the
member name (``log_membername_as_agent = yes``; app_queue logs ``member->membername``) or
``NONE``.  Field orders, as in apps/app_queue.c (see callmon.sources.queue_log):

=================  ==========================  ==========================================
AMI event          queue_log line              data
=================  ==========================  ==========================================
QueueCallerJoin    ENTERQUEUE (agent NONE)     url (empty) | CallerIDNum | Position (opos)
AgentRingNoAnswer  RINGNOANSWER                RingTime (ms)
AgentConnect       CONNECT                     HoldTime | DestUniqueid (member) | RingTime
AgentComplete      COMPLETECALLER/-AGENT       HoldTime | TalkTime | original position
  Reason=transfer  BLINDTRANSFER               exten | context | HoldTime | TalkTime | opos
QueueCallerAbandon ABANDON (agent NONE)        Position | OriginalPosition | HoldTime
QueueCallerLeave   EXITWITHTIMEOUT (NONE)      Position | original position | wait
=================  ==========================  ==========================================

EXITWITHTIMEOUT has no AMI event of its own: it is inferred for a caller who left the
queue (QueueCallerLeave) and was neither connected nor abandoned by the time the caller
channel hung up.  A caller hanging up while a member rings gives no RINGNOANSWER (as in
app_queue: wait_for_answer returns on the caller's hangup without rna()).  Events without
a Timestamp header are skipped: the line's time would be a guess.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from callmon.sources.ami_protocol import Message

_WANTED = frozenset({"QueueCallerJoin", "AgentRingNoAnswer", "AgentConnect", "AgentComplete",
                     "QueueCallerAbandon", "QueueCallerLeave", "BlindTransfer", "Hangup"})
_COMPLETE = {"caller": "COMPLETECALLER", "agent": "COMPLETEAGENT"}


@dataclass(slots=True)
class _Caller:
    queue: str
    position: str
    connected: bool = False
    abandoned: bool = False
    left: tuple[float, str] | None = None  # (time, position)


def format_line(epoch: float, callid: str, queue: str, agent: str, event: str, *data: str | int) -> str:
    """One queue_log line (no newline), time truncated to whole seconds like time(NULL)."""
    return "|".join([str(int(epoch)), callid, queue, agent, event, *map(str, data)])


def _headers(frame: bytes | Message) -> dict[str, str] | None:
    if isinstance(frame, Message):
        return dict(reversed(frame.headers)) if frame.name in _WANTED else None
    end = frame.find(b"\r\n")
    if not frame.startswith(b"Event: ") or frame[7:end].decode("ascii", "replace") not in _WANTED:
        return None
    out: dict[str, str] = {}
    for line in frame.decode("utf-8", "replace").split("\r\n"):
        key, sep, value = line.partition(": ")
        if sep and key not in out:
            out[key] = value
    return out


def queue_log_lines(frames: Iterable[bytes | Message]) -> list[tuple[float, str]]:
    """(event time, line) for every queue_log line the events imply, in time order.

    Accepts any number of interleaved calls (a whole generated day); keeps per-caller
    state keyed by the caller channel's Uniqueid.
    """
    callers: dict[str, _Caller] = {}
    transfers: dict[str, tuple[str, str]] = {}  # Linkedid -> (exten, context)
    out: list[tuple[float, str]] = []
    for frame in frames:
        h = _headers(frame)
        if h is None or "Timestamp" not in h:
            continue
        t, event, uid = float(h["Timestamp"]), h.get("Event", ""), h.get("Uniqueid", "")
        queue, agent = h.get("Queue", ""), h.get("MemberName", "NONE")
        if event == "QueueCallerJoin":
            callers[uid] = _Caller(queue, h.get("Position", ""))
            out.append((t, format_line(t, uid, queue, "NONE", "ENTERQUEUE", "", h.get("CallerIDNum", ""),
                                       h.get("Position", ""))))
        elif event == "AgentRingNoAnswer":
            out.append((t, format_line(t, uid, queue, agent, "RINGNOANSWER", h.get("RingTime", "0"))))
        elif event == "AgentConnect":
            if uid in callers:
                callers[uid].connected = True
            out.append((t, format_line(t, uid, queue, agent, "CONNECT", h.get("HoldTime", ""),
                                       h.get("DestUniqueid", ""), h.get("RingTime", ""))))
        elif event == "AgentComplete":
            pos = callers[uid].position if uid in callers else ""
            hold, talk = h.get("HoldTime", ""), h.get("TalkTime", "")
            reason = h.get("Reason", "")
            if reason == "transfer":
                exten, context = transfers.get(h.get("Linkedid", ""), ("", ""))
                out.append((t, format_line(t, uid, queue, agent, "BLINDTRANSFER", exten, context, hold, talk, pos)))
            else:
                name = _COMPLETE.get(reason, "COMPLETEAGENT")
                out.append((t, format_line(t, uid, queue, agent, name, hold, talk, pos)))
        elif event == "QueueCallerAbandon":
            if uid in callers:
                callers[uid].abandoned = True
            out.append((t, format_line(t, uid, queue, "NONE", "ABANDON", h.get("Position", ""),
                                       h.get("OriginalPosition", ""), h.get("HoldTime", ""))))
        elif event == "QueueCallerLeave" and uid in callers:
            callers[uid].left = (t, h.get("Position", ""))
        elif event == "BlindTransfer":
            transfers[h.get("TransfereeLinkedid") or h.get("TransfererLinkedid", "")] = (
                h.get("Extension", ""), h.get("Context", ""))
        elif event == "Hangup" and uid in callers:
            _exit_line(callers.pop(uid), uid, out)
    out.sort(key=lambda item: item[0])
    return out


def _exit_line(caller: _Caller, uid: str, out: list[tuple[float, str]]) -> None:
    if caller.left is None or caller.connected or caller.abandoned:
        return
    left_t, position = caller.left
    joined = next((t for t, line in out if line.split("|", 5)[1:2] == [uid] and "|ENTERQUEUE|" in line), left_t)
    out.append((left_t, format_line(left_t, uid, caller.queue, "NONE", "EXITWITHTIMEOUT", position,
                                    caller.position, int(left_t - joined))))
