"""The course's look for figures: matplotlib settings, colours, units, and writing a figure as a PNG."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import matplotlib.pyplot as plt
from matplotlib.colors import to_hex

if TYPE_CHECKING:
    from matplotlib.figure import Figure


KIB, MIB = 1 << 10, 1 << 20
"""The units of the sizes the figures show."""

STYLE: dict[str, Any] = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.labelsize": 11,
    "legend.fontsize": 9.5,
    "legend.framealpha": 0.9,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "figure.dpi": 100,
}
"""The course's matplotlib settings, applied while a figure is drawn (nothing global changes)."""

# Okabe-Ito colours: told apart by readers with any common colour-vision deficiency.
ORANGE, SKY, GREEN, YELLOW, BLUE, VERMILLION, PURPLE, GREY = (
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
    "#7F7F7F",
)

P = ParamSpec("P")
R = TypeVar("R")


def styled(draw: Callable[P, R]) -> Callable[P, R]:
    """Run a drawing function inside the course's ``STYLE``.

    The first figure may switch pyplot's backend on, which (in a notebook) turns
    interactive mode on, so that figures are shown: that change outlives the style.
    """

    @functools.wraps(draw)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with plt.rc_context(STYLE):
            result = draw(*args, **kwargs)
            interactive = plt.isinteractive()
        plt.interactive(interactive)
        return result

    return wrapper


def new_figure(rows: int, columns: int, size: tuple[float, float], **options: Any) -> tuple[Figure, Any]:
    """A figure with a ``rows`` x ``columns`` grid of axes (always a 2-D array) and constrained layout."""
    return plt.subplots(rows, columns, figsize=size, squeeze=False, layout="constrained", **options)


def save_figure(figure: Figure, path: str | Path) -> Path:
    """Write ``figure`` as a PNG at ``path`` (byte for byte the same for the same figure), then close it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=150, bbox_inches="tight", metadata={"Software": None})
    plt.close(figure)
    return target


def level_colours(count: int) -> list[str]:
    """A colour per run of a leveled tree: L0 (overlapping files) orange, then L1.. in darkening blues."""
    blues = plt.get_cmap("Blues")
    deeper = [to_hex(blues(0.35 + 0.6 * index / max(1, count - 2))) for index in range(count - 1)]
    return [ORANGE, *deeper]


def tier_colours(count: int) -> list[str]:
    """A colour per tier, from the oldest (dark green) to the newest (light green)."""
    greens = plt.get_cmap("Greens")
    return [to_hex(greens(0.9 - 0.6 * index / max(1, count - 1))) for index in range(count)]


def size_unit(largest: float) -> tuple[int, str]:
    """Bytes per unit and the unit's name (KiB or MiB) for numbers up to ``largest`` bytes."""
    return (MIB, "MiB") if largest >= 4 * MIB else (KIB, "KiB")


def bytes_text(size: int) -> str:
    """``64 KiB``, ``1 MiB``, ``300 B``."""
    if size >= MIB and size % MIB == 0:
        return f"{size // MIB} MiB"
    if size >= KIB:
        return f"{size / KIB:g} KiB"
    return f"{size} B"
