#!/usr/bin/env python3
"""Cross-check of package video (vPDQ) against Meta's reference vPDQ, through
its Python binding (PyPI vpdq, which builds the reference C++ against the
system's FFmpeg libraries). Run by scripts/vpdq-compare.sh (make
vpdq-compare); not product code.

  vpdq_compare.py hash [--fps F] [--resize WxH] FILE...
      path,frame_number,quality,pdq_hex,timestamp per frame, reference side
  vpdq_compare.py report GO.csv REF.csv [PUBLISHED_DIR]
      per video: frames on each side, whether the frame numbers agree, and
      the distances between the two sides' hashes of the same frames; with
      PUBLISHED_DIR (the reference's own hash files), both sides' distances
      to the published hashes too

The reference samples by frame count (every int(rate/fps)-th frame) where
package video samples by time; at whole frame rates they pick the same
frames.
"""
import argparse
import csv
import os
import statistics
import sys

MIN_QUALITY = 50
THRESHOLD = 31


def cmd_hash(args):
    import vpdq

    w = h = 0
    if args.resize:
        w, h = (int(x) for x in args.resize.split("x"))
    sph = 0 if args.fps < 0 else 1.0 / args.fps
    out = csv.writer(sys.stdout, lineterminator="\n")
    for f in args.files:
        feats = vpdq.computeHash(f, seconds_per_hash=sph, downsample_width=w, downsample_height=h)
        for ft in feats:
            out.writerow([f, ft.frame_number, ft.quality, ft.hex, "%.6f" % ft.timestamp])


def read(path):
    """{video: {frame: (quality, hex)}} from a hash CSV."""
    out = {}
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if row:
                out.setdefault(row[0], {})[int(row[1])] = (int(row[2]), row[3])
    return out


def read_published(path):
    out = {}
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if row:
                out[int(row[0])] = (int(row[1]), row[2])
    return out


def distance(a, b):
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def stats(pairs):
    """exact/count, mean, max and how many pairs of quality >= 50 are over 31."""
    ds = [distance(a[1], b[1]) for a, b in pairs]
    if not ds:
        return "-", "-", "-", "-"
    over = sum(1 for (a, b), d in zip(pairs, ds) if a[0] >= MIN_QUALITY and b[0] >= MIN_QUALITY and d > THRESHOLD)
    return "%d/%d" % (ds.count(0), len(ds)), "%.2f" % statistics.mean(ds), str(max(ds)), str(over)


def cmd_report(go_csv, ref_csv, published_dir=None):
    ours, ref = read(go_csv), read(ref_csv)
    head = ["video", "frames go/ref", "numbers", "exact", "mean", "max", ">31 (q>=50)"]
    if published_dir:
        head += ["go vs published: mean/max", "vpdq vs published: mean/max"]
    rows = [head]
    all_pairs = []
    for video in sorted(set(ours) | set(ref)):
        g, r = ours.get(video, {}), ref.get(video, {})
        common = sorted(set(g) & set(r))
        pairs = [(g[k], r[k]) for k in common]
        all_pairs += pairs
        row = [os.path.basename(video), "%d/%d" % (len(g), len(r)), "same" if set(g) == set(r) else "differ"]
        row += stats(pairs)
        if published_dir:
            name = os.path.splitext(os.path.basename(video))[0]
            pub_path = os.path.join(published_dir, name + ".txt")
            if os.path.exists(pub_path) and len(g) == len(read_published(pub_path)):
                pub = read_published(pub_path)
                for side in (g, r):
                    ks = sorted(set(side) & set(pub))
                    s = stats([(side[k], pub[k]) for k in ks])
                    row.append("%s/%s" % (s[1], s[2]))
            else:
                row += ["", ""]
        rows.append(row)
    total = ["all", "%d" % len(all_pairs), ""] + list(stats(all_pairs))
    if published_dir:
        total += ["", ""]
    rows.append(total)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("hash")
    h.add_argument("--fps", type=float, default=-1)
    h.add_argument("--resize", default="")
    h.add_argument("files", nargs="+")
    r = sub.add_parser("report")
    r.add_argument("go_csv")
    r.add_argument("ref_csv")
    r.add_argument("published_dir", nargs="?")
    args = ap.parse_args()
    if args.cmd == "hash":
        cmd_hash(args)
    else:
        cmd_report(args.go_csv, args.ref_csv, args.published_dir)


if __name__ == "__main__":
    main()
