#!/usr/bin/python3
# bench_ann.py: times Debian's python3-hnswlib on the graph bench_ann built
# (index.bin), with the same queries, k, ef values and thread count, and
# prints recall@10 against the same exact ground truth.
# Usage: bench_ann.py OUTDIR DIM THREADS N
import sys
import time

import hnswlib
import numpy as np

K = 10
d, dim, threads, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
q = np.fromfile(d + "/queries.f32", dtype=np.float32).reshape(-1, dim)
gt = np.fromfile(d + "/gt.u64", dtype=np.uint64).reshape(-1, K)
idx = hnswlib.Index(space="ip", dim=dim)
t0 = time.monotonic()
idx.load_index(d + "/index.bin", max_elements=n)
load_s = time.monotonic() - t0
idx.set_num_threads(threads)
for ef in (32, 64, 128, 256):
    idx.set_ef(ef)
    best = None
    for _ in range(3):
        t = time.monotonic()
        labels, _ = idx.knn_query(q, k=K, num_threads=threads)
        t = time.monotonic() - t
        best = t if best is None or t < best else best
    hit = sum(len(set(labels[i]) & set(gt[i])) for i in range(len(q)))
    print('{"impl":"python3-hnswlib","ef":%d,"k":%d,"recall_at_10":%.4f,'
          '"qps":%.0f,"load_s":%.2f}' % (ef, K, hit / (len(q) * K),
                                         len(q) / best, load_s))
