"""Locations of the NAB fixtures: a tiny copy in tests/data/nab, the full corpus in shared/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "data" / "nab"


def nab_root() -> Path | None:
    """The full NAB checkout if this machine has it ($NAB_ROOT, else ../shared/data/nab)."""
    root = Path(os.environ.get("NAB_ROOT", REPO.parent / "shared" / "data" / "nab"))
    return root if (root / "labels" / "combined_windows.json").is_file() else None


@pytest.fixture
def nab_fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def nab_corpus() -> Path:
    root = nab_root()
    if root is None:
        # CI always has shared/ beside the clone: there a missing corpus is a broken set-up.
        if os.environ.get("CI"):
            pytest.fail("the NAB corpus is missing from ../shared/data/nab (or $NAB_ROOT)")
        pytest.skip("the NAB corpus is not on this machine (set NAB_ROOT)")
    return root
