"""The review UI in a real headless Chromium against a real server on the pipeline month.

A supervisor signs in through the form, filters the flagged queue to the month the pipeline
stored, plays a verdict's evidence (the recording seeks to it, the transcript marks the words),
overrides a verdict with a reason (and is refused without one); an operator disputes an item of
their own call and the supervisor accepts it; an operator cannot open another operator's call
or its recording.  Screenshots of every step go to $CALLMON_TEST_ARTIFACTS (default
build/test-artifacts/web/).

Skipped when Chromium or its driver is missing, unless $CI is set: then that is a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callmon.store.db import open_store
from callmon.store.models import Call, Score
from callmon.web.views import ACTION_NAMES
from tests.webapp import PASSWORDS, serve, web_config

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REPO = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
MISSING = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]

if MISSING and not IN_CI:
    pytest.skip(f"no headless browser: {', '.join(MISSING)} missing (scripts/install-system-deps.sh installs them)",
                allow_module_level=True)

from selenium import webdriver  # noqa: E402  (after the skip: selenium may be absent where Chromium is)
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

WAIT = 15.0  # seconds an explicit wait may take before the step fails
SEEK_TOLERANCE = 0.5  # seconds between the evidence's start and where the player stands

FETCH = """
const [url, method, headers, body, done] = arguments;
fetch(url, {method: method, headers: headers, body: body, credentials: "same-origin", cache: "no-store"})
  .then(async (r) => done({status: r.status, type: r.headers.get("content-type") || "",
                           range: r.headers.get("content-range") || "", text: await r.text()}))
  .catch((e) => done({status: -1, text: String(e)}));
"""


def artifact_dir() -> Path:
    where = os.environ.get("CALLMON_TEST_ARTIFACTS")
    path = Path(where) if where else REPO / "build" / "test-artifacts" / "web"
    path.mkdir(parents=True, exist_ok=True)
    return path



def replaced(old: WebElement) -> Any:
    """A wait condition: ``old`` (the previous page's root) is gone.  selenium's ``staleness_of``, except that
    Chromium sometimes reports a node of a page being torn down as "does not belong to the
    document" rather than as stale; both mean the next page has replaced it."""
    def gone(_driver: WebDriver) -> bool:
        try:
            old.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" in str(exc):
                return True
            raise
        return False

    return gone

class Browser:
    """One Chromium session against one server, with the few moves the steps need."""

    def __init__(self, driver: WebDriver, base: str, shots: Path, prefix: str) -> None:
        self.driver, self.base, self.shots, self.prefix = driver, base, shots, prefix
        self.count = 0

    # -- navigation and waiting
    def wait(self, timeout: float = WAIT) -> WebDriverWait[WebDriver]:
        return WebDriverWait(self.driver, timeout, poll_frequency=0.05)

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)
        self.loaded()

    def loaded(self) -> None:
        self.wait().until(lambda d: d.execute_script("return document.readyState") == "complete")

    def path(self) -> str:
        url = str(self.driver.current_url)
        assert url.startswith(self.base), url
        return url[len(self.base):]

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str, within: WebElement | None = None) -> list[WebElement]:
        return (within or self.driver).find_elements(By.CSS_SELECTOR, css)

    def text(self, css: str) -> str:
        return str(self.find(css).text).strip()

    def submit_and_wait(self, button: WebElement) -> None:
        """Click a submit button and wait until the next page (after the redirect) has loaded."""
        old = self.find("html")
        button.click()
        self.wait().until(replaced(old))
        self.loaded()

    def shot(self, name: str) -> None:
        self.count += 1
        self.driver.save_screenshot(str(self.shots / f"{self.prefix}-{self.count:02d}-{name}.png"))

    # -- signing in and out
    def login(self, username: str, path: str = "/login") -> None:
        """Sign in through the form (``path``: a page that sends the browser to the form first)."""
        self.open(path)
        assert self.path().startswith("/login"), self.path()
        self.find("#username").send_keys(username)
        self.find("#password").send_keys(PASSWORDS[username])
        self.submit_and_wait(self.find("#login-submit"))
        assert not self.path().startswith("/login"), f"{username} not signed in: {self.page_error()}"
        assert username in self.text("header.top .me")

    def logout(self) -> None:
        self.submit_and_wait(self.find("header.top form.logout button[type=submit]"))
        assert self.path().startswith("/login"), self.path()
        assert not self.find_all("header.top form.logout")
        self.open("/queue")  # the session is gone on the server too
        assert self.path().startswith("/login?next=/queue"), self.path()

    def page_error(self) -> str:
        return " ".join(e.text for e in self.find_all(".error"))

    # -- the JSON API from inside the page (the browser's own session cookie)
    def fetch(self, path: str, method: str = "GET", headers: dict[str, str] | None = None,
              body: Any = None) -> dict[str, Any]:
        payload = None if body is None else json.dumps(body)
        sent = dict(headers or {})
        if payload is not None:
            sent.setdefault("Content-Type", "application/json")
        out: dict[str, Any] = self.driver.execute_async_script(FETCH, path, method, sent, payload)
        return out

    def api(self, path: str) -> Any:
        got = self.fetch(path)
        assert got["status"] == 200, (path, got)
        return json.loads(got["text"])


