"""The systemd units as systemd reads them: ``systemd-analyze verify`` on every unit in systemd/,
with ExecStart pointing at this checkout's callmon (and the worker template instantiated)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[1] / "systemd"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_every_unit_verifies(tmp_path: Path) -> None:
    callmon = Path(sys.executable).with_name("callmon")
    names = []
    for unit in sorted(UNITS.glob("*.service")) + sorted(UNITS.glob("*.timer")):
        text = unit.read_text().replace("/opt/callmon/.venv/bin/callmon", str(callmon))
        name = unit.name.replace("@.service", "@1.service")  # a template is verified as an instance
        (tmp_path / name).write_text(text)
        names.append(name)
    assert {"callmon.service", "callmon-worker@1.service", "callmon-export.service", "callmon-export.timer",
            "callmon-purge.service", "callmon-purge.timer"} <= set(names)
    done = subprocess.run(["systemd-analyze", "verify", *names], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def test_the_daemon_unit_is_notify_with_a_watchdog_and_hardened() -> None:
    text = (UNITS / "callmon.service").read_text()
    for line in ("Type=notify", "NotifyAccess=main", "Restart=on-failure", "ProtectSystem=strict",
                 "NoNewPrivileges=yes", "PrivateTmp=yes", "User=callmon"):
        assert re.search(rf"^{re.escape(line)}$", text, re.M), line
    assert re.search(r"^WatchdogSec=\d+$", text, re.M)
    worker = (UNITS / "callmon-worker@.service").read_text()
    assert re.search(r"^ExecStart=\S+/callmon worker --name %H-%i$", worker, re.M)


def test_install_script_is_idempotent_and_keeps_the_secret_private(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[1] / "scripts" / "install-systemd.sh"
    first = subprocess.run([str(script), "--root", str(tmp_path)], capture_output=True, text=True, check=True)
    assert "wrote" in first.stdout and "created" in first.stdout
    etc = tmp_path / "etc" / "callmon"
    (etc / "ami.secret").write_text("s3cret\n")
    (etc / "callmon.toml").write_text((etc / "callmon.toml").read_text() + "\n# edited by the admin\n")
    second = subprocess.run([str(script), "--root", str(tmp_path)], capture_output=True, text=True, check=True)
    assert "kept" in second.stdout and "wrote" not in second.stdout and "created" not in second.stdout
    assert (etc / "ami.secret").read_text() == "s3cret\n"
    assert (etc / "callmon.toml").read_text().endswith("# edited by the admin\n")
    assert (etc / "ami.secret").stat().st_mode & 0o777 == 0o640
    assert (etc / "callmon.toml").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "var" / "lib" / "callmon" / "exports").is_dir()
    units = tmp_path / "etc" / "systemd" / "system"
    checkout = str(script.parents[1])
    for name in ("callmon.service", "callmon-worker@.service", "callmon-export.service", "callmon-export.timer",
                 "callmon-purge.service", "callmon-purge.timer"):
        text = (units / name).read_text()
        assert "/opt/callmon" not in text, name
        if name.endswith(".service"):
            assert f"ExecStart={checkout}/.venv/bin/callmon" in text, name
    assert "s3cret" not in first.stdout + second.stdout


def test_the_purge_unit_runs_purge_nightly_and_may_write_the_spool() -> None:
    service = (UNITS / "callmon-purge.service").read_text()
    assert re.search(r"^ExecStart=\S+/callmon purge$", service, re.M)
    assert re.search(r"^Type=oneshot$", service, re.M) and re.search(r"^ProtectSystem=strict$", service, re.M)
    assert re.search(r"^ReadWritePaths=.*-/var/spool/asterisk/monitor", service, re.M)  # deletes recordings there
    timer = (UNITS / "callmon-purge.timer").read_text()
    assert re.search(r"^OnCalendar=\*-\*-\* \d\d:\d\d:00 ", timer, re.M) and "Persistent=true" in timer
    assert re.search(r"^Unit=callmon-purge.service$", timer, re.M)
