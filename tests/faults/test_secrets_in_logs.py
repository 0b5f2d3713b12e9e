"""No secret in anything callmon writes: stdout, stderr, logs (text and JSON), spool files, the SQLite store.

Why: logs go to journald and on to log shippers; error output is pasted into tickets.  Real
processes run with known secrets (the AMI secret from the config file and its environment
override, a PostgreSQL password in the database URL, web passwords, the metrics token) through
the situations that write errors: AMI refusing the login, AMI dropping the connection, AMI
unreachable, bad database URLs, ``callmon config``, account commands and failed web sign-ins.
Every output is then searched for each secret as written, URL-encoded, JSON-escaped and as a repr.
The secrets hold quotes, backslashes, ``%@/:`` and Chinese, which change under each encoding.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import pytest
from sqlalchemy.engine import URL, make_url

from tests.conftest import ASTERISK
from tests.fakeami import FakeAmiServer
from tests.test_live_daemon import MIXED, Daemon, _free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
AMI_FILE_SECRET = 'amifile-S3cr"et\\%2F@:#密钥'  # [ami] secret in the file, overridden by the environment
AMI_SECRET = "amienv-S3cr'et\"\\%@/:#口令"  # CALLMON_AMI_SECRET
DB_PASSWORD = 'pgpass-P4ss"w\\rd%@/:?#密'
WEB_PASSWORD = 'webpass-R1ght"\\%@/密码'
WEB_WRONG = "webpass-Wr0ng'\"\\%@/猜"
SHORT_PASSWORD = "kurz-7%\"q"  # refused as too short: the refusal must not repeat it
METRICS_TOKEN = 'metrics-T0k"en\\%@/:'  # ASCII: it travels in an HTTP header
METRICS_WRONG = 'metrics-Wr0ng"\\%@/'
SECRETS = [AMI_FILE_SECRET, AMI_SECRET, DB_PASSWORD, WEB_PASSWORD, WEB_WRONG, SHORT_PASSWORD, METRICS_TOKEN,
           METRICS_WRONG]


def forms(secret: str) -> set[str]:
    """The ways a secret can be written out: as is, URL-encoded, in a SQLAlchemy URL, JSON, repr."""
    in_url = URL.create("postgresql", "u", secret, "h").render_as_string(hide_password=False)
    return {secret, quote(secret), quote(secret, safe=""), quote_plus(secret), in_url[len("postgresql://u:"):-2],
            json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1], repr(secret)[1:-1],
            secret.encode("unicode_escape").decode("ascii")}


class Outputs:
    """Everything the processes of one test wrote, by where it came from."""

    def __init__(self, out: Path) -> None:
        self.out = out  # each process's working directory and spool: files left there are searched too
        self.texts: dict[str, str] = {}

    def add(self, where: str, text: str) -> None:
        self.texts[where] = self.texts.get(where, "") + text

    def leaks(self) -> list[str]:
        found = []
        texts = dict(self.texts)
        for path in sorted(p for p in self.out.rglob("*") if p.is_file()):
            texts[str(path)] = path.read_bytes().decode("utf-8", "replace")
        for where, text in texts.items():
            for secret in SECRETS:
                for form in forms(secret):
                    if form in text:
                        at = text.index(form)
                        found.append(f"{where}: {secret!r} as {form!r}: ...{text[max(0, at - 80):at + 80]!r}")
        return found


@pytest.fixture
def outputs(tmp_path: Path) -> Iterator[Outputs]:
    found = Outputs(tmp_path / "out")
    found.out.mkdir()
    yield found
    assert found.texts, "nothing was run"
    leaks = found.leaks()
    assert not leaks, "secrets written out:\n" + "\n".join(leaks)


def write_config(tmp_path: Path, db_url: str) -> Path:
    """A config file holding secrets; the test's inputs live outside the searched directory."""
    path = tmp_path / "callmon.toml"
    path.write_text(f"[ami]\nsecret = {json.dumps(AMI_FILE_SECRET, ensure_ascii=False)}\n"
                    f"[http]\nmetrics_token = {json.dumps(METRICS_TOKEN)}\n"
                    f"[database]\nurl = {json.dumps(db_url)}\n", encoding="utf-8")
    return path


