"""The page tests' browser: Debian's chromium (infra/local/services.sh fetch installs it, never a
download), headless, driven by playwright; screenshots go to test-output/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from page_support import CHROMIUM
from playwright.sync_api import Browser, sync_playwright


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: `infra/local/services.sh fetch` installs it"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()
