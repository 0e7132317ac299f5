"""Builds the configured backends from Settings: the one place URLs turn into objects."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

# redact_url lives in settings (Settings' repr uses it); importers keep this name for it.
from sensorguard.settings import Settings
from sensorguard.settings import redact_url as redact_url

if TYPE_CHECKING:
    from sensorguard.ingest.pipeline import IngestPipeline
    from sensorguard.metadata import MetadataStore
    from sensorguard.store import TimeSeriesStore
    from sensorguard.stream import Stream
    from sensorguard.validation import ReadingValidator

log = logging.getLogger(__name__)


def open_configured_store(settings: Settings) -> TimeSeriesStore:
    from sensorguard.store import open_store

    log.info("store: %s", redact_url(settings.store_url))
    return open_store(settings.store_url, settings=settings)


def open_configured_stream(settings: Settings) -> Stream:
    from sensorguard.stream import open_stream

    log.info("stream: %s", redact_url(settings.stream_url))
    # These settings' Kafka options, not get_settings()': a caller's Settings must hold all the way.
    return open_stream(
        settings.stream_url, partitions=settings.stream_partitions, settings=settings
    )


def open_configured_metadata(settings: Settings) -> MetadataStore:
    from sensorguard.metadata import open_metadata
    from sensorguard.metadata.apikeys import Peppers

    # The peppers of these settings, not of get_settings(): keys must verify against the same
    # secret they were hashed with, whichever Settings the caller built.
    return open_metadata(settings.metadata_url, pepper=Peppers.of_settings(settings))


def build_validator(settings: Settings, metadata: MetadataStore) -> ReadingValidator:
    from sensorguard.validation import CachedCatalog, ReadingValidator

    return ReadingValidator(
        CachedCatalog(metadata),
        max_clock_skew_s=settings.max_clock_skew_s,
        # A reading past retention would be accepted and then not stored: refused at the door
        # instead, it reaches the dead letters with the reason.
        max_age_days=min(settings.max_reading_age_days, settings.retention_days),
    )


def build_pipeline(settings: Settings, metadata: MetadataStore, stream: Stream) -> IngestPipeline:
    from sensorguard.ingest.pipeline import IngestPipeline

    return IngestPipeline(build_validator(settings, metadata), stream)
