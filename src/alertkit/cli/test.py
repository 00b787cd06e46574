"""``alertkit test FILE...``: run rule test files (see docs/how-to/rule-test-files.md).

Prints each test as PASS or FAIL, a readable diff of expected and actual alerts for each failing
check, and a summary line. Exit code 0 if every test passed, 1 if one failed, 2 if a file is
invalid (its problems are printed with file, line and field path; valid files still run).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from alertkit._errors import RuleTestFileError
from alertkit.cli._output import paint, plural
from alertkit.testing.testfile import FileResult, load_test_file, run_loaded

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``test`` command to the CLI's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "test", help="run rule test files",
        description="Run rule test files (TOML or YAML) and report expected vs actual alerts.")
    parser.add_argument("files", nargs="+", metavar="FILE", help="rule test files")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="print only failures and the summary")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the files named in ``args.files``; return the exit code."""
    out, err = sys.stdout, sys.stderr
    bad_files = 0
    results: list[FileResult] = []
    for path in args.files:
        try:
            loaded = load_test_file(path)
        except RuleTestFileError as exc:
            bad_files += 1
            print(paint(f"ERROR {path}", "red", err), file=err)
            for issue in exc.issues:
                print("  " + str(issue).replace("\n", "\n    "), file=err)
            continue
        result = run_loaded(loaded)
        results.append(result)
        failed = [c for c in result.cases if not c.ok]
        if args.quiet and not failed:
            continue
        print(paint(result.path, "bold", out), file=out)
        for case in result.cases:
            if case.ok:
                if not args.quiet:
                    print(f"  {paint('PASS', 'green', out)} {case.name}", file=out)
                continue
            print(f"  {paint('FAIL', 'red', out)} {case.name}", file=out)
            if case.error is not None:
                print(f"    {case.error}", file=out)
            for failure in case.failures:
                for line in str(failure).splitlines():
                    print(f"    {line}", file=out)
    total = sum(len(r.cases) for r in results)
    failed_n = sum(1 for r in results for c in r.cases if not c.ok)
    summary = (f"{plural(total, 'test')}, {total - failed_n} passed, {failed_n} failed "
               f"({plural(len(results), 'file')} run")
    summary += f", {plural(bad_files, 'invalid file')})" if bad_files else ")"
    colour = "red" if failed_n or bad_files else "green"
    print(paint(summary, colour, out), file=out)
    if bad_files:
        return 2
    return 1 if failed_n else 0
