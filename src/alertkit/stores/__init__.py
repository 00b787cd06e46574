"""Durable state of the runtime: the delivery outbox (memory, SQLite) and the state stores
(:mod:`~alertkit.stores.base`: memory, SQLite file, Redis)."""