def with_password(url: str, host_port: str | None = None, database: str | None = None) -> str:
    parsed = make_url(url).set(password=DB_PASSWORD)
    if host_port:
        host, port = host_port.split(":")
        parsed = parsed.set(host=host, port=int(port))
    if database:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def runner(tmp_path: Path, outputs: Outputs, db_url: str, **env_extra: str) -> Callable[..., int]:
    """Runs ``callmon ARGS`` with the config file and AMI secret override; records its output."""
    config = write_config(tmp_path, db_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLMON_") or k == "CALLMON_MODELS_DIR"}
    env.update({"CALLMON_CONFIG": str(config), "CALLMON_AMI_SECRET": AMI_SECRET,
                "CALLMON_SPOOL_DIR": str(outputs.out / "spool"), **env_extra})

    def run(*args: str, stdin: str = "", more_env: dict[str, str] | None = None) -> int:
        result = subprocess.run([sys.executable, "-m", "callmon", *args], input=stdin, capture_output=True,
                                text=True, cwd=outputs.out, env={**env, **(more_env or {})}, timeout=120)
        outputs.add(f"callmon {' '.join(args)}", result.stdout + result.stderr)
        return result.returncode

    return run


LOG_MODES = {"text-debug": {"CALLMON_LOG_LEVEL": "DEBUG"}, "json": {"CALLMON_LOG_JSON": "true"}}


@pytest.mark.parametrize("mode", list(LOG_MODES))
def test_commands_and_bad_database_urls(tmp_path: Path, outputs: Outputs, postgres_base: str | None,
                                        mode: str) -> None:
    sqlite = f"sqlite:///{outputs.out / 'callmon.db'}"
    run = runner(tmp_path, outputs, sqlite, **LOG_MODES[mode])
    pg = postgres_base or "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    assert run("config") == 0
    assert run("config", more_env={"CALLMON_DATABASE_URL": with_password(pg)}) == 0
    assert run("config", "--reference") == 0
    assert run("user", "add", "zhang", "--role", "supervisor", stdin=WEB_PASSWORD + "\n") == 0
    assert run("user", "passwd", "zhang", stdin=WEB_PASSWORD + "\n") == 0
    assert run("user", "add", "li", "--role", "auditor", stdin=SHORT_PASSWORD + "\n") == 2
    assert run("user", "list") == 0
    unreachable = with_password(pg, host_port=f"127.0.0.1:{_free_port()}")
    assert run("calls", "--db", unreachable) == 1
    assert run("user", "list", "--db", unreachable) == 1
    assert run("run", "--db", unreachable) == 1
    malformed = with_password(pg).replace(":5432/", ":54x32/")
    assert run("calls", "--db", malformed) != 0
    assert run("config", "--db", malformed) == 0  # shown, masked: it is only read when used
    if postgres_base is not None:  # a server that says no: the database does not exist
        assert run("calls", "--db", with_password(pg, database="no_such_db_callmon")) == 1


@pytest.mark.postgres
def test_replay_into_postgres_with_a_password(tmp_path: Path, outputs: Outputs, postgres_url: str) -> None:
    run = runner(tmp_path, outputs, with_password(postgres_url))
    assert run("replay", str(ASTERISK / "ami-capture-ring07-noncompliant.raw")) == 0
    assert run("calls") == 0
    assert run("replay", "--json", str(ASTERISK / "ami-capture-ring02-compliant.raw")) == 0


def daemon_env(tmp_path: Path, outputs: Outputs, mode: str) -> dict[str, str]:
    config = write_config(tmp_path, "sqlite:///unused.db")
    return {"CALLMON_CONFIG": str(config), "CALLMON_SPOOL_DIR": str(outputs.out / "spool"), **LOG_MODES[mode]}


def collect(outputs: Outputs, daemon: Daemon, what: str) -> None:
    outputs.add(f"callmon run ({what}): stderr", daemon.stderr)
    outputs.add(f"callmon run ({what}): stdout", daemon.out.read_text(encoding="utf-8", errors="replace"))


@pytest.mark.parametrize("mode", list(LOG_MODES))
def test_daemon_refused_and_unreachable_ami(tmp_path: Path, outputs: Outputs, run_daemon: Callable[..., Daemon],
                                            mode: str) -> None:
    env = daemon_env(tmp_path, outputs, mode)
    with FakeAmiServer(MIXED, secret="not-the-configured-one") as server:
        daemon = run_daemon(server.port, f"sqlite:///{outputs.out / 'refused.db'}", secret=AMI_SECRET, **env)
        assert daemon.proc.wait(timeout=30) == 3
        assert server.logins == [("monitor", False)]
    collect(outputs, daemon, "login refused")
    assert "refused" in daemon.stderr
    daemon = run_daemon(_free_port(), f"sqlite:///{outputs.out / 'down.db'}", secret=AMI_SECRET, **env)
    wait_until(lambda: "AMI unavailable" in daemon.stderr, timeout=30, what="the outage logged")
    assert daemon.stop() == 0
    collect(outputs, daemon, "AMI unreachable")


@pytest.mark.postgres
@pytest.mark.parametrize("mode", list(LOG_MODES))
def test_daemon_dropped_by_ami_with_web_sign_ins_and_metrics(tmp_path: Path, outputs: Outputs, postgres_url: str,
                                                             run_daemon: Callable[..., Daemon], mode: str) -> None:
    db_url = with_password(postgres_url)
    run = runner(tmp_path, outputs, db_url, **LOG_MODES[mode])
    assert run("user", "add", "zhang", "--role", "supervisor", stdin=WEB_PASSWORD + "\n") == 0
    http = _free_port()
    with FakeAmiServer(MIXED, secret=AMI_SECRET, drop_after_frames=300) as server:
        daemon = run_daemon(server.port, db_url, secret=AMI_SECRET, CALLMON_WEB_ENABLED="true",
                            CALLMON_HTTP_PORT=str(http), **daemon_env(tmp_path, outputs, mode))
        wait_until(lambda: "AMI connection lost" in daemon.stderr, timeout=30, what="the drop logged")
        wait_until(lambda: server.connections >= 2, timeout=30, what="the reconnect")
        base = f"http://127.0.0.1:{http}"
        wait_until(lambda: _answers(f"{base}/healthz"), timeout=30, what="the web server")
        with httpx.Client(base_url=base, timeout=10) as client:
            for user, password in (("zhang", WEB_WRONG), ("nobody", WEB_PASSWORD), ("zhang", SHORT_PASSWORD)):
                assert client.post("/api/session", json={"username": user, "password": password}).status_code == 401
            form = client.get("/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert csrf, form.text
            assert client.post("/login", data={"username": "zhang", "password": WEB_WRONG,
                                               "csrf": csrf.group(1)}).status_code == 401
            assert client.post("/api/session", json={"username": "zhang", "password": WEB_PASSWORD}).status_code == 200
            for token in (METRICS_WRONG, METRICS_TOKEN + "x", AMI_SECRET.encode("ascii", "ignore").decode()):
                assert client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).status_code == 401
            assert client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).status_code == 200
        assert daemon.stop() == 0
    collect(outputs, daemon, "AMI dropped, web sign-ins")
    assert "AMI connected again" in daemon.stderr


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_search_finds_a_secret_in_every_form(tmp_path: Path) -> None:
    """The check itself: each encoded form of a secret written anywhere is caught."""
    for secret in (AMI_SECRET, DB_PASSWORD, METRICS_TOKEN):
        for form in forms(secret):
            found = Outputs(tmp_path / "probe")
            found.out.mkdir(exist_ok=True)
            (found.out / "x.log").write_text(f"before {form} after", encoding="utf-8")
            assert found.leaks(), form
    assert len(forms(DB_PASSWORD)) >= 5


def test_a_killed_daemon_leaves_no_secret_in_its_spool(tmp_path: Path, outputs: Outputs,
                                                       run_daemon: Callable[..., Daemon]) -> None:
    """SIGKILL (no clean shutdown): the spool files it leaves are searched as they are."""
    with FakeAmiServer(MIXED, secret=AMI_SECRET) as server:
        daemon = run_daemon(server.port, f"sqlite:///{outputs.out / 'killed.db'}", secret=AMI_SECRET,
                            **daemon_env(tmp_path, outputs, "text-debug"))
        server.wait_for(lambda: server.frames_sent >= 200, timeout=30)
        daemon.proc.send_signal(signal.SIGKILL)
        daemon.proc.wait(10)
    collect(outputs, daemon, "killed")
