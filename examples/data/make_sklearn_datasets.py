#!/usr/bin/python3
"""Write examples/data/breast_cancer.h5 and examples/data/digits.h5 from scikit-learn's bundled data.

Usage: /usr/bin/python3 examples/data/make_sklearn_datasets.py [--out DIR] [--seed 0]

Both files use the `classification` layout of docs/datasets.md with splits train/val/test
(60/20/20, stratified by label, sklearn.model_selection.train_test_split with a fixed random_state:
first 20% of all rows -> test, then 25% of the rest -> val). Each split group carries the original row
numbers (in sklearn's order) as the integer attribute `source_rows`.

- breast_cancer.h5: sklearn.datasets.load_breast_cancer, 569 x 30 features, standardised with the mean
  and standard deviation (ddof=0) of the train split only; float32, scale 1, offset 0. The statistics
  are stored as the attributes `standardize_mean` / `standardize_std` of every `inputs` dataset.
- digits.h5: sklearn.datasets.load_digits, 1797 8x8 images with values 0..16 stored as uint8 [N, 8, 8]
  with scale 1/16, offset 0.
"""
import argparse
import os

import h5py
import numpy as np
import sklearn
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import train_test_split

HERE = os.path.dirname(os.path.abspath(__file__))


def split_rows(y, seed):
    rows = np.arange(len(y))
    rest, test = train_test_split(rows, test_size=0.2, stratify=y, random_state=seed)
    train, val = train_test_split(rest, test_size=0.25, stratify=y[rest], random_state=seed)
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def write(path, name, source, license_, preprocessing, class_names, inputs, labels, splits, scale,
          input_attrs=None):
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as f:
        f.attrs["format"] = "snnconv-dataset"
        f.attrs["format_version"] = np.int64(1)
        f.attrs["name"] = name
        f.attrs["task"] = "classification"
        f.attrs["source"] = source
        f.attrs["license"] = license_
        f.attrs["preprocessing"] = preprocessing
        f.create_dataset("class_names", data=np.array(class_names, dtype=object),
                         dtype=h5py.string_dtype("utf-8"))
        for split in ("train", "val", "test"):
            rows = splits[split]
            g = f.create_group(split)
            g.attrs["count"] = np.int64(len(rows))
            g.attrs["source_rows"] = rows.astype(np.int64)
            d = g.create_dataset("inputs", data=inputs[rows])
            d.attrs["scale"] = np.float32(scale)
            d.attrs["offset"] = np.float32(0.0)
            for k, v in (input_attrs or {}).items():
                d.attrs[k] = v
            g.create_dataset("labels", data=labels[rows].astype(np.int64))
    os.replace(tmp, path)
    print("wrote", path, {s: len(r) for s, r in splits.items()})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--seed", type=int, default=0, help="random_state of train_test_split")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    sk = f"scikit-learn {sklearn.__version__} (Debian python3-sklearn)"

    # ---- breast cancer
    bc = load_breast_cancer()
    x = bc.data.astype(np.float64)
    y = bc.target.astype(np.int64)
    splits = split_rows(y, args.seed)
    mean = x[splits["train"]].mean(axis=0)
    std = x[splits["train"]].std(axis=0)
    xs = ((x - mean) / std).astype(np.float32)
    write(os.path.join(args.out, "breast_cancer.h5"), "breast_cancer",
          f"{sk} sklearn.datasets.load_breast_cancer; original: UCI Breast Cancer Wisconsin (Diagnostic), "
          "https://archive.ics.uci.edu/dataset/17/breast+cancer+wisconsin+diagnostic",
          "CC BY 4.0 (UCI Machine Learning Repository); distributed with scikit-learn (BSD-3-Clause)",
          f"all 569 rows; stratified 60/20/20 split train_test_split(random_state={args.seed}) "
          "(20% test, then 25% of the rest val); 30 features standardised with train-split mean/std (ddof=0)",
          list(bc.target_names), xs, y, splits, 1.0,
          {"standardize_mean": mean.astype(np.float64), "standardize_std": std.astype(np.float64),
           "feature_names": np.array(list(bc.feature_names), dtype=h5py.string_dtype("utf-8"))})

    # ---- digits
    dg = load_digits()
    xi = dg.images.astype(np.float64)
    assert xi.min() >= 0 and xi.max() <= 16 and np.all(xi == np.round(xi))
    xi = xi.astype(np.uint8)
    y = dg.target.astype(np.int64)
    splits = split_rows(y, args.seed)
    write(os.path.join(args.out, "digits.h5"), "digits",
          f"{sk} sklearn.datasets.load_digits; original: UCI Optical Recognition of Handwritten Digits, "
          "https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits",
          "CC BY 4.0 (UCI Machine Learning Repository); distributed with scikit-learn (BSD-3-Clause)",
          f"all 1797 rows; 8x8 images with values 0..16 as uint8 (scale 1/16); stratified 60/20/20 split "
          f"train_test_split(random_state={args.seed}) (20% test, then 25% of the rest val)",
          [str(i) for i in range(10)], xi, y, splits, 1.0 / 16.0)


if __name__ == "__main__":
    main()
