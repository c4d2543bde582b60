#!/usr/bin/env python3
"""Checks the layer rules of docs/architecture.md: link edges and #include edges.

Usage: check_layers.py [ROOT] [--extra-edge LIB:DEP]   (exit 1 and a list of violations when broken)
--inject "LIB:DEP" pretends a source of LIB includes DEP (used by the test that proves the check fails).
"""
import os
import re
import sys

LIBS = ["core", "ann_baseline", "datasets", "snn_core", "neuromorphic_hw", "converter", "pipeline", "cascade", "tools",
        "python"]


def allowed_edges(root):
    text = open(os.path.join(root, "docs", "architecture.md"), encoding="utf-8").read()
    m = re.search(r"```layers\n(.*?)```", text, re.S)
    if not m:
        sys.exit("docs/architecture.md has no ```layers block")
    edges = {}
    for line in m.group(1).strip().splitlines():
        lib, _, deps = line.partition(":")
        edges[lib.strip()] = set(deps.split()) | {lib.strip()}
    return edges


def link_edges(root, lib):
    path = os.path.join(root, lib, "CMakeLists.txt")
    if not os.path.exists(path):
        return set()
    text = open(path, encoding="utf-8").read()
    return set(re.findall(r"snnconv_(\w+)", text)) - {"library", "test", lib}


def include_edges(root, lib):
    found = []
    dirs = [os.path.join(root, lib), os.path.join(root, "tests", lib)]
    for d in dirs:
        for dirpath, _, files in os.walk(d):
            for f in files:
                if not f.endswith((".hpp", ".cpp", ".h")):
                    continue
                p = os.path.join(dirpath, f)
                for n, line in enumerate(open(p, encoding="utf-8", errors="replace"), 1):
                    m = re.match(r'\s*#\s*include\s*[<"]snnconv/(\w+)/', line)
                    if m:
                        found.append((m.group(1), os.path.relpath(p, root), n))
    return found


def main(argv):
    root = "."
    injected = []
    i = 0
    while i < len(argv):
        if argv[i] == "--inject":
            injected.append(argv[i + 1].split(":"))
            i += 2
        else:
            root = argv[i]
            i += 1
    edges = allowed_edges(root)
    bad = []
    for lib in LIBS:
        ok = edges.get(lib)
        if ok is None:
            bad.append(f"{lib}: not listed in docs/architecture.md")
            continue
        for dep in sorted(link_edges(root, lib)):
            if dep in LIBS and dep not in ok:
                bad.append(f"{lib}/CMakeLists.txt links snnconv_{dep}: {lib} may not depend on {dep}")
        for dep, where, line in include_edges(root, lib):
            if dep not in ok:
                bad.append(f"{where}:{line} includes snnconv/{dep}/: {lib} may not depend on {dep}")
    for lib, dep in injected:
        if dep not in edges.get(lib, set()):
            bad.append(f"(injected) {lib} includes snnconv/{dep}/: {lib} may not depend on {dep}")
    if bad:
        print("layer violations:")
        for b in bad:
            print("  " + b)
        return 1
    print(f"layers ok: {len(LIBS)} libraries checked")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
