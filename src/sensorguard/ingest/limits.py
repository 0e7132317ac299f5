"""How big one batch may be at any front door (a POST body, an MQTT message): rows and bytes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sensorguard.errors import ValidationFailed

if TYPE_CHECKING:
    from sensorguard.settings import Settings

# A reading as devices send it is ~150 bytes of JSON; 1 kB a row leaves room for units, long
# ids and whitespace, and still bounds what one batch makes the server read and parse.
# (A setting of its own, `ingest_max_bytes`, would be better; this stands in until there is.)
BYTES_PER_ROW = 1024


@dataclass(frozen=True)
class BatchLimits:
    max_rows: int
    max_bytes: int

    @classmethod
    def of(cls, settings: Settings) -> BatchLimits:
        """`ingest_max_batch` rows, and bytes in proportion."""
        return cls(settings.ingest_max_batch, settings.ingest_max_batch * BYTES_PER_ROW)

    def check_bytes(self, n: int) -> None:
        if n > self.max_bytes:
            raise ValidationFailed("payload", n, f"at most {self.max_bytes} bytes")

    def check_rows(self, n: int) -> None:
        if n > self.max_rows:
            raise ValidationFailed("readings", n, f"at most {self.max_rows} rows")
