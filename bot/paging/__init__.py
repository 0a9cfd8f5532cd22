"""Paging the escalation manager: who is on call, the escalation policy, the providers."""
