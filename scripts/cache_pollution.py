"""Hot reads between compactions: what a compaction that fills the block cache costs them (book, Day 5).

A database of ``--keys`` random keys is loaded, and ``--hot`` of those in the lower
half of the key space are read once so that their blocks are cached. Then,
``--rounds`` times: ``--batch`` new keys are written into the upper half and
flushed (compaction runs inline, ``background_work=False``), and every hot key is
read again. Compactions then rewrite only tables of the upper half: the hot keys'
tables stay as they are, and whether their blocks stay cached is up to what the
compactions' reads do to the cache. The script prints the hot reads' block-cache hit rate and
their time, with the reference as it is (compaction reads with ``fill_cache=False``)
or, with ``--fill-compaction-reads``, with every SST read keeping its blocks.

    python scripts/cache_pollution.py
    python scripts/cache_pollution.py --fill-compaction-reads
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time

KEY_BYTES, VALUE_BYTES = 16, 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=200_000, help="keys loaded first")
    parser.add_argument("--hot", type=int, default=1_500, help="keys read after every round")
    parser.add_argument("--rounds", type=int, default=10, help="rounds of writes, flush and compaction")
    parser.add_argument("--batch", type=int, default=20_000, help="new keys written in each round")
    parser.add_argument("--fill-compaction-reads", action="store_true", help="keep every block a compaction reads")
    args = parser.parse_args()
    os.environ.setdefault("TINYLSM_IMPL", "solutions")

    from tinylsm.engine import LsmStorage
    from tinylsm.sstable import SsTableIterator
    from tinylsm.testkit import options_for_day

    if args.fill_compaction_reads:
        keep_blocks = SsTableIterator.__init__

        def init(self: SsTableIterator, table: object, fill_cache: bool = True) -> None:
            keep_blocks(self, table, True)

        SsTableIterator.__init__ = init  # type: ignore[method-assign]

    generator = random.Random(7)
    value = bytes(VALUE_BYTES)
    directory = tempfile.mkdtemp(prefix="tinylsm-pollution-")
    try:
        db = LsmStorage.open(directory, options_for_day(7, background_work=False))
        loaded = [generator.randbytes(KEY_BYTES) for _ in range(args.keys)]
        for key in loaded:
            db.put(key, value)
        db.force_flush()
        hot = [key for key in loaded if key[0] < 0x80][: args.hot]
        for key in hot:
            db.get(key)
        hits = misses = 0
        read_seconds = write_seconds = 0.0
        for _ in range(args.rounds):
            started = time.perf_counter()
            for _ in range(args.batch):
                db.put(bytes([0x80 | generator.randrange(0x80)]) + generator.randbytes(KEY_BYTES - 1), value)
            db.force_flush()
            write_seconds += time.perf_counter() - started
            before = db.stats()
            started = time.perf_counter()
            for key in hot:
                db.get(key)
            read_seconds += time.perf_counter() - started
            after = db.stats()
            hits += after["block_cache_hits"] - before["block_cache_hits"]
            misses += after["block_cache_misses"] - before["block_cache_misses"]
        db.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    reads = args.rounds * args.hot
    mode = "every SST read keeps its blocks" if args.fill_compaction_reads else "compaction reads with fill_cache=False"
    print(f"{mode}:")
    hit_rate = hits / max(1, hits + misses)
    print(f"  hot reads: {hit_rate:.1%} block-cache hits, {read_seconds / reads * 1e6:.1f} µs a get")
    print(f"  writes, flushes and compactions: {write_seconds:.1f} s")


if __name__ == "__main__":
    main()
