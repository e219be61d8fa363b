"""``vgg profile``'s output: one row per layer, and the JSON document."""

from __future__ import annotations

from rich import box
from rich.table import Table
from rich.text import Text

from vggcli.cli.render.console import si
from vggcli.measure.profile import Profile


def profile_table(profile, top: int = 3) -> Table:
    """One row per layer; the ``top`` slowest layers of each pass highlighted."""
    backward = profile.total_backward_ms is not None
    slow_f = {la.name for la in sorted(profile.layers, key=lambda la: -la.forward_ms)[:top]}
    slow_b = (
        {la.name for la in sorted(profile.layers, key=lambda la: -la.backward_ms)[:top]}
        if backward
        else set()
    )
    table = Table(
        title=f"vgg profile · backend {profile.backend} · input "
        f"{'x'.join(map(str, profile.input_shape))}",
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
    )
    # GFLOP/s only without the backward columns: the table must fit 80 columns
    columns = ["layer", "output", "params", "mults", "adds", "fwd ms", "%"]
    columns += ["bwd ms", "%"] if backward else ["GFLOP/s"]
    for c in columns:
        table.add_column(c, justify="left" if c in ("layer", "output") else "right")
    total_f, total_b = profile.total_forward_ms, profile.total_backward_ms
    for la in profile.layers:
        row = [
            la.name,
            "x".join(map(str, la.output_shape[1:])),
            si(la.params),
            si(la.mults),
            si(la.adds),
            Text(f"{la.forward_ms:.2f}", style="bold red" if la.name in slow_f else ""),
            f"{100 * la.forward_ms / total_f:.1f}",
        ]
        if backward:
            row += [
                Text(f"{la.backward_ms:.2f}", style="bold red" if la.name in slow_b else ""),
                f"{100 * la.backward_ms / total_b:.1f}",
            ]
        else:
            row.append(f"{la.gflops_forward:.0f}")
        table.add_row(*row)
    totals = [
        "total",
        "",
        si(sum(la.params for la in profile.layers)),
        si(sum(la.mults for la in profile.layers)),
        si(sum(la.adds for la in profile.layers)),
        f"{total_f:.1f}",
        "100",
    ]
    totals += [f"{total_b:.1f}", "100"] if backward else [""]
    table.add_row(*totals, style="bold")
    table.caption = "mults, adds: the formulas' (what each layer computes)"
    table.caption_justify = "left"
    return table


def profile_document(profile: Profile) -> dict:
    """{"backend", "input_shape", "layers": [...], "total_forward_ms", "total_backward_ms"}."""
    return {
        "backend": profile.backend,
        "input_shape": list(profile.input_shape),
        "layers": [
            {
                "name": la.name,
                "output_shape": list(la.output_shape),
                "params": la.params,
                "mults": la.mults,
                "adds": la.adds,
                "mults_performed": la.mults_performed,
                "forward_ms": la.forward_ms,
                "backward_ms": la.backward_ms,
            }
            for la in profile.layers
        ],
        "total_forward_ms": profile.total_forward_ms,
        "total_backward_ms": profile.total_backward_ms,
    }


def summary_lines(profile: Profile, top: int) -> list[str]:
    """Per measured pass: the conv layers' share of the time, and the slowest layers; the
    multiplications performed against the formulas'."""
    lines = []
    for what, key in (("forward", "forward_ms"), ("backward", "backward_ms")):
        if getattr(profile.layers[0], key) is None:
            continue
        conv_share = sum(getattr(la, key) for la in profile.layers if la.kind == "conv")
        total = sum(getattr(la, key) for la in profile.layers)
        slowest = sorted(profile.layers, key=lambda la: -getattr(la, key))[:top]
        lines.append(f"{what}: conv layers take {100 * conv_share / total:.0f}% of {total:.1f} ms")
        lines.append(
            "  slowest: " + ", ".join(f"{la.name} {getattr(la, key):.1f} ms" for la in slowest)
        )
    performed = sum(la.mults_performed for la in profile.layers)
    formula = sum(la.mults for la in profile.layers)
    if performed != formula:
        lines.append(
            f"multiplications: {performed / 1e9:.2f} G performed for the formulas' "
            f"{formula / 1e9:.2f} G ({formula / performed:.2f}x fewer)"
        )
    return lines
