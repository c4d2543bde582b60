#!/usr/bin/python3
"""Build the `python-code` byte-level language-model dataset (see docs/datasets.md, section python-code).

Usage:
    /usr/bin/python3 examples/data/make_python_code.py OUT.h5 [--root /usr/lib/python3.11] [--small PATH]

Writes the full dataset (train/val/test) to OUT.h5 and the bundled subset to
examples/data/python_code_small.h5 (or --small PATH; pass --small '' to skip it).

File rule (shared with the C++ importer, keep identical):
  * every regular file whose name ends in `.py` under ROOT, recursively;
  * symlinks are skipped (symlinked files are not read, symlinked directories are not descended into);
  * skipped if any directory component of the path is `site-packages`, `dist-packages` or `__pycache__`;
  * relpath = path relative to ROOT with `/` separators, sorted by its UTF-8 bytes.
Split rule: h = FNV-1a 64 over UTF-8 bytes of f"{SEED}:{relpath}" (SEED = 1234), bucket = h % 100,
  bucket < 90 -> train, < 95 -> val, else test.
Tokens = raw file bytes (byte tokenizer, vocab 256).
"""
import argparse
import hashlib
import os
import sys

import h5py
import numpy as np

ROOT = "/usr/lib/python3.11/"
SEED = 1234
SKIP_DIRS = {"site-packages", "dist-packages", "__pycache__"}
SMALL_BYTES = 256 * 1024  # per split in the bundled subset
FNV_OFFSET = 14695981039346656037
FNV_PRIME = 1099511628211
MASK64 = (1 << 64) - 1


def fnv1a64(data: bytes) -> int:
    h = FNV_OFFSET
    for b in data:
        h ^= b
        h = (h * FNV_PRIME) & MASK64
    return h


def split_of(relpath: str, seed: int = SEED) -> str:
    bucket = fnv1a64(f"{seed}:{relpath}".encode("utf-8")) % 100
    return "train" if bucket < 90 else ("val" if bucket < 95 else "test")


def list_files(root: str):
    root = os.path.abspath(root)
    rels = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        # do not descend into skipped or symlinked directories
        dirnames[:] = [d for d in dirnames
                       if d not in SKIP_DIRS and not os.path.islink(os.path.join(dirpath, d))]
        for fn in filenames:
            if not fn.endswith(".py"):
                continue
            full = os.path.join(dirpath, fn)
            if os.path.islink(full) or not os.path.isfile(full):
                continue
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            if any(part in SKIP_DIRS for part in rel.split("/")[:-1]):
                continue
            rels.append(rel)
    rels.sort(key=lambda r: r.encode("utf-8"))
    return rels


def write_h5(path, splits, preprocessing, source):
    """splits: dict name -> list of (relpath, bytes). Written to a temp name, then renamed."""
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as f:
        f.attrs["format"] = "snnconv-dataset"
        f.attrs["format_version"] = np.int64(1)
        f.attrs["name"] = "python-code"
        f.attrs["task"] = "language_model"
        f.attrs["source"] = source
        f.attrs["license"] = "PSF-2.0 (Python Software Foundation License Version 2)"
        f.attrs["preprocessing"] = preprocessing
        f.attrs["tokenizer"] = "byte"
        f.attrs["vocab_size"] = np.int64(256)
        f.attrs["split_seed"] = np.int64(SEED)
        for name, docs in splits.items():
            g = f.create_group(name)
            lens = np.array([len(b) for _, b in docs], dtype=np.int64)
            offs = np.zeros(len(docs) + 1, dtype=np.int64)
            offs[1:] = np.cumsum(lens)
            toks = np.frombuffer(b"".join(b for _, b in docs), dtype=np.uint8)
            g.create_dataset("tokens", data=toks)
            g.create_dataset("doc_offsets", data=offs)
            g.create_dataset("doc_names", data=[r for r, _ in docs],
                             dtype=h5py.string_dtype(encoding="utf-8"))
            g.attrs["count"] = np.int64(len(docs))
    os.replace(tmp, path)


def prefix_docs(docs, limit):
    """Leading whole documents (sorted order); stops before the first one that would exceed `limit` bytes."""
    out, total = [], 0
    for r, b in docs:
        if total + len(b) > limit:
            break
        out.append((r, b))
        total += len(b)
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="path of the full dataset (not committed)")
    ap.add_argument("--root", default=ROOT)
    ap.add_argument("--small", default=os.path.join(here, "python_code_small.h5"),
                    help="path of the bundled subset ('' to skip)")
    a = ap.parse_args()

    rels = list_files(a.root)
    splits = {"train": [], "val": [], "test": []}
    listing = hashlib.sha256()
    for rel in rels:
        with open(os.path.join(a.root, rel), "rb") as fh:
            data = fh.read()
        listing.update(rel.encode("utf-8") + b"\0" + hashlib.sha256(data).digest())
        splits[split_of(rel)].append((rel, data))
    source = (f"Python standard library sources: *.py files under {a.root} on Debian 12 "
              f"(python3.11 packages); {len(rels)} files, listing sha256 {listing.hexdigest()[:16]}")
    print(f"root {a.root}: {len(rels)} files, sha256(relpath\\0sha256(bytes)...) = {listing.hexdigest()}")
    for name, docs in splits.items():
        print(f"  {name:5s}: {len(docs):4d} files, {sum(len(b) for _, b in docs):9d} bytes")
    write_h5(a.out, splits,
             "raw file bytes, one document per file, split by FNV-1a-64('1234:'+relpath) % 100 "
             "(<90 train, <95 val, else test); see docs/datasets.md#python-code", source)
    print("wrote", a.out)
    if a.small:
        small = {s: prefix_docs(splits[s], SMALL_BYTES) for s in ("val", "test")}
        desc = "; ".join(f"{s}: first {len(d)} of {len(splits[s])} documents "
                         f"({sum(len(b) for _, b in d)} bytes)" for s, d in small.items())
        write_h5(a.small, small,
                 "bundled subset of python-code (full rule in docs/datasets.md#python-code): val and test "
                 "splits only, each truncated to its leading whole documents in sorted relpath order while the "
                 f"total stays <= {SMALL_BYTES} bytes; no train split; " + desc, source)
        print("wrote", a.small, "--", desc)


if __name__ == "__main__":
    sys.exit(main())
