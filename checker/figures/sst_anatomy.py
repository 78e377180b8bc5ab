"""The anatomy of an SST: a sample file, its regions (by the inspector's decoder), a block's fields and hexdump."""

from __future__ import annotations

import itertools
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
from matplotlib.patches import Patch, Rectangle

from checker.figures.style import BLUE, GREEN, PURPLE, SKY, VERMILLION, YELLOW, new_figure, styled
from checker.figures.workloads import engine_options, open_engine
from checker.tools.inspect import inspect_bytes
from checker.tools.inspect.common import ENTRY_HEADER, KIND_TOMBSTONE, SST_FOOTER, U16, U32, show
from checker.tools.inspect.common import Settings as InspectSettings
from tinylsm.options import NoCompaction

if TYPE_CHECKING:
    from matplotlib.figure import Figure


SAMPLE_ENTRIES: tuple[tuple[bytes, bytes | None], ...] = tuple(
    (b"user:%04d" % number, None if number == 6 else b"name-%d" % number) for number in range(0, 45, 3)
)
"""The entries of the SST the notebooks take apart: fifteen users, one of them deleted (a tombstone)."""

SAMPLE_BLOCK_SIZE = 128
"""Blocks of 128 bytes, so that the sample's few entries fill several blocks."""


def sample_sst(entries: Sequence[tuple[bytes, bytes | None]], **overrides: Any) -> tuple[str, bytes]:
    """Write ``entries`` (``None`` deletes) with the engine, flush once; the SST's file name and bytes."""
    options = engine_options(compaction=NoCompaction(), target_sst_size=1 << 30, **overrides)
    with open_engine(options) as db:
        for key, value in entries:
            if value is None:
                db.delete(key)
            else:
                db.put(key, value)
        db.force_flush()
        (path,) = sorted(db.path.glob("*.sst"))
        return path.name, path.read_bytes()


@dataclass(frozen=True)
class Region:
    """A stretch of an SST file: ``kind`` is data, crc, meta, filter or footer."""

    name: str
    kind: str
    start: int
    size: int

    @property
    def end(self) -> int:
        """The offset just past the region."""
        return self.start + self.size


REGION_COLOURS = {"data": (SKY, BLUE), "crc": VERMILLION, "meta": GREEN, "filter": PURPLE, "footer": YELLOW}
REGION_TITLES = {
    "data": "data blocks",
    "crc": "crc slots (u32 each)",
    "meta": "meta (block index)",
    "filter": "Bloom filter",
    "footer": "footer (40 B)",
}


def sst_regions(name: str, data: bytes) -> list[Region]:
    """The regions of an SST, found by ``checker.tools.inspect``'s own decoder; they tile the whole file.

    Raises ``ValueError`` if the inspector finds damage.
    """
    report = inspect_bytes(name, data, "sst", InspectSettings())
    if report.problems:
        raise ValueError(f"{name} is damaged: {report.problems[0]['message']}")
    facts = report.facts
    crc = U32.size
    regions = []
    for block in facts["blocks"]:
        regions.append(Region(f"block {block['index']}", "data", block["offset"], block["size"]))
        regions.append(Region(f"block {block['index']} crc", "crc", block["offset"] + block["size"], crc))
    for section in ("meta", "filter"):
        start, size = facts[section]["offset"], facts[section]["size"]
        regions.append(Region(section, section, start, size))
        regions.append(Region(f"{section} crc", "crc", start + size, crc))
    regions.append(Region("footer", "footer", facts["footer"]["offset"], SST_FOOTER.size))
    for left, right in itertools.pairwise(regions):
        if left.end != right.start:
            raise ValueError(f"{left.name} ends at {left.end} but {right.name} starts at {right.start}")
    if regions[-1].end != len(data):
        raise ValueError(f"the regions end at {regions[-1].end}, the file at {len(data)}")
    return regions


def region_totals(regions: Sequence[Region]) -> dict[str, int]:
    """Bytes of each kind of region (data, crc, meta, filter, footer), in the order they first appear."""
    totals: dict[str, int] = {}
    for region in regions:
        totals[region.kind] = totals.get(region.kind, 0) + region.size
    return totals


def _region_colour(region: Region) -> str:
    colour = REGION_COLOURS[region.kind]
    if region.kind == "data":
        return colour[int(region.name.split()[1]) % 2]
    return colour


