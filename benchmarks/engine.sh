#!/bin/sh
# `make bench`: the engine's figures, each table measured in one run on this machine.
# torch (a test extra) is the external reference; nothing here is a pass/fail test.
set -e
echo "== VGG19 forward at 224x224 (img2col vs PyTorch CPU)"
vgg bench vgg19 --compare img2col,torch --size 224 --repeat 5
echo "== one mid-size VGG19 conv layer (conv3_1 on a 112x112 image): loops vs img2col"
vgg bench conv --compare loops,img2col,torch
echo "== max pooling (pool1 on a 112x112 image)"
vgg bench pool --compare loops,img2col,torch
echo "== one style-transfer step at 192x320 (the manual's size)"
vgg bench stylize --compare img2col,torch --size 192x320
echo "== per-layer profile at 224, forward and backward"
vgg profile examples/chelsea.png --backward --repeat 3
