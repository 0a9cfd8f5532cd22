"""Incident-level services around the desk: reminders, exports, metrics."""
