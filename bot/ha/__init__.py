"""Running as one of several instances: the leader lease, terms, relayed changes, write probes."""
