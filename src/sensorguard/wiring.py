"""Builds the configured backends from Settings: the one place URLs turn into objects."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from sensorguard.settings import Settings

if TYPE_CHECKING:
    from sensorguard.ingest.pipeline import IngestPipeline
    from sensorguard.metadata import MetadataStore
    from sensorguard.store import TimeSeriesStore
    from sensorguard.stream import Stream
    from sensorguard.validation import ReadingValidator

log = logging.getLogger(__name__)

# The password runs to the last '@' before any query or fragment: a mistyped URL (a '/' or '@'
# left unescaped in the password) is exactly the one whose error message quotes it.
_USERINFO = re.compile(r"//([^/@:?#]+):([^?#]*)@")


def redact_url(url: str) -> str:
    """A URL fit for logs and error messages: any password is replaced."""
    return _USERINFO.sub(r"//\1:***@", url)


def open_configured_store(settings: Settings) -> TimeSeriesStore:
    from sensorguard.store import open_store

    log.info("store: %s", redact_url(settings.store_url))
    return open_store(settings.store_url)


def open_configured_stream(settings: Settings) -> Stream:
    from sensorguard.stream import open_stream

    log.info("stream: %s", redact_url(settings.stream_url))
    return open_stream(settings.stream_url, partitions=settings.stream_partitions)


def open_configured_metadata(settings: Settings) -> MetadataStore:
    from sensorguard.metadata import open_metadata

    # The pepper of these settings, not of get_settings(): keys must verify against the same
    # secret they were hashed with, whichever Settings the caller built.
    return open_metadata(settings.metadata_url, pepper=settings.api_key_pepper.get_secret_value())


def build_validator(settings: Settings, metadata: MetadataStore) -> ReadingValidator:
    from sensorguard.validation import CachedCatalog, ReadingValidator

    return ReadingValidator(
        CachedCatalog(metadata),
        max_clock_skew_s=settings.max_clock_skew_s,
        max_age_days=settings.max_reading_age_days,
    )


def build_pipeline(settings: Settings, metadata: MetadataStore, stream: Stream) -> IngestPipeline:
    from sensorguard.ingest.pipeline import IngestPipeline

    return IngestPipeline(build_validator(settings, metadata), stream)
