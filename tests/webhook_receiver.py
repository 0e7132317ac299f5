"""The package's webhook receiver, for the tests that need a real one."""

from sensorguard.alerting.receiver import Body, Receiver, webhook_receiver

__all__ = ["Body", "Receiver", "webhook_receiver"]
