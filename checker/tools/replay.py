"""``python -m checker replay FILE``: re-run an operation log on the composed engine and a dict.

Every operation is applied to the engine that ``TINYLSM_IMPL`` composes (your
days by default) and to a plain dict, the model; every read is compared. The
first operation where they disagree is reported with both values, or ``no
divergence``. The exit status is 0 (no divergence), 1 (a divergence) or 2 (the
log cannot be read).

The log is a JSON document::

    {"seed": 7,                                   # or null: shown, not used
     "options": {"block_size": 64, "compaction": {"class": "NoCompaction"}, ...},
     "ops": [["put", "6b31", "7631"],             # keys and values in hex
             ["delete", "6b31"],
             ["get", "6b31"],
             ["scan", "6b30", null, true, false],  # start, stop (null: open), include_start, include_stop
             ["flush"], ["compact"], ["reopen"],   # force_flush, force_full_compaction, close and open
             ["batch", [["6b31", "7632"], ["6b32", null]]]]}   # null value: a delete

``options`` holds ``LsmStorageOptions`` fields; those left out take the engine's
defaults, except ``background_work``, which is off unless the log says otherwise
(a replay must be deterministic). Tests write such logs with
``tinylsm.testkit.OpLog`` and save a failing run's with ``save_replay``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checker.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, parse_arguments

if TYPE_CHECKING:
    from tinylsm.engine import LsmStorage
    from tinylsm.options import LsmStorageOptions

COMPACTION_CLASSES = (
    "NoCompaction",
    "SimpleLeveledCompactionOptions",
    "TieredCompactionOptions",
    "LeveledCompactionOptions",
)


class LogError(ValueError):
    """The operation log cannot be read or names an impossible operation (exit status 2)."""


@dataclass(frozen=True)
class Divergence:
    """Where the engine and the model first disagreed."""

    index: int
    op: list[Any]
    engine: str
    model: str
    detail: str = ""


def options_from_json(data: dict[str, Any]) -> LsmStorageOptions:
    """The ``LsmStorageOptions`` of a log's ``options`` (the reverse of ``testkit.options_as_json``)."""
    from tinylsm import options as options_module

    fields = {"background_work": False, **data}
    known = {field.name for field in dataclasses.fields(options_module.LsmStorageOptions)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise LogError(f"options: LsmStorageOptions has no field {unknown[0]!r}")
    if "compaction" in fields:
        compaction = dict(fields["compaction"]) if isinstance(fields["compaction"], dict) else {}
        name = compaction.pop("class", None)
        if name not in COMPACTION_CLASSES:
            raise LogError(f"options: compaction must be {{'class': one of {', '.join(COMPACTION_CLASSES)}, ...}}")
        try:
            fields["compaction"] = getattr(options_module, name)(**compaction)
        except (TypeError, ValueError) as error:
            raise LogError(f"options: compaction {name}: {error}") from None
    try:
        return options_module.LsmStorageOptions(**fields)
    except (TypeError, ValueError) as error:
        raise LogError(f"options: {error}") from None


def _key(value: Any, where: str, optional: bool = False) -> bytes | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise LogError(f"{where}: expected hex bytes{' or null' if optional else ''}, got {value!r}")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise LogError(f"{where}: {value!r} is not hex") from None


def decode_op(index: int, op: Any) -> tuple[str, tuple[Any, ...]]:
    """``(name, arguments)`` of one logged operation, arguments as the engine takes them."""
    from tinylsm.testkit import REPLAY_OPS

    where = f"op {index}"
    if not isinstance(op, list) or not op or op[0] not in REPLAY_OPS:
        raise LogError(f"{where}: expected [NAME, ...] with NAME one of {', '.join(REPLAY_OPS)}, got {op!r}")
    name, args = op[0], op[1:]
    if len(args) != REPLAY_OPS[name]:
        raise LogError(f"{where}: {name} takes {REPLAY_OPS[name]} argument(s), got {len(args)}")
    if name in ("put", "delete", "get"):
        return name, tuple(_key(arg, where) for arg in args)
    if name == "scan":
        start, stop, include_start, include_stop = args
        if not isinstance(include_start, bool) or not isinstance(include_stop, bool):
            raise LogError(f"{where}: include_start and include_stop must be true or false")
        return name, (_key(start, where, True), _key(stop, where, True), include_start, include_stop)
    if name == "batch":
        if not isinstance(args[0], list) or not all(isinstance(p, list) and len(p) == 2 for p in args[0]):
            raise LogError(f"{where}: a batch is a list of [key, value or null] pairs")
        return name, ([(_key(k, where), _key(v, where, True)) for k, v in args[0]],)
    return name, ()


def load_log(path: Path) -> tuple[int | None, LsmStorageOptions, list[list[Any]]]:
    """``(seed, options, ops)`` of the log in ``path``; ``LogError`` if it cannot be read."""
    try:
        data = json.loads(path.read_text())
    except OSError as error:
        raise LogError(f"cannot read {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise LogError(f"{path} is not JSON: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("ops"), list):
        raise LogError(f'{path}: expected {{"seed": ..., "options": {{...}}, "ops": [...]}}')
    options = options_from_json(data.get("options") or {})
    for index, op in enumerate(data["ops"]):
        decode_op(index, op)  # every operation is checked before any runs
    return data.get("seed"), options, data["ops"]


def in_range(key: bytes, start: bytes | None, stop: bytes | None, include_start: bool, include_stop: bool) -> bool:
    """Whether ``scan(start, stop, ...)`` includes ``key``."""
    above = start is None or key > start or (include_start and key == start)
    below = stop is None or key < stop or (include_stop and key == stop)
    return above and below


def _scan_difference(got: list, want: list) -> str:
    from tinylsm.testkit import show

    for position, (engine_entry, model_entry) in enumerate(zip(got, want, strict=False)):
        if engine_entry != model_entry:
            return f"first difference at entry {position}: engine {show(engine_entry)}, model {show(model_entry)}"
    common = min(len(got), len(want))
    return f"the engine gave {len(got)} entries, the model {len(want)}; they agree on the first {common}"


def _raised(error: Exception) -> str:
    from checker.tools.shell.text import unfinished_message

    if isinstance(error, NotImplementedError):
        return f"raised NotImplementedError: {unfinished_message(error)}"
    return f"raised {type(error).__name__}: {error}"


def replay(ops: list[list[Any]], options: LsmStorageOptions, directory: Path) -> Divergence | None:
    """Apply ``ops`` to the composed engine in ``directory`` and to a dict; the first divergence, or ``None``."""
    from tinylsm.engine import LsmStorage
    from tinylsm.testkit import show

    model: dict[bytes, bytes] = {}
    db: LsmStorage | None = None
    index, op = -1, ["open"]
    try:
        db = LsmStorage.open(directory, options)
        for index, op in enumerate(ops):
            name, args = decode_op(index, op)
            if name == "put":
                db.put(*args)
                model[args[0]] = args[1]
            elif name == "delete":
                db.delete(*args)
                model.pop(args[0], None)
            elif name == "batch":
                db.write_batch(args[0])
                for key, value in args[0]:
                    if value is None:
                        model.pop(key, None)
                    else:
                        model[key] = value
            elif name == "get":
                got, want = db.get(args[0]), model.get(args[0])
                if got != want:
                    return Divergence(index, op, show(got), show(want))
            elif name == "scan":
                start, stop, include_start, include_stop = args
                got = list(db.scan(start, stop, include_start=include_start, include_stop=include_stop))
                want = sorted((k, v) for k, v in model.items() if in_range(k, *args))
                if got != want:
                    return Divergence(index, op, show(got), show(want), _scan_difference(got, want))
            elif name == "flush":
                db.force_flush()
            elif name == "compact":
                db.force_full_compaction()
            elif name == "reopen":
                db, closing = None, db
                closing.close()
                db = LsmStorage.open(directory, options)
        index, op = len(ops), ["close"]
        db, closing = None, db
        closing.close()
    except Exception as error:
        return Divergence(index, op, _raised(error), "no error")
    finally:
        if db is not None:
            with contextlib.suppress(Exception):  # the divergence already found matters more than a failed close
                db.close()
    return None


def describe_op(op: list[Any]) -> str:
    """A logged operation as the call it stands for, e.g. ``get(b'k1')``."""
    name = op[0]
    if name == "open":
        return "before op 0"
    if name == "close":
        return "after the last op"
    _, args = decode_op(0, op)
    if name == "batch":
        return f"write_batch({args[0]!r})"
    if name == "scan":
        start, stop, include_start, include_stop = args
        return f"scan({start!r}, {stop!r}, include_start={include_start}, include_stop={include_stop})"
    calls = {"flush": "force_flush()", "compact": "force_full_compaction()", "reopen": "close(), then open()"}
    return calls.get(name) or f"{name}({', '.join(repr(arg) for arg in args)})"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m checker replay",
        description="Re-run an operation log on the engine TINYLSM_IMPL composes and on a dict; "
        "report the first operation where they disagree.",
    )
    parser.add_argument("file", metavar="FILE", help="the operation log (JSON), e.g. tinylsm-replay-<test>.json")
    parser.add_argument("--dir", metavar="DIR", help="keep the database here (missing or empty) to inspect it")
    return parser


