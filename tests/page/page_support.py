"""Where the page tests find Chromium (Debian's package, never a download) and put screenshots."""

from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = Path(os.environ.get("SENSORGUARD_CHROMIUM", "/usr/bin/chromium"))
OUTPUT = Path(os.environ.get("SENSORGUARD_TEST_OUTPUT", Path(__file__).parents[2] / "test-output"))
