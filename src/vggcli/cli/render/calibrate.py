"""``vgg calibrate``'s output: the int8 pairs per layer, and the JSON document."""

from __future__ import annotations

from rich import box
from rich.table import Table


def calibration_table(rows: list[dict]) -> Table:
    table = Table(
        title="int8 quantisation pairs (position, scale): q = round(x·scale/2^position)",
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
    )
    for c in ("layer", "input |max|", "input pair", "filter |max|", "filter pair"):
        table.add_column(c, justify="left" if c == "layer" else "right")
    for r in rows:
        table.add_row(
            r["layer"],
            f"{r['input_absmax']:.5g}",
            f"({r['input_position']}, {r['input_scale']:.7f})",
            f"{r['filter_absmax']:.5g}",
            f"({r['filter_position']}, {r['filter_scale']:.7f})",
        )
    return table


def calibrate_document(output: str, images: int, rows: list[dict]) -> dict:
    """{"output", "images", "layers": [{"layer", "input_absmax", "input_position", …}]}."""
    return {"output": output, "images": images, "layers": rows}
