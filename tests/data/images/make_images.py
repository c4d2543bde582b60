"""Image fixtures for `snnconv datasets import images` (tests/datasets/test_import_files.cpp), written by PIL 9.4
(Debian python3-pil) with numpy 1.24; seed 7. Run: /usr/bin/python3 make_images.py (from this folder).

folder/cat, folder/dog: an ImageFolder tree of 6x5 RGB images in every PNG colour type PIL writes (RGB, RGBA,
palette (4-bit), with optimize=True so PIL picks per-row filters) and a PPM; expected.npz holds the pixels PIL decodes
(channel-first, alpha dropped, palette expanded: what Image.convert("RGB") gives) and the labels.
gray/: single-channel images (L PNG, LA PNG, PGM, 1-bit PNG) for the gray path; refused/: a JPEG and a 16-bit PNG;
mixed/: a 4x4 image beside a 6x5 one.
"""
import os
import numpy as np
from PIL import Image

rng = np.random.default_rng(7)
H, W = 5, 6
expected, labels = [], []


def save(img, path, **kw):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    img.save(path, **kw)


def rgb(path, mode, label, **kw):
    a = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
    img = Image.fromarray(a, "RGB")
    if mode == "RGBA":
        img = img.convert("RGBA")
        img.putalpha(Image.fromarray(rng.integers(0, 256, size=(H, W), dtype=np.uint8), "L"))
    elif mode == "P":
        img = img.quantize(colors=16)
    save(img, path, **kw)
    back = np.asarray(Image.open(path).convert("RGB"))
    expected.append(back.transpose(2, 0, 1))
    labels.append(label)


# Sorted order inside each class folder: a.png < b.png < c.ppm ...
rgb("folder/cat/a.png", "RGB", 0, optimize=True)
rgb("folder/cat/b.png", "RGBA", 0)
rgb("folder/cat/c.ppm", "RGB", 0)
rgb("folder/dog/a.png", "P", 1)
rgb("folder/dog/b.png", "RGB", 1, compress_level=9)
np.savez("expected.npz", inputs=np.stack(expected), labels=np.array(labels, dtype=np.int64))

gray = []
for name, mode in (("a.png", "L"), ("b.png", "LA"), ("c.pgm", "L"), ("d.png", "1")):
    a = rng.integers(0, 256, size=(H, W), dtype=np.uint8)
    img = Image.fromarray(a, "L")
    if mode != "L":
        img = img.convert(mode)
    save(img, "gray/only/" + name)
    gray.append(np.asarray(Image.open("gray/only/" + name).convert("L"))[None])
np.savez("expected_gray.npz", inputs=np.stack(gray))

a = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
save(Image.fromarray(a, "RGB"), "refused/photo.jpg", quality=90)
save(Image.fromarray((rng.integers(0, 65536, size=(H, W))).astype(np.uint16)).convert("I;16"), "refused/deep.png")
save(Image.fromarray(a, "RGB"), "mixed/c/a.png")
save(Image.fromarray(a[:4, :4], "RGB"), "mixed/c/b.png")
