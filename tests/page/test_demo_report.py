"""The demo's HTML report in headless Chromium (Debian's package, driven by playwright): every
plot renders, the page logs no error, and the drift link opens the Evidently report.

The screenshot goes to test-output/demo-report.png (or $SENSORGUARD_TEST_OUTPUT).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from page_support import OUTPUT
from playwright.sync_api import Browser

from report_support import END, small_platform
from sensorguard.report import build_report
from sensorguard.report.html import SECTIONS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_the_report_renders_every_plot_without_errors(browser: Browser, tmp_path: Path) -> None:
    settings = small_platform(tmp_path / "data")
    path = build_report(settings, days=4, end=END)
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(path.as_uri())
    for key, title in SECTIONS:
        assert page.locator(f"section#{key} h2").inner_text() == title
    images = page.locator("img")
    assert images.count() >= len(SECTIONS)
    widths = images.evaluate_all("imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
    assert all(w > 0 for w in widths), widths
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / "demo-report.png"), full_page=True)
    assert errors == []

    link = page.locator("section#drift a.drift-report").first
    link.click()
    page.wait_for_load_state()
    assert page.url.startswith(path.parent.as_uri() + "/drift/")
    page.close()
