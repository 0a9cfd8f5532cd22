"""Logs, metrics of the process itself, secrets kept out of logs."""
