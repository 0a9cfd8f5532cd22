"""Example statusdesk plug-ins (README "Plug-ins"): `provider.Notify`, `tracker.Tickets`."""
