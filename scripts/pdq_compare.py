#!/usr/bin/env python3
"""Cross-check of package pdq against Meta's reference C++ implementation,
through its Python binding (PyPI pdqhash). Run by scripts/pdq-compare.sh
(make pdq-compare); not product code.

  pdq_compare.py hash FILE...            path,hex,quality per file, reference side
  pdq_compare.py report GO.csv REF.csv GENDIR
                                         distance distribution per group

pdqhash.compute hashes the whole buffer it is given: it does not shrink. The
reference's Python path (and so its published hashes, and package pdq) first
shrinks a picture to fit 512x512 with PIL's thumbnail, so this side does the
same before calling it. EXIF orientation is applied (exif_transpose), as the
production decoder does; colours are PIL's convert("RGB").
"""
import csv
import os
import statistics
import sys

import numpy as np
import pdqhash
import PIL
from PIL import Image, ImageOps


def ref_hash(path):
    im = Image.open(path)
    im = ImageOps.exif_transpose(im)
    im.thumbnail((512, 512))
    bits, quality = pdqhash.compute(np.asarray(im.convert("RGB")))
    # bits[0] is bit 255: the hex form reads the vector most significant first.
    value = int("".join("1" if b else "0" for b in bits), 2)
    return "%064x" % value, int(quality)


def cmd_hash(files):
    out = csv.writer(sys.stdout, lineterminator="\n")
    for f in files:
        h, q = ref_hash(f)
        out.writerow([f, h, q])


def read(path):
    with open(path, newline="") as f:
        return {row[0]: (row[1], int(row[2])) for row in csv.reader(f) if row}


def distance(a, b):
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def describe(ds):
    ds = sorted(ds)
    p95 = ds[min(len(ds) - 1, int(round(0.95 * (len(ds) - 1))))]
    return "count %4d  exact %4d (%5.1f%%)  mean %5.2f  median %4.1f  p95 %3d  max %3d" % (
        len(ds), ds.count(0), 100.0 * ds.count(0) / len(ds), statistics.mean(ds),
        statistics.median(ds), p95, ds[-1])


def cmd_report(go_csv, ref_csv, gendir):
    go, ref = read(go_csv), read(ref_csv)
    missing = sorted(set(go) ^ set(ref))
    if missing:
        sys.exit("hashed on one side only: %s" % ", ".join(missing[:5]))
    gendir = os.path.abspath(gendir)
    groups = {}
    worst = {}
    for path, (gh, gq) in go.items():
        rh, rq = ref[path]
        if os.path.abspath(path).startswith(gendir + os.sep):
            w, h = Image.open(path).size
            name = ("generated, <= 512: same pixel buffer" if max(w, h) <= 512
                    else "generated, > 512: Go shrink vs PIL thumbnail")
        else:
            name = "shared reference images: production decode vs PIL"
        d = distance(gh, rh)
        groups.setdefault(name, []).append(d)
        if d > worst.get(name, (-1, ""))[0]:
            worst[name] = (d, path)
    print("pdqhash %s, Pillow %s, numpy %s" % (getattr(pdqhash, "__version__", "?"), PIL.__version__, np.__version__))
    for name in sorted(groups):
        print("%-52s %s" % (name, describe(groups[name])))
        if worst[name][0] > 0:
            print("%-52s worst: %s" % ("", worst[name][1]))


def main(argv):
    if len(argv) >= 2 and argv[1] == "hash":
        cmd_hash(argv[2:])
    elif len(argv) == 5 and argv[1] == "report":
        cmd_report(argv[2], argv[3], argv[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