def main(argv: list[str]) -> int:
    """Run ``python -m checker replay``; 0 no divergence, 1 a divergence, 2 a log that cannot be read."""
    args = parse_arguments(_parser(), argv)
    if isinstance(args, int):
        return args
    try:
        import tinylsm  # chooses the composition, from TINYLSM_IMPL
    except ValueError as error:  # TINYLSM_IMPL names no composition
        print(f"replay: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        seed, options, ops = load_log(Path(args.file))
    except LogError as error:
        print(f"replay: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.dir and Path(args.dir).exists() and any(Path(args.dir).iterdir()):
        print(f"replay: {args.dir} is not empty", file=sys.stderr)
        return EXIT_USAGE

    directory = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="tinylsm-replay-"))
    seed_text = f", seed {seed}" if seed is not None else ""
    print(f"Replaying {len(ops)} operations{seed_text} on the engine: {tinylsm.COMPOSITION.describe()}")
    try:
        divergence = replay(ops, options, directory)
    finally:
        if not args.dir:
            shutil.rmtree(directory, ignore_errors=True)
    if divergence is None:
        print(f"no divergence: the engine agreed with the model on all {len(ops)} operations")
        return EXIT_OK
    if divergence.op[0] in ("open", "close"):
        when = {"open": "opened", "close": "closed"}[divergence.op[0]]
        print(f"divergence when the engine was {when} ({describe_op(divergence.op)})")
    else:
        print(f"divergence at op {divergence.index}: {json.dumps(divergence.op)}  ({describe_op(divergence.op)})")
    print(f"    engine: {divergence.engine}")
    print(f"    model:  {divergence.model}")
    if divergence.detail:
        print(f"    {divergence.detail}")
    if args.dir:
        print(f"the database is in {directory} (python -m checker inspect can decode its files)")
    return EXIT_FAILED
