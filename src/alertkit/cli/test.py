"""``alertkit test FILE...``: run rule test files (see docs/how-to/rule-test-files.md).

Prints each test as PASS or FAIL, a readable diff of expected and actual alerts for each failing
check, and a summary line. Exit code 0 if every test passed, 1 if one failed, 2 if a file is
invalid (its problems are printed with file, line and field path; valid files still run).
"""

from __future__ import annotations

import argparse
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from alertkit._errors import RuleTestFileError
from alertkit.cli._output import paint, plural
from alertkit.testing.testfile import FileResult, load_test_file, run_loaded

__all__ = ["junit_xml", "register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``test`` command to the CLI's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "test", help="run rule test files",
        description="Run rule test files (TOML or YAML) and report expected vs actual alerts.")
    parser.add_argument("files", nargs="+", metavar="FILE", help="rule test files")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="print only failures and the summary")
    parser.add_argument("-k", "--run", default=None, metavar="REGEX",
                        help="run only the tests whose name matches REGEX (re.search)")
    parser.add_argument("--junit", default=None, metavar="FILE",
                        help="also write the results as JUnit XML (for CI)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the files named in ``args.files``; return the exit code."""
    out, err = sys.stdout, sys.stderr
    try:
        pattern = None if args.run is None else re.compile(args.run)
    except re.error as exc:
        print(f"error: --run {args.run!r} is not a regular expression: {exc}", file=err)
        return 2
    select = None if pattern is None else (lambda name: pattern.search(name) is not None)
    bad: dict[str, list[str]] = {}
    results: list[FileResult] = []
    for path in args.files:
        try:
            loaded = load_test_file(path)
        except RuleTestFileError as exc:
            bad[path] = [str(i) for i in exc.issues]
            print(paint(f"ERROR {path}", "red", err), file=err)
            for issue in exc.issues:
                print("  " + str(issue).replace("\n", "\n    "), file=err)
            continue
        result = run_loaded(loaded, select=select)
        results.append(result)
        failed = [c for c in result.cases if not c.ok]
        if not result.cases or (args.quiet and not failed):
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
    summary += f", {plural(len(bad), 'invalid file')})" if bad else ")"
    colour = "red" if failed_n or bad else "green"
    print(paint(summary, colour, out), file=out)
    if args.junit is not None:
        try:
            Path(args.junit).write_text(junit_xml(results, bad), encoding="utf-8")
        except OSError as exc:
            print(f"error: cannot write {args.junit}: {exc}", file=err)
            return 2
    if bad:
        return 2
    return 1 if failed_n else 0


def junit_xml(results: list[FileResult], invalid: dict[str, list[str]]) -> str:
    """The results as JUnit XML: a ``testsuite`` per file, a ``testcase`` per test, a
    ``failure`` holding the diff; an invalid file is a suite with one ``error``."""
    root = ET.Element("testsuites", name="alertkit test")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for r in results:
        failures = sum(1 for c in r.cases if c.failures)
        errors = sum(1 for c in r.cases if c.error is not None)
        suite = ET.SubElement(root, "testsuite", name=r.path, tests=str(len(r.cases)),
                              failures=str(failures), errors=str(errors),
                              time=f"{sum(c.seconds for c in r.cases):.3f}")
        for c in r.cases:
            case = ET.SubElement(suite, "testcase", classname=r.path, name=c.name,
                                 time=f"{c.seconds:.3f}")
            if c.error is not None:
                ET.SubElement(case, "error", message=c.error).text = c.error
            elif c.failures:
                ET.SubElement(case, "failure", message=f"{plural(len(c.failures), 'check')} "
                              "failed").text = "\n\n".join(str(f) for f in c.failures)
        totals["tests"] += len(r.cases)
        totals["failures"] += failures
        totals["errors"] += errors
    for path, issues in invalid.items():
        suite = ET.SubElement(root, "testsuite", name=path, tests="1", failures="0", errors="1")
        case = ET.SubElement(suite, "testcase", classname=path, name="load")
        ET.SubElement(case, "error", message="invalid rule test file").text = "\n".join(issues)
        totals["tests"] += 1
        totals["errors"] += 1
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") \
        + "\n"
