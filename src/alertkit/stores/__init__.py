"""Durable state of the runtime: the delivery outbox (memory, SQLite)."""
