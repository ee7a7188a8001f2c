"""The dashboard in a real headless Chromium, served by `throne dashboard` over a log: every
page loads and shows the numbers the API answers, written as the server writes them; links
lead from the champion to a battle to a miner; the overview follows the log as it is written;
the pages are usable with the keyboard and at a phone's width.

Screenshots go to ``tests/e2e/dashboard/screenshots/`` (git-ignored); each page's load time,
as the browser measured it, is printed (never asserted on).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.dashboard.contest_log import open_writer, record_late
from tests.support.dashboard import at
from throne.observability.dashboard.formats import show

PAGES = {
    "overview": "/dashboard",
    "reigns": "/dashboard/reigns",
    "battle-1": "/dashboard/battles/1",
    "battle-3": "/dashboard/battles/3",
    "miner-champion": "/dashboard/miners/2",
    "miner-late": "/dashboard/miners/late",
    "env-SAT": "/dashboard/envs/SAT",
    "env-ABD": "/dashboard/envs/ABD",
    "weights": "/dashboard/weights",
    "audit": "/dashboard/audit",
}
WAIT_MS = 30_000

MARKS = """() => Array.from(document.querySelectorAll('[data-path]')).map(el => ({
    src: el.closest('[data-src]') ? el.closest('[data-src]').dataset.src : null,
    path: el.dataset.path,
    value: JSON.parse(el.dataset.value),
    format: el.dataset.format || 'text',
    text: el.textContent,
}))"""

TIMING = """() => {
    const n = performance.getEntriesByType('navigation')[0];
    return {ttfb: n.responseStart - n.requestStart, dom: n.domContentLoadedEventEnd,
            load: n.loadEventEnd, bytes: n.transferSize};
}"""


@pytest.fixture(scope="module")
def page(browser: Any) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda e: errors.append(str(e)))
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    opened.errors = errors
    yield opened
    context.close()


def _check_marks(page: Any, base: str) -> int:
    """Every marked value on ``page`` is the one its route answers, written as the server's
    formats write it; the number of values checked."""
    answers: dict[str, Any] = {}
    marks = page.evaluate(MARKS)
    for mark in marks:
        src = mark["src"]
        assert src, f"{mark['path']} has no data-src"
        if src not in answers:
            answers[src] = httpx.get(base + src, timeout=10).json()
        assert mark["value"] == at(answers[src], mark["path"]), (src, mark["path"])
        assert mark["text"] == show(mark["value"], mark["format"]), (src, mark["path"])
    return len(marks)


def test_every_page_loads_and_shows_the_numbers_the_api_answers(
    page: Any, dashboard: str, screenshots: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    timings = []
    for name, path in PAGES.items():
        answer = page.goto(dashboard + path, wait_until="load")
        assert answer is not None and answer.status == 200, path
        assert page.locator("h1").inner_text()
        checked = _check_marks(page, dashboard)
        assert checked > 0, path
        page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)
        timings.append((name, page.evaluate(TIMING), checked))
    assert page.errors == []
    with capsys.disabled():
        print("\npage load times (browser navigation timing):")
        for name, t, checked in timings:
            print(
                f"  {name:15s} first byte {t['ttfb']:6.1f} ms  DOM ready {t['dom']:6.1f} ms  "
                f"loaded {t['load']:6.1f} ms  {t['bytes']:6d} bytes  {checked} values checked"
            )
    (screenshots / "load-times.txt").write_text(
        "".join(f"{name} {t['load']:.1f} ms\n" for name, t, _ in timings)
    )


def test_the_overview_shows_the_battle_the_queue_the_blacklist_and_the_pool(
    page: Any, dashboard: str
) -> None:
    page.goto(dashboard + "/dashboard")
    rank = httpx.get(dashboard + "/rank", timeout=10).json()
    battle = page.locator("[data-path='battle.hotkey']")
    assert battle.inner_text() == rank["battle"]["hotkey"] == "late"
    assert page.locator("[data-path='battle.evidence.look']").inner_text() == "1"
    assert page.locator("[data-path='queue.0.hotkey']").inner_text() == "later"
    assert page.locator("[data-path='blacklisted.0.hotkey']").inner_text() == "banned"
    commitment = page.locator("[data-path='pool.seed_commitment']").inner_text()
    assert commitment == rank["pool"]["seed_commitment"] and len(commitment) == 64
    assert not page.locator(".banner").is_visible()  # not paused


def test_champion_then_battle_then_miner_by_clicking(page: Any, dashboard: str) -> None:
    page.goto(dashboard + "/dashboard")
    page.locator("a[data-path='champion.hotkey']").click()
    page.wait_for_url("**/dashboard/miners/better")
    assert page.locator("h1").inner_text() == "Miner better (UID 2)"
    page.locator("a[data-path='battles.0.number']").click()
    page.wait_for_url("**/dashboard/battles/1")
    assert page.locator("h1").inner_text() == "Battle 1: better against champ"
    verdicts = page.locator("[data-path$='.verdict']").all_inner_texts()
    assert len(verdicts) == 2 and set(verdicts) <= {"dominant", "not_worse", "worse"}
    page.locator("a[data-path='champion']").click()
    page.wait_for_url("**/dashboard/miners/champ")
    assert page.locator("h1").inner_text() == "Miner champ (UID 1)"
    assert page.locator("[data-path='terminated_reason']").inner_text() == "dethroned_by:better"


def test_a_timeline_battle_is_a_link_to_its_verdict(page: Any, dashboard: str) -> None:
    page.goto(dashboard + "/dashboard/reigns")
    links = page.locator("svg a")
    assert links.count() >= 5  # three reigns' holders and battles are links
    page.locator("svg a[href='/dashboard/battles/2']").click()
    page.wait_for_url("**/dashboard/battles/2")
    assert page.locator("[data-path='result']").inner_text() == "terminated"


def test_an_unknown_miner_is_a_clear_404_page(page: Any, dashboard: str) -> None:
    answer = page.goto(dashboard + "/dashboard/miners/nobody")
    assert answer is not None and answer.status == 404
    assert "no miner 'nobody'" in page.locator("[role=alert]").inner_text()
    page.errors.clear()  # the browser reports the 404 itself as a failed load


def test_the_pages_work_from_the_keyboard(page: Any, dashboard: str) -> None:
    page.goto(dashboard + "/dashboard")
    page.keyboard.press("Tab")
    skip = page.evaluate("() => document.activeElement.textContent")
    assert skip == "Skip to the content"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    page.keyboard.press("Tab")
    focused = page.evaluate(
        "() => [document.activeElement.tagName, getComputedStyle(document.activeElement)"
        ".outlineStyle]"
    )
    assert focused[0] in ("A", "DIV") and focused[1] != "none"  # a visible focus ring
    page.goto(dashboard + "/dashboard")
    for _ in range(3):  # skip link, brand, then the first entry of the navigation
        page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # Reigns
    page.keyboard.press("Enter")
    page.wait_for_url("**/dashboard/reigns")


def test_the_pages_are_usable_at_a_phones_width(
    browser: Any, dashboard: str, screenshots: Path
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone = context.new_page()
    try:
        for name, path in PAGES.items():
            phone.goto(dashboard + path)
            sideways = phone.evaluate(
                "() => document.documentElement.scrollWidth - window.innerWidth"
            )
            assert sideways <= 1, f"{path} scrolls sideways by {sideways}px"
            phone.screenshot(path=str(screenshots / f"{name}-phone.png"), full_page=True)
    finally:
        context.close()


def test_the_overview_follows_the_log_while_it_is_written(
    page: Any, dashboard: str, log_path: Path, screenshots: Path
) -> None:
    page.goto(dashboard + "/dashboard")
    before = httpx.get(dashboard + "/rank", timeout=10).json()
    shown = page.locator("[data-path='battle.progress.SAT.common']")
    assert shown.inner_text() == str(before["battle"]["progress"]["SAT"]["common"])
    writer = open_writer(log_path)
    try:
        assert record_late(writer, {"SAT": 4}) == 4
        after = httpx.get(dashboard + "/rank", timeout=10).json()
        common = after["battle"]["progress"]["SAT"]["common"]
        assert common > before["battle"]["progress"]["SAT"]["common"]
        page.wait_for_function(
            "n => document.querySelector(\"[data-path='battle.progress.SAT.common']\")"
            ".textContent === String(n)",
            arg=common,
            timeout=WAIT_MS,
        )
        page.screenshot(path=str(screenshots / "overview-live-samples.png"), full_page=True)
        record_late(writer, {"SAT": 100, "ABD": 100})
        decided = writer.tick(16)
        assert "terminated" in decided or "dethroned" in decided
    finally:
        writer.app.close()
    final = httpx.get(dashboard + "/rank", timeout=10).json()
    assert final["battle"]["hotkey"] == "later"
    page.wait_for_function(
        "v => document.querySelector(\"[data-path='contest_version']\").textContent === String(v)",
        arg=final["contest_version"],
        timeout=WAIT_MS,
    )
    assert page.locator("[data-path='battle.hotkey']").inner_text() == "later"
    assert page.locator("[data-path='recent_terminations.0.hotkey']").inner_text() == "late"
    assert page.locator("[data-path='queue.0.hotkey']").count() == 0
    assert "No challenger is waiting." in page.locator("[data-list='queue']").inner_text()
    assert _check_marks(page, dashboard) > 0  # what the script wrote is what the API says
    page.screenshot(path=str(screenshots / "overview-live-decided.png"), full_page=True)
    assert page.errors == []
