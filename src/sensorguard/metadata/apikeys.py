"""API key format and hashing: `sg_<key_id>_<secret>`, stored only as HMAC-SHA256(pepper, secret)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

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
