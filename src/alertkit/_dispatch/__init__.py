"""The pure notification pipeline: from alert events to notifications due (sans-I/O)."""
