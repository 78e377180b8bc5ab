"""Day 7, task 4: group commit, so that concurrent writers share one fsync.

An ``fsync`` of the write-ahead log (day 6) takes from tens of microseconds to
milliseconds, and it makes durable everything written to the file before it
began. So when several threads want their writes durable at the same time, one
``fsync`` started after all of them wrote serves them all. ``GroupCommit`` wraps the
log's ``fsync`` into a ``sync`` that does exactly that (see the book, Day 7, "Group
commit"):

* an fsync *round* runs one call of ``fsync``; rounds run one at a time;
* a caller joins the next round that has not begun yet, so the ``fsync`` that
  serves it began after the caller arrived, and covers the caller's writes;
* the first caller to find no round running starts the pending round and runs
  ``fsync`` for everyone in it; the others wait on a ``threading.Condition``;
* when ``fsync`` raises, every caller of that round raises the same exception.

Callers that arrive while a round runs wait for it to finish and then share the
next round: with ``n`` concurrent callers there are at most two ``fsync`` calls in
their way instead of ``n``.
"""

from __future__ import annotations

from collections.abc import Callable

# BEGIN SOLUTION
import threading

# END SOLUTION


class GroupCommit:
    """Lets threads that call ``sync`` at the same time share one call of ``fsync``.

    Thread-safe. ``fsync`` is called from the calling threads (never from a thread of
    its own), at most one call at a time.
    """

    def __init__(self, fsync: Callable[[], None]) -> None:
        """Group the calls of ``fsync``, the function that makes earlier writes durable."""
        # BEGIN SOLUTION day7.task4
        self._fsync = fsync
        self._cond = threading.Condition()
        self._pending: _Round | None = None
        """The round that new callers join: it has not begun yet."""
        self._running: _Round | None = None
        """The round whose ``fsync`` is in progress, if any."""
        # END SOLUTION

    def sync(self) -> None:
        """Return once an ``fsync`` that began after this call began has finished.

        Every write made before the call is then durable. If that ``fsync`` raised,
        ``sync`` raises the same exception (in every caller that shared it).
        """
        # BEGIN SOLUTION day7.task4
        with self._cond:
            round_ = self._pending
            if round_ is None:
                round_ = self._pending = _Round()
            while not round_.done:
                if self._running is not None:
                    self._cond.wait()
                    continue
                # No round runs, so ours has not begun: run it for everyone who joined.
                self._running = round_
                self._pending = None
                self._cond.release()
                try:
                    self._fsync()
                except BaseException as error:
                    round_.error = error
                    raise
                finally:
                    self._cond.acquire()
                    round_.done = True
                    self._running = None
                    self._cond.notify_all()
            if round_.error is not None:
                raise round_.error
        # END SOLUTION


# BEGIN SOLUTION
class _Round:
    """One call of ``fsync`` and the callers it serves."""

    __slots__ = ("done", "error")

    def __init__(self) -> None:
        self.done = False
        self.error: BaseException | None = None


# END SOLUTION
