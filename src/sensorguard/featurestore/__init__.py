"""Feast glue: export features computed by the shared transforms, apply, materialize, retrieve.

The declarations live in the repo's `features/` folder; this package configures Feast from
Settings and calls its Python API in one process (the `feast` CLI pays ~8 s of imports per call).
Names resolve lazily: importing this package does not import Feast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sensorguard._lazy import lazy_exports

if TYPE_CHECKING:
    from sensorguard.featurestore.repo import (
        apply,
        feature_store,
        historical_features,
        load_declarations,
        materialize,
        online_features,
    )

_WHERE = {
    "apply": "repo",
    "feature_store": "repo",
    "historical_features": "repo",
    "load_declarations": "repo",
    "materialize": "repo",
    "online_features": "repo",
}

__all__ = [
    "apply",
    "feature_store",
    "historical_features",
    "load_declarations",
    "materialize",
    "online_features",
]


__getattr__ = lazy_exports(__name__, _WHERE)
