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
    assert {"callmon.service", "callmon-worker@1.service", "callmon-export.service", "callmon-export.timer"} <= \
        set(names)
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
