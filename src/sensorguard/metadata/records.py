"""Typed records the metadata store hands out: users, API keys, model specs, alert rules, audit."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from sensorguard.metadata.roles import Role


class User(BaseModel):
    """A person or device that may hold API keys."""

    model_config = ConfigDict(frozen=True)

    username: str
    role: Role
    created_at: AwareDatetime


class KeyBinding(BaseModel):
    """The sensors a key may send readings for: the ids listed, and every sensor of one site."""

    model_config = ConfigDict(frozen=True)

    sensors: tuple[str, ...] = ()
    site: str | None = None

    @property
    def bound(self) -> bool:
        return bool(self.sensors) or self.site is not None

    def covers(self, sensor_id: str, site: str | None) -> bool:
        """Whether the binding names this sensor or its site (None: the sensor is unknown)."""
        return sensor_id in self.sensors or (self.site is not None and site == self.site)

    def describe_binding(self) -> str:
        parts = []
        if self.sensors:
            parts.append(f"sensor{'s' if len(self.sensors) > 1 else ''} {', '.join(self.sensors)}")
        if self.site is not None:
            parts.append(f"site {self.site}")
        return " and ".join(parts) or "no sensor or site"


class Principal(KeyBinding):
    """Who a verified API key belongs to: what the HTTP layer authorizes against."""

    username: str
    role: Role
    key_id: str

    def may_ingest(self, sensor_id: str, site: str | None) -> bool:
        """Whether this key may send readings of `sensor_id` (registered at `site`, if known).

        Only the key's binding is judged here; whether the role may ingest at all is the
        `ingest` permission (sensorguard.auth). A bound key covers its sensors and site only.
        An unbound device key covers nothing, so a leaked gateway key cannot write for the
        whole fleet; unbound keys of people (data scientists, admins) cover every sensor.
        """
        if self.bound:
            return self.covers(sensor_id, site)
        return self.role != "device"


KeyRefusal = Literal["malformed", "unknown", "wrong_secret", "revoked", "pepper_unknown"]


class KeyCheck(BaseModel):
    """What checking a presented key found: who holds it, or why it is refused.

    `owner` is set only when the secret matched (a good or a revoked key), so a refusal of a
    revoked key is credited to its user. A wrong secret names no owner, or anyone could put a
    user's name on refusals by sending that user's (listed, not secret) key id.
    """

    model_config = ConfigDict(frozen=True)

    principal: Principal | None = None
    refusal: KeyRefusal | None = None
    key_id: str | None = None
    owner: str | None = None
    # Set for refusal "pepper_unknown": the version the key's hash was made with.
    pepper_version: int | None = None


class PepperUsage(BaseModel):
    """How many keys are hashed with one pepper version, and whether this server holds it.

    "previous" keys still work and move to the current pepper when next used; "unknown" ones
    are refused (their pepper was retired): they need replacing.
    """

    model_config = ConfigDict(frozen=True)

    version: int
    state: Literal["current", "previous", "unknown"]
    active_keys: int
    revoked_keys: int


class ApiKeyInfo(KeyBinding):
    """An API key's public facts; the secret and its hash never leave the store."""

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
