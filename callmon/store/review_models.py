"""Tables of the people's side: accounts, sessions, reviews, disputes, calibration, the audit trail.

The automatic verdict stays in ``scores``; a person's verdict goes beside it (``scores.reviewed_*``,
see ``models.Score``), and every human decision is also an ``audit_log`` row, which the database
itself refuses to change or delete (triggers made by migration 0005).
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from callmon.store.models import Base

_ID = BigInteger().with_variant(Integer, "sqlite")


class User(Base):
    """An account: admin, supervisor, operator (bound to the member name calls carry) or auditor."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    operator: Mapped[str | None] = mapped_column(String(128))
    password_hash: Mapped[str] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_us: Mapped[int] = mapped_column(BigInteger)
    password_changed_us: Mapped[int] = mapped_column(BigInteger)


class WebSession(Base):
    """A signed-in browser: only the token's SHA-256 is kept, so a database copy signs nobody in."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_us: Mapped[int] = mapped_column(BigInteger)
    last_seen_us: Mapped[int] = mapped_column(BigInteger)


class LoginFailure(Base):
    """A failed sign-in, for throttling (per user name and per address)."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_user_at", "username", "at_us"),
                      Index("ix_login_failures_addr_at", "address", "at_us"))

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    at_us: Mapped[int] = mapped_column(BigInteger)


class ScoreFlag(Base):
    """One flag reason of a scored call, by kind, so the queue filters and counts by reason in SQL."""

    __tablename__ = "score_flags"
    __table_args__ = (Index("ix_score_flags_kind_call", "kind", "call_id"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))


class AuditRecord(Base):
    """Who did what to which verdict, when and why.  Insert-only: triggers refuse UPDATE and DELETE."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_call", "call_id", "at_us"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    at_us: Mapped[int] = mapped_column(BigInteger)
    username: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    call_id: Mapped[int | None] = mapped_column(BigInteger)
    item_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict[str, object] | None] = mapped_column(JSON)
    after: Mapped[dict[str, object] | None] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text, default="")


class Dispute(Base):
    """An operator's 申诉 against one item of one of their calls, and the supervisor's answer."""

    __tablename__ = "disputes"
    __table_args__ = (Index("ix_disputes_call", "call_id"), Index("ix_disputes_state", "state", "created_us"))

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    item_id: Mapped[str] = mapped_column(String(64))
    username: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    created_us: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16))  # open | accepted | rejected
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolution: Mapped[str | None] = mapped_column(Text)
    resolved_us: Mapped[int | None] = mapped_column(BigInteger)


class CalibrationSample(Base):
    """A random draw of a month's answered calls, scored blind by supervisors (校准)."""

    __tablename__ = "calibration_samples"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    month: Mapped[str] = mapped_column(String(7))
    per_10000: Mapped[int] = mapped_column(Integer)  # the share drawn, in units of 0.01 %
    seed: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(64))
    created_us: Mapped[int] = mapped_column(BigInteger)
    call_ids: Mapped[list[int]] = mapped_column(JSON, default=list)


class CalibrationVerdict(Base):
    """One supervisor's blind verdict on one sampled call: item id -> kept (true/false)."""

    __tablename__ = "calibration_verdicts"
    __table_args__ = (UniqueConstraint("sample_id", "call_id", "username", name="uq_calibration_verdict"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("calibration_samples.id", ondelete="CASCADE"), index=True)
    call_id: Mapped[int] = mapped_column(BigInteger)
    username: Mapped[str] = mapped_column(String(64))
    items: Mapped[dict[str, bool]] = mapped_column(JSON, default=dict)
    created_us: Mapped[int] = mapped_column(BigInteger)
