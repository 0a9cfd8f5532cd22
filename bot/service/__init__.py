"""statusdesk as a service of the host's service manager: systemd's notification protocol
(readiness, status, watchdog, stopping, reloading) and the reload of the configuration."""
