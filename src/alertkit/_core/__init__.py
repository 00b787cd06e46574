"""The pure core: no clock, no I/O, no logging. Time is always an argument."""
