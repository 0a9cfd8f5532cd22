"""Getting effects out: the durable outbox, the broadcaster, topics, answers."""
