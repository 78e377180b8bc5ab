"""A pytest plugin that writes each test's outcome to a JSON-lines file for the checker.

The collected tests are written first, so that if the test process dies (a crash,
``os._exit``, a kill on timeout) the checker still knows which tests never
reported and labels them instead of losing them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

_TASK_MARKER = re.compile(r"^day(\d)_task(\d+)$")
_MESSAGE_LIMIT = 1500


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--checker-results", default=None, help="JSON-lines file the checker reads results from")


def _task(item: pytest.Item) -> str:
    for marker in item.iter_markers():
        match = _TASK_MARKER.match(marker.name)
        if match:
            return f"day{match[1]}.task{match[2]}"
    return ""


def _visibility(item: pytest.Item) -> str:
    return "hidden" if "hidden" in item.path.parts else "visible"


def _property(item: pytest.Item) -> str:
    """The first line of the test's docstring: the behaviour it checks."""
    doc = getattr(getattr(item, "function", None), "__doc__", None) or ""
    return doc.strip().split("\n", 1)[0]


def failure_message(report: pytest.TestReport) -> str:
    """What went wrong, in the test's own words; never the test's code.

    An ``assert ..., "message"`` gives its message; any other exception gives its
    type and text (e.g. the stub's ``NotImplementedError: day1.task2: ...``).
    """
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    if text.startswith("AssertionError: "):
        text = text[len("AssertionError: ") :].split("\nassert ", 1)[0]
    elif text.startswith("Failed: Timeout"):
        text = "the test took longer than its time limit (an endless loop, or a lock that is never released?)"
    if len(text) > _MESSAGE_LIMIT:
        text = text[:_MESSAGE_LIMIT] + " ..."
    return text.strip()


class _Recorder:
    def __init__(self, path: Path) -> None:
        self._file = path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        tests = [
            {
                "nodeid": item.nodeid,
                "name": item.name,
                "task": _task(item),
                "visibility": _visibility(item),
                "property": _property(item),
            }
            for item in session.items
        ]
        self.write({"event": "collected", "tests": tests})

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.write({"event": "collect_error", "nodeid": report.nodeid, "message": str(report.longrepr)[-2000:]})

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or report.outcome != "passed":
            if report.when == "teardown" and report.outcome == "passed":
                return
            outcome = report.outcome
            message = ""
            if report.failed:
                message = failure_message(report)
                if "Timeout" in str(getattr(report.longrepr, "reprcrash", "")):
                    outcome = "timeout"
            self.write(
                {
                    "event": "result",
                    "nodeid": report.nodeid,
                    "when": report.when,
                    "outcome": outcome,
                    "message": message,
                    "duration": round(report.duration, 3),
                }
            )


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("--checker-results")
    if path:
        config.pluginmanager.register(_Recorder(Path(path)), "checker-recorder")
