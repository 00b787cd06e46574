"""``alertkit check FILE...``: validate rule files, rule test files and routing files.

The kind of each file is told by its top-level keys: ``groups`` (rule file), ``tests`` (rule
test file, with the rule files it names) or ``routes`` (routing file). Every problem of every
file is printed as ``file:line: field.path: message``. Exit code 0 if all files are valid,
1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path
from typing import Any

from alertkit._errors import RuleFileError, RuleTestFileError
from alertkit.cli._output import paint, plural
from alertkit.config._rules import load_rules
from alertkit.testing.testfile import check_routing_file, load_test_file

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``check`` command to the CLI's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "check", help="validate rule, rule test and routing files",
        description="Validate rule files, rule test files and routing files (TOML or YAML); "
                    "print every problem with its file, line and field path.")
    parser.add_argument("files", nargs="+", metavar="FILE", help="files to check")
    parser.set_defaults(func=run)


def _kind(path: Path) -> str:
    """``rules``, ``tests`` or ``routes``, from the top-level keys (``rules`` if unsure, so the
    rule loader reports what is wrong)."""
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".toml":
            data: object = tomllib.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception:  # unreadable or unparsable: the loader says why, with the line
        return "rules"
    if isinstance(data, dict):
        if "tests" in data:
            return "tests"
        if "routes" in data and "groups" not in data:
            return "routes"
    return "rules"


def run(args: argparse.Namespace) -> int:
    """Check every file of ``args.files``; return the exit code."""
    out, err = sys.stdout, sys.stderr
    bad = 0
    problems = 0
    for name in args.files:
        path = Path(name)
        kind = _kind(path)
        try:
            if kind == "tests":
                loaded = load_test_file(path)
                what = (f"rule test file, {plural(len(loaded.cases), 'test')}, "
                        f"{plural(len(loaded.rules), 'rule')}")
            elif kind == "routes":
                _, receivers = check_routing_file(path)
                what = f"routing file, {plural(len(receivers), 'receiver')}"
            else:
                rules = load_rules(path)
                what = f"rule file, {plural(len(rules), 'rule')}"
        except (RuleFileError, RuleTestFileError) as exc:
            bad += 1
            problems += len(exc.issues)
            for issue in exc.issues:
                print(str(issue).replace("\n", "\n    "), file=err)
            continue
        print(f"{paint('OK', 'green', out)} {name} ({what})", file=out)
    if bad:
        print(paint(f"{plural(problems, 'problem')} in {plural(bad, 'file')} "
                    f"({len(args.files) - bad} of {len(args.files)} valid)", "red", out), file=out)
        return 1
    print(paint(f"{plural(len(args.files), 'file')} valid", "green", out), file=out)
    return 0