def new_driver(tmp_path: Path) -> WebDriver:
    """Debian's headless Chromium through Debian's chromedriver (nothing downloaded)."""
    if MISSING:
        pytest.fail(f"CI is set but the browser is missing: {', '.join(MISSING)}")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required", "--window-size=1280,1600",
                "--lang=zh-CN", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(20)
    return driver


@pytest.fixture
def make_browser(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], Browser]]:
    """Starts headless Chromium; call it with the server's base URL.  On a failed test the last page
    is saved beside the screenshots (its picture and its HTML)."""
    driver = new_driver(tmp_path)
    made: list[Browser] = []
    failed_before = request.session.testsfailed
    prefix = re.sub(r"[^A-Za-z0-9_]+", "-", request.node.name)

    def make(base: str) -> Browser:
        browser = Browser(driver, base, artifact_dir(), prefix)
        made.append(browser)
        return browser

    try:
        yield make
    finally:
        if request.session.testsfailed > failed_before and made:
            with contextlib.suppress(WebDriverException, OSError):  # must not hide the failure itself
                made[-1].shot("FAILED")
                (made[-1].shots / f"{prefix}-FAILED.html").write_text(driver.page_source, encoding="utf-8")
        driver.quit()


@pytest.fixture
def month_calls(pipeline_db: str) -> dict[str, Any]:
    """What the test needs to know about the stored month: which month it is (in the site's time
    zone, the one the queue filters by) and which calls each operator answered."""
    tz = web_config(pipeline_db).tz
    engine = open_store(pipeline_db)
    with Session(engine) as session:
        rows = session.execute(select(Call.id, Call.operator, Call.first_event_us, Score.score)
                               .join(Score, Score.call_id == Call.id)).all()
    engine.dispose()
    assert rows, "the pipeline stored no scored calls"
    months = {datetime.fromtimestamp(us / 1e6, tz).strftime("%Y-%m") for _, _, us, _ in rows}
    assert len(months) == 1, f"the pipeline month spans {sorted(months)}"
    by_operator: dict[str, list[tuple[int, int | None]]] = {}
    for call_id, operator, _, score in rows:
        by_operator.setdefault(str(operator), []).append((call_id, score))
    return {"month": months.pop(), "by_operator": by_operator}


def _number(text: str) -> int:
    found = re.match(r"\s*(\d+)", text)
    assert found, f"no score in {text!r}"
    return int(found.group(1))


