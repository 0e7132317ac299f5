"""The demo's report, built from a small data folder: its four sections, their plots as
inline images, and the drift link pointing at the check's Evidently file."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from report_support import END, small_platform
from sensorguard.cli import build_app
from sensorguard.report import build_report, report_path
from sensorguard.report.html import SECTIONS
from sensorguard.settings import Settings

pytestmark = pytest.mark.timeout(300)


class _Page(HTMLParser):
    """Sections by id, with the images and links inside each."""

    def __init__(self) -> None:
        super().__init__()
        self.section: str | None = None
        self.headings: dict[str, str] = {}
        self.images: dict[str, list[str]] = {}
        self.links: dict[str, list[str]] = {}
        self._in_h2 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "section":
            self.section = found.get("id")
        elif tag == "h2":
            self._in_h2 = True
        elif tag == "img" and self.section:
            self.images.setdefault(self.section, []).append(found.get("src") or "")
        elif tag == "a" and self.section:
            self.links.setdefault(self.section, []).append(found.get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2":
            self._in_h2 = False

    def handle_data(self, data: str) -> None:
        if self._in_h2 and self.section:
            self.headings[self.section] = self.headings.get(self.section, "") + data


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return small_platform(tmp_path_factory.mktemp("report") / "sg")


def test_the_report_holds_the_four_sections_with_plots_and_a_working_drift_link(
    platform: Settings,
) -> None:
    path = build_report(platform, days=4, end=END)
    assert path == report_path(platform).absolute()
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    assert [page.headings.get(key) for key, _ in SECTIONS] == [t for _, t in SECTIONS]
    assert [k for k, _ in SECTIONS] == ["fleet", "sensor", "models", "drift"]
    for key, _ in SECTIONS:
        images = page.images.get(key, [])
        assert images, f"section {key} has no plot"
        assert all(src.startswith("data:image/png;base64,") for src in images)
    [link] = [h for h in page.links["drift"] if h.endswith(".html")]
    target = (path.parent / link).resolve()
    assert target.is_file() and target.parent == platform.data_dir / "reports" / "drift"
    assert "drifted" in path.read_text(encoding="utf-8")


def test_sensorguard_report_writes_where_o_says(
    platform: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sensorguard.settings import get_settings

    monkeypatch.setenv("SENSORGUARD_DATA_DIR", str(platform.data_dir))
    monkeypatch.setenv("SENSORGUARD_MODEL_SPECS_DIR", str(platform.model_specs_dir))
    get_settings.cache_clear()
    runner = CliRunner()
    assert "-o" in runner.invoke(build_app(), ["report", "--help"]).output
    out = tmp_path / "elsewhere" / "fleet.html"
    done = runner.invoke(
        build_app(), ["report", "-o", str(out), "--days", "4", "--end", END.isoformat()]
    )
    assert done.exit_code == 0, done.output
    text = out.read_text(encoding="utf-8")
    # The drift link is relative to where the file was written, and still resolves.
    page = _Page()
    page.feed(text)
    [link] = [h for h in page.links["drift"] if h.endswith(".html")]
    assert (out.parent / link).resolve().is_file()
