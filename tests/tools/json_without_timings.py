#!/usr/bin/env python3
"""Prints a JSON file with its wall-clock fields left out (every key naming seconds, a rate per second or a
speed-up), keys sorted, one item per line: what two runs of the same job must agree on (the MPI tests compare a
data-parallel report or cascade with the single process's this way)."""
import json
import re
import sys


def strip(x):
    if isinstance(x, dict):
        return {k: strip(v) for k, v in x.items() if not re.search(r"seconds|per_s$|speedup", k)}
    if isinstance(x, list):
        return [strip(v) for v in x]
    return x


print(json.dumps(strip(json.load(open(sys.argv[1]))), sort_keys=True, indent=0))
