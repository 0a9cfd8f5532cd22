"""The decision core: ports, typed effects and events, the pure decision, its applier."""
