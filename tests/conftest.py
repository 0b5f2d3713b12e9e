"""Shared fixtures: the real captures, their ground truth, and databases.

Database tests run on SQLite and on PostgreSQL.  PostgreSQL is taken from
CALLMON_TEST_POSTGRES_URL (default: the local server at 127.0.0.1:5432,
database ``test``); each test gets a schema of its own, dropped afterwards.
With CALLMON_REQUIRE_POSTGRES=1 (as in .ci/run) an unreachable server fails
the run instead of skipping.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

FIXTURES = Path(__file__).parent / "fixtures"
ASTERISK = FIXTURES / "asterisk"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def asterisk_dir() -> Path:
    return ASTERISK


@pytest.fixture(scope="session")
def scenarios() -> dict[str, Any]:
    return json.loads((ASTERISK / "scenarios.json").read_text(encoding="utf-8"))


def all_ground_truth_calls() -> list[tuple[str, dict[str, Any]]]:
    data = json.loads((ASTERISK / "scenarios.json").read_text(encoding="utf-8"))
    return [(cap["file"], call) for cap in data["captures"].values() for call in cap["calls"]]


def _postgres_base() -> str | None:
    url = os.environ.get("CALLMON_TEST_POSTGRES_URL", PG_DEFAULT)
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return url
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("CALLMON_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL required (CALLMON_REQUIRE_POSTGRES=1) but not reachable at {url}: {exc}")
        return None


@pytest.fixture(scope="session")
def postgres_base() -> str | None:
    return _postgres_base()


@pytest.fixture
def postgres_url(postgres_base: str | None) -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh, empty schema."""
    if postgres_base is None:
        pytest.skip("no PostgreSQL reachable (set CALLMON_TEST_POSTGRES_URL)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_base, pool_pre_ping=True)  # the server may have been restarted meanwhile
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in postgres_base else "?"
    yield f"{postgres_base}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'callmon.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="session")
def pipeline_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file holding the bundled captures run through the whole real pipeline (built once)."""
    from tests.webapp import build_pipeline_db

    path = tmp_path_factory.mktemp("pipeline") / "month.db"
    build_pipeline_db(path)
    return path


@pytest.fixture
def pipeline_db(pipeline_db_template: Path, tmp_path: Path) -> str:
    """A private copy of the pipeline month with the test accounts added; returns its URL."""
    from tests.webapp import add_accounts, copy_db

    url = copy_db(pipeline_db_template, tmp_path / "month.db")
    add_accounts(url)
    return url


@pytest.fixture
def run_daemon(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Starts ``callmon run`` subprocesses (``tests.test_live_daemon.Daemon``); kills what is left at the end."""
    from tests.test_live_daemon import Daemon

    started: list[Daemon] = []

    def start(port: int, db_url: str, **env: str) -> Daemon:
        started.append(Daemon(port, db_url, tmp_path, **env))
        return started[-1]

    yield start
    for daemon in started:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait()
