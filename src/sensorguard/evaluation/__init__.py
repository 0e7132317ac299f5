"""How well flags match labelled faults: point, event and NAB metrics."""

from sensorguard.evaluation.metrics import (
    Event,
    event_metrics,
    event_metrics_by_sensor,
    events_from_labels,
    label_kinds,
    point_metrics,
)

__all__ = [
    "Event",
    "event_metrics",
    "event_metrics_by_sensor",
    "events_from_labels",
    "label_kinds",
    "point_metrics",
]
