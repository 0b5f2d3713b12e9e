"""Reads pip-audit's JSON report and decides: known vulnerabilities fail, and so does an audit that checked nothing.

Why a second step: pip-audit asks PyPI ``/pypi/NAME/VERSION/json`` for each package, and says
"not found on PyPI" (a skip, exit 0) when that answer is missing, so an audit against a PyPI
mirror without the per-version endpoint would pass having checked nothing.  For each skipped
package this asks ``/pypi/NAME/json`` instead: its ``vulnerabilities`` are those of the latest
release, which is exactly right when the installed version is the latest one.  Any other
skipped package is listed as not audited, and fails the run unless ``--allow-unaudited``.

Run with the environment's own interpreter (``.venv/bin/python``): installed versions come
from its ``importlib.metadata``.  Exit 0 clean, 1 vulnerable, 2 not (fully) audited.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

PYPI = "https://pypi.org/pypi"


def installed() -> dict[str, str]:
    """Installed distributions by normalised name."""
    return {_norm(d.metadata["Name"]): d.version for d in metadata.distributions()}


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def load_ignores(path: Path) -> dict[str, str]:
    """``ID reason…`` per line; every ignore must say why."""
    out: dict[str, str] = {}
    if not path.exists():
        return out
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        vuln_id, _, reason = line.partition(" ")
        if not reason.strip():
            sys.exit(f"{path}:{number}: an ignored vulnerability needs a reason after its id")
        out[vuln_id] = reason.strip()
    return out


def project_json(name: str, timeout: float) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{PYPI}/{name}/json", timeout=timeout) as response:
            data: dict[str, Any] = json.load(response)
            return data
    except (urllib.error.URLError, TimeoutError, ValueError):
        return None


def fallback(name: str, version: str, timeout: float) -> tuple[list[dict[str, Any]] | None, str]:
    """The latest release's vulnerabilities if ``version`` is the latest; else None and why not."""
    data = project_json(name, timeout)
    if data is None:
        return None, "PyPI did not answer"
    latest = str(data.get("info", {}).get("version", ""))
    if latest != version:
        return None, f"installed {version}, PyPI can only say for the latest release {latest}"
    vulns = [{"id": v.get("id"), "aliases": v.get("aliases") or [], "fix_versions": v.get("fixed_in") or []}
             for v in data.get("vulnerabilities") or [] if not v.get("withdrawn")]
    return vulns, ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="pip-audit --format json output")
    parser.add_argument("--ignore-file", type=Path, default=Path(__file__).with_name("audit-ignore.txt"))
    parser.add_argument("--allow-unaudited", action="store_true",
                        help="list packages nobody could audit without failing on them")
    parser.add_argument("--timeout", type=float, default=20.0)
    args = parser.parse_args()
    ignores = load_ignores(args.ignore_file)
    versions = installed()
    report = json.loads(args.report.read_text(encoding="utf-8"))
    found: list[tuple[str, str, dict[str, Any]]] = []
    audited, skipped = 0, []
    for dep in report.get("dependencies", []):
        if "skip_reason" not in dep:
            audited += 1
            found += [(dep["name"], dep["version"], v) for v in dep.get("vulns", [])]
        elif "editable" not in dep["skip_reason"]:  # callmon itself is not on PyPI
            skipped.append(_norm(dep["name"]))
    unaudited: list[tuple[str, str]] = []
    with ThreadPoolExecutor(8) as pool:
        answers = pool.map(lambda n: (n, fallback(n, versions.get(n, "?"), args.timeout)), skipped)
        for name, (vulns, why) in answers:
            if vulns is None:
                unaudited.append((name, why))
                continue
            audited += 1
            found += [(name, versions[name], v) for v in vulns]
    ignored = [f for f in found if {f[2]["id"], *f[2]["aliases"]} & set(ignores)]
    real = [f for f in found if f not in ignored]
    for name, version, vuln in ignored:
        key = next(i for i in (vuln["id"], *vuln["aliases"]) if i in ignores)
        print(f"ignored: {name} {version} {vuln['id']}: {ignores[key]}")
    for name, version, vuln in real:
        fixes = ", ".join(vuln.get("fix_versions") or []) or "no fixed release"
        print(f"VULNERABLE: {name} {version} {vuln['id']} ({', '.join(vuln['aliases'])}) fixed in: {fixes}")
    for name, why in unaudited:
        print(f"not audited: {name}: {why}")
    print(f"pip-audit: {audited} package(s) audited, {len(real)} known vulnerabilit(y/ies), "
          f"{len(ignored)} ignored with a reason, {len(unaudited)} not audited")
    if real:
        return 1
    if audited == 0 or (unaudited and not args.allow_unaudited):
        print("the audit is incomplete: the vulnerability service could not answer for every package",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
