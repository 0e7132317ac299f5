"""Helpers of the alerting tests."""

from __future__ import annotations

from sensorguard.schemas import Sensor

SENSORS = (
    Sensor(sensor_id="th-1", sensor_type="climate", site="plant-1", tags={"floor": "2"}),
    Sensor(sensor_id="th-2", sensor_type="climate", site="plant-2"),
    Sensor(sensor_id="snd-1", sensor_type="acoustic", site="plant-1"),
)
