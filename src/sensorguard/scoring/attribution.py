"""Which channels a score comes from: per-feature evidence summed into per-channel shares."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from sensorguard.transforms.spec import SEP

F = npt.NDArray[np.float64]

TIMING = "timing"  # features of the sensor's reporting rhythm (gaps, time of day), no channel
RESID = "resid_on_"


def channel_weights(feature_names: Sequence[str], channels: Sequence[str]) -> F:
    """A (features x sources) matrix: how each feature's evidence splits over the sources.

    Sources are the channels, then :data:`TIMING`. A channel feature belongs to its channel; a
    pair residual ``y__resid_on_x`` is split evenly over x and y (a fault in either moves it,
    and giving it all to y would blame humidity for every temperature fault).
    """
    sources = [*channels, TIMING]
    index = {name: i for i, name in enumerate(sources)}
    weights = np.zeros((len(feature_names), len(sources)))
    for row, name in enumerate(feature_names):
        channel, sep, feature = name.partition(SEP)
        if not sep:
            weights[row, index[TIMING]] = 1.0
        elif feature.startswith(RESID) and feature[len(RESID) :] in index:
            weights[row, index[channel]] = 0.5
            weights[row, index[feature[len(RESID) :]]] = 0.5
        else:
            weights[row, index.get(channel, index[TIMING])] = 1.0
    return weights


def shares(evidence: F, weights: F) -> F:
    """Per-source shares (rows x sources, each row summing to 1) of non-negative evidence.

    A source's evidence is its strongest feature's (weighted), not the sum over its features:
    a sum would hand channels with more features more blame by mere count. A row without any
    evidence is split evenly: it says "nothing stands out", not "timing".
    """
    evidence = np.where(np.isfinite(evidence), np.maximum(evidence, 0.0), 0.0)
    per_source = np.zeros((len(evidence), weights.shape[1]))
    for j in range(weights.shape[1]):  # a few sources: rows x features per pass, no 3-d array
        if weights[:, j].any():
            per_source[:, j] = (evidence * weights[:, j]).max(axis=1)
    total = per_source.sum(axis=1, keepdims=True)
    even = np.full_like(per_source, 1.0 / per_source.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, per_source / total, even)
