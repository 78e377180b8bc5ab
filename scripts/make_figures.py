"""Draw the book's figures into ``book/src/img/``, or clear the notebooks' outputs.

    python scripts/make_figures.py                 the figures, quick mode (seconds)
    python scripts/make_figures.py --full          the figures, full mode (larger runs, a few minutes)
    python scripts/make_figures.py --out DIR       write the PNGs to DIR instead
    python scripts/make_figures.py --clear-notebooks
                                                   remove every output and execution count from
                                                   notebooks/*.ipynb (they are committed cleared)

The figures are drawn by ``checker.figures``, the package the notebooks use, with
fixed seeds: the same mode gives the same PNGs, byte for byte. They are drawn with
the reference solutions unless ``TINYLSM_IMPL`` says otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "book" / "src" / "img"
NOTEBOOKS = ROOT / "notebooks"
SEED = 0


def clear_notebook(path: Path) -> bool:
    """Remove the outputs and execution counts of every code cell of ``path``; ``True`` if it changed."""
    import nbformat

    notebook = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    changed = False
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        if cell.get("outputs") or cell.get("execution_count") is not None:
            changed = True
        cell.outputs = []
        cell.execution_count = None
        for key in ("execution", "ExecuteTime"):
            if key in cell.metadata:
                del cell.metadata[key]
                changed = True
    if changed:
        nbformat.write(notebook, path)
    return changed


def figure_makers(full: bool) -> dict[str, Callable[[], object]]:
    """Each figure of the book by file name, as a function that draws it (quick or full mode)."""
    from checker.figures import amplification, bloom, sst_anatomy, tree_shape
    from tinylsm.options import LeveledCompactionOptions

    flushes = 600 if full else 150
    bloom_keys, bloom_probes = (100_000, 1_000_000) if full else (10_000, 100_000)
    lookups = 10_000 if full else 2_000
    simulated: list[tree_shape.SimulatedRun] = []

    def shapes() -> object:
        simulated.extend(tree_shape.simulate_strategies(flushes, seed=SEED))
        return tree_shape.plot_tree_shapes(
            [run.history for run in simulated], f"The simulator: {flushes} flushes of 1 MiB each"
        )

    def targets() -> object:
        leveled = next(run for run in simulated if run.history.title.startswith("leveled"))
        options = tree_shape.SIMULATED_STRATEGIES["leveled"][1]
        assert isinstance(options, LeveledCompactionOptions)
        return tree_shape.plot_level_targets(leveled.history, options.level0_file_num_compaction_trigger)

    def sweeps() -> object:
        return amplification.plot_sweeps(amplification.run_sweeps(flushes, seed=SEED), flushes)

    def false_positives() -> object:
        points = bloom.measure_false_positives(range(1, 17), bloom_keys, bloom_probes, seed=SEED)
        return bloom.plot_false_positives(points)

    def missing_keys() -> object:
        costs = bloom.missing_key_lookup_costs(
            [0, 1, 2, 4, 6, 8, 10, 12], tables=8, keys_per_table=500, lookups=lookups, seed=SEED
        )
        return bloom.plot_lookup_costs(costs)

    def anatomy() -> object:
        name, data = sst_anatomy.sample_sst(sst_anatomy.SAMPLE_ENTRIES, block_size=sst_anatomy.SAMPLE_BLOCK_SIZE)
        return sst_anatomy.plot_sst_layout(name, sst_anatomy.sst_regions(name, data))

    return {
        "compaction-shapes.png": shapes,
        "leveled-targets.png": targets,
        "compaction-sweeps.png": sweeps,
        "bloom-false-positives.png": false_positives,
        "bloom-missing-keys.png": missing_keys,
        "sst-anatomy.png": anatomy,
    }


def make_figures(out: Path, full: bool) -> None:
    """Draw every figure into ``out``, saying how long each took."""
    os.environ.setdefault("TINYLSM_IMPL", "solutions")
    import matplotlib

    matplotlib.use("Agg")
    from checker.figures import style, workloads

    print(f"{'full' if full else 'quick'} mode; {workloads.composition_line()}")
    for name, draw in figure_makers(full).items():
        start = time.perf_counter()
        path = style.save_figure(draw(), out / name)
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {time.perf_counter() - start:.1f} s")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Draw the book's figures, or clear the notebooks' outputs.")
    parser.add_argument("--full", action="store_true", help="full mode: larger runs (a few minutes)")
    parser.add_argument("--out", type=Path, default=IMAGES, help="folder for the PNGs (default: book/src/img)")
    parser.add_argument(
        "--clear-notebooks", action="store_true", help="remove outputs and execution counts from notebooks/*.ipynb"
    )
    args = parser.parse_args(argv)
    if args.clear_notebooks:
        for path in sorted(NOTEBOOKS.glob("*.ipynb")):
            print(f"{path.relative_to(ROOT)}: {'cleared' if clear_notebook(path) else 'already clear'}")
        return 0
    make_figures(args.out, args.full)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