@styled
def plot_sst_layout(name: str, regions: Sequence[Region]) -> Figure:
    """The SST as coloured regions: to scale (top), then every region at the same width, with its size."""
    size = regions[-1].end
    figure, axes = new_figure(2, 1, (14, 4.6), height_ratios=(1, 1.25))
    scale, schematic = axes[0][0], axes[1][0]
    for region in regions:
        scale.add_patch(Rectangle((region.start, 0), region.size, 1, color=_region_colour(region), linewidth=0))
        if region.kind != "crc" and region.size > size / 14:
            text = f"{region.name}\n{region.size} B"
            colour = "white" if _region_colour(region) == BLUE else "black"
            scale.text(region.start + region.size / 2, 0.5, text, ha="center", va="center", fontsize=9.5, color=colour)
    scale.set_xlim(0, size)
    scale.set_ylim(0, 1)
    scale.set_yticks([])
    scale.grid(False)
    scale.set_xlabel("file offset (bytes)")
    scale.set_title(f"{name}: {size:,} bytes to scale (each crc slot is 4 bytes)")
    for index, region in enumerate(regions):
        schematic.add_patch(Rectangle((index, 0), 0.96, 1, color=_region_colour(region), linewidth=0))
        label = region.name.replace(" crc", "\ncrc") if region.kind == "crc" else region.name.replace(" ", "\n")
        colour = "white" if _region_colour(region) in (BLUE, VERMILLION) else "black"
        schematic.text(index + 0.48, 0.62, label, ha="center", va="center", fontsize=9, color=colour)
        schematic.text(index + 0.48, 0.18, f"{region.size} B", ha="center", va="center", fontsize=9, color=colour)
    schematic.set_xlim(0, len(regions))
    schematic.set_ylim(0, 1)
    schematic.axis("off")
    schematic.set_title("the same regions, one box each (not to scale), in file order")
    kinds = list(dict.fromkeys(region.kind for region in regions))
    handles = [
        Patch(color=REGION_COLOURS[kind][0] if kind == "data" else REGION_COLOURS[kind], label=REGION_TITLES[kind])
        for kind in kinds
    ]
    figure.legend(handles=handles, loc="outside lower center", ncols=len(handles))
    return figure


@dataclass(frozen=True)
class Field:
    """One field of a block: where it starts, how long it is, its name, kind and decoded value."""

    start: int
    size: int
    name: str
    kind: str
    value: str


FIELD_COLOURS = {
    "key_overlap": "#FFE08A",
    "key_rest_len": "#FFB570",
    "kind": "#FF8A80",
    "value_len": "#D3B1E8",
    "key": "#8FD0FA",
    "value": "#A8E6C1",
    "offset": "#E0E0E0",
    "count": "#A6A6A6",
}
"""Light tints, one hue per field, so that black hex digits stay readable on every one."""

FIELD_TITLES = {
    "key_overlap": "key_overlap (u16)",
    "key_rest_len": "key_rest_len (u16)",
    "kind": "kind (u8)",
    "value_len": "value_len (u32)",
    "key": "key_rest",
    "value": "value",
    "offset": "entry offset (u16)",
    "count": "entry count (u16)",
}


def block_fields(block: bytes) -> list[Field]:
    """Every field of an encoded block (day 1's format), in byte order, decoded.

    Entries: ``key_overlap | key_rest_len | kind | value_len | key_rest | value``;
    then one ``u16`` offset per entry and the entry count. Keys are shown whole:
    ``key_rest`` completed with the first ``key_overlap`` bytes of the block's first key.
    """
    (count,) = U16.unpack_from(block, len(block) - U16.size)
    offsets_start = len(block) - U16.size * (count + 1)
    offsets = struct.unpack_from(f"<{count}H", block, offsets_start)
    fields: list[Field] = []
    first_key = b""
    for number, start in enumerate(offsets):
        overlap, rest_len, kind, value_len = ENTRY_HEADER.unpack_from(block, start)
        rest_at = start + ENTRY_HEADER.size
        rest = block[rest_at : rest_at + rest_len]
        key = first_key[:overlap] + rest
        if number == 0:
            first_key = key
        value = block[rest_at + rest_len : rest_at + rest_len + value_len]
        tombstone = kind == KIND_TOMBSTONE
        fields += [
            Field(start, 2, f"entry {number} key_overlap", "key_overlap", f"{overlap} bytes shared with the first key"),
            Field(start + 2, 2, f"entry {number} key_rest_len", "key_rest_len", str(rest_len)),
            Field(start + 4, 1, f"entry {number} kind", "kind", "1 (tombstone)" if tombstone else "0 (value)"),
            Field(start + 5, 4, f"entry {number} value_len", "value_len", str(value_len)),
            Field(rest_at, rest_len, f"entry {number} key_rest", "key", f"{show(rest)} (key {show(key)})"),
        ]
        if value_len:
            fields.append(Field(rest_at + rest_len, value_len, f"entry {number} value", "value", show(value)))
    for number, offset in enumerate(offsets):
        fields.append(Field(offsets_start + 2 * number, 2, f"offset {number}", "offset", str(offset)))
    fields.append(Field(len(block) - 2, 2, "count", "count", str(count)))
    return fields