def _evidence_in_utterance(b: Browser) -> list[dict[str, Any]]:
    """The evidence buttons of the effective checklist, each with whether its words are in its utterance."""
    return list(b.driver.execute_script("""
        return Array.from(document.querySelectorAll("#effective-items button.evidence")).map((btn) => {
          const utt = document.getElementById("u-" + btn.dataset.utterance);
          const text = utt ? utt.querySelector(".text").textContent : null;
          return {id: btn.id, channel: btn.dataset.channel, start: parseFloat(btn.dataset.start),
                  utterance: btn.dataset.utterance, matched: btn.dataset.matched, text: text,
                  present: !!(text && btn.dataset.matched && text.includes(btn.dataset.matched))};
        });"""))


def _play_evidence(b: Browser, evidence: dict[str, Any]) -> None:
    """Click an evidence button: its channel's player seeks to the evidence, its utterance is marked."""
    b.find("#" + evidence["id"]).click()
    start, channel = evidence["start"], evidence["channel"]
    state: dict[str, Any] = {}

    def at_evidence(d: WebDriver) -> bool:
        # ``since``: where the stretch played up to now began; playing on from 0 to the evidence is no seek
        state.update(d.execute_script(
            "const a = document.getElementById('audio-' + arguments[0]); let since = null;"
            "for (let i = 0; i < a.played.length; i++)"
            "  if (a.played.start(i) <= a.currentTime && a.currentTime <= a.played.end(i)) since = a.played.start(i);"
            "return {t: a.currentTime, since: since, ready: a.readyState, duration: a.duration, paused: a.paused,"
            "        error: a.error && a.error.code};", channel))
        return bool(state["ready"] >= 1 and abs(state["t"] - start) <= SEEK_TOLERANCE
                    and (state["since"] is None or state["since"] >= start - SEEK_TOLERANCE))

    try:
        b.wait(6).until(at_evidence)
    except Exception as exc:
        raise AssertionError(f"audio-{channel} did not seek to {start}: {state}") from exc
    assert state["error"] is None, state
    assert state["duration"] > start, state

    current = b.find_all("#transcript .utt.current")
    assert [e.get_attribute("id") for e in current] == [f"u-{evidence['utterance']}"]
    marks = b.find_all("mark.evidence-mark")
    if evidence["present"]:
        assert len(marks) == 1 and marks[0].text == evidence["matched"], [m.text for m in marks]
        inside = b.find_all(f"#u-{evidence['utterance']} .text mark.evidence-mark")
        assert len(inside) == 1
        # the mark only wraps the words: the utterance still reads the same
        assert b.find(f"#u-{evidence['utterance']} .text").text.strip() == evidence["text"].strip()
    else:
        assert not marks


