"""The monthly export against ``callmon stats`` and ``callmon score``, in every format.

The month: the bundled captures through the real pipeline (November 2026) plus generated calls
in the same month and the eleven before it, with reviews, overrides and disputes.  Each format is
read back with what an office would use to read it (openpyxl, the csv module, poppler's
``pdftotext``/``pdffonts``) and every figure compared with the command-line output.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from callmon.cli import main as callmon_main
from callmon.export.tables import OPERATOR_SCORES, OPERATOR_STATS, SUMMARY_METRICS
from callmon.store.db import open_store
from callmon.store.models import Call, Score
from tests.generated_month import generate_month
from tests.webapp import copy_db

MONTH, PREVIOUS = "2026-11", "2026-10"
SHANGHAI = ZoneInfo("Asia/Shanghai")
ARTIFACTS = Path(__file__).resolve().parents[1] / "build" / "test-artifacts" / "export"
RING_KEYS = ("ring_mean", "ring_median", "ring_p90")
POPPLER = [t for t in ("pdftotext", "pdffonts", "pdftoppm") if shutil.which(t) is None]


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = callmon_main(list(argv))
    return status, out.getvalue()


def cli_json(*argv: str) -> dict[str, Any]:
    status, out = run(*argv, "--json")
    assert status == 0, out
    return dict(json.loads(out))


@dataclass
class Exported:
    url: str
    out: Path
    stats: dict[str, Any]
    score: dict[str, Any]
    prev_stats: dict[str, Any]
    prev_score: dict[str, Any]

    def file(self, suffix: str) -> Path:
        found = sorted(self.out.glob(f"callmon-*-{MONTH}{suffix}"))
        assert len(found) == 1, (suffix, list(self.out.iterdir()))
        return found[0]


@pytest.fixture(scope="module")
def exported(pipeline_db_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    tmp = tmp_path_factory.mktemp("export")
    url = copy_db(pipeline_db_template, tmp / "month.db")
    generate_month(open_store(url), month=MONTH, calls=900, operators=5, seed=7, history_months=11, history_calls=120)
    out = tmp / "out"
    status, text = run("export", "--db", url, "--month", MONTH, "--out", str(out), "--unmasked")
    assert status == 0, text
    return Exported(url, out, cli_json("stats", "--db", url, "--month", MONTH),
                    cli_json("score", "--db", url, "--month", MONTH),
                    cli_json("stats", "--db", url, "--month", PREVIOUS),
                    cli_json("score", "--db", url, "--month", PREVIOUS))


def center(stats: dict[str, Any], score: dict[str, Any]) -> dict[str, Any]:
    """What the summary must show, taken from the JSON of the two commands."""
    c, s = stats["center"], score["center"]
    out = {k: c[k] for k in ("calls_offered", "answered", "abandoned", "abandon_rate_pct", "incomplete",
                             "within_ring_limit_pct", "answered_within_10s_pct", "answered_within_15s_pct",
                             "answered_within_20s_pct")}
    out.update({f"ring_{k}": c["ring_seconds"][k] for k in ("mean", "median", "p90")})
    out.update({f"wait_{k}": c["wait_seconds"][k] for k in ("mean", "median", "p90")})
    out.update({k: s[k] for k in ("scored", "mean_score", "pass_rate_pct", "flagged", "reviewed", "overridden",
                                  "disputed")})
    return out


def same(shown: Any, expected: Any, kind: str, where: str) -> None:
    if expected is None:
        assert shown in (None, ""), where
        return
    value = float(shown) * (100 if kind == "pct" else 1)
    assert value == pytest.approx(float(expected), abs=1e-9), f"{where}: {shown!r} vs {expected!r}"


def test_the_month_is_real_and_generated(exported: Exported) -> None:
    ops = {o["operator"] for o in exported.stats["operators"]}
    assert {"op1001", "op1002"} <= ops and {"op2001", "op2005"} <= ops  # pipeline and generated operators
    c = exported.score["center"]
    assert c["reviewed"] > 0 and c["overridden"] > 0 and c["disputed"] > 0 and c["flagged"] > 0


def test_xlsx_summary_and_operators_equal_stats_and_score(exported: Exported) -> None:
    wb = openpyxl.load_workbook(exported.file(".xlsx"), read_only=True)
    assert wb.sheetnames == ["汇总", "接警员", "扣分明细", "通话明细"]
    rows = {r[0]: r for r in wb["汇总"].iter_rows(values_only=True) if r and r[0]}
    now, before = center(exported.stats, exported.score), center(exported.prev_stats, exported.prev_score)
    for key, label, kind in SUMMARY_METRICS:
        assert label in rows, label
        same(rows[label][2], now[key], kind, f"{label} this month")
        same(rows[label][3], before[key], kind, f"{label} previous month")
    grammar = next(r[1] for r in rows.values() if r[0] == "评分规则文件（SHA-256）")
    for digest in exported.score["grammar_hashes"]:
        assert digest in grammar
    sheet = list(wb["接警员"].iter_rows(values_only=True))
    header, body = sheet[0], {r[0]: r for r in sheet[1:]}
    stats = {o["operator"]: o for o in exported.stats["operators"]}
    scores = {o["operator"]: o for o in exported.score["operators"]}
    assert set(body) == set(stats) | set(scores)
    for name, row in body.items():
        for col, (key, label, kind) in enumerate(OPERATOR_STATS + OPERATOR_SCORES, start=1):
            assert header[col] == label
            if (key, label, kind) in OPERATOR_STATS:
                st = stats.get(name, {})
                expected = st.get("ring_seconds", {}).get(key[5:]) if key in RING_KEYS else st.get(key)
            else:
                expected = scores.get(name, {}).get(key)
            same(row[col], expected, kind, f"{name} {label}")
        items = scores.get(name, {}).get("items_pct", {})
        assert sum(v is not None for v in row[1 + len(OPERATOR_STATS + OPERATOR_SCORES):]) == \
            sum(v is not None for v in items.values())


def test_xlsx_has_native_charts_frozen_headers_filters_and_formats(exported: Exported) -> None:
    path = exported.file(".xlsx")
    with zipfile.ZipFile(path) as zf:
        charts = sorted(n for n in zf.namelist() if re.fullmatch(r"xl/charts/chart\d+\.xml", n))
        xml = [zf.read(n).decode() for n in charts]
    assert len(charts) == 3
    assert any("接警员" in x and "barChart" in x for x in xml)  # pass and within-limit per operator
    assert any("C0504D" in x and "barChart" in x for x in xml)  # ring seconds, bars past the limit in red
    assert any("lineChart" in x for x in xml)  # the 12 months
    wb = openpyxl.load_workbook(path)
    for name in ("接警员", "扣分明细", "通话明细"):
        ws = wb[name]
        assert ws.freeze_panes == "B2", name
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:"), name
        for cell in ws[1]:  # wide enough for the Chinese header (a CJK character takes two columns)
            need = sum(2 if ord(ch) > 0x2E80 else 1 for ch in str(cell.value))
            assert ws.column_dimensions[cell.column_letter].width >= min(60, need), (name, cell.value)
    ops = wb["接警员"]
    headers = [c.value for c in ops[1]]
    assert ops.cell(2, headers.index("合格率") + 1).number_format == "0.0%"
    assert ops.cell(2, headers.index("振铃平均（秒）") + 1).number_format == "0.000"
    calls = wb["通话明细"]
    assert calls.max_row - 1 == exported.stats["center"]["calls_offered"] + _not_offered(exported)


def _not_offered(exported: Exported) -> int:
    engine = open_store(exported.url)
    start, end = (int(datetime(2026, 11, 1, tzinfo=SHANGHAI).timestamp() * 1e6),
                  int(datetime(2026, 12, 1, tzinfo=SHANGHAI).timestamp() * 1e6))
    with Session(engine) as s:
        return len(list(s.scalars(select(Call.id).where(Call.outcome == "not_offered", Call.first_event_us >= start,
                                                         Call.first_event_us < end))))


def test_detail_sheets_carry_both_scores_and_every_deduction(exported: Exported) -> None:
    wb = openpyxl.load_workbook(exported.file(".xlsx"), read_only=True)
    calls = list(wb["通话明细"].iter_rows(values_only=True))
    head = calls[0]
    by_id = {r[0]: dict(zip(head, r, strict=True)) for r in calls[1:]}
    engine = open_store(exported.url)
    with Session(engine) as s:
        scored = s.execute(select(Call.linkedid, Score.score, Score.reviewed_score, Score.items, Score.reviewed_items)
                           .join(Score, Score.call_id == Call.id)
                           .where(Call.linkedid.in_(list(by_id)))).all()
    assert len(scored) == exported.score["center"]["calls"]
    deductions = list(wb["扣分明细"].iter_rows(values_only=True))
    points: dict[str, int] = {}
    for row in deductions[1:]:
        points[row[0]] = points.get(row[0], 0) + row[5]
    expected_rows = 0
    for linkedid, auto, reviewed, items, r_items in scored:
        row = by_id[linkedid]
        assert row["自动得分"] == auto and row["复核得分"] == reviewed, linkedid
        reviewed_ids = {i["id"]: i for i in r_items or []}
        expected_rows += sum(1 for i in items if i["deduction"] or (reviewed_ids.get(i["id"]) or {}).get("deduction"))
        if auto:  # the automatic score is 100 less what the deductions cost (a score of 0 is clamped)
            assert 100 - points.get(linkedid, 0) == auto, linkedid
    assert len(deductions) - 1 == expected_rows
    decisions = {r[8] for r in deductions[1:]}
    assert {"未复核", "复核确认", "复核改判"} <= decisions
    assert all(r[7] for r in deductions[1:] if r[3] != "rings"), "a deduction without its evidence"


def test_csv_files_have_a_bom_and_the_same_figures(exported: Exported) -> None:
    parts = {p: exported.file(f"-{p}.csv") for p in ("summary", "operators", "deductions", "calls")}
    for path in parts.values():
        assert path.read_bytes()[:3] == b"\xef\xbb\xbf", path
    rows = list(csv.reader(parts["summary"].open(encoding="utf-8-sig")))
    assert rows[0][0] == "报表" and any(r[:1] == ["时区"] and r[1] == "Asia/Shanghai" for r in rows)
    by_label = {r[0]: r for r in rows if r}
    now = center(exported.stats, exported.score)
    for key, label, kind in SUMMARY_METRICS:
        expected = now[key]
        shown = by_label[label][2]
        same(None if shown == "" else float(shown) / (100 if kind == "pct" else 1), expected, kind, label)
    ops = list(csv.DictReader(parts["operators"].open(encoding="utf-8-sig")))
    scores = {o["operator"]: o for o in exported.score["operators"]}
    for row in ops:
        sc = scores.get(row["接警员"])
        if sc is not None:
            same(row["平均得分"] or None, sc["mean_score"], "score", f"{row['接警员']} mean score")
            assert int(row["标记待复核"]) == sc["flagged"]
    xlsx = openpyxl.load_workbook(exported.file(".xlsx"), read_only=True)
    assert sum(1 for _ in csv.reader(parts["calls"].open(encoding="utf-8-sig"))) == xlsx["通话明细"].max_row
    assert sum(1 for _ in csv.reader(parts["deductions"].open(encoding="utf-8-sig"))) == \
        xlsx["扣分明细"].max_row


@pytest.mark.skipif(bool(POPPLER), reason=f"{', '.join(POPPLER)} missing (scripts/install-system-deps.sh)")
def test_pdf_text_fonts_and_a_rendered_page(exported: Exported) -> None:
    pdf = exported.file(".pdf")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    for heading in ("110 接警服务质量月报", "汇总", "各接警员合格率与三声内接听率", "评分项达标率", "统计周期"):
        assert heading in text.replace("\u3000", " "), heading
    c = center(exported.stats, exported.score)
    assert re.search(rf"来电总数（进入队列）\s+次\s+{c['calls_offered']}\s", text)
    assert re.search(rf"合格率（≥ 80 分且无一票否决）\s+%\s+{c['pass_rate_pct']:.1f}%", text)
    assert re.search(rf"平均得分\s+分\s+{c['mean_score']:.1f}\s", text)
    for op in exported.score["operators"]:
        assert f"接警员 {op['operator']}" in text, op["operator"]
        if op["mean_score"] is not None:
            page = text.split(f"接警员 {op['operator']}", 1)[1].split("\f", 1)[0]
            assert re.search(rf"平均得分\s+{op['mean_score']:.1f}\s", page), op["operator"]
    pages = text.count("\f")
    assert pages >= 2 + len(exported.score["operators"])
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    cjk = [line for line in fonts.splitlines() if "WenQuanYi" in line]
    assert cjk and all(line.split()[-5] == "yes" for line in cjk), fonts  # the "emb" column
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "2", str(pdf), str(ARTIFACTS / "report-page")],
                   check=True)
    rendered = sorted(ARTIFACTS.glob("report-page-*.png"))
    assert rendered and all(p.stat().st_size > 20_000 for p in rendered)


def test_trend_and_previous_month_equal_stats_and_score_of_those_months(exported: Exported) -> None:
    wb = openpyxl.load_workbook(exported.file(".xlsx"), read_only=True)
    rows = list(wb["汇总"].iter_rows(values_only=True))
    start = next(i for i, r in enumerate(rows) if r and r[0] == "月份")
    trend = {r[0]: r for r in rows[start + 1:start + 13]}
    assert list(trend) == [f"2025-{m:02d}" for m in (12,)] + [f"2026-{m:02d}" for m in range(1, 12)]
    for month in ("2026-03", PREVIOUS, MONTH):
        st = cli_json("stats", "--db", exported.url, "--month", month)["center"]
        sc = cli_json("score", "--db", exported.url, "--month", month)["center"]
        row = trend[month]
        assert row[1] == st["calls_offered"], month
        same(row[2], st["within_ring_limit_pct"], "pct", f"{month} within")
        same(row[3], sc["pass_rate_pct"], "pct", f"{month} pass")
        same(row[4], sc["mean_score"], "score", f"{month} mean")
        same(row[5], st["abandon_rate_pct"], "pct", f"{month} abandon")


def test_rerun_replaces_files_atomically(exported: Exported, tmp_path: Path) -> None:
    out = tmp_path / "again"
    for _ in range(2):
        status, text = run("export", "--db", exported.url, "--month", MONTH, "--out", str(out), "--format", "csv,pdf")
        assert status == 0, text
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 5 and not any(n.startswith(".") for n in names), names


def test_masked_by_default(exported: Exported, tmp_path: Path) -> None:
    status, text = run("export", "--db", exported.url, "--month", MONTH, "--out", str(tmp_path), "--format", "csv")
    assert status == 0, text
    rows = list(csv.DictReader(next(tmp_path.glob("*-calls.csv")).open(encoding="utf-8-sig")))
    numbers = [r["来电号码"] for r in rows if r["来电号码"]]
    assert numbers and all("****" in n for n in numbers if len(n) >= 8)
    unmasked = list(csv.DictReader(exported.file("-calls.csv").open(encoding="utf-8-sig")))
    assert any(re.fullmatch(r"\d{8,}", r["来电号码"]) for r in unmasked)


def test_month_boundaries_are_local_midnight(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'edge.db'}"
    engine = open_store(url)
    last = datetime(2026, 10, 31, 23, 59, 59, tzinfo=SHANGHAI)
    first = datetime(2026, 11, 1, 0, 0, 0, tzinfo=SHANGHAI)
    with engine.begin() as conn:
        for linkedid, moment in (("edge.last", last), ("edge.first", first)):
            us = int(moment.timestamp()) * 1_000_000
            conn.execute(insert(Call).values(
                pbx="pbx", linkedid=linkedid, source="test", caller="13800000000", queue="110", operator="op9",
                offered_us=us, answered_us=us + 4_000_000, ended_us=us + 60_000_000, first_event_us=us,
                ring_ms=4000, wait_ms=4000, rings=1, within_limit=True, outcome="answered", abandoned=False,
                transferred=False, incomplete=False, incomplete_reasons=[], timed_by="event", recordings=[],
                recording_roles={}, ring_policy={}, event_count=10, computed_us=us))
    for month, inside in (("2026-10", "edge.last"), ("2026-11", "edge.first")):
        out = tmp_path / month
        status, text = run("export", "--db", url, "--month", month, "--out", str(out), "--format", "csv")
        assert status == 0, text
        ids = [r["通话编号"] for r in csv.DictReader(next(out.glob("*-calls.csv")).open(encoding="utf-8-sig"))]
        assert ids == [inside], (month, ids)
        assert cli_json("stats", "--db", url, "--month", month)["center"]["calls_offered"] == 1


def test_a_month_without_calls_says_so(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    status, text = run("export", "--db", url, "--month", "2025-02", "--out", str(tmp_path / "out"))
    assert status == 0 and "no calls" in text, text
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(files) == 6, files
    summary = next((tmp_path / "out").glob("*-summary.csv")).read_text(encoding="utf-8-sig")
    assert "本月没有通话记录" in summary
    wb = openpyxl.load_workbook(next((tmp_path / "out").glob("*.xlsx")), read_only=True)
    assert any("本月没有通话记录" in str(r) for r in wb["汇总"].iter_rows(values_only=True))
    if not POPPLER:
        pdf = next((tmp_path / "out").glob("*.pdf"))
        assert "本月没有通话记录" in subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                                               check=True).stdout


@pytest.mark.parametrize(("argv", "message"), [
    (["--month", "2026-13"], "expected YYYY-MM"),
    (["--month", "0000-01"], "out of range"),
    (["--format", "xlsx,docx"], "expected a comma-separated list"),
])
def test_bad_arguments_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                 message: str) -> None:
    status = callmon_main(["export", "--db", f"sqlite:///{tmp_path / 'x.db'}", "--out", str(tmp_path), *argv])
    assert status == 2
    assert message in capsys.readouterr().err


def test_site_name_goes_into_file_names_and_header(exported: Exported, tmp_path: Path) -> None:
    status, text = run("export", "--db", exported.url, "--month", MONTH, "--out", str(tmp_path), "--format", "csv",
                       "--site", "常州市公安局 110")
    assert status == 0, text
    summary = next(tmp_path.glob("callmon-常州市公安局_110-2026-11-summary.csv"))
    assert ["单位", "常州市公安局 110"] in list(csv.reader(summary.open(encoding="utf-8-sig")))


def test_export_timer_runs_the_previous_month_on_the_first() -> None:
    root = Path(__file__).resolve().parents[1] / "systemd"
    timer = (root / "callmon-export.timer").read_text()
    service = (root / "callmon-export.service").read_text()
    calendar = re.search(r"^OnCalendar=(.+)$", timer, re.M)
    assert calendar and "Persistent=true" in timer and "Unit=callmon-export.service" in timer
    assert re.search(r"^ExecStart=\S+/callmon export$", service, re.M) and "Type=oneshot" in service
    if shutil.which("systemd-analyze"):
        shown = subprocess.run(["systemd-analyze", "calendar", "--iterations=3", calendar.group(1)],
                               capture_output=True, text=True, check=True, env={"TZ": "Asia/Shanghai"}).stdout
        local = re.findall(r"(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}):\d{2} CST", shown)
        assert len(local) == 3 and all(day.endswith("-01") and at == "02:30" for day, at in local), shown



def test_web_download_by_role_masked_and_audited(exported: Exported, tmp_path: Path) -> None:
    import httpx

    from callmon.store.review_models import AuditRecord
    from tests.webapp import PASSWORDS, add_accounts, serve, web_config

    url = copy_db(Path(exported.url.removeprefix("sqlite:///")), tmp_path / "web.db")
    add_accounts(url)
    cfg = web_config(url)
    cfg.export.mask_numbers = False  # then the role decides: supervisors see numbers, auditors do not
    with serve(cfg) as base:
        got: dict[str, httpx.Response] = {}
        for user in ("sup", "aud", "op1"):
            with httpx.Client(base_url=base, timeout=120) as client:
                r = client.post("/api/session", json={"username": user, "password": PASSWORDS[user]})
                assert r.status_code == 200
                page = client.get(f"/exports?month={MONTH}")
                got[user] = client.get(f"/exports/{MONTH}.zip")
                if user == "sup":
                    assert page.status_code == 200 and f"/exports/{MONTH}.xlsx" in page.text
                    xlsx = client.get(f"/exports/{MONTH}.xlsx")
                    assert xlsx.status_code == 200
                    assert "filename*=utf-8''callmon-" in xlsx.headers["content-disposition"]
                    wb = openpyxl.load_workbook(io.BytesIO(xlsx.content), read_only=True)
                    rows = {r[0]: r for r in wb["汇总"].iter_rows(values_only=True) if r and r[0]}
                    assert rows["来电总数（进入队列）"][2] == exported.stats["center"]["calls_offered"]
                    assert client.get("/exports/2026-13.pdf").status_code == 404
                elif user == "op1":
                    assert page.status_code == 404
    assert got["op1"].status_code == 404

    def callers(r: httpx.Response) -> list[str]:
        assert r.status_code == 200, r.text[:300]
        with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
            name = next(n for n in zf.namelist() if n.endswith("-calls.csv"))
            rows = list(csv.DictReader(io.StringIO(zf.read(name).decode("utf-8-sig"))))
        return [row["来电号码"] for row in rows if len(row["来电号码"]) >= 8]

    assert any(re.fullmatch(r"\d+", n) for n in callers(got["sup"]))
    assert all("****" in n for n in callers(got["aud"]))
    with Session(open_store(url)) as s:
        audited = s.execute(select(AuditRecord.username, AuditRecord.reason)
                            .where(AuditRecord.action == "export")).all()
    assert ("aud", f"{MONTH} zip（号码已遮蔽）") in audited and ("sup", f"{MONTH} xlsx") in audited


@pytest.mark.postgres
def test_postgresql_export_equals_stats_and_score(postgres_url: str, tmp_path: Path) -> None:
    generate_month(open_store(postgres_url), month=MONTH, calls=400, operators=4, seed=3, history_months=1,
                   history_calls=50)
    status, text = run("export", "--db", postgres_url, "--month", MONTH, "--out", str(tmp_path), "--format", "csv")
    assert status == 0, text
    stats = cli_json("stats", "--db", postgres_url, "--month", MONTH)
    score = cli_json("score", "--db", postgres_url, "--month", MONTH)
    prev = center(cli_json("stats", "--db", postgres_url, "--month", PREVIOUS),
                  cli_json("score", "--db", postgres_url, "--month", PREVIOUS))
    rows = {r[0]: r for r in csv.reader(next(tmp_path.glob("*-summary.csv")).open(encoding="utf-8-sig")) if r}
    now = center(stats, score)
    assert now["reviewed"] > 0
    for key, label, kind in SUMMARY_METRICS:
        for col, expected in ((2, now[key]), (3, prev[key])):
            shown = rows[label][col]
            same(None if shown == "" else float(shown) / (100 if kind == "pct" else 1), expected, kind, label)


def test_stats_of_two_spans_merged_equal_stats_of_the_whole(exported: Exported) -> None:
    """The export reads the month's halves in two processes and merges their folds."""
    from callmon.calls.rings import RingPolicy
    from callmon.calls.stats import StatsFold, operator_stats
    from callmon.compliance.score_figures import ScoreFold
    from callmon.store.period import iter_scored
    from callmon.store.repository import Store

    policy = RingPolicy(1000, 4000, 3, "lenient")
    records = Store(open_store(exported.url)).calls()
    whole = operator_stats(records, policy)
    for cut in (0, 1, len(records) // 3, len(records) - 1, len(records)):
        first, second = StatsFold(), StatsFold()
        for rec in records[:cut]:
            first.add(rec)
        for rec in records[cut:]:
            second.add(rec)
        first.merge(second)
        assert first.result(policy) == whole, cut
    with Session(open_store(exported.url)) as s:
        scored = list(iter_scored(s))
    folds = ScoreFold(), ScoreFold()
    for k, call in enumerate(scored):
        folds[k >= len(scored) // 2].add(call, call.grammar_hash)
    folds[0].merge(folds[1])
    single = ScoreFold()
    for call in scored:
        single.add(call, call.grammar_hash)
    assert folds[0].table() == single.table()


def test_markup_and_formulas_in_text_are_inert(exported: Exported, tmp_path: Path) -> None:
    """A site or operator name with markup characters prints as written in the PDF; text a
    spreadsheet would evaluate (=, +, -, @) is prefixed with an apostrophe in the CSV."""
    from callmon.export.csv_files import cell

    assert cell("=HYPERLINK(\"x\")", "text") == "'=HYPERLINK(\"x\")" and cell("-3", "text") == "'-3"
    assert cell(-3, "int") == -3 and cell("你好", "text") == "你好"
    status, text = run("export", "--db", exported.url, "--month", MONTH, "--out", str(tmp_path), "--format", "pdf",
                       "--site", "常州 & <测试>")
    assert status == 0, text
    if not POPPLER:
        shown = subprocess.run(["pdftotext", str(next(tmp_path.glob("*.pdf"))), "-"], capture_output=True,
                               text=True, check=True).stdout
        assert "常州 & <测试>" in shown
