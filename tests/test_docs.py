"""Every Python example in the documentation runs and its assertions hold.

Each Markdown page (``docs/**/*.md`` and ``README.md``) is one test. Its
```` ```python ```` (or ```` ```py ````) fenced blocks run in order, in one
namespace shared by the page, like the cells of a notebook: a later block
may use what an earlier one defined.

Conventions for writers:

- Mark a block that must not run with ``no-run`` after the language:
  ```` ```python no-run ````. Use it for fragments that need a real
  network, a real clock, signals or a framework. (mkdocs.yml sets
  pymdownx.superfences' ``relaxed_headers`` so that the marker does not
  stop the block from rendering as Python.)
- Other languages (``text``, ``pycon``, ``toml``...) are never run.
- Async examples define ``async def main(): ...`` and end with
  ``anyio.run(main)`` inside the block; the runner itself is synchronous.
- Examples must be deterministic: explicit timestamps or ``FakeClock``, no
  network, no sleeping on the real clock beyond a few milliseconds.

A failing example is reported with the page's path and the line number of
the failing statement in that page.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [*sorted((ROOT / "docs").glob("**/*.md")), ROOT / "README.md"]

RUN_LANGUAGES = {"python", "py"}
NO_RUN = "no-run"

# An opening fence: indent, ``` or ~~~ (3 or more), then the info string.
_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*)$")


class Block(NamedTuple):
    line: int  # 1-based line number of the first line of code in the page
    info: str  # the fence's info string, e.g. "python no-run"
    code: str

    @property
    def runs(self) -> bool:
        words = self.info.split()
        return bool(words) and words[0] in RUN_LANGUAGES and NO_RUN not in words[1:]


def fenced_blocks(text: str) -> list[Block]:
    """All fenced code blocks of a Markdown text, nested fences handled as CommonMark does."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _OPEN.match(lines[i])
        if m is None:
            i += 1
            continue
        indent, fence, info = m["indent"], m["fence"], m["info"].strip()
        close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            body.append(lines[j])
            j += 1
        code = textwrap.dedent("\n".join(body)) if indent else "\n".join(body)
        blocks.append(Block(i + 2, info, code + "\n"))
        i = j + 1
    return blocks


def _page_id(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def test_the_parser_finds_blocks_and_honours_no_run() -> None:
    text = (
        "intro\n```python\nx = 1\n```\n"
        "````markdown\n```python\nnot = a block of its own\n```\n````\n"
        "```python no-run\nraise SystemExit\n```\n"
        "!!! note\n    ```py\n    y = 2\n    ```\n"
        "```text\nz\n```\n"
    )
    blocks = fenced_blocks(text)
    assert [(b.line, b.runs) for b in blocks] == [
        (3, True),
        (6, False),
        (11, False),
        (15, True),
        (18, False),
    ]
    assert blocks[3].code == "y = 2\n"


def test_the_docs_have_examples() -> None:
    assert (
        sum(
            b.runs
            for page in PAGES
            if page.exists()
            for b in fenced_blocks(page.read_text(encoding="utf-8"))
        )
        > 20
    )


def test_the_api_reference_lists_every_public_name() -> None:
    import alertkit

    api = (ROOT / "docs" / "reference" / "api.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^::: alertkit\.(\w+)\s*$", api, re.MULTILINE))
    assert sorted(set(alertkit.__all__) - documented) == [], "add them to docs/reference/api.md"
    assert sorted(documented - set(alertkit.__all__)) == [], "not public (any more)"


def _runnable(page: Path) -> list[Block]:
    return [b for b in fenced_blocks(page.read_text(encoding="utf-8")) if b.runs]


# Pages with no Python to run (pure explanation, the API reference) get no test, rather
# than a skipped one: a skip in CI should mean something is missing.
EXAMPLE_PAGES = [page for page in PAGES if _runnable(page)]


@pytest.mark.parametrize("page", EXAMPLE_PAGES, ids=_page_id)
def test_page_examples_run(page: Path) -> None:
    blocks = _runnable(page)
    namespace: dict[str, object] = {"__name__": f"docs:{_page_id(page)}"}
    for block in blocks:
        # Padding with newlines makes tracebacks point at the right line of the page.
        source = "\n" * (block.line - 1) + block.code
        exec(compile(source, str(page), "exec"), namespace)
