"""The workloads: seeded keys, the plan of a run, and each workload's timed loop.

Keys are 16 random bytes and values 100 bytes, both from a seeded generator, so
that every engine gets the same operations in the same order. A value is one of
4,096 random values (key ``i`` gets value ``i % 4096``): the pool keeps the harness
small in memory, and since no engine compresses, the bytes stored are the same.

A timed loop calls the engine's own ``put``/``get`` (no wrapper in between) on key
slices of one ``bytes`` object; the harness's cost per operation is the same for
every engine. Reads check each answer: wrong answers are counted and reported.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from array import array
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from checker.benchmarks import process
from checker.benchmarks.engines import Engine, NotSupported

KEY_SIZE = 16
VALUE_SIZE = 100
ENTRY_BYTES = KEY_SIZE + VALUE_SIZE
VALUE_POOL = 4096
"""Distinct values (a power of two: value ``i`` is ``pool[i & MASK]``)."""
MASK = VALUE_POOL - 1
MB = 1_000_000
"""MB in this report is 10**6 bytes."""

FULL_N, QUICK_N = 1_000_000, 20_000
FULL_SCAN, QUICK_SCAN = 100_000, 5_000
HOT_KEYS = 1_000
"""readhot's hot set: at most 1,000 blocks of 4 KiB, which fit in an 8 MiB block cache."""
SYNC_BATCH = 100
SYNC_THREADS = 8
MAX_SYNC_OPS = 5_000
RECOVERY_ENTRIES = 15_000
"""1.74 MB of entries: less than one 2 MiB memtable, so that all of it is recovered from the WAL."""
RSS_ENTRIES = 100_000
"""Entries loaded by the memory check in --quick: 11.6 MB, within a minute's budget for five engines."""
RSS_FULL_BYTES = 1 << 30
"""A full run's memory check loads 1 GiB of keys and values (9,256,396 entries)."""
RSS_LIMIT = 256 << 20
"""The course's target: an engine loading 1 GiB peaks at no more than 256 MiB of resident memory."""
RSS_CHUNK = 65_536
"""The memory check makes its keys this many at a time: the harness holds 1 MiB of keys, not the whole load's."""
RSS_FLAT_FRACTION = 0.25
"""RSS is flat when it grows by less than this fraction of the bytes loaded between 1/4 and the end."""

WORKLOADS: dict[str, str] = {
    "fillseq": "N puts of sequential keys (16-byte big-endian counters), then settle",
    "fillrandom": "N puts of random keys (WAL on, no fsync per write), then settle: flush + background work done",
    "readrandom": "N gets of random loaded keys, after the load",
    "readrandom_compacted": "N gets of random loaded keys, after a full compaction",
    "readmissing": "N gets of keys never written (bloom filters)",
    "readhot": f"N gets drawn from {HOT_KEYS:,} hot keys (block cache)",
    "scan": "one range scan of consecutive keys from a seeded start",
    "sync_each": "put + sync, one fsync'd write at a time",
    "sync_batch100": f"write_batch of {SYNC_BATCH} + sync",
    "sync_threads": f"{SYNC_THREADS} threads, each put + sync (group commit)",
    "recovery": "reopen after a crash (SIGKILL) from the WAL; ops = entries recovered",
    "rss": "resident memory at 1/4, 1/2 and the end of a load (1 GiB in a full run), in a fresh process",
}
"""Every workload, in the order they run and are reported."""

LOADED = ("readrandom", "readmissing", "readhot", "scan", "readrandom_compacted")
"""The workloads that read the database ``fillrandom`` loads."""
SYNCED = ("sync_each", "sync_batch100", "sync_threads")

Progress = Callable[[str], None]
Result = dict[str, Any]