def test_supervisor_queue_evidence_and_override(make_browser: Callable[[str], Browser], pipeline_db: str,
                                                month_calls: dict[str, Any]) -> None:
    month = month_calls["month"]
    with serve(web_config(pipeline_db)) as base:
        b = make_browser(base)

        # 1. sign in through the form: the supervisor lands on the flagged queue (this month by default)
        b.login("sup")
        assert b.path().startswith("/queue"), b.path()
        assert b.find("#queue")
        b.shot("queue-current-month")
        # the filter form, to the month the pipeline stored
        field = b.find("#queue-filters input[name=month]")
        field.clear()
        field.send_keys(month)
        b.submit_and_wait(b.find("#queue-filters button[type=submit]"))
        assert f"month={month}" in b.path()
        rows = b.find_all("#queue tbody tr a.call-link")
        assert rows, "the flagged queue of the pipeline month is empty"
        total = _number(b.text("h1 small").split("共", 1)[1])
        assert total == len(rows), (total, len(rows))
        counts = {li.find_element(By.TAG_NAME, "a").text: int(li.find_element(By.TAG_NAME, "b").text)
                  for li in b.find_all("#reason-counts li")}
        assert counts and sum(counts.values()) >= total > 0, counts
        assert counts["需人工复核"] > 0, counts
        api = b.api(f"/api/calls?month={month}&flagged=true&limit=500")
        assert api["total"] == total
        b.shot("queue-month")

        # one reason's link lists exactly that many calls
        biggest = max(counts, key=lambda k: counts[k])
        old = b.find("html")
        b.find_all("#reason-counts li a")[list(counts).index(biggest)].click()
        b.wait().until(replaced(old))
        b.loaded()
        assert len(b.find_all("#queue tbody tr a.call-link")) == counts[biggest]

        # 2. a call whose checklist has evidence whose words are in the transcript
        scored = [c for c in api["items"] if c["score"] is not None]
        assert scored, "no scored call in the flagged queue"
        chosen: list[dict[str, Any]] = []
        for call in scored:
            b.open(f"/queue?month={month}")
            link = next((a for a in b.find_all("#queue tbody tr a.call-link")
                         if a.get_attribute("href").endswith(f"/calls/{call['id']}")), None)
            assert link is not None, f"call {call['id']} is not linked from the queue"
            b.submit_and_wait(link)
            assert b.path() == f"/calls/{call['id']}"
            chosen = _evidence_in_utterance(b)
            if any(e["present"] for e in chosen):
                call_id = int(call["id"])
                break
        else:
            pytest.fail("no flagged call has evidence whose words appear in its utterance")
        b.shot("call")
        assert b.text("#review-state") == "未复核"
        assert b.text("#reviewed-score") == "未复核"
        # viewing the page fetches no recording (the audit logs plays, not page views)
        assert b.driver.execute_script("return [...document.querySelectorAll('audio')].map((a) => a.readyState)") \
            == [0, 0]

        # the recording is served with Range support (the player seeks with it)
        # played first: evidence whose words are marked, late enough that standing there proves the seek
        first = max((e for e in chosen if e["present"]), key=lambda e: (e["start"] > 2 * SEEK_TOLERANCE, -e["start"]))
        ranged = b.fetch(f"/api/calls/{call_id}/audio/{first['channel']}", headers={"Range": "bytes=100-199"})
        assert ranged["status"] == 206 and ranged["range"].startswith("bytes 100-199/"), ranged
        assert ranged["type"].startswith("audio/")

        _play_evidence(b, first)
        b.shot("evidence-played")
        # another piece of evidence moves the marking (one current utterance, at most one mark)
        # then one elsewhere (another channel if there is one): the marking moves, the other player seeks
        other = min((e for e in chosen if e["utterance"] != first["utterance"]),
                    key=lambda e: (e["channel"] == first["channel"], e["start"] <= 2 * SEEK_TOLERANCE), default=None)
        if other is not None:
            _play_evidence(b, other)
            b.shot("evidence-played-2")
        # each played channel is in the audit (who listened to which recording), nothing else is
        plays = [a for a in b.api(f"/api/calls/{call_id}")["audit"] if a["action"] == "play"]
        played = {first["channel"], (other or first)["channel"]}
        assert {a["item_id"] for a in plays} == played and {a["by"] for a in plays} == {"sup"}, plays

        # 3. override one verdict with a reason
        detail = b.api(f"/api/calls/{call_id}")
        auto = {i["id"]: i for i in detail["automatic"]["items"]}
        item_id = "element.when" if "element.when" in auto else next(
            i for i, it in auto.items() if it["kind"] not in ("rings", "prohibited"))
        was = auto[item_id]["verdict"]
        new = {"found": "missed", "missed": "found", "not_owed": "found"}[was]
        row = f"#effective-items tr[data-item='{item_id}']"
        assert b.find(row).get_attribute("class").split()[0] == f"verdict-{was}"
        Select(b.find(f"select[name='verdict:{item_id}']")).select_by_value(new)
        reason = f"浏览器测试：{item_id} 复核为 {new}"
        b.find("#review-reason").send_keys(reason)
        b.submit_and_wait(b.find("#review-submit"))
        assert b.path() == f"/calls/{call_id}", b.page_error()
        b.shot("overridden")
        reviewed = _number(b.text("#reviewed-score"))
        assert "sup" in b.text("#reviewed-score")
        assert b.text("#review-state") == "已复核"
        assert b.find(row).get_attribute("class").split()[0] == f"verdict-{new}"
        assert "人工" in b.find(row).text
        audit = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")] for tr in b.find_all("#audit tbody tr")]
        overrides = [r for r in audit if r[2] == ACTION_NAMES["override"]]
        assert len(overrides) == 1 and overrides[0][1] == "sup" and overrides[0][4] == reason, audit
        after = b.api(f"/api/calls/{call_id}")
        assert after["reviewed"]["score"] == reviewed == after["reviewed_score"]
        assert {i["id"]: i["verdict"] for i in after["reviewed"]["items"]}[item_id] == new
        assert {i["id"]: i["verdict"] for i in after["automatic"]["items"]}[item_id] == was  # kept as it was
        assert after["score"] == detail["score"]
        assert [a for a in after["audit"] if a["action"] == "play"] == plays  # page views since: no plays

        # no reason, no review: whitespace passes the browser's `required`, the server refuses it
        audit_rows = len(audit)
        Select(b.find(f"select[name='verdict:{item_id}']")).select_by_value(was)
        b.find("#review-reason").send_keys("   ")
        b.submit_and_wait(b.find("#review-submit"))
        assert b.text("main h1") == "409" and "复核理由" in b.page_error(), b.page_error()
        b.shot("refused-blank-reason")
        # ... and an empty one sent past the browser's check
        b.open(f"/calls/{call_id}")
        Select(b.find(f"select[name='verdict:{item_id}']")).select_by_value(was)
        old = b.find("html")
        b.driver.execute_script("const r = document.getElementById('review-reason'); r.required = false;"
                                "r.value = ''; document.getElementById('review-form').submit();")
        b.wait().until(replaced(old))
        b.loaded()
        assert b.text("main h1") == "409" and "复核理由" in b.page_error(), b.page_error()
        b.shot("refused-empty-reason")
        b.open(f"/calls/{call_id}")
        assert _number(b.text("#reviewed-score")) == reviewed
        assert b.find(row).get_attribute("class").split()[0] == f"verdict-{new}"
        assert len(b.find_all("#audit tbody tr")) == audit_rows
        # through the API too (a JSON client has the CSRF token from /api/me)
        csrf = b.api("/api/me")["csrf"]
        refused = b.fetch(f"/api/calls/{call_id}/review", "POST", {"X-CSRF-Token": csrf},
                          {"reason": " ", "changes": {item_id: was}})
        assert refused["status"] == 409 and "复核理由" in refused["text"], refused
        assert b.api(f"/api/calls/{call_id}")["reviewed_score"] == reviewed


