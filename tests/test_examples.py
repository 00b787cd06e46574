"""Every script in examples/ runs and says what it should."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))


def test_there_are_examples() -> None:
    assert EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(path: Path) -> None:
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_quickstart_shows_the_spike_and_the_sustained_breach() -> None:
    done = subprocess.run([sys.executable, str(EXAMPLES[0].parent / "quickstart.py")],
                          capture_output=True, text=True, timeout=120, check=True)
    kinds = [(line.split()[1], line.split()[2].split("{")[0])
             for line in done.stdout.splitlines() if line[:1].isdigit()]
    assert kinds == [("firing", "CPUSpike"), ("resolved", "CPUSpike"), ("pending", "HighCPU"),
                     ("firing", "HighCPU"), ("resolved", "HighCPU")]
