"""API key format and hashing: `sg_<key_id>_<secret>`, stored only as HMAC-SHA256(pepper, secret).

Each stored hash records the version of the pepper it was made with, so the pepper can be
rotated: the new one becomes current, the old one stays known under its version until every
key has been used (and re-hashed) or replaced.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sensorguard.settings import Settings

PREFIX = "sg"
# key_id is hex so it never contains the '_' that separates the parts; the secret may.
_KEY_RE = re.compile(r"^sg_(?P<key_id>[0-9a-f]{16})_(?P<secret>[A-Za-z0-9_-]{32,128})$")
# Anything shaped like a key, wherever it appears in a larger text (for redaction).
KEY_PATTERN = re.compile(r"sg_[0-9a-f]{16}_[A-Za-z0-9_-]+")


def new_key() -> tuple[str, str, str]:
    """A fresh (key_id, secret, plaintext) triple; the plaintext is what the user keeps."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return key_id, secret, f"{PREFIX}_{key_id}_{secret}"


def parse_key(plaintext: str) -> tuple[str, str] | None:
    """(key_id, secret) of a well-formed key, or None for anything else."""
    match = _KEY_RE.match(plaintext.strip())
    if match is None:
        return None
    return match["key_id"], match["secret"]


def hash_secret(pepper: str, secret: str) -> str:
    """The only form of the secret that is stored. Keyed, so a stolen database alone is useless."""
    return hmac.new(pepper.encode(), secret.encode(), hashlib.sha256).hexdigest()


def secret_matches(pepper: str, secret: str, stored_hash: str) -> bool:
    """Constant-time comparison, so response timing does not leak how much of a hash matched."""
    return hmac.compare_digest(hash_secret(pepper, secret), stored_hash)


def redact_keys(text: str) -> str:
    """Replace anything that looks like an API key with a marker."""
    return KEY_PATTERN.sub("sg_[redacted]", text)


@dataclass(frozen=True, repr=False)
class Peppers:
    """The current pepper's version and every pepper a stored hash may have been made with."""

    current_version: int
    by_version: Mapping[int, str]

    def __post_init__(self) -> None:
        if self.current_version not in self.by_version:
            raise ValueError(f"no pepper for the current version {self.current_version}")
        object.__setattr__(self, "by_version", MappingProxyType(dict(self.by_version)))

    @classmethod
    def single(cls, pepper: str, version: int = 1) -> Peppers:
        return cls(version, {version: pepper})

    @classmethod
    def of_settings(cls, settings: Settings) -> Peppers:
        return cls(settings.api_key_pepper_version, settings.api_key_peppers())

    @property
    def current(self) -> str:
        return self.by_version[self.current_version]

    def get(self, version: int) -> str | None:
        return self.by_version.get(version)

    def __repr__(self) -> str:  # never the peppers themselves
        return (
            f"Peppers(current_version={self.current_version}, versions={sorted(self.by_version)})"
        )
