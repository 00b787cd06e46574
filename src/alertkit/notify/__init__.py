"""Notifiers: where alert events leave the process."""
