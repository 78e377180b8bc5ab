"""The end-to-end scenario: the parts of the engine working together, checked against a plain dict.

No single day's tests can show that the parts fit: a day can pass its own tests and
still break the engine it is part of. Each day's hidden tests therefore run this
scenario, as one of the day's hidden tests worth a share of its points, on the
engine made of that day's code and the reference for every other day; the
checker runs it once more on every day a student finished, composed
(``checker.grading.composed``). Three trials, each against a dict as the model:

1. a random workload (puts, deletes, batches, gets, scans) with several reopens,
   the last in a new engine process, which knows the database from its files alone;
2. a crash: an engine process writes and syncs, then is killed with SIGKILL, and
   every synced write must be there after reopening;
3. compaction to a steady shape: enough data to compact, then a full compaction.

When the checker grades, the scenario runs in the test process and reaches the
engine through proxies, like every other test; run on its own it is plain code:
``TINYLSM_IMPL=student:3 python -m checker.grading.scenario [SEED]`` reproduces a
failure on your own machine.
"""

from __future__ import annotations

import random
import sys
import tempfile
from pathlib import Path

from checker.common import load_days
from checker.grading.isolation.client import installed_client
from checker.grading.isolation.engine import engine_process
from tinylsm.options import LeveledCompactionOptions, LsmStorageOptions
from tinylsm.testkit import call_each, collect, options_for_day, show

TEST_TIME_LIMIT = 300
"""Seconds the scenario may take as a graded test: a few on an idle machine, far more on a loaded grader."""

SEED = 1
"""The workload's seed: the same scenario for every submission, so that a failure can be reproduced."""

LAST_DAY = len(load_days())
OPTIONS = {
    "block_size": 512,
    "target_sst_size": 8 * 1024,
    "num_memtable_limit": 3,
    "background_work": False,
    "compaction": LeveledCompactionOptions(
        level_size_multiplier=4, level0_file_num_compaction_trigger=2, max_levels=3, base_level_size_mb=0.05
    ),
}
"""Small sizes, so that a short workload freezes, flushes and compacts; every day's feature on."""


class ScenarioFailure(AssertionError):
    """The composed engine did something a correct engine would not."""


def options() -> LsmStorageOptions:
    return options_for_day(LAST_DAY, **OPTIONS)


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise ScenarioFailure(message)


def random_workload(directory: Path, seed: int, operations: int = 4000) -> None:
    """Trial 1: random operations with reopens, checked against a dict."""
    from tinylsm.engine import LsmStorage

    rng = random.Random(seed)
    model: dict[bytes, bytes] = {}
    db = LsmStorage.open(directory, options())
    for step in range(operations):
        key = b"k%05d" % rng.randrange(1500)
        roll = rng.random()
        if roll < 0.55:
            value = rng.randbytes(rng.randrange(0, 40))
            db.put(key, value)
            model[key] = value
        elif roll < 0.7:
            db.delete(key)
            model.pop(key, None)
        elif roll < 0.75:
            batch = [(b"k%05d" % rng.randrange(1500), rng.choice([None, b"batch%d" % step])) for _ in range(5)]
            db.write_batch(batch)
            for batch_key, batch_value in batch:
                if batch_value is None:
                    model.pop(batch_key, None)
                else:
                    model[batch_key] = batch_value
        elif roll < 0.95:
            got = db.get(key)
            expect(
                got == model.get(key),
                f"step {step}: get({show(key)}) gave {show(got)}, expected {show(model.get(key))}",
            )
        elif roll < 0.99:
            low, high = sorted(b"k%05d" % rng.randrange(1500) for _ in range(2))
            got = collect(db.scan(low, high))
            want = [(k, model[k]) for k in sorted(model) if low <= k < high]
            expect(
                got == want,
                f"step {step}: scan({show(low)}, {show(high)}) gave {len(got)} entries, expected {len(want)}",
            )
        else:
            db.close()
            db = LsmStorage.open(directory, options())
    expect(collect(db.scan()) == sorted(model.items()), "a full scan after the workload differs from the model")
    db.close()
    with engine_process() as fresh:  # a process that never wrote this database: it knows it from the files alone
        db = fresh.module("tinylsm.engine").LsmStorage.open(directory, options())
        expect(
            collect(db.scan()) == sorted(model.items()),
            "after a final reopen, in a process that had not written the database, the data differs from the model",
        )
        db.close()


