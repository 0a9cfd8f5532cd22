"""After the incident (DESIGN §1.7): Five Whys, action items, incident roles, the prompt for
a missing escalation manager."""
