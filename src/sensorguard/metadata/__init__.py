"""Platform metadata in one SQLite file: sensors, types, model specs, users, keys, rules, audit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sensorguard._lazy import lazy_exports

if TYPE_CHECKING:
    from sensorguard.metadata.migrations import MIGRATIONS, migrate, schema_version
    from sensorguard.metadata.records import (
        AlertRuleRecord,
        ApiKeyInfo,
        AuditEntry,
        BulkOutcome,
        KeyBinding,
        KeyCheck,
        ModelSpecRecord,
        PepperUsage,
        Principal,
        User,
    )
    from sensorguard.metadata.roles import ROLES, Role
    from sensorguard.metadata.store import MetadataStore, open_metadata

# Resolved on first use, so `sensorguard --help` does not pay for pydantic-settings and sqlite.
_EXPORTS = {
    "MIGRATIONS": "migrations",
    "migrate": "migrations",
    "schema_version": "migrations",
    "AlertRuleRecord": "records",
    "ApiKeyInfo": "records",
    "AuditEntry": "records",
    "BulkOutcome": "records",
    "KeyBinding": "records",
    "KeyCheck": "records",
    "ModelSpecRecord": "records",
    "PepperUsage": "records",
    "Principal": "records",
    "User": "records",
    "ROLES": "roles",
    "Role": "roles",
    "MetadataStore": "store",
    "open_metadata": "store",
}

__all__ = [
    "MIGRATIONS",
    "ROLES",
    "AlertRuleRecord",
    "ApiKeyInfo",
    "AuditEntry",
    "BulkOutcome",
    "KeyBinding",
    "KeyCheck",
    "MetadataStore",
    "ModelSpecRecord",
    "PepperUsage",
    "Principal",
    "Role",
    "User",
    "migrate",
    "open_metadata",
    "schema_version",
]


__getattr__ = lazy_exports(__name__, _EXPORTS)
