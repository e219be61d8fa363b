"""The architecture table (lab manual table 3.1), shapes and per-layer costs."""

from __future__ import annotations

import pytest

from vggcli.engine.vgg19 import LAYER_NAMES, plan, vgg19_layers
from vggcli.errors import UsageError


def test_layer_names_follow_the_manual():
    assert LAYER_NAMES[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
    assert LAYER_NAMES[LAYER_NAMES.index("pool5") :] == (
        "pool5", "flatten", "fc6", "relu6", "fc7", "relu7", "fc8", "softmax",
    )  # fmt: skip
    assert len(LAYER_NAMES) == 44
    assert sum(name.startswith("conv") for name in LAYER_NAMES) == 16


def test_table_3_1_shapes_and_costs_at_224():
    costs = {c.layer.name: c for c in plan(vgg19_layers(), (1, 3, 224, 224))}
    assert costs["conv1_1"].out_shape == (1, 64, 224, 224)
    assert costs["pool2"].out_shape == (1, 128, 56, 56)
    assert costs["conv4_1"].layer.cin == 256 and costs["conv4_1"].out_shape == (1, 512, 28, 28)
    assert costs["pool5"].out_shape == (1, 512, 7, 7)
    assert costs["flatten"].out_shape == (1, 25088)
    assert costs["fc6"].layer.cin == 25088 and costs["fc8"].out_shape == (1, 1000)
    # conv1_2: 64·224·224 outputs, each a 64·3·3 inner product
    assert costs["conv1_2"].mults == costs["conv1_2"].adds == 64 * 224 * 224 * 576
    assert costs["conv1_2"].params == 64 * 64 * 9 + 64
    assert sum(c.params for c in costs.values()) == 143_667_240  # VGG19's published count
    conv_macs = sum(c.mults for c in costs.values() if c.layer.kind == "conv")
    assert round(conv_macs / 1e9, 2) == 19.51  # the usual "19.6 GMACs" includes the fc layers
    assert costs["pool1"].mults == 0 and costs["pool1"].work == 64 * 112 * 112 * 4


def test_any_size_for_the_conv_part_but_224_for_the_classifier():
    conv_part = vgg19_layers(fc=None)
    assert plan(conv_part, (1, 3, 192, 320))[-1].out_shape == (1, 512, 6, 10)
    with pytest.raises(UsageError, match="224x224"):
        plan(vgg19_layers(), (1, 3, 192, 320))
    with pytest.raises(UsageError, match="too small"):
        plan(conv_part, (1, 3, 31, 64))
