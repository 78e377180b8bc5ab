"""A pytest plugin that writes each test's outcome, as JSON lines, to a pipe the checker reads.

The collected tests are written first, so that if the test process dies (a crash,
``os._exit``, a kill on timeout) the checker still knows which tests never
reported and labels them instead of losing them.

What a hidden test reports is the property it checks (its docstring's first
line), its message and the student's own frames: never its name, its code, or
hypothesis's advice on how to replay it in a test function.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest
from hypothesis import settings

ENGINE_RAISED = "engine_raised"
"""The user property of a test during which the engine process raised (set by the isolation plugin)."""

_TASK_MARKER = re.compile(r"^day(\d)_task(\d+)$")
_MESSAGE_LIMIT = 2000
_HYPOTHESIS_ADVICE = ("You can reproduce this", "You can add @seed", "Explanation:", "The test always failed")
_HYPOTHESIS_REPLAY = ("reproduce_failure", "print_blob")
_REPLAY_NOTE = "operation log of this run: "  # the note tinylsm.testkit.replay_on_failure adds
_BARE_ASSERT = "the property above does not hold for your code"  # a hidden assert that carries no message


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--checker-results-fd", default=None, type=int, help="pipe the checker reads results from")
    parser.addoption("--checker-reveal-names", action="store_true", help="report hidden tests by name (instructors)")


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


def failure_message(report: pytest.TestReport, test_name: str = "", alias: str = "") -> str:
    """What went wrong, in the test's own words; never the test's code or name.

    An ``assert ..., "message"`` gives its message; any other exception gives its
    type and text (e.g. the stub's ``NotImplementedError: day1.task2: ...``) and the
    student's own frames. Hypothesis's replay advice is left out, and the failing
    example is shown as data, not as a call of the test function. ``alias`` (a
    hidden test's) replaces any other mention of the test's name, such as the name
    of its operation log.
    """
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    if text.startswith("AssertionError: "):
        # pytest's explanation of the assert statement is the test's code; a note saying
        # where the run's operation log went is the student's to use, and follows it
        text, _, explanation = text[len("AssertionError: ") :].partition("\nassert ")
        text = "\n".join([text, *(line for line in explanation.splitlines() if line.startswith(_REPLAY_NOTE))])
    elif alias and (text.startswith("assert ") or text == "AssertionError"):
        # an assert without a message: pytest's explanation of it is the hidden test's code
        text = "\n".join([_BARE_ASSERT, *(line for line in text.splitlines() if line.startswith(_REPLAY_NOTE))])
    elif text.startswith("Failed: Timeout"):
        text = "the test took longer than its time limit (an endless loop, or a lock that is never released?)"
    lines = [line for line in text.splitlines() if not _is_replay_advice(line)]
    text = "\n".join(lines)
    if test_name:
        text = _as_data(text, test_name.split("[", 1)[0], alias)
    if len(text) > _MESSAGE_LIMIT:
        text = text[:_MESSAGE_LIMIT] + " ..."
    return text.strip()


def _is_replay_advice(line: str) -> bool:
    """Hypothesis's advice on replaying a failure in the test function (a decorator to add, a blob to print)."""
    return line.strip().startswith(_HYPOTHESIS_ADVICE) or any(mark in line for mark in _HYPOTHESIS_REPLAY)


def _as_data(text: str, function: str, alias: str) -> str:
    """Hypothesis's ``Falsifying example: test_x(a=1, b=2)`` as the inputs alone; the name nowhere if ``alias``."""
    name = re.escape(function)
    text = re.sub(rf" ?{name}\((\n.*?)\n\)", r"\1", text, flags=re.DOTALL)  # one input a line
    text = re.sub(rf"{name}\(\)", "(no inputs)", text)
    text = re.sub(rf"{name}\((.*?)\)$", r"\1", text, flags=re.MULTILINE)  # the inputs on one line
    if alias:
        text = re.sub(rf"(?<![A-Za-z0-9_]){name}(?![A-Za-z0-9_])", alias, text)
    return text


def _collect_error(report: pytest.CollectReport) -> str:
    """Why a test file could not be loaded; for hidden tests only the exception, not their code."""
    text = str(report.longrepr)
    if "hidden" in report.nodeid.replace("\\", "/").split("/"):
        last = [line for line in text.splitlines() if line.strip()][-1:] or ["an error"]
        return "a hidden test file could not be loaded: " + last[0].lstrip("E ").strip()[:_MESSAGE_LIMIT]
    return text[-_MESSAGE_LIMIT:]


class _Recorder:
    def __init__(self, fd: int, reveal_names: bool) -> None:
        self._file = os.fdopen(fd, "w", encoding="utf-8")
        self._reveal_names = reveal_names
        self._function: dict[str, str] = {}  # node id -> test function, to take its name out of messages
        self._alias: dict[str, str] = {}  # node id of a hidden test -> the id the report shows

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        tests = []
        for number, item in enumerate(session.items, 1):
            hidden = _visibility(item) == "hidden" and not self._reveal_names
            self._function[item.nodeid] = item.name
            if hidden:
                self._alias[item.nodeid] = f"hidden-{number}"
            tests.append(
                {
                    "nodeid": self._alias.get(item.nodeid, item.nodeid),
                    "name": (_property(item) or f"hidden test {number}") if hidden else item.name,
                    "function": item.name,
                    "task": _task(item),
                    "visibility": _visibility(item),
                    "property": _property(item),
                    "invariant": item.get_closest_marker("invariant") is not None,
                }
            )
        self.write({"event": "collected", "tests": tests})

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.write({"event": "collect_error", "nodeid": "", "message": _collect_error(report)})

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or report.outcome != "passed":
            if report.when == "teardown" and report.outcome == "passed":
                return
            outcome = report.outcome
            message = ""
            if report.failed:
                message = failure_message(
                    report, self._function.get(report.nodeid, ""), self._alias.get(report.nodeid, "")
                )
                if "Timeout" in str(getattr(report.longrepr, "reprcrash", "")):
                    outcome = "timeout"
            self.write(
                {
                    "event": "result",
                    "nodeid": self._alias.get(report.nodeid, report.nodeid),
                    "when": report.when,
                    "outcome": outcome,
                    "message": message,
                    "duration": round(report.duration, 3),
                    "engine_raised": any(name == ENGINE_RAISED for name, _ in report.user_properties),
                }
            )


def pytest_configure(config: pytest.Config) -> None:
    fd = config.getoption("--checker-results-fd")
    if fd is not None:
        config.pluginmanager.register(_Recorder(fd, config.getoption("--checker-reveal-names")), "checker-recorder")
        # a graded run prints no replay blob: it names hypothesis's database entry, not the property
        settings.register_profile("tinylsm-grading", settings.default, print_blob=False)
        settings.load_profile("tinylsm-grading")
