"""Alerting: rules over scores and readings, the alert lifecycle, delivery through Alertmanager."""
