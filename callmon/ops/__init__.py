"""Running callmon as a service: systemd readiness, watchdog and status."""