@dataclass(frozen=True)
class Plan:
    """The sizes of one run, derived from N; the same for every engine."""

    n: int
    quick: bool
    workloads: tuple[str, ...] = tuple(WORKLOADS)
    seed: int = 20240601

    @property
    def reads(self) -> int:
        """Gets per read workload."""
        return self.n

    @property
    def scan_length(self) -> int:
        """Keys read by the scan."""
        return min(self.n, QUICK_SCAN if self.quick else FULL_SCAN)

    @property
    def sync_ops(self) -> int:
        """Writes per synced workload (200 in --quick, 5,000 in a full run)."""
        return min(MAX_SYNC_OPS, max(50, self.n // 100))

    @property
    def recovery_entries(self) -> int:
        """Entries written before the simulated crash."""
        return min(self.n, RECOVERY_ENTRIES)

    @property
    def rss_entries(self) -> int:
        """Entries loaded by the memory check.

        A full run at the default N or more loads 1 GiB (or N entries, if more); a
        full run at a smaller N loads N; --quick loads 100,000 (or 10 N if that is less).
        """
        if self.quick:
            return min(RSS_ENTRIES, 10 * self.n)
        return max(self.n, -(-RSS_FULL_BYTES // ENTRY_BYTES)) if self.n >= FULL_N else self.n

    def describe(self) -> dict[str, Any]:
        """Every size, for the report and the JSON."""
        return {
            **asdict(self),
            "reads": self.reads,
            "scan_length": self.scan_length,
            "sync_ops": self.sync_ops,
            "sync_threads": SYNC_THREADS,
            "sync_batch": SYNC_BATCH,
            "recovery_entries": self.recovery_entries,
            "rss_entries": self.rss_entries,
            "hot_keys": min(HOT_KEYS, self.n),
            "key_size": KEY_SIZE,
            "value_size": VALUE_SIZE,
            "value_pool": VALUE_POOL,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        """The plan ``describe()`` wrote."""
        return cls(n=data["n"], quick=data["quick"], workloads=tuple(data["workloads"]), seed=data["seed"])


@dataclass
class Keys:
    """``count`` seeded random keys in one ``bytes`` (key ``i`` is ``blob[16 * i : 16 * i + 16]``) and the values."""

    seed: int
    count: int
    blob: bytes = field(init=False, repr=False)
    values: list[bytes] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        self.blob = rng.randbytes(KEY_SIZE * self.count)
        self.values = [rng.randbytes(VALUE_SIZE) for _ in range(VALUE_POOL)]

    def key(self, i: int) -> bytes:
        """Key number ``i``."""
        return self.blob[KEY_SIZE * i : KEY_SIZE * (i + 1)]

    def value(self, i: int) -> bytes:
        """The value written with key number ``i``."""
        return self.values[i & MASK]


def sequential_blob(count: int) -> bytes:
    """``count`` sequential 16-byte keys (big-endian counters) in one ``bytes``.

    Built without a list of ``count`` small objects, which would raise the peak RSS
    reported for the engine: eight strided copies place each byte of the counters.
    """
    counters = array("Q", range(count))
    if sys.byteorder == "little":
        counters.byteswap()
    raw = counters.tobytes()
    blob = bytearray(KEY_SIZE * count)  # the first 8 bytes of every key stay zero
    for byte in range(8):
        blob[KEY_SIZE - 8 + byte :: KEY_SIZE] = raw[byte::8]
    return bytes(blob)


def random_order(seed: int, count: int, bound: int) -> array:
    """``count`` seeded indices in ``range(bound)`` (an array of 32-bit integers, small in memory)."""
    raw = array("I")
    raw.frombytes(random.Random(seed).randbytes(4 * count))
    return array("I", (index % bound for index in raw))


def measured(ops: int, seconds: float, bytes_per_op: int = ENTRY_BYTES, **extra: Any) -> Result:
    """A workload's result: ops, seconds, ops/s and MB/s (``bytes_per_op`` per operation), plus ``extra``."""
    seconds = max(seconds, 1e-9)
    return {
        "status": "ok",
        "ops": ops,
        "seconds": seconds,
        "ops_per_sec": ops / seconds,
        "mb_per_sec": ops * bytes_per_op / seconds / MB,
        **extra,
    }


@contextlib.contextmanager
def counting_fsyncs() -> Iterator[Callable[[], int]]:
    """Count the calls of ``os.fsync`` made (from Python) inside the block; yields a function reading the count."""
    original, lock, calls = os.fsync, threading.Lock(), 0

    def fsync(fd: int) -> None:
        nonlocal calls
        with lock:
            calls += 1
        original(fd)

    os.fsync = fsync
    try:
        yield lambda: calls
    finally:
        os.fsync = original


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in after if name in before}


def _read_extras(counters: dict[str, int], reads: int) -> dict[str, Any]:
    extras: dict[str, Any] = {"engine_counters": counters}
    hits, misses = counters.get("block_cache_hits"), counters.get("block_cache_misses")
    if hits is not None and misses is not None and hits + misses:
        extras["block_cache_hit_rate"] = hits / (hits + misses)
    if "blocks_read" in counters and reads:
        extras["blocks_read_per_get"] = counters["blocks_read"] / reads
    if "filter_negatives" in counters and reads:
        extras["filter_negatives_per_get"] = counters["filter_negatives"] / reads
    return extras


class EngineRun:
    """Runs the plan's workloads on one engine, each database in its own directory under ``root``."""

    def __init__(self, engine_name: str, new_engine: Callable[[], Engine], plan: Plan, root: Path, progress: Progress):
        self.name = engine_name
        self.new_engine = new_engine
        self.plan = plan
        self.root = root
        self.progress = progress
        self.results: dict[str, Result] = {}
        self.amplification: Result = {}
        self.keys = Keys(plan.seed, plan.n)

    # -- bookkeeping ---------------------------------------------------------

    def _attempt(self, workload: str, run: Callable[[], Result]) -> None:
        if workload not in self.plan.workloads:
            return
        try:
            result = run()
        except NotSupported as reason:
            result = {"status": "n/a", "reason": str(reason)}
        except Exception as error:
            traceback.print_exc()
            result = {"status": "error", "error": f"{type(error).__name__}: {error}"}
        self.results[workload] = result
        self.progress(f"{self.name:<10} {workload:<21} {progress_text(result)}")

    @contextlib.contextmanager
    def _database(self, directory: str, *, synced: bool = False) -> Iterator[Engine]:
        path = self.root / directory
        path.mkdir(parents=True)
        engine = self.new_engine()
        engine.open(path, synced=synced)
        try:
            yield engine
        finally:
            engine.close()
            shutil.rmtree(path, ignore_errors=True)

    # -- the whole run ---------------------------------------------------------

    def run(self) -> dict[str, Result]:
        """Every workload of the plan, in order; returns the results by workload."""
        plan = self.plan
        self._attempt("fillseq", self.fillseq)
        if any(w in plan.workloads for w in ("fillrandom", *LOADED)):
            self._loaded_workloads()
        for workload in SYNCED:
            self._attempt(workload, getattr(self, workload))
        self._attempt("recovery", self.recovery)
        return self.results

    def _loaded_workloads(self) -> None:
        try:
            with self._database("load") as engine:
                load = self.fillrandom(engine)
                if "fillrandom" in self.plan.workloads:
                    self._attempt("fillrandom", lambda: load)
                self.amplification = self._amplification(engine, load)
                self._attempt("readrandom", lambda: self.readrandom(engine))
                self._attempt("readmissing", lambda: self.readmissing(engine))
                self._attempt("readhot", lambda: self.readhot(engine))
                self._attempt("scan", lambda: self.scan(engine))
                self._attempt("readrandom_compacted", lambda: self.readrandom_compacted(engine))
        except Exception as error:
            traceback.print_exc()
            failure = {"status": "error", "error": f"the load failed: {type(error).__name__}: {error}"}
            for workload in ("fillrandom", *LOADED):
                if workload in self.plan.workloads and workload not in self.results:
                    self.results[workload] = failure
                    self.progress(f"{self.name:<10} {workload:<21} {progress_text(failure)}")

    # -- writes ----------------------------------------------------------------

    def fillseq(self) -> Result:
        """Sequential keys: the best case of every engine (no overlap between SSTs)."""
        n = self.plan.n
        blob, values = sequential_blob(n), self.keys.values
        with self._database("fillseq") as engine:
            put = engine.putter()
            start = time.perf_counter()
            for i in range(n):
                put(blob[i << 4 : (i + 1) << 4], values[i & MASK])
            engine.settle()
            return measured(n, time.perf_counter() - start)

    def fillrandom(self, engine: Engine) -> Result:
        """Random keys; the time includes letting flushes and compactions settle."""
        n, keys = self.plan.n, self.keys
        blob, values = keys.blob, keys.values
        written_before = process.bytes_written()
        put = engine.putter()
        start = time.perf_counter()
        for i in range(n):
            put(blob[i << 4 : (i + 1) << 4], values[i & MASK])
        loaded = time.perf_counter()
        engine.settle()
        end = time.perf_counter()
        written_after = process.bytes_written()
        written = None if written_before is None or written_after is None else written_after - written_before
        return measured(n, end - start, settle_seconds=end - loaded, syscall_bytes_written=written)

    def _amplification(self, engine: Engine, load: Result) -> Result:
        user_bytes = self.plan.n * ENTRY_BYTES
        if engine.in_memory:
            return {"status": "n/a", "reason": f"{self.name} keeps everything in memory", "user_bytes": user_bytes}
        value, source = engine.write_amplification(user_bytes)
        written = load.get("syscall_bytes_written")
        disk = process.directory_bytes(self.root / "load")
        return {
            "status": "ok",
            "user_bytes": user_bytes,
            "write_amplification": value,
            "write_amplification_source": source,
            "syscall_write_amplification": None if written is None else written / user_bytes,
            "disk_bytes": disk,
            "space_amplification": disk / user_bytes,
        }

    # -- reads -----------------------------------------------------------------

    def _timed_gets(self, engine: Engine, blob: bytes, order: array, expect_found: bool) -> Result:
        get, values = engine.getter(), self.keys.values
        before = engine.counters()
        wrong = 0
        start = time.perf_counter()
        if expect_found:
            for i in order:
                if get(blob[i << 4 : (i + 1) << 4]) != values[i & MASK]:
                    wrong += 1
        else:
            for i in order:
                if get(blob[i << 4 : (i + 1) << 4]) is not None:
                    wrong += 1
        seconds = time.perf_counter() - start
        reads = len(order)
        result = measured(reads, seconds, ENTRY_BYTES if expect_found else KEY_SIZE)
        result.update(_read_extras(_delta(before, engine.counters()), reads))
        if wrong:
            result.update(status="wrong", wrong_answers=wrong)
        return result

    def readrandom(self, engine: Engine) -> Result:
        """Gets of loaded keys in random order."""
        plan = self.plan
        return self._timed_gets(engine, self.keys.blob, random_order(plan.seed + 1, plan.reads, plan.n), True)

    def readmissing(self, engine: Engine) -> Result:
        """Gets of keys never written: a bloom filter answers most of them without reading a block."""
        plan = self.plan
        missing = Keys(plan.seed + 2, plan.reads).blob
        return self._timed_gets(engine, missing, array("I", range(plan.reads)), False)

    def readhot(self, engine: Engine) -> Result:
        """Gets drawn from a small hot set, whose blocks fit in the block cache."""
        plan = self.plan
        return self._timed_gets(
            engine, self.keys.blob, random_order(plan.seed + 3, plan.reads, min(HOT_KEYS, plan.n)), True
        )

    def scan(self, engine: Engine) -> Result:
        """One range scan of ``scan_length`` keys from a seeded start with that many keys after it."""
        plan = self.plan
        length = plan.scan_length
        room = max(0.0, 1.0 - 1.2 * length / plan.n)  # start low enough that ~1.2 * length keys follow it
        start_key = int(random.Random(plan.seed + 4).uniform(0, room) * 2 ** (8 * KEY_SIZE)).to_bytes(KEY_SIZE, "big")
        before = engine.counters()
        start = time.perf_counter()
        returned = engine.scan(start_key, length)
        seconds = time.perf_counter() - start
        result = measured(returned, seconds, requested=length)
        result.update(_read_extras(_delta(before, engine.counters()), 0))
        return result

    def readrandom_compacted(self, engine: Engine) -> Result:
        """A full compaction (timed apart), then the gets of ``readrandom`` again."""
        start = time.perf_counter()
        engine.compact()
        compaction_seconds = time.perf_counter() - start
        if not engine.in_memory:
            disk = process.directory_bytes(self.root / "load")
            self.amplification["disk_bytes_after_compaction"] = disk
            self.amplification["space_amplification_after_compaction"] = disk / (self.plan.n * ENTRY_BYTES)
        result = self.readrandom(engine)
        result["compaction_seconds"] = compaction_seconds
        return result

    # -- synced writes ---------------------------------------------------------

    def _synced(self, workload: str, write: Callable[[Engine, Keys, int], None]) -> Result:
        ops = self.plan.sync_ops
        keys = Keys(self.plan.seed + 5, ops)
        with self._database(workload, synced=True) as engine, counting_fsyncs() as fsyncs:
            start = time.perf_counter()
            write(engine, keys, ops)
            seconds = time.perf_counter() - start
            calls = fsyncs()
        extra: dict[str, Any] = {"fsyncs": None, "fsyncs_saved": None}
        if engine.python_fsyncs:
            extra = {"fsyncs": calls, "fsyncs_saved": ops - calls, "writes_per_fsync": ops / max(calls, 1)}
        return measured(ops, seconds, **extra)

    def sync_each(self) -> Result:
        """One fsync'd write at a time: the cost of durability with nothing to share it."""

        def write(engine: Engine, keys: Keys, ops: int) -> None:
            put = engine.synced_putter()
            for i in range(ops):
                put(keys.key(i), keys.value(i))

        return self._synced("sync_each", write)

    def sync_batch100(self) -> Result:
        """Batches of 100 writes, one sync per batch."""

        def write(engine: Engine, keys: Keys, ops: int) -> None:
            for first in range(0, ops, SYNC_BATCH):
                engine.synced_batch([(keys.key(i), keys.value(i)) for i in range(first, min(first + SYNC_BATCH, ops))])

        return self._synced("sync_batch100", write)

    def sync_threads(self) -> Result:
        """Threads that each write and sync: group commit lets them share fsyncs."""

        def write(engine: Engine, keys: Keys, ops: int) -> None:
            ready = threading.Barrier(SYNC_THREADS)
            errors: list[BaseException] = []

            def writer(thread: int) -> None:
                try:
                    with engine.thread_writer() as put:
                        ready.wait()
                        for i in range(thread, ops, SYNC_THREADS):
                            put(keys.key(i), keys.value(i))
                except BaseException as error:
                    errors.append(error)
                    ready.abort()

            threads = [threading.Thread(target=writer, args=(t,)) for t in range(SYNC_THREADS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if errors:
                raise errors[0]

        return self._synced("sync_threads", write)

    # -- recovery --------------------------------------------------------------

    def recovery(self) -> Result:
        """A child process writes, makes the writes durable, and is killed; then time the reopen."""
        engine = self.new_engine()
        if engine.in_memory:
            raise NotSupported(f"{self.name} keeps everything in memory: nothing survives the process")
        entries = self.plan.recovery_entries
        path = self.root / "recovery"
        path.mkdir(parents=True)
        try:
            crash_child(self.name, path, entries, self.plan.seed + 6)
            wal_bytes = sum(f.stat().st_size for pattern in engine.wal_patterns for f in path.rglob(pattern))
            last = Keys(self.plan.seed + 6, entries)
            start = time.perf_counter()
            engine.open(path)
            found = engine.getter()(last.key(entries - 1))
            seconds = time.perf_counter() - start
            engine.close()
        finally:
            shutil.rmtree(path, ignore_errors=True)
        result = measured(entries, seconds, wal_mb=wal_bytes / MB)
        result["ms_per_wal_mb"] = seconds * 1000 / (wal_bytes / MB) if wal_bytes else None
        if found != last.value(entries - 1):
            result.update(status="wrong", wrong_answers=1)
        return result


def crash_child(engine_name: str, path: Path, entries: int, seed: int) -> None:
    """Run ``worker crash`` in a child process, which writes ``entries`` entries and is then killed."""
    command = [sys.executable, "-m", "checker.benchmarks.worker", "crash", engine_name, str(path), str(entries)]
    completed = subprocess.run([*command, str(seed)], capture_output=True, text=True, check=False)
    if "durable" not in completed.stdout or completed.returncode != -signal.SIGKILL:
        raise RuntimeError(f"the crashing writer ended with status {completed.returncode}: {completed.stderr[-800:]}")


def write_then_die(engine: Engine, path: Path, entries: int, seed: int) -> None:
    """The crashing writer: write, make durable, say so, and die by SIGKILL (no close, no atexit)."""
    keys = Keys(seed, entries)
    engine.open(path)
    put = engine.putter()
    for i in range(entries):
        put(keys.key(i), keys.value(i))
    engine.make_durable()
    print("durable", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def rss_growth(engine: Engine, plan: Plan, root: Path) -> Result:
    """Load ``plan.rss_entries`` entries, sampling resident memory before, at 1/4, at 1/2 and at the end (settled).

    The keys are made ``RSS_CHUNK`` at a time from one seeded generator, so that the
    process's peak RSS is the engine's, not a list of every key.
    """
    entries = plan.rss_entries
    rng = random.Random(plan.seed + 7)
    values = [rng.randbytes(VALUE_SIZE) for _ in range(VALUE_POOL)]
    before = process.current_rss()
    path = root / "rss"
    path.mkdir(parents=True)
    engine.open(path)
    put = engine.putter()
    samples: dict[str, int | None] = {}
    start = time.perf_counter()
    done = 0
    for mark, name in ((entries // 4, "rss_at_quarter"), (entries // 2, "rss_at_half"), (entries, "")):
        while done < mark:
            size = min(RSS_CHUNK, mark - done)
            blob = rng.randbytes(KEY_SIZE * size)
            for i in range(size):
                put(blob[i << 4 : (i + 1) << 4], values[(done + i) & MASK])
            done += size
        if name:
            samples[name] = process.current_rss()
    engine.settle()
    seconds = time.perf_counter() - start
    at_end = process.current_rss()
    engine.close()
    shutil.rmtree(path, ignore_errors=True)
    at_quarter = samples["rss_at_quarter"]
    result = measured(entries, seconds, rss_before_open=before, **samples, rss_at_end=at_end)
    between = (entries - entries // 4) * ENTRY_BYTES
    peak = process.peak_rss()
    result.update(data_bytes=entries * ENTRY_BYTES, data_bytes_between=between, peak_rss=peak)
    if entries * ENTRY_BYTES >= RSS_FULL_BYTES:
        result.update(rss_limit=RSS_LIMIT, within_rss_limit=peak <= RSS_LIMIT)
    if at_quarter is None or at_end is None:
        result.update(flat=None, criterion="n/a: this system does not report the current RSS")
    else:
        growth = at_end - at_quarter
        result.update(
            growth_bytes=growth,
            flat=growth < RSS_FLAT_FRACTION * between,
            criterion=f"flat when RSS grows by less than {RSS_FLAT_FRACTION:.0%} of the bytes loaded after 1/4",
        )
    return result


def progress_text(result: Result) -> str:
    """One line about a finished workload, for the progress output."""
    status = result.get("status")
    if status == "n/a":
        return f"n/a: {result['reason']}"
    if status == "error":
        return f"FAILED: {result['error']}"
    text = f"{result['ops']:>11,} ops in {result['seconds']:7.2f} s: {result['ops_per_sec']:>12,.0f} ops/s"
    if status == "wrong":
        text += f"  WRONG ANSWERS: {result['wrong_answers']:,}"
    return text