def crash_trial(directory: Path, writes: int = 600) -> None:
    """Trial 2: a writer killed with SIGKILL keeps every synced write."""
    from tinylsm.engine import LsmStorage

    synced = 0
    with engine_process() as crashing:
        db = crashing.module("tinylsm.engine").LsmStorage.open(directory, options())
        for first in range(0, writes, 50):
            call_each(db.put, [(b"crash%06d" % i, b"value%d" % i) for i in range(first, first + 50)], unpack=True)
            db.sync()
            synced = first + 50
        crashing.kill()
    db = LsmStorage.open(directory, options())
    got = call_each(db.get, [b"crash%06d" % i for i in range(synced)])
    for i, value in enumerate(got):
        expect(value == b"value%d" % i, f"after a crash, synced write crash{i:06d} came back as {show(value)}")
    db.close()


def steady_shape(directory: Path, seed: int) -> None:
    """Trial 3: compaction keeps the tree in shape, and a full compaction empties L0."""
    from tinylsm.engine import LsmStorage

    rng = random.Random(seed)
    db = LsmStorage.open(directory, options())
    model = {}
    writes = []
    for i in range(6000):
        key = b"s%05d" % rng.randrange(3000)
        model[key] = b"v%d" % i
        writes.append((key, model[key]))
    call_each(db.put, writes, unpack=True)
    level0 = db.stats()["levels"][0]["ssts"]
    trigger = OPTIONS["compaction"].level0_file_num_compaction_trigger
    expect(level0 < trigger, f"L0 holds {level0} SSTs after compaction (the trigger is {trigger})")
    db.force_flush()
    db.force_full_compaction()
    expect(db.stats()["levels"][0]["ssts"] == 0, "L0 is not empty after a full compaction")
    expect(collect(db.scan()) == sorted(model.items()), "data changed across a full compaction")
    db.close()


TRIALS = (
    ("random workload", lambda directory, seed: random_workload(directory, seed)),
    ("crash", lambda directory, seed: crash_trial(directory)),
    ("steady shape", steady_shape),
)


def composition_in_use() -> str:
    """The composition the engine runs under, as ``TINYLSM_IMPL`` spells it.

    When the checker grades, the engine runs in the graded run's engine process,
    whose composition (``student:3``, the composed ``student:1,2,5``) is not this
    process's; otherwise it is this process's own.
    """
    client = installed_client()
    if client is not None:
        return client.settings.environment.get("TINYLSM_IMPL", "student")
    from tinylsm import COMPOSITION

    return COMPOSITION.spec


def run_end_to_end(directory: Path, seed: int = SEED, day: int | None = None) -> None:
    """Run the three trials in ``directory``; a failure names its trial, what went wrong and how to reproduce it.

    ``day`` is the day whose hidden test runs the scenario (its code is graded, the
    others are the reference); the hint to reproduce a failure names the
    composition the engine really ran under, which is ``student:DAY`` when the
    checker grades that day.
    """
    reproduce = f"reproduce it with: TINYLSM_IMPL={composition_in_use()} python -m checker.grading.scenario {seed}"
    for trial, run in TRIALS:
        try:
            run(directory / trial.replace(" ", "-"), seed)
        except ScenarioFailure as failure:
            raise ScenarioFailure(f"the {trial} trial: {failure}; {reproduce}") from None
        except Exception as error:  # the engine raised: say so, with the student's own words for it
            raise ScenarioFailure(f"the {trial} trial: {type(error).__name__}: {error}; {reproduce}") from error


def test_end_to_end(tmp_path: Path) -> None:
    """The engine composed of these days failed the end-to-end scenario (workload with reopens, a crash, compaction)."""
    run_end_to_end(tmp_path)


def main() -> None:
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else SEED
    with tempfile.TemporaryDirectory(prefix="tinylsm-scenario-") as scratch:
        try:
            run_end_to_end(Path(scratch), seed)
        except ScenarioFailure as failure:
            sys.exit(f"The end-to-end scenario failed in {failure}")
    print("The end-to-end scenario passed: a workload with reopens, a crash and compaction, checked against a dict.")


if __name__ == "__main__":
    main()
