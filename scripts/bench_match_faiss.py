#!/usr/bin/env python3
"""FAISS half of `make bench-match` (a cross-check, not product code).

Reads the dataset, queries and brute-force truth that pkg/matching/index/internal/benchmatch
wrote (<base>.hashes / .queries: raw 32-byte PDQ hashes; .truth: per query a
uint32 count and that many uint32 ids), measures IndexBinaryMultiHash(256, 16, 16)
and IndexBinaryFlat(256) on one thread, and prints one JSON object per structure
on stdout (the Go side prints the table).

FAISS's binary range_search keeps distances strictly below the radius, so a
match radius r is searched with r + 1; the script checks that on a tiny index
before it measures. MultiHash needs nflip = floor(r / 16) (bits flipped per
16-bit sub-string) to find everything within r by the pigeonhole principle.
"""

import argparse
import json
import sys
import time

import faiss
import numpy as np


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def read_truth(path, nq):
    raw = np.fromfile(path, dtype="<u4")
    truth, pos = [], 0
    for _ in range(nq):
        c = int(raw[pos])
        truth.append(set(raw[pos + 1 : pos + 1 + c].tolist()))
        pos += 1 + c
    if pos != len(raw):
        sys.exit(f"{path}: {len(raw) - pos} words after the last query")
    return truth


def check_radius_semantics():
    """Distance exactly r must need radius r + 1 (strict <)."""
    x = np.zeros((1, 32), dtype=np.uint8)
    q = np.zeros((1, 32), dtype=np.uint8)
    q[0, 0] = 0b111  # distance 3
    for idx in (faiss.IndexBinaryFlat(256), faiss.IndexBinaryMultiHash(256, 16, 16)):
        if isinstance(idx, faiss.IndexBinaryMultiHash):
            idx.nflip = 0
        idx.add(x)
        at3 = idx.range_search(q, 3)[0]
        at4 = idx.range_search(q, 4)[0]
        if (at3[1] - at3[0], at4[1] - at4[0]) != (0, 1):
            sys.exit(f"{type(idx).__name__}: range_search radius semantics changed; fix the +1")


def measure(name, index, queries, truth, radius, dataset, n, build_s, mem_mb, note, repeat):
    wall = cpu = float("inf")
    for _ in range(repeat):  # the fastest run counts, as on the Go side
        t0, c0 = time.perf_counter(), time.process_time()
        lims, dist, ids = index.range_search(queries, radius + 1)
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    found = total = 0
    exact = True
    for qi in range(len(queries)):
        got = ids[lims[qi] : lims[qi + 1]]
        if len(got) and dist[lims[qi] : lims[qi + 1]].max() > radius:
            sys.exit(f"{name}: a result beyond radius {radius}")
        got = set(got.tolist())
        want = truth[qi]
        total += len(want)
        found += len(got & want)
        exact = exact and got == want
    return {
        "structure": name,
        "dataset": dataset,
        "n": n,
        "build_s": build_s,
        "queries": len(queries),
        "qps_wall": len(queries) / wall,
        "qps_cpu": len(queries) / max(cpu, 1e-9),
        "recall": found / total if total else 1.0,
        "exact": exact,
        "heap_mb": mem_mb,
        "rss_mb": rss_mb(),
        "note": note,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="file prefix written by benchmatch")
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--radius", type=int, default=31)
    ap.add_argument("--scan-queries", type=int, default=200, help="queries for the flat scan")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each query batch; the fastest counts")
    args = ap.parse_args()

    faiss.omp_set_num_threads(1)
    check_radius_semantics()
    xb = np.fromfile(args.base + ".hashes", dtype=np.uint8).reshape(-1, 32)
    xq = np.fromfile(args.base + ".queries", dtype=np.uint8).reshape(-1, 32)
    truth = read_truth(args.base + ".truth", len(xq))
    n = len(xb)

    rss0 = rss_mb()
    t0 = time.perf_counter()
    mh = faiss.IndexBinaryMultiHash(256, 16, 16)
    mh.nflip = args.radius // 16
    mh.add(xb)
    build = time.perf_counter() - t0
    mem = rss_mb() - rss0
    # Above 1M hashes MultiHash answers a few dozen queries a second: fewer
    # queries and one run keep the benchmark's time sane.
    k, rep = (len(xq), args.repeat) if n <= 1_000_000 else (min(len(xq), 500), 1)
    print(json.dumps(measure("FAISS MultiHash(256,16,16)", mh, xq[:k], truth[:k], args.radius,
                             args.dataset, n, build, mem, f"nflip={mh.nflip}", rep)), flush=True)
    del mh

    rss0 = rss_mb()
    t0 = time.perf_counter()
    flat = faiss.IndexBinaryFlat(256)
    flat.add(xb)
    build = time.perf_counter() - t0
    mem = rss_mb() - rss0
    k = min(args.scan_queries, len(xq))
    print(json.dumps(measure("FAISS Flat(256)", flat, xq[:k], truth[:k], args.radius,
                             args.dataset, n, build, mem, "", args.repeat)), flush=True)


if __name__ == "__main__":
    main()
