#!/bin/sh
# `make bench`, second part: the manual's loops against img2col and winograd, and where the time goes.
# torch (a test extra) is the external reference; nothing here is a pass/fail test.
set -e
echo "== one mid-size VGG19 conv layer (conv3_1 on a 112x112 image): loops, img2col, winograd"
vgg bench conv --compare loops,img2col,winograd,torch
echo "== max pooling (pool1 on a 112x112 image)"
vgg bench pool --compare loops,img2col,torch
echo "== per-layer profile at 224, forward and backward"
vgg profile examples/chelsea.png --backward --repeat 3
vgg profile examples/chelsea.png --backward --repeat 3 --backend img2col
