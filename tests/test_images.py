"""Loading every common image mode, refusing bad files, preprocessing and saving."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vggcli.engine.weightset import Preprocessing
from vggcli.errors import ImageError, OutputError
from vggcli.images import from_input, load_image, resize, save_image, to_input

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _save(img: Image.Image, path: Path, **kw) -> Path:
    img.save(path, **kw)
    return path


def test_rgb_photo_loads_unchanged():
    img = load_image(EXAMPLES / "chelsea.png")
    assert img.mode == "RGB" and img.size == (451, 300)
    with Image.open(EXAMPLES / "chelsea.png") as raw:
        np.testing.assert_array_equal(np.asarray(img), np.asarray(raw.convert("RGB")))


def test_grayscale_palette_and_one_bit_become_rgb(tmp_path):
    gray = Image.fromarray(np.full((4, 5), 77, np.uint8), "L")
    for mode in ("L", "P", "1"):
        img = load_image(_save(gray.convert(mode), tmp_path / f"{mode}.png"))
        assert img.mode == "RGB" and img.size == (5, 4)
    assert np.asarray(load_image(tmp_path / "L.png"))[0, 0].tolist() == [77, 77, 77]


def test_transparency_is_composited_on_white(tmp_path):
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)  # opaque red
    rgba[0, 1] = (0, 0, 255, 0)  # fully transparent blue
    img = np.asarray(load_image(_save(Image.fromarray(rgba, "RGBA"), tmp_path / "a.png")))
    assert img[0, 0].tolist() == [255, 0, 0]
    assert img[0, 1].tolist() == [255, 255, 255]
    la = Image.fromarray(rgba[:, :, [0, 3]], "LA")
    assert np.asarray(load_image(_save(la, tmp_path / "la.png")))[0, 1].tolist() == [255] * 3


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path):
    values = np.array([[0, 32896, 65535]], dtype=np.uint16)
    path = _save(Image.fromarray(values), tmp_path / "g16.png")
    with Image.open(path) as check:
        assert check.mode.startswith("I")  # really stored as 16-bit
    img = np.asarray(load_image(path))
    assert img[0, :, 0].tolist() == [0, 128, 255]


def test_float_and_cmyk_images(tmp_path):
    f = Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32), "F")
    assert np.asarray(load_image(_save(f, tmp_path / "f.tif")))[0, :, 0].tolist() == [0, 128, 255]
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # red
    img = np.asarray(load_image(_save(cmyk, tmp_path / "c.jpg")))
    assert img.shape == (8, 8, 3) and img[0, 0, 0] > 200 and img[0, 0, 1] < 60


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (30, 20), "white")
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    path = _save(img, tmp_path / "rot.jpg", exif=exif)
    assert load_image(path).size == (20, 30)


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    path = _save(Image.new("1", (12000, 12000)), tmp_path / "bomb.png")
    assert path.stat().st_size < 1_000_000
    with pytest.raises(ImageError, match=r"too large to load safely \(12000 x 12000\)"):
        load_image(path)


@pytest.mark.parametrize("kind", ["truncated", "garbage", "text", "missing", "folder"])
def test_bad_images_give_one_line_errors(tmp_path, kind):
    if kind == "truncated":
        data = (EXAMPLES / "china.jpg").read_bytes()
        path = tmp_path / "t.jpg"
        path.write_bytes(data[: len(data) // 3])
        message = "damaged or truncated"
    elif kind == "garbage":
        data = bytearray((EXAMPLES / "chelsea.png").read_bytes())
        middle = len(data) // 2
        data[middle : middle + 1000] = bytes(1000)  # zeros in the middle of the pixel data
        path = tmp_path / "g.png"
        path.write_bytes(bytes(data))
        message = "damaged or truncated"
    elif kind == "text":
        path = tmp_path / "notes.jpg"
        path.write_text("hello")
        message = "is not an image"
    elif kind == "missing":
        path, message = tmp_path / "nope.png", "image not found"
    else:
        path, message = tmp_path, "is a folder"
    with pytest.raises(ImageError, match=message) as info:
        load_image(path)
    assert "\n" not in str(info.value)


def test_resize_modes():
    img = load_image(EXAMPLES / "chelsea.png")  # 451 x 300
    assert resize(img, (224, 224)).size == (224, 224)
    cropped = resize(img, (224, 224), "center-crop")
    assert cropped.size == (224, 224)
    # the centre crop keeps the aspect ratio: 300 → 256 means 451 → 385, cropped to the middle
    expected = img.resize((385, 256), Image.Resampling.BILINEAR).crop((80, 16, 304, 240))
    np.testing.assert_array_equal(np.asarray(cropped), np.asarray(expected))


@pytest.mark.parametrize(
    "order,mean", [("RGB", (123.68, 116.779, 103.939)), ("BGR", (103.939, 116.779, 123.68))]
)
def test_preprocessing_round_trip(order, mean):
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    pre = Preprocessing(order, mean)
    x = to_input(Image.fromarray(rgb), pre)
    assert x.shape == (1, 3, 5, 7) and x.dtype == np.float32
    first = rgb[..., 0] if order == "RGB" else rgb[..., 2]
    np.testing.assert_allclose(x[0, 0], first - mean[0], atol=1e-4)
    np.testing.assert_array_equal(from_input(x, pre), rgb)


def test_save_image_formats_and_errors(tmp_path):
    rgb = np.zeros((4, 6, 3), np.uint8)
    for ext, fmt in ((".png", "PNG"), (".jpg", "JPEG")):
        path = save_image(rgb, tmp_path / f"out{ext}")
        with Image.open(path) as img:
            assert img.format == fmt and img.size == (6, 4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jpg", "out.png"]  # no temp files
    with pytest.raises(OutputError, match="image format"):
        save_image(rgb, tmp_path / "out.xyz")
    with pytest.raises(OutputError, match="does not exist"):
        save_image(rgb, tmp_path / "missing" / "out.png")


def test_save_into_a_read_only_folder(tmp_path, monkeypatch):
    # Tests run as root in CI, where chmod cannot deny writing: simulate the denial instead.
    monkeypatch.setattr("vggcli.images.os.access", lambda path, mode: False)
    with pytest.raises(OutputError, match="permission denied"):
        save_image(np.zeros((2, 2, 3), np.uint8), tmp_path / "x.png")
