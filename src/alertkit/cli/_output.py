"""Small helpers shared by the commands: plain text output, colour only on a terminal."""

from __future__ import annotations

import os
import sys
from typing import TextIO


def use_colour(stream: TextIO) -> bool:
    """Colour when writing to a terminal, unless ``NO_COLOR`` is set (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def paint(text: str, colour: str, stream: TextIO = sys.stdout) -> str:
    """``text`` in ``colour`` (``red``, ``green``, ``yellow``, ``bold``) if the stream is a TTY."""
    if not use_colour(stream):
        return text
    code = {"red": "31", "green": "32", "yellow": "33", "bold": "1"}[colour]
    return f"\033[{code}m{text}\033[0m"


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
