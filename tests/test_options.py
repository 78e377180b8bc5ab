"""Every field of every options class is checked when the options are built.

A bad option must fail at construction, with the field's name and what it
allows, never later inside a ``put()`` as a ``ZeroDivisionError`` or a loop that
does not end.
"""

from __future__ import annotations

from dataclasses import fields

import pytest

from tinylsm.options import (
    LeveledCompactionOptions,
    LsmStorageOptions,
    SimpleLeveledCompactionOptions,
    TieredCompactionOptions,
)

# (class, field, a value of the wrong type, a value out of range or None, words of the allowed range)
CASES = [
    (LsmStorageOptions, "block_size", 4096.5, 0, "1..65536"),
    (LsmStorageOptions, "block_size", "4096", 65_537, "1..65536"),
    (LsmStorageOptions, "target_sst_size", 1.5, 0, "1 or more"),
    (LsmStorageOptions, "num_memtable_limit", True, 0, "1 or more"),
    (LsmStorageOptions, "compaction", "leveled", None, "compaction option classes"),
    (LsmStorageOptions, "background_work", 1, None, "True or False"),
    (LsmStorageOptions, "enable_wal", "yes", None, "True or False"),
    (LsmStorageOptions, "enable_manifest", None, None, "True or False"),
    (LsmStorageOptions, "bloom_bits_per_key", 10.0, -1, "0..64"),
    (LsmStorageOptions, "bloom_bits_per_key", None, 2**64, "0..64"),
    (LsmStorageOptions, "block_cache_bytes", 8e6, -1, "0 or more"),
    (LsmStorageOptions, "prefix_compression", 0, None, "True or False"),
    (LsmStorageOptions, "checksums", "no", None, "True or False"),
    (LsmStorageOptions, "group_commit", 1.0, None, "True or False"),
    (LsmStorageOptions, "wal_recovery_mode", 1, "skip_any_corrupted_records", "absolute_consistency"),
    (SimpleLeveledCompactionOptions, "size_ratio_percent", 200.0, 0, "1 or more"),
    (SimpleLeveledCompactionOptions, "level0_file_num_compaction_trigger", "2", 0, "1 or more"),
    (SimpleLeveledCompactionOptions, "max_levels", 3.0, 0, "1..255"),
    (SimpleLeveledCompactionOptions, "max_levels", None, 256, "1..255"),
    (TieredCompactionOptions, "num_tiers", 3.0, 0, "2 or more"),
    (TieredCompactionOptions, "num_tiers", False, 1, "2 or more"),
    (TieredCompactionOptions, "max_size_amplification_percent", "200", -1, "0 or more"),
    (TieredCompactionOptions, "size_ratio", 1.0, -1, "0 or more"),
    (TieredCompactionOptions, "min_merge_width", None, 1, "2 or more"),
    (LeveledCompactionOptions, "level_size_multiplier", 10.0, 0, "2 or more"),
    (LeveledCompactionOptions, "level_size_multiplier", None, 1, "2 or more"),
    (LeveledCompactionOptions, "level0_file_num_compaction_trigger", "4", 0, "1 or more"),
    (LeveledCompactionOptions, "max_levels", 4.0, 0, "1..255"),
    (LeveledCompactionOptions, "base_level_size_mb", "128", 0, "more than 0 MiB"),
    (LeveledCompactionOptions, "base_level_size_mb", True, -1.0, "more than 0 MiB"),
    (LeveledCompactionOptions, "base_level_size_mb", None, float("nan"), "more than 0 MiB"),
    (LeveledCompactionOptions, "base_level_size_mb", None, float("inf"), "more than 0 MiB"),
    (LeveledCompactionOptions, "base_level_size_mb", None, 1e308, "at most 1099511627776 MiB"),
    (LeveledCompactionOptions, "base_level_size_mb", None, 10**400, "at most 1099511627776 MiB"),
]
IDS = [f"{cls.__name__}.{name}-{index}" for index, (cls, name, *_) in enumerate(CASES)]


@pytest.mark.parametrize("cls,name,wrong_type,out_of_range,allowed", CASES, ids=IDS)
def test_a_value_of_the_wrong_type_is_a_type_error_naming_the_field(cls, name, wrong_type, out_of_range, allowed):
    with pytest.raises(TypeError) as raised:
        cls(**{name: wrong_type})
    assert name in str(raised.value) and allowed in str(raised.value), str(raised.value)


@pytest.mark.parametrize(
    "cls,name,wrong_type,out_of_range,allowed",
    [case for case in CASES if case[3] is not None],
    ids=[i for i, case in zip(IDS, CASES, strict=True) if case[3] is not None],
)
def test_a_value_out_of_range_is_a_value_error_naming_the_field_and_range(cls, name, wrong_type, out_of_range, allowed):
    with pytest.raises(ValueError) as raised:
        cls(**{name: out_of_range})
    assert name in str(raised.value) and allowed in str(raised.value), str(raised.value)


@pytest.mark.parametrize(
    "cls", [LsmStorageOptions, SimpleLeveledCompactionOptions, TieredCompactionOptions, LeveledCompactionOptions]
)
def test_every_field_of_every_options_class_has_a_case(cls):
    checked = {name for case_cls, name, *_ in CASES if case_cls is cls}
    assert checked == {f.name for f in fields(cls)}


@pytest.mark.parametrize(
    "options",
    [
        LsmStorageOptions(block_size=1, target_sst_size=1, num_memtable_limit=1, bloom_bits_per_key=0),
        LsmStorageOptions(block_cache_bytes=0, wal_recovery_mode="absolute_consistency"),
        SimpleLeveledCompactionOptions(size_ratio_percent=1, level0_file_num_compaction_trigger=1, max_levels=255),
        TieredCompactionOptions(num_tiers=2, max_size_amplification_percent=0, size_ratio=0, min_merge_width=2),
        LeveledCompactionOptions(level_size_multiplier=2, max_levels=1, base_level_size_mb=0.001),
        LeveledCompactionOptions(base_level_size_mb=1),
    ],
)
def test_the_edges_of_each_range_are_accepted(options):
    assert options == options.__class__(**{f.name: getattr(options, f.name) for f in fields(options)})
