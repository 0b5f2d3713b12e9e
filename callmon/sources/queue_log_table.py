"""Asterisk's queue_log kept in a database table (realtime ``queue_log => odbc,…`` in extconfig.conf).

Why: many centers log queue events to a table instead of the file.  The rows are turned back into
queue_log lines (``epoch|callid|queue|agent|EVENT|data…``) so one parser serves both.  The table is
the one Asterisk's realtime driver writes: ``time`` (local time of the PBX), ``callid``,
``queuename``, ``agent``, ``event`` and either ``data1``…``data5`` or a single ``data`` column
holding the pipe-joined fields.  Configured as ``<SQLAlchemy URL>#<table>`` (table default
``queue_log``).
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from functools import cached_property

from sqlalchemy import MetaData, Table, create_engine, select
from sqlalchemy.engine import Engine

DATA_COLUMNS = ("data1", "data2", "data3", "data4", "data5")


def is_table_source(source: str) -> bool:
    return "://" in source


class QueueLogTable:
    """Reads the rows from a moment on, as queue_log lines."""

    def __init__(self, source: str, tz: tzinfo) -> None:
        url, _, table = source.partition("#")
        self.url, self.table_name, self.tz = url, table or "queue_log", tz

    @cached_property
    def engine(self) -> Engine:
        return create_engine(self.url, pool_pre_ping=True)

    @cached_property
    def table(self) -> Table:
        return Table(self.table_name, MetaData(), autoload_with=self.engine)

    def describe(self) -> str:
        return f"table {self.table_name} at {self.engine.url.render_as_string(hide_password=True)}"

    def lines_since(self, since_epoch: int) -> list[str]:
        t = self.table
        since = datetime.fromtimestamp(since_epoch, self.tz).replace(tzinfo=None)
        order = [t.c.time, t.c.id] if "id" in t.c else [t.c.time]
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).where(t.c.time >= since).order_by(*order)).mappings().all()
        return [self._line(row) for row in rows]

    def _line(self, row: object) -> str:
        get = row.get  # type: ignore[attr-defined]
        when = get("time")
        if isinstance(when, str):
            when = datetime.fromisoformat(when)
        epoch = int((when if when.tzinfo else when.replace(tzinfo=self.tz)).timestamp())
        if "data1" in self.table.c:
            data = [get(c) or "" for c in DATA_COLUMNS if c in self.table.c]
        else:
            data = (get("data") or "").split("|")
        while data and data[-1] == "":
            data.pop()
        head = [str(epoch), get("callid") or "", get("queuename") or "", get("agent") or "", get("event") or ""]
        return "|".join(str(v).strip() for v in head + data)
