"""``vgg stylize``: neural style transfer, coarse to fine, resumable."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from vggcli.cli import interrupts
from vggcli.cli.album import stylize_album
from vggcli.cli.exits import Exit
from vggcli.cli.options import (
    PATH,
    SEED,
    Finite,
    backend_option,
    given,
    parse_floats,
    parse_size,
    parse_steps,
    parse_style_layers,
    refuse_unused,
    threads_option,
    weights_option,
)
from vggcli.cli.progress import StylizeProgress
from vggcli.cli.render.console import err, note, out, warn
from vggcli.cli.render.stylize import loss_curve, stylize_plan, stylize_summary
from vggcli.cluster.connect import ClusterSpec
from vggcli.errors import Diverged
from vggcli.runtime import threads
from vggcli.style.album import is_album
from vggcli.style.job import open_run
from vggcli.style.objective import StyleOptions
from vggcli.style.optim import LBFGS, OPTIMIZERS
from vggcli.style.prepare import StylizeJob
from vggcli.style.presets import MANUAL, PRESET
from vggcli.style.runfiles import RunFiles, exclusive


@click.command()
@threads_option
@click.argument("content", type=PATH, metavar="CONTENT")
@click.argument("styles", nargs=-1, required=True, type=PATH, metavar="STYLE...")
@click.option(
    "-o",
    "--output",
    type=PATH,
    help="Output image (.png/.jpg…); default CONTENT-STYLE.png here. Next to it: "
    ".csv loss history, .loss.png chart, .state.npz to resume. With many pictures: the "
    "folder they go into (default CONTENT-STYLE/).",
)
@click.option(
    "--manual",
    is_flag=True,
    help="The lab manual's run: Adam (lr 1) from noisy content, 1000 steps, long side 320, "
    "one stage, no pixel bounds, img2col; other options still apply on top.",
)
@click.option(
    "-n",
    "--steps",
    "steps_text",
    metavar="N|N1,N2,…",
    help="Steps per stage (one number: every stage), exactly; a resumed run continues up to "
    f"them. Default with lbfgs: {LBFGS.default_steps[0]} per coarse stage and at most "
    f"{LBFGS.small_steps[1]} at the last below 512 px, {LBFGS.middle_steps[1]} below 1024, "
    f"{LBFGS.default_steps[1]} from 1024, which ends earlier once the loss stops falling "
    "(1000 with --manual).",
)
@click.option(
    "--stages",
    type=click.IntRange(1, 8),
    help="Coarse-to-fine stages, each twice the size of the one before (default: 2 from a "
    "long side of 256, 3 from 1024; 1 with --manual).",
)
@click.option(
    "--size",
    "size_text",
    metavar="HxW",
    help="Output size, e.g. 192x320 (the manual's); default: the content's aspect.",
)
@click.option(
    "--max-side",
    type=click.IntRange(1, 65_536),
    help="Long side of the output when --size is not given [default: 512; 320 with --manual].",
)
@click.option(
    "--style-scale",
    default=1.0,
    show_default=True,
    type=Finite(0, 4, min_open=True),
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
@click.option("--alpha", default=1.0, show_default=True, type=Finite(0), help="Content weight α.")
@click.option("--beta", default=500.0, show_default=True, type=Finite(0), help="Style weight β.")
@click.option(
    "--tv-weight",
    type=Finite(0),
    help=f"Total-variation weight: smoothness against colour grain (Adam from noise has some; "
    f"L-BFGS from the content has none), about 1 to 100 [default: {PRESET['tv_weight']:g}].",
)
@click.option(
    "--pooling",
    type=click.Choice(["max", "avg"]),
    default="max",
    show_default=True,
    help="VGG19's pooling layers: max (the network as trained) or avg (Gatys et al.'s choice "
    "for synthesis: smoother gradients).",
)
@click.option(
    "--optimizer",
    type=click.Choice(list(OPTIMIZERS)),
    help="; ".join(f"{name}: {cls.description}" for name, cls in OPTIMIZERS.items())
    + f" [default: {PRESET['optimizer']}; adam with --manual].",
)
@click.option(
    "--lr",
    type=Finite(0, min_open=True),
    help="Adam's learning rate η [default: 1]; L-BFGS chooses its own steps.",
)
@click.option(
    "--init",
    metavar="noise|content|random|FILE",
    help="Start from noisy content (the manual), the content, noise, or an image "
    f"[default: {PRESET['init']}; noise with --manual].",
)
@click.option(
    "--noise",
    type=Finite(0, 1),
    help="Share of uniform noise in --init noise's start, 0 to 1 [default: 0.5].",
)
@click.option("--seed", type=SEED, help="Seed of the initial noise of --init noise or random.")
@click.option(
    "--clip/--no-clip",
    default=None,
    help="Keep the pixels in 0–255 while optimising, so the saved picture is the one "
    "optimised [default: clip; --no-clip with --manual].",
)
@click.option(
    "--checkpoint-every",
    default=20,
    show_default=True,
    type=click.IntRange(0),
    help="Save the image every N steps (0: never).",
)
@click.option(
    "--checkpoint-dir",
    type=PATH,
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
    type=PATH,
    metavar="STATE",
    help="Continue the run saved in STATE (written at the end, at checkpoints and on "
    "Ctrl-C: only Ctrl-C's keeps L-BFGS's memory, to go on exactly); give the same images "
    "and options.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace the files of an earlier run with the same output name (its history, chart, "
    "state and checkpoints are deleted first); without it such a run is refused.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress, no notes: only the summary.")
@click.option(
    "--cluster",
    "cluster_text",
    metavar="tcp://HOST:PORT|local:N",
    help="With many pictures: one per task on a Dask cluster's workers (a scheduler's "
    "address), or on N worker processes started here (docs/cluster.md).",
)
@backend_option
@weights_option
@click.pass_context
def stylize(ctx, content, styles, output, manual, steps_text, stages, size_text, max_side,
            style_scale, style_blend, content_layers, style_layers, alpha, beta, tv_weight,
            pooling, optimizer, lr, init, noise, seed, clip, checkpoint_every, checkpoint_dir,
            preserve_colors, resume, force, quiet, cluster_text, backend,
            weights_spec):  # fmt: skip
    """Paint CONTENT in the style of STYLE (Gatys et al.; lab manual §3.3).

    CONTENT is a picture, or many: a folder (every picture in it) or a .txt list of paths,
    each stylised into the -o folder; the same command again continues such a run.

    By default: L-BFGS with the pixels kept in 0–255, coarse to fine (256 then 512 for a
    512-pixel picture), about a minute on two cores. --manual is the lab manual's run.

    \b
    Examples, in the examples/ folder:
      vgg stylize china.jpg starry_night.jpg -o out.png
      vgg stylize china.jpg starry_night.jpg --manual --size 192x320
      vgg stylize chelsea.png turner_shipwreck.jpg --max-side 1024
      vgg stylize china.jpg starry_night.jpg --pooling avg --tv-weight 20
      vgg stylize china.jpg starry_night.jpg turner_shipwreck.jpg \\
        --style-blend 0.7,0.3
      vgg stylize china.jpg starry_night.jpg --resume china-starry_night.state.npz
      vgg stylize album/ starry_night.jpg -o album-starry/ --cluster local:2

    Ctrl-C (or SIGTERM) saves the image and the state; --resume continues from there
    exactly, as if never stopped.
    """
    preset = MANUAL if manual else PRESET
    if manual and not given(ctx, "backend"):
        backend = MANUAL["backend"]
    optimizer = preset["optimizer"] if optimizer is None else optimizer
    init = preset["init"] if init is None else init
    many = is_album(content)
    refuse_unused(
        ctx,
        {
            "cluster_text": None
            if many
            else "sends many pictures to workers: give a folder or a .txt list as CONTENT",
            "resume": None
            if not many
            else "continues one picture; a run of many continues by itself: run it again",
            "lr": None
            if OPTIMIZERS[optimizer].takes_lr
            else f"is the step size of adam; {optimizer} chooses its own: give --optimizer adam",
            "noise": None
            if init == "noise"
            else f"mixes noise into the start of --init noise; this run starts from {init}",
            "seed": None
            if init in ("noise", "random")
            else f"seeds the noise of --init noise or random; this run starts from {init}",
            "checkpoint_dir": "is one picture's; with many, each picture's are beside it"
            if many
            else None
            if checkpoint_every
            else "is where checkpoints go; --checkpoint-every 0 writes none",
            "force": "replaces one picture's run; for many, give another -o folder"
            if many
            else None
            if resume is None
            else "replaces an earlier run and --resume continues it: give one of the two",
            "style_blend": None
            if len(styles) > 1
            else "weights several style images against each other: give two or more",
            "max_side": None
            if size_text is None
            else "sets the long side when --size is not given: give one of the two",
        },
    )
    options = StyleOptions(
        content_layers=tuple(filter(None, (s.strip() for s in content_layers.split(",")))),
        style_layers=parse_style_layers(style_layers),
        alpha=alpha,
        beta=beta,
        tv_weight=preset["tv_weight"] if tv_weight is None else tv_weight,
        optimizer=optimizer,
        init=init,
        **{k: v for k, v in (("lr", lr), ("noise", noise), ("seed", seed)) if v is not None},
        pooling=pooling,
        clip=preset["clip"] if clip is None else clip,
    )
    blend = parse_floats(style_blend, "--style-blend") if style_blend else (1.0,) * len(styles)
    job = StylizeJob(
        content,
        tuple(styles),
        blend,
        options,
        parse_size(size_text) if size_text else None,
        max_side or preset["max_side"],
        style_scale,
        stages=stages or preset["stages"],
        steps=parse_steps(steps_text) if steps_text else preset["steps"],
    )
    if many:
        settings = {"backend": backend, "weights_spec": weights_spec,
                    "preserve_colors": preserve_colors}  # fmt: skip
        cluster = ClusterSpec.parse(cluster_text) if cluster_text is not None else None
        chosen = threads.chosen() if given(ctx, "threads") else None
        stylize_album(job, output, settings, checkpoint_every, cluster, chosen, quiet)
        return
    output = output or Path(f"{content.stem}-{'+'.join(s.stem for s in styles)}.png")
    files = RunFiles(output, checkpoint_dir, checkpoint_every)
    ctx.with_resource(exclusive(files))  # held until the command ends
    say = (lambda message: None) if quiet else note
    run = open_run(
        job,
        files,
        backend=backend,
        weights_spec=weights_spec,
        resume=resume,
        preserve_colors=preserve_colors,
        force=force,
        notify=say,
    )
    prepared = run.prepared
    say(
        stylize_plan(
            run.stages,
            options.optimizer,
            run.start_step,
            prepared.estimate(run.state.step),
            prepared.memory,
        )
    )
    if checkpoint_every:
        say(f"checkpoints every {checkpoint_every} steps in {files.checkpoint_dir}")
    if not run.weights.meaningful:
        warn(f"{run.weights.description}: random features, the result will not look like a style")
    progress = StylizeProgress(prepared, run.start_step, quiet=quiet)

    def on_step(step, losses, stage) -> None:
        progress(step, losses, stage)
        interrupts.check()

    started = time.perf_counter()
    try:
        final = run.run(on_step)
    except Diverged:
        progress.close()
        if run.state.history:  # the last finite step: its image and state
            run.save()
        raise
    except KeyboardInterrupt:
        progress.close()
        with interrupts.deferred():
            run.save(interrupted=True)
        err.print(
            f"interrupted at step {run.state.step}: saved {files.output} and {files.state}\n"
            f"to continue, run the same command with --resume {files.state}"
        )
        sys.exit(Exit.INTERRUPTED)
    progress.close()
    elapsed = time.perf_counter() - started
    run.save()
    saved = run.saved_losses()
    out.print(
        stylize_summary(
            final.history,
            run.start_step,
            elapsed,
            options.optimizer,
            files,
            run.stop_reason,
            saved,
            preserve_colors,
        )
    )
    out.print(loss_curve([r[0] for r in final.history], [r[4] for r in final.history]))
    # recoloured (--preserve-colors), the saved picture is not what was optimised: judge that
    run.check_improved(run.optimised_losses() if preserve_colors else saved)
