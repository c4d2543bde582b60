#!/usr/bin/env python3
"""Writes seed inputs of the `idx` fuzz harness from Debian's dataset-fashion-mnist files.

Usage: /usr/bin/python3 tools/fuzz/make_idx_seeds.py OUT_DIR [SOURCE_DIR]
Each seed is the harness's input layout (tools/fuzz/entries.hpp): 4 bytes little-endian length of the
image file, the image file, the label file. The files are the first N samples of the real ones, raw and
gzip-compressed.
"""
import gzip
import os
import struct
import sys

out_dir = sys.argv[1]
src = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/datasets/fashion-mnist"
os.makedirs(out_dir, exist_ok=True)


def first(prefix, n):
    with gzip.open(os.path.join(src, prefix + "-images-idx3-ubyte.gz"), "rb") as f:
        images = f.read(16 + n * 28 * 28)
    with gzip.open(os.path.join(src, prefix + "-labels-idx1-ubyte.gz"), "rb") as f:
        labels = f.read(8 + n)
    images = images[:4] + struct.pack(">I", n) + images[8:]
    labels = labels[:4] + struct.pack(">I", n) + labels[8:]
    return images, labels


def write(name, images, labels):
    with open(os.path.join(out_dir, name), "wb") as f:
        f.write(struct.pack("<I", len(images)) + images + labels)


for prefix, n in (("train", 4), ("t10k", 16)):
    images, labels = first(prefix, n)
    write(f"{prefix}{n}_raw", images, labels)
    write(f"{prefix}{n}_gz", gzip.compress(images, mtime=0), gzip.compress(labels, mtime=0))
print(f"idx seeds written to {out_dir}")
