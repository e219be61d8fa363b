"""The DLP lab bench: course-style pycnml programs run unchanged through `vgg dlp run`, the rest
of pycnml's Python surface in the emulator, and the int8 filter cache of `--backend dlp`."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from vggcli.cli import main
from vggcli.dlp import emulator
from vggcli.dlp.adapter import DlpNetwork, build_dlp_network, int8_folder
from vggcli.dlp.quant import QuantPair
from vggcli.images import load_image, resize, to_input
from vggcli.weights.matconvnet import read_matconvnet

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = ROOT / "examples" / "dlp"
CAT = ROOT / "examples" / "chelsea.png"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def vgg(*args, cwd=ROOT):
    """`vgg …` in a fresh process (as a user runs it), with the test's environment."""
    return subprocess.run(
        [sys.executable, "-m", "vggcli", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, timeout=300,
    )  # fmt: skip


@pytest.fixture
def quant_file(tiny_mat_beta16, tmp_path):
    path = tmp_path / "quant.npz"
    result = run("calibrate", CAT, "-o", path, "--weights", tiny_mat_beta16)
    assert result.exit_code == 0, result.output
    return path


def test_the_course_vgg19_client_matches_vgg_classify_exactly(
    tiny_mat_beta16, quant_file, tmp_path
):
    out = tmp_path / "prob.npy"
    client = vgg("dlp", "run", CLIENTS / "vgg19_pycnml.py", tiny_mat_beta16, quant_file, CAT, out)
    assert client.returncode == 0, client.stderr
    assert "pycnml: not installed, using vggcli's emulator" in client.stderr
    assert "inference time" in client.stdout
    prob = np.load(out)
    doc = json.loads(
        run(
            "classify", CAT, "--backend", "dlp", "--weights", tiny_mat_beta16,
            "--quant-params", quant_file, "--top", "1000", "--json",
        ).stdout
    )  # fmt: skip
    top = doc["results"][0]["top"]
    assert len(top) == 1000
    for entry in top:  # bit for bit: the same float32 for every class
        assert np.float32(entry["probability"]) == prob[entry["class_id"]]
    # and the library's network gives the same array
    weights = read_matconvnet(tiny_mat_beta16)
    network = build_dlp_network(weights, quant_file)
    x = to_input(resize(load_image(CAT), (224, 224)), weights.preprocessing)
    assert np.array_equal(network.forward(x).outputs["softmax"][0], prob)


def test_the_course_python2_era_client_runs_unchanged_and_matches(
    tiny_mat_beta16, quant_file, tmp_path
):
    """np.float and scipy.misc.imread/imresize, removed since, are provided to the program."""
    out = tmp_path / "prob.npy"
    client = CLIENTS / "vgg19_demo_scipy_misc.py"
    ran = vgg("dlp", "run", client, tiny_mat_beta16, quant_file, CAT, out)
    assert ran.returncode == 0, ran.stderr
    assert "compat: np.float" in ran.stderr and "scipy.misc.imresize" in ran.stderr
    same = tmp_path / "same.npy"
    modern = vgg("dlp", "run", CLIENTS / "vgg19_pycnml.py", tiny_mat_beta16, quant_file, CAT, same)
    assert modern.returncode == 0, modern.stderr
    assert np.array_equal(np.load(out), np.load(same))  # = vgg classify --backend dlp (above)
    without = vgg("dlp", "run", "--no-compat", client, tiny_mat_beta16, quant_file, CAT, out)
    assert without.returncode == 1 and "compat" not in without.stderr
    assert "AttributeError" in without.stderr and "scipy.misc" in without.stderr


def test_the_old_scipy_misc_functions_behave_as_documented(tmp_path):
    from vggcli.dlp import compat

    rgb = np.arange(10 * 20 * 3, dtype=np.uint8).reshape(10, 20, 3)
    assert compat.imresize(rgb, [5, 4, 3]).shape == (5, 4, 3)  # (height, width[, channels])
    assert compat.imresize(rgb, 50).shape == (5, 10, 3)  # a percentage
    assert compat.imresize(rgb, 0.3).shape == (3, 6, 3)  # a fraction
    grey = compat.imresize(np.linspace(-1, 1, 200).reshape(10, 20), (10, 20))
    assert grey.dtype == np.uint8 and (grey.min(), grey.max()) == (0, 255)  # bytescaled
    compat.imsave(tmp_path / "x.png", rgb)
    assert np.array_equal(compat.imread(tmp_path / "x.png"), rgb)
    assert compat.imread(tmp_path / "x.png", flatten=True).dtype == np.float32


def test_a_program_fails_exactly_as_under_python(tmp_path):
    program = tmp_path / "prog.py"
    program.write_text(
        "import sys\n"
        "def ask():\n    return input()\n"
        "if sys.argv[1] == 'eof':\n    ask()\n"
        "if sys.argv[1] == 'memory':\n    raise MemoryError('mine')\n"
        "sys.exit(sys.argv[1])\n"
    )
    for arg, status, last in (("eof", 1, "EOFError"), ("memory", 1, "MemoryError: mine")):
        ours = vgg("dlp", "run", program, arg)
        python = subprocess.run([sys.executable, program, arg], capture_output=True, text=True)
        assert ours.returncode == python.returncode == status
        theirs = python.stderr.strip().splitlines()
        assert ours.stderr.strip().splitlines()[-len(theirs) :] == theirs  # the same traceback
        traceback = ours.stderr[ours.stderr.index("Traceback") :]
        assert traceback.strip().splitlines()[-1].startswith(last) and "vggcli" not in traceback
        assert "Aborted!" not in ours.stderr and "smaller image size" not in ours.stderr
    assert vgg("dlp", "run", program, "gone").returncode == 1  # sys.exit("gone"): printed, 1


def test_the_course_mlp_client_runs_on_the_emulator(tmp_path):
    result = vgg("dlp", "run", CLIENTS / "mnist_mlp_pycnml.py", "40", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "int8 agrees with float on" in result.stdout
    agree = int(result.stdout.split("on ")[1].split("/")[0])
    assert agree >= 36


def test_argv_cwd_exit_status_and_python_dash_m(tmp_path):
    script = tmp_path / "client.py"
    script.write_text(
        "import os, sys, pycnml\n"
        "print(sys.argv, os.getcwd(), pycnml.__name__)\n"
        "import helper\n"  # the script's folder is on sys.path, as with `python client.py`
        "sys.exit(int(sys.argv[2]))\n"
    )
    (tmp_path / "helper.py").write_text("")
    elsewhere = tmp_path / "work"
    elsewhere.mkdir()
    for command in (
        [sys.executable, "-m", "vggcli", "dlp", "run"],
        [sys.executable, "-m", "vggcli.dlp.run"],
    ):
        result = subprocess.run(
            [*command, str(script), "--flag", "7"],
            capture_output=True, text=True, cwd=elsewhere, timeout=120,
        )  # fmt: skip
        assert result.returncode == 7, result.stderr
        assert f"[{str(script)!r}, '--flag', '7'] {elsewhere} vggcli.dlp.emulator" in result.stdout
    failing = tmp_path / "fails.py"
    failing.write_text("raise RuntimeError('the program failed')\n")
    result = vgg("dlp", "run", failing)
    assert result.returncode == 1 and "RuntimeError: the program failed" in result.stderr
    result = vgg("dlp", "run", tmp_path / "missing.py")
    assert result.returncode != 0 and "no such program" in result.stderr


def test_a_real_pycnml_is_used_and_nothing_is_installed(tmp_path):
    fake = tmp_path / "site"
    (fake / "pycnml").mkdir(parents=True)
    (fake / "pycnml" / "__init__.py").write_text("REAL = True\n")
    script = tmp_path / "client.py"
    script.write_text("import pycnml\nprint(pycnml.REAL)\n")
    env = {**__import__("os").environ, "PYTHONPATH": str(fake)}
    result = subprocess.run(
        [sys.executable, "-m", "vggcli.dlp.run", str(script)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0 and result.stdout.strip() == "True", result.stderr
    assert "pycnml: the installed library" in result.stderr
    # vggcli itself installs no top-level pycnml
    import importlib.util

    assert importlib.util.find_spec("pycnml") is None


def test_quant_tool_keeps_a_running_absmax_per_layer():
    tool = emulator.QuantTool()
    for data, absmax in (([1.0, -3.0], 3.0), (np.array([2.0]), 3.0), ([-200.0], 200.0)):
        qp = tool.getQuantParam(emulator.FloatVector(data), "conv1")
        pair = QuantPair.for_absmax(absmax)
        assert (qp.position, qp.scale) == (pair.position, pair.scale)
    other = tool.getQuantParam([255 - 103.939], "conv1_1")  # another layer: its own maximum
    # the course's vgg19_quant_param_new.npz has (1, 1.6814398765563965) for conv1_1's input
    assert other.position == 1 and other.scale == pytest.approx(1.6814398765563965, rel=1e-6)


def test_vector_types_behave_like_swig_proxies():
    v = emulator.FloatVector([0.1, 2])
    v.push_back(3)
    assert v.size() == 3 and not v.empty() and v[0] == float(np.float32(0.1))
    assert list(emulator.DoubleVector(np.arange(3))) == [0.0, 1.0, 2.0]
    assert emulator.IntVector(3) == [0, 0, 0]
    with pytest.raises(TypeError):
        emulator.IntVector([1.5])


def _small_net():
    net = emulator.CnmlNet(16)
    net.setInputShape(1, 1, 4, 4)
    net.createMlpLayer("fc1", 3, emulator.QuantParam(0, 1.0))
    net.createSoftmaxLayer("softmax", 1)
    return net


def test_calls_in_a_wrong_order_or_with_wrong_sizes_name_the_call():
    net = _small_net()
    with pytest.raises(RuntimeError, match="forward: call setInputData first"):
        net.forward()
    with pytest.raises(ValueError, match="setInputData: 15 values where 16 are expected"):
        net.setInputData(emulator.FloatVector([0.0] * 15))
    net.setInputData([0.0] * 16)
    with pytest.raises(RuntimeError, match="fc1 has no parameters"):
        net.forward()
    with pytest.raises(ValueError, match=r"loadParams\(fc1\): 7 filter values"):
        net.loadParams(0, [0.0] * 7, [0.0] * 3, emulator.QuantParam())
    with pytest.raises(ValueError, match="bias: 2 values where 3"):
        net.loadParams(0, [0.0] * 48, [0.0] * 2, emulator.QuantParam())
    with pytest.raises(ValueError, match="has no parameters"):
        net.loadParams(1, [0.0] * 48, [0.0] * 3, emulator.QuantParam())
    with pytest.raises(IndexError, match="out of range"):
        net.getLayerName(9)
    with pytest.raises(RuntimeError, match="created before any loadParams"):
        net.createReLuLayer("late")
    net.loadParams(0, emulator.DoubleVector([0.01] * 48), [0.0] * 3, emulator.QuantParam(-7, 1.0))
    net.forward()
    assert len(net.getOutputData()) == 3
    with pytest.raises(RuntimeError, match="getOutputData: call forward first"):
        _small_net().getOutputData()


def test_what_is_not_emulated_says_so():
    with pytest.raises(
        NotImplementedError, match=r"pycnml\.CnmlNet\.createBatchNormLayer is not emulated"
    ):
        emulator.CnmlNet().createBatchNormLayer("bn")
    with pytest.raises(NotImplementedError, match=r"pycnml\.createSomething"):
        emulator.createSomething  # noqa: B018
    assert not hasattr(emulator, "cnrtInit")  # an AttributeError too, for hasattr
    with pytest.raises(NotImplementedError, match="core version 1"):
        emulator.CnmlNet(1, emulator.CNML_MLU220)
    net = emulator.CnmlNet()
    net.setInputShape(1, 3, 8, 8)
    with pytest.raises(NotImplementedError, match="dilation 2"):
        net.createConvLayer("c", 4, 3, 1, 2, 1, emulator.QuantParam())


def test_the_int8_filters_are_cached_memory_mapped_and_identical(tiny_mat):
    weights = read_matconvnet(tiny_mat)
    notes = []
    first = build_dlp_network(weights, None, notify=notes.append)  # calibrates, then prepares
    assert any("calibration image 1/" in n for n in notes)
    assert any("preparing the int8 filters once" in n for n in notes)
    assert (int8_folder(weights, first.quant) / "fc6.int8.npy").is_file()
    notes.clear()
    second = build_dlp_network(weights, None, notify=notes.append)
    assert notes == []  # nothing to prepare the second time
    layers = {la.name: la for la in second.net.layers}
    assert isinstance(layers["fc6"].wq, np.memmap) and layers["fc6"].wq.dtype == np.int8
    # the course's path (loadParams with flattened float64 filters) stores the same int8
    # values and computes the same output, bit for bit
    course_module = types.SimpleNamespace(CnmlNet=emulator.CnmlNet, QuantParam=emulator.QuantParam)
    course = DlpNetwork(weights, second.quant, module=course_module)
    assert not course.emulated  # so it took the loadParams path
    for layer in course.net.layers:
        if getattr(layer, "wq", None) is not None:
            assert np.array_equal(np.asarray(layers[layer.name].wq), layer.wq), layer.name
    x = to_input(resize(load_image(CAT), (224, 224)), weights.preprocessing)
    assert np.array_equal(
        course.forward(x).outputs["softmax"], second.forward(x).outputs["softmax"]
    )
