"""Subscribers: people (by e-mail, double opt-in) and systems (signed webhooks) told about
incidents, maintenance and component changes (DESIGN §1.6)."""
