"""Pure alert lifecycle: acknowledge, assign, comment, snooze, resolve, expire, escalate.

Everything here is a function of (state, command, now): no clock, no I/O. The
runtime's :class:`~alertkit.Engine` drives it and delivers the notifications it
asks for.
"""
