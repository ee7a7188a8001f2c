"""Logs, metrics, health and the read-only status API the daemon serves."""
