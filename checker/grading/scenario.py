"""The end-to-end scenario run on the composed engine: ``python -m checker.grading.scenario SEED``.

It checks what no single day's tests can: that the parts work together. Three
trials, each against a plain dict as the model:

1. a random workload (puts, deletes, batches, gets, scans) with several reopens;
2. a crash: a child process writes and syncs, then is killed with SIGKILL, and
   every synced write must be there after reopening;
3. compaction to a steady shape: enough data to compact, then a full compaction.

The last line printed is a JSON object: ``{"ok": bool, "trial": ..., "error": ...,
"stats": {...}}``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

from tinylsm.options import LeveledCompactionOptions, LsmStorageOptions
from tinylsm.testkit import options_for_day

OPTIONS = {
    "block_size": 512,
    "target_sst_size": 8 * 1024,
    "num_memtable_limit": 3,
    "background_work": False,
    "compaction": LeveledCompactionOptions(
        level_size_multiplier=4, level0_file_num_compaction_trigger=2, max_levels=3, base_level_size_mb=0.05
    ),
}

CRASH_CHILD = """
import os, signal, sys
from tinylsm.engine import LsmStorage
from checker.grading.scenario import options
db = LsmStorage.open(sys.argv[1], options())
for i in range(int(sys.argv[2])):
    db.put(b"crash%06d" % i, b"value%d" % i)
    if i % 50 == 49:
        db.sync()
        print(i, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


class ScenarioFailure(AssertionError):
    """The composed engine did something a correct engine would not."""


def options() -> LsmStorageOptions:
    """Small sizes, so that a short workload freezes, flushes and compacts.

    Features of days this copy of the course does not have yet are off.
    """
    from tinylsm import COMPOSITION

    return options_for_day(max(COMPOSITION.day_dirs, default=7), **OPTIONS)


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise ScenarioFailure(message)


def random_workload(directory: Path, seed: int, operations: int = 4000) -> dict:
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
            expect(got == model.get(key), f"step {step}: get({key!r}) gave {got!r}, expected {model.get(key)!r}")
        elif roll < 0.99:
            low, high = sorted(b"k%05d" % rng.randrange(1500) for _ in range(2))
            got = list(db.scan(low, high))
            want = [(k, model[k]) for k in sorted(model) if low <= k < high]
            expect(got == want, f"step {step}: scan({low!r}, {high!r}) gave {len(got)} entries, expected {len(want)}")
        else:
            db.close()
            db = LsmStorage.open(directory, options())
    everything = list(db.scan())
    expect(everything == sorted(model.items()), "a full scan after the workload differs from the model")
    stats = db.stats()
    db.close()
    db = LsmStorage.open(directory, options())
    expect(list(db.scan()) == sorted(model.items()), "after a final reopen the data differs from the model")
    db.close()
    return stats


def crash_trial(directory: Path, writes: int = 600) -> None:
    """Trial 2: a writer killed with SIGKILL keeps every synced write."""
    from tinylsm.engine import LsmStorage

    completed = subprocess.run(
        [sys.executable, "-c", CRASH_CHILD, str(directory), str(writes)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    expect(
        completed.returncode == -signal.SIGKILL,
        f"the crashing writer did not reach its kill (exit {completed.returncode}): {completed.stderr[-800:]}",
    )
    synced = [int(line) for line in completed.stdout.split()]
    last_synced = synced[-1] if synced else -1
    db = LsmStorage.open(directory, options())
    for i in range(last_synced + 1):
        got = db.get(b"crash%06d" % i)
        expect(got == b"value%d" % i, f"after a crash, synced write crash{i:06d} came back as {got!r}")
    db.close()


def steady_shape(directory: Path, seed: int) -> dict:
    """Trial 3: compaction keeps the tree in shape, and a full compaction empties L0."""
    from tinylsm.engine import LsmStorage

    rng = random.Random(seed)
    db = LsmStorage.open(directory, options())
    model = {}
    for i in range(6000):
        key = b"s%05d" % rng.randrange(3000)
        model[key] = b"v%d" % i
        db.put(key, model[key])
    stats = db.stats()
    trigger = OPTIONS["compaction"].level0_file_num_compaction_trigger
    expect(stats["levels"][0]["ssts"] < trigger, f"L0 holds {stats['levels'][0]['ssts']} SSTs after compaction")
    db.force_flush()
    db.force_full_compaction()
    final = db.stats()
    expect(final["levels"][0]["ssts"] == 0, "L0 is not empty after a full compaction")
    expect(list(db.scan()) == sorted(model.items()), "data changed across a full compaction")
    db.close()
    return final


def run(seed: int) -> dict:
    """Run the three trials; the result says which one failed and how."""
    trial = "random workload"
    try:
        with tempfile.TemporaryDirectory(prefix="tinylsm-scenario-") as scratch:
            stats = random_workload(Path(scratch) / "workload", seed)
            trial = "crash"
            crash_trial(Path(scratch) / "crash")
            trial = "steady shape"
            shape = steady_shape(Path(scratch) / "shape", seed)
        return {"ok": True, "seed": seed, "stats": stats, "final_shape": shape["levels"]}
    except ScenarioFailure as failure:
        return {"ok": False, "seed": seed, "trial": trial, "error": str(failure)}
    except Exception as error:  # the engine raised: report where, in the student's terms
        frames = traceback.extract_tb(error.__traceback__)
        where = next(
            (f"{Path(f.filename).parent.name}/{Path(f.filename).name}:{f.lineno}" for f in reversed(frames)), ""
        )
        return {"ok": False, "seed": seed, "trial": trial, "error": f"{type(error).__name__}: {error} (at {where})"}


def main() -> None:
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    os.environ.setdefault("PYTHONHASHSEED", "0")
    print(json.dumps(run(seed)))


if __name__ == "__main__":
    main()