def test_operator_dispute_supervisor_accepts(make_browser: Callable[[str], Browser], pipeline_db: str,
                                             month_calls: dict[str, Any]) -> None:
    month = month_calls["month"]
    with serve(web_config(pipeline_db)) as base:
        b = make_browser(base)

        # 4. the operator disputes a missed item of one of their own scored calls
        b.login("op1")
        assert b.path().startswith("/queue")
        mine = b.api(f"/api/calls?month={month}&limit=500")["items"]
        assert mine and {c["operator"] for c in mine} == {"op1001"}, mine
        target: tuple[int, str, dict[str, Any]] | None = None
        for call in (c for c in mine if c["score"] is not None):
            detail = b.api(f"/api/calls/{call['id']}")
            missed = [i for i in detail["automatic"]["items"] if i["verdict"] == "missed" and i["kind"] == "element"]
            if missed:
                target = (int(call["id"]), str(missed[0]["id"]), detail)
                break
        assert target is not None, "no scored call of op1001 has a missed element"
        call_id, item_id, detail = target
        # reached from the operator's own list (all calls, not only flagged ones)
        b.open(f"/queue?month={month}&flagged=0")
        b.submit_and_wait(next(a for a in b.find_all("#queue tbody tr a.call-link")
                               if a.get_attribute("href").endswith(f"/calls/{call_id}")))
        assert b.path() == f"/calls/{call_id}"
        assert not b.find_all("#review-form") and not b.find_all("#audit")  # not the operator's to see or do
        b.find(f"#effective-items tr[data-item='{item_id}'] button.dispute-pick").click()
        assert Select(b.find("#dispute-item")).first_selected_option.get_attribute("value") == item_id
        assert b.driver.switch_to.active_element.get_attribute("id") == "dispute-reason"
        Select(b.find("#dispute-item")).select_by_value(item_id)
        b.find("#dispute-reason").send_keys("我问过对方身份，转写漏了")
        b.shot("dispute-filled")
        b.submit_and_wait(b.find("#dispute-submit"))
        assert b.path() == f"/calls/{call_id}", b.page_error()
        b.shot("disputed")
        disputes = b.find_all("#disputes tbody tr")
        assert len(disputes) == 1
        assert disputes[0].find_element(By.CSS_SELECTOR, "td.state").text == "待处理"
        assert "我问过对方身份" in disputes[0].text and "op1" in disputes[0].text
        assert not b.find_all("#disputes form.resolve")  # an operator cannot resolve
        assert b.text("#review-state") == "申诉中"

        # 5. the supervisor accepts it (reaching the call page through the sign-in form)
        b.logout()
        b.login("sup", f"/calls/{call_id}")
        assert b.path() == f"/calls/{call_id}"
        assert b.text("#review-state") == "申诉中"
        row = f"#effective-items tr[data-item='{item_id}']"
        assert b.find(row).get_attribute("class").split()[0] == "verdict-missed"
        form = b.find("#disputes form.resolve")
        form.find_element(By.TAG_NAME, "textarea").send_keys("录音中确有询问身份")
        b.shot("resolving")
        b.submit_and_wait(form.find_element(By.CSS_SELECTOR, "button.accept"))
        assert b.path() == f"/calls/{call_id}", b.page_error()
        b.shot("accepted")
        state = b.find("#disputes tbody tr td.state").text
        assert state == "已采纳", state
        assert "录音中确有询问身份" in b.text("#disputes tbody tr")
        assert b.find(row).get_attribute("class").split()[0] == "verdict-found"
        assert b.find(f"{row} td.verdict").text == "符合"
        reviewed = _number(b.text("#reviewed-score"))
        assert reviewed >= detail["score"]
        assert b.text("#review-state") == "已复核"
        actions = [tr.find_elements(By.TAG_NAME, "td")[2].text for tr in b.find_all("#audit tbody tr")]
        assert {ACTION_NAMES[a] for a in ("dispute", "dispute_accepted", "override")} <= set(actions), actions
        after = b.api(f"/api/calls/{call_id}")
        assert after["reviewed_score"] == reviewed and after["review_state"] == "reviewed"


