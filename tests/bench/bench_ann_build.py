#!/usr/bin/python3
# bench_ann_build.py: the index build of python3-hnswlib (Debian's) on the
# vectors bench_ann --build wrote (OUTDIR/base.f32), with the same M,
# ef_construction, space and thread count: add_items over the whole set,
# labels 1..N, as bench_ann --build inserts them.
# Usage: bench_ann_build.py OUTDIR DIM THREADS N M EFC
import json
import sys
import time

import hnswlib
import numpy as np

d, dim, threads, n, m, efc = (sys.argv[1], int(sys.argv[2]),
                              int(sys.argv[3]), int(sys.argv[4]),
                              int(sys.argv[5]), int(sys.argv[6]))
base = np.fromfile(d + "/base.f32", dtype=np.float32).reshape(-1, dim)
assert base.shape[0] == n, base.shape
idx = hnswlib.Index(space="ip", dim=dim)
idx.init_index(max_elements=n, M=m, ef_construction=efc, random_seed=100)
t0 = time.monotonic()
idx.add_items(base, np.arange(1, n + 1, dtype=np.uint64), num_threads=threads)
print(json.dumps({"impl": "python3-hnswlib (add_items)", "n": n, "dim": dim,
                  "m": m, "efc": efc, "threads": threads,
                  "build_s": round(time.monotonic() - t0, 1)}))
