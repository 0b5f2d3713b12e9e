"""The database tables, as SQLAlchemy 2 models.  Only ``callmon.store`` touches them.

Times are stored as microseconds since the epoch (BigInteger) so they are
exact on SQLite and PostgreSQL alike and month boundaries in any time zone
are plain integer ranges.  Durations are integer milliseconds.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class RawEvent(Base):
    """Every call event exactly as received, written before any call is computed."""

    __tablename__ = "raw_events"
    __table_args__ = (Index("ix_raw_events_call", "pbx", "linkedid", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    pbx: Mapped[str] = mapped_column(String(64))
    linkedid: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(64))
    ts_us: Mapped[int] = mapped_column(BigInteger)
    timed_by: Mapped[str] = mapped_column(String(10))
    received_us: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(255))
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    raw: Mapped[str] = mapped_column(Text)


class Call(Base):
    """One call's computed record; rebuilt from ``raw_events`` by recompute."""

    __tablename__ = "calls"
    __table_args__ = (
        UniqueConstraint("pbx", "linkedid", name="uq_calls_pbx_linkedid"),
        Index("ix_calls_offered", "offered_us"),
        Index("ix_calls_operator_offered", "operator", "offered_us"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    pbx: Mapped[str] = mapped_column(String(64))
    linkedid: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(255))
    caller: Mapped[str | None] = mapped_column(String(64))
    queue: Mapped[str | None] = mapped_column(String(128))
    operator: Mapped[str | None] = mapped_column(String(128))
    operator_interface: Mapped[str | None] = mapped_column(String(255))
    offered_us: Mapped[int | None] = mapped_column(BigInteger)
    answered_us: Mapped[int | None] = mapped_column(BigInteger)
    ended_us: Mapped[int | None] = mapped_column(BigInteger)
    first_event_us: Mapped[int | None] = mapped_column(BigInteger)
    ring_ms: Mapped[int | None] = mapped_column(Integer)
    wait_ms: Mapped[int | None] = mapped_column(Integer)
    rings: Mapped[int | None] = mapped_column(Integer)
    within_limit: Mapped[bool | None] = mapped_column(Boolean)
    outcome: Mapped[str] = mapped_column(String(16))
    abandoned: Mapped[bool] = mapped_column(Boolean, default=False)
    abandoned_after_ms: Mapped[int | None] = mapped_column(Integer)
    transferred: Mapped[bool] = mapped_column(Boolean, default=False)
    transfer_target: Mapped[str | None] = mapped_column(String(255))
    talk_ms: Mapped[int | None] = mapped_column(Integer)
    hangup_cause: Mapped[str | None] = mapped_column(String(128))
    incomplete: Mapped[bool] = mapped_column(Boolean, default=False)
    incomplete_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    timed_by: Mapped[str] = mapped_column(String(10))
    recordings: Mapped[list[str]] = mapped_column(JSON, default=list)
    ring_policy: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    computed_us: Mapped[int] = mapped_column(BigInteger)

    rings_list: Mapped[list[OperatorRingRow]] = relationship(
        back_populates="call", cascade="all, delete-orphan", order_by="OperatorRingRow.rung_us"
    )


class OperatorRingRow(Base):
    """One operator rung for one call: who, how long, and how it ended."""

    __tablename__ = "operator_rings"
    __table_args__ = (Index("ix_operator_rings_operator", "operator", "rung_us"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    operator: Mapped[str] = mapped_column(String(128))
    interface: Mapped[str | None] = mapped_column(String(255))
    dest_uniqueid: Mapped[str] = mapped_column(String(64))
    rung_us: Mapped[int] = mapped_column(BigInteger)
    ended_us: Mapped[int | None] = mapped_column(BigInteger)
    ring_ms: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))
    rings: Mapped[int | None] = mapped_column(Integer)
    within_limit: Mapped[bool | None] = mapped_column(Boolean)

    call: Mapped[Call] = relationship(back_populates="rings_list")
