"""The fuzz tests' tally: how many cases each endpoint was tried with, and how it answered.

Every schemathesis call is counted by an `after_call` hook on its schema; the hypothesis
property tests count their own requests. At the end of a session that ran the whole folder,
the tally becomes `tests/fuzz/results.md` (see conftest.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import schemathesis
from schemathesis import Case, HookContext, Response

SCHEMA_FUZZ = "schema"
PROPERTIES = "properties"


@dataclass
class EndpointCount:
    by: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)

    def cases(self) -> int:
        return sum(self.by.values())

    def of_class(self, hundreds: int) -> int:
        return sum(n for status, n in self.statuses.items() if status // 100 == hundreds)


@dataclass
class ValidatorCount:
    rows: int = 0
    accepted: int = 0
    rejected: int = 0
    dead_lettered: int = 0


@dataclass
class Tally:
    endpoints: dict[tuple[str, str, str], EndpointCount] = field(default_factory=dict)
    validator: dict[str, ValidatorCount] = field(default_factory=dict)

    def record(self, app: str, method: str, path: str, status: int, *, by: str) -> None:
        count = self.endpoints.setdefault((app, method.upper(), path), EndpointCount())
        count.by[by] += 1
        count.statuses[status] += 1

    def record_rows(
        self, what: str, *, accepted: int, rejected: int, dead_lettered: int = 0
    ) -> None:
        count = self.validator.setdefault(what, ValidatorCount())
        count.rows += accepted + rejected
        count.accepted += accepted
        count.rejected += rejected
        count.dead_lettered += dead_lettered

    def counting_hook(self, app: str) -> Any:
        """An `after_call` hook for a schema: each call it answers counts as one case."""

        def after_call(_: HookContext, case: Case, response: Response) -> None:
            self.record(
                app,
                case.operation.method,
                case.operation.path,
                response.status_code,
                by=SCHEMA_FUZZ,
            )

        return after_call

    def count_schema(self, schema: schemathesis.BaseSchema, app: str) -> None:
        schema.hooks.register_hook_with_name(self.counting_hook(app), "after_call")

    def five_hundreds(self) -> list[str]:
        return [
            f"{app} {method} {path}: {count.of_class(5)}"
            for (app, method, path), count in self.endpoints.items()
            if count.of_class(5)
        ]

    def markdown(self, *, seconds: float, tests: int) -> str:
        lines = [
            "# Fuzz results",
            "",
            "Written by `pytest tests/fuzz` at the end of a run of the whole folder (do not edit):",
            "how many cases each endpoint was tried with and how it answered. `schema` cases come",
            "from schemathesis over the app's OpenAPI schema (positive and negative data, every",
            "default check); `properties` from the hypothesis tests (NaN/inf, far-future and",
            "ancient timestamps, unknown sensors, duplicates, unicode and control characters in",
            "ids, huge and malformed bodies). A WebSocket's answers are counted as 101 (accepted)",
            "or its close code. 5xx must be 0.",
            "",
            f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {tests} tests, {seconds:.0f} s.",
            "",
            "| app | method | path | cases | schema | properties | 2xx | 4xx | 5xx | other |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for (app, method, path), count in sorted(self.endpoints.items()):
            other = ", ".join(
                f"{status}: {n}"
                for status, n in sorted(count.statuses.items())
                if status // 100 not in (2, 4, 5)
            )
            lines.append(
                f"| {app} | {method} | `{path}` | {count.cases()} | {count.by[SCHEMA_FUZZ]} "
                f"| {count.by[PROPERTIES]} | {count.of_class(2)} | {count.of_class(4)} "
                f"| {count.of_class(5)} | {other} |"
            )
        total = sum(c.cases() for c in self.endpoints.values())
        lines += ["", f"{total} HTTP/WebSocket cases in all.", ""]
        if self.validator:
            lines += [
                "Rows through the validator and the ingest pipeline (accepted + rejected = sent;",
                "every rejected row has a dead letter with its reason on `sensor-data-dlq`):",
                "",
                "| property | rows | accepted | rejected | dead-lettered |",
                "|---|---:|---:|---:|---:|",
            ]
            lines += [
                f"| {what} | {c.rows} | {c.accepted} | {c.rejected} | {c.dead_lettered} |"
                for what, c in sorted(self.validator.items())
            ]
            lines.append("")
        return "\n".join(lines)


TALLY = Tally()
RESULTS = Path(__file__).with_name("results.md")


def test_files() -> set[str]:
    return {p.name for p in Path(__file__).parent.glob("test_*.py")}


def covers_folder(item_files: Iterable[str]) -> bool:
    """Whether a session's tests came from every test module of this folder."""
    return test_files() <= set(item_files)