def hexdump(data: bytes, width: int = 16) -> str:
    """``data`` as hexdump lines, ``00000010  6b 65 79 ...  |key...|`` (offsets from 0)."""
    lines = []
    for start in range(0, len(data), width):
        chunk = data[start : start + width]
        text = "".join(chr(byte) if 0x20 <= byte < 0x7F else "." for byte in chunk)
        lines.append(f"{start:08x}  {chunk.hex(' '):<{3 * width - 1}}  |{text}|")
    return "\n".join(lines)


def field_table(block: bytes, fields: Sequence[Field]) -> str:
    """One line per field: offset, size, bytes in hex, name and decoded value."""
    lines = [f"{'offset':>6}  {'size':>4}  {'bytes':<29}  {'field':<22}  value"]
    for f in fields:
        raw = block[f.start : f.start + f.size]
        shown = raw.hex(" ") if f.size <= 10 else raw[:9].hex(" ") + " .."
        lines.append(f"{f.start:>6}  {f.size:>4}  {shown:<29}  {f.name:<22}  {f.value}")
    return "\n".join(lines)


@styled
def plot_block_hexdump(block: bytes, fields: Sequence[Field], title: str, width: int = 16) -> Figure:
    """The block's bytes as a hexdump grid, each byte coloured by its field; a bar marks where each entry starts."""
    rows = math.ceil(len(block) / width)
    figure, axes = new_figure(1, 1, (12.5, 0.42 * rows + 2.0))
    axes = axes[0][0]
    kind_of_byte: dict[int, str] = {}
    for f in fields:
        for offset in range(f.start, f.start + f.size):
            kind_of_byte[offset] = f.kind
    for offset, byte in enumerate(block):
        row, column = divmod(offset, width)
        colour = FIELD_COLOURS[kind_of_byte.get(offset, "value")]
        axes.add_patch(Rectangle((column, row), 0.94, 0.9, color=colour, linewidth=0))
        axes.text(column + 0.47, row + 0.45, f"{byte:02x}", ha="center", va="center", family="monospace", fontsize=10)
    for f in fields:
        if f.kind == "key_overlap":  # the first field of an entry
            row, column = divmod(f.start, width)
            axes.plot([column - 0.03, column - 0.03], [row - 0.02, row + 0.92], color="black", lw=2.5)
    for row in range(rows):
        chunk = block[row * width : (row + 1) * width]
        text = "".join(chr(byte) if 0x20 <= byte < 0x7F else "." for byte in chunk)
        axes.text(width + 0.4, row + 0.45, text, ha="left", va="center", family="monospace", fontsize=10)
    axes.set_xlim(-0.1, width + 5.2)
    axes.set_ylim(rows, -0.1)
    axes.set_yticks(
        [row + 0.45 for row in range(rows)], [f"{row * width:08x}" for row in range(rows)], family="monospace"
    )
    axes.set_xticks(
        [column + 0.47 for column in range(width)], [f"{column:x}" for column in range(width)], family="monospace"
    )
    axes.xaxis.tick_top()
    axes.tick_params(length=0)
    axes.grid(False)
    for side in ("left", "bottom", "top", "right"):
        axes.spines[side].set_visible(False)
    axes.set_title(title, pad=10)
    kinds = list(dict.fromkeys(f.kind for f in fields))
    handles = [Patch(color=FIELD_COLOURS[kind], label=FIELD_TITLES[kind]) for kind in kinds]
    handles.append(plt.Line2D([], [], color="black", lw=2.5, label="an entry starts"))
    figure.legend(handles=handles, loc="outside lower center", ncols=min(5, len(handles)))
    return figure
