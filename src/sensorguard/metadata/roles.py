"""The roles a user can hold; stdlib only, so the CLI can list them without loading the store."""

from __future__ import annotations

from typing import Literal, get_args

Role = Literal["admin", "data_scientist", "operator", "device"]
ROLES: tuple[str, ...] = get_args(Role)
