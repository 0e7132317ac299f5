"""Typed records the metadata store hands out: users, API keys, model specs, alert rules, audit."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from sensorguard.metadata.roles import Role


class User(BaseModel):
    """A person or device that may hold API keys."""

    model_config = ConfigDict(frozen=True)

    username: str
    role: Role
    created_at: AwareDatetime


class Principal(BaseModel):
    """Who a verified API key belongs to: what the HTTP layer authorizes against."""

    model_config = ConfigDict(frozen=True)

    username: str
    role: Role
    key_id: str


class ApiKeyInfo(BaseModel):
    """An API key's public facts; the secret and its hash never leave the store."""

    model_config = ConfigDict(frozen=True)

    key_id: str
    username: str
    name: str
    created_at: AwareDatetime
    last_used_at: AwareDatetime | None = None
    revoked_at: AwareDatetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class ModelSpecRecord(BaseModel):
    """A stored model spec; version counts the changes since it was first put."""

    model_config = ConfigDict(frozen=True)

    name: str
    sensor_group: str
    spec: dict[str, Any]
    version: int
    updated_at: AwareDatetime


class AlertRuleRecord(BaseModel):
    """A stored alert rule; the alerting engine owns what the definition means."""

    model_config = ConfigDict(frozen=True)

    name: str
    definition: dict[str, Any]
    enabled: bool
    updated_at: AwareDatetime


class AuditEntry(BaseModel):
    """One line of the append-only audit log."""

    model_config = ConfigDict(frozen=True)

    id: int
    at: AwareDatetime
    actor: str
    action: str
    subject: str
    detail: dict[str, Any] = Field(default_factory=dict)


class BulkOutcome(BaseModel):
    """What a bulk registration did, by sensor id."""

    added: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
