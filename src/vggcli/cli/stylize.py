"""``vgg stylize``: neural style transfer, resumable."""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from pathlib import Path

import click

from vggcli import ui
from vggcli.cli.options import backend_option, weights_option
from vggcli.style.job import StylizeJob, open_run, parse_floats, parse_size, parse_style_layers
from vggcli.style.objective import StyleOptions
from vggcli.style.optim import OPTIMIZERS
from vggcli.style.runfiles import RunFiles


@click.command()
@click.argument("content", type=click.Path(path_type=Path))
@click.argument(
    "styles", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="STYLE..."
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Output image (.png/.jpg…); default CONTENT-STYLE.png here. Next to it: "
    ".csv loss history, .loss.png chart, .state.npz to resume.",
)
@click.option(
    "-n",
    "--steps",
    default=1000,
    show_default=True,
    type=click.IntRange(0),
    help="Total optimisation steps of the run (a resumed run continues up to it).",
)
@click.option(
    "--size",
    "size_text",
    metavar="HxW",
    help="Output size, e.g. 192x320 (the manual's); default: the content's aspect.",
)
@click.option(
    "--max-side",
    default=320,
    show_default=True,
    type=click.IntRange(1),
    help="Long side of the output when --size is not given.",
)
@click.option(
    "--style-scale",
    default=1.0,
    show_default=True,
    type=float,
    help="Style images are resized to this times the output size.",
)
@click.option(
    "--style-blend",
    metavar="W1,W2,…",
    help="Weights of several style images (their Gram matrices are mixed).",
)
@click.option("--content-layers", default="relu4_2", show_default=True, metavar="L1,L2,…")
@click.option(
    "--style-layers",
    default="relu1_1,relu2_1,relu3_1,relu4_1,relu5_1",
    show_default=True,
    metavar="L:W,…",
    help="Style layers, each with an optional weight.",
)
@click.option("--alpha", default=1.0, show_default=True, help="Content weight α.")
@click.option("--beta", default=500.0, show_default=True, help="Style weight β.")
@click.option(
    "--tv-weight",
    default=0.0,
    show_default=True,
    help="Total-variation weight (smoothness); 0 reproduces the manual.",
)
@click.option(
    "--optimizer",
    type=click.Choice(list(OPTIMIZERS)),
    default="adam",
    show_default=True,
    help="; ".join(f"{name}: {cls.description}" for name, cls in OPTIMIZERS.items()) + ".",
)
@click.option("--lr", default=1.0, show_default=True, help="Adam's learning rate η.")
@click.option(
    "--init",
    default="noise",
    show_default=True,
    metavar="noise|content|random|FILE",
    help="Start from noisy content (the manual), the content, noise, or an image.",
)
@click.option("--noise", default=0.5, show_default=True, help="Noise ratio of --init noise.")
@click.option("--seed", default=0, show_default=True, help="Seed of the initial noise.")
@click.option(
    "--checkpoint-every",
    default=20,
    show_default=True,
    type=click.IntRange(0),
    help="Save the image every N steps (0: never).",
)
@click.option(
    "--checkpoint-dir",
    type=click.Path(path_type=Path),
    help="Folder of the checkpoints; default OUTPUT_checkpoints/.",
)
@click.option(
    "--preserve-colors",
    is_flag=True,
    help="Keep the content's colours: the result's luminance with the content's "
    "chrominance (YCbCr).",
)
@click.option(
    "--resume",
    type=click.Path(path_type=Path),
    metavar="STATE",
    help="Continue the run saved in STATE (written at the end, at checkpoints and on "
    "Ctrl-C); give the same images and options.",
)
@backend_option
@weights_option
def stylize(
    content,
    styles,
    output,
    steps,
    size_text,
    max_side,
    style_scale,
    style_blend,
    content_layers,
    style_layers,
    alpha,
    beta,
    tv_weight,
    optimizer,
    lr,
    init,
    noise,
    seed,
    checkpoint_every,
    checkpoint_dir,
    preserve_colors,
    resume,
    backend,
    weights_spec,
):
    """Paint CONTENT in the style of STYLE (Gatys et al.; lab manual §3.3).

    \b
    Examples:
      vgg stylize examples/china.jpg examples/starry_night.jpg -n 1000 -o out.png
      vgg stylize content.jpg style.jpg --size 192x320 --optimizer adam --lr 1 -n 2001
      vgg stylize content.jpg style.jpg --optimizer lbfgs -n 300 --tv-weight 1e-3
      vgg stylize content.jpg s1.jpg s2.jpg --style-blend 0.7,0.3 --style-scale 0.8
      vgg stylize content.jpg style.jpg --resume out.state.npz -n 1000
    Ctrl-C saves the image and the state; --resume continues from there.
    """
    options = StyleOptions(
        content_layers=tuple(filter(None, (s.strip() for s in content_layers.split(",")))),
        style_layers=parse_style_layers(style_layers),
        alpha=alpha,
        beta=beta,
        tv_weight=tv_weight,
        optimizer=optimizer,
        lr=lr,
        init=init,
        noise=noise,
        seed=seed,
    )
    blend = parse_floats(style_blend, "--style-blend") if style_blend else (1.0,) * len(styles)
    job = StylizeJob(
        content,
        tuple(styles),
        blend,
        options,
        parse_size(size_text) if size_text else None,
        max_side,
        style_scale,
    )
    output = output or Path(f"{content.stem}-{styles[0].stem}.png")
    files = RunFiles(output, checkpoint_dir, checkpoint_every)
    run = open_run(
        job,
        files,
        backend=backend,
        weights_spec=weights_spec,
        resume=resume,
        preserve_colors=preserve_colors,
        notify=ui.note,
    )
    h, w = run.shape
    ui.note(
        f"{h}x{w} · {run.optimizer} · steps {run.start_step} → {steps}"
        + (
            f" · checkpoints every {checkpoint_every} in {files.checkpoint_dir}"
            if checkpoint_every
            else ""
        )
    )
    if not run.weights.meaningful:
        ui.warn(
            f"{run.weights.description}: random features, the result will not look like a style"
        )

    bar = ui.step_bar(steps, run.start_step, "stylize")

    def on_step(step: int, losses) -> None:
        bar.n = step
        bar.set_postfix_str(
            f"total {losses.total:.4g} content {losses.content:.4g} style {losses.style:.4g}"
        )

    started = time.perf_counter()
    try:
        final = run.run(steps, on_step)
    except KeyboardInterrupt:
        bar.close()
        with _interrupts_deferred():
            run.save()
        ui.err.print(
            f"interrupted at step {run.transfer.state.step}: saved {files.output} and "
            f"{files.state}; continue with the same command plus --resume {files.state}"
        )
        sys.exit(130)
    bar.close()
    elapsed = time.perf_counter() - started
    run.save()
    ui.out.print(
        ui.stylize_summary(
            final.history, run.start_step, elapsed, run.optimizer, files, run.transfer.stop_reason
        )
    )
    ui.out.print(ui.loss_curve([r[0] for r in final.history], [r[4] for r in final.history]))


@contextlib.contextmanager
def _interrupts_deferred():
    """Ignore Ctrl-C while the files of an interrupted run are written."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
