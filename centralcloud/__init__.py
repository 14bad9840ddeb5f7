"""CentralCloud: package knowledge over NATS."""

__version__ = "0.1.0"