def test_operator_cannot_open_another_operators_call(make_browser: Callable[[str], Browser], pipeline_db: str,
                                                     month_calls: dict[str, Any]) -> None:
    theirs = month_calls["by_operator"]["op1002"]
    mine = month_calls["by_operator"]["op1001"]
    other = next(c for c, score in theirs if score is not None)
    own = next(c for c, score in mine if score is not None)
    with serve(web_config(pipeline_db)) as base:
        b = make_browser(base)
        b.login("op1")

        # 6. another operator's call is "not found", page, data and recording alike
        b.open(f"/calls/{other}")
        assert b.text("main h1") == "404"
        assert "页面不存在" in b.text("main")
        assert "op1002" not in b.driver.page_source
        b.shot("other-operators-call")
        for path in (f"/api/calls/{other}", f"/api/calls/{other}/audio/operator", f"/api/calls/{other}/audio/caller"):
            got = b.fetch(path)
            assert got["status"] == 404, (path, got)
        # while the operator's own call and recording are there (so the 404s above are not the server's)
        b.open(f"/calls/{own}")
        assert b.path() == f"/calls/{own}" and b.text("main h1").startswith("通话")
        own_audio = b.fetch(f"/api/calls/{own}/audio/operator", headers={"Range": "bytes=0-99"})
        assert own_audio["status"] == 206, own_audio
