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


class GroupCommit:
    """Lets threads that call ``sync`` at the same time share one call of ``fsync``.

    Thread-safe. ``fsync`` is called from the calling threads (never from a thread of
    its own), at most one call at a time.
    """

    def __init__(self, fsync: Callable[[], None]) -> None:
        """Group the calls of ``fsync``, the function that makes earlier writes durable."""
        raise NotImplementedError("day7.task4: GroupCommit.__init__ — see book: Day 7, Task 4")

    def sync(self) -> None:
        """Return once an ``fsync`` that began after this call began has finished.

        Every write made before the call is then durable. If that ``fsync`` raised,
        ``sync`` raises the same exception (in every caller that shared it).
        """
        raise NotImplementedError("day7.task4: GroupCommit.sync — see book: Day 7, Task 4")
