#!/usr/bin/env bash
# Cross-checks package pdq against Meta's reference C++ (PyPI pdqhash, which
# compiles the reference sources): hashes the shared reference images and
# PDQ_COMPARE_N (default 300) generated pictures on both sides and prints the
# distance distributions. The Python tools live in a venv under
# ~/.cache/takedown/venv-pdq, made on first use (pdqhash builds C++ with g++).
set -euo pipefail
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}" # go.mod names go1.27.3

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
VENV="${HOME}/.cache/takedown/venv-pdq"
DATA="$ROOT/../shared/testdata/pdq"
N="${PDQ_COMPARE_N:-300}"

if ! "$VENV/bin/python" -c 'import pdqhash, numpy, PIL' 2>/dev/null; then
  echo "pdq-compare: setting up $VENV (pdqhash compiles C++; this takes a minute)" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet pdqhash==0.2.8 numpy pillow
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

(cd "$ROOT" && go build -o "$WORK/pdqtool" ./pkg/hashing/pdq/internal/pdqtool)
"$WORK/pdqtool" gen "$WORK/gen" "$N"

files=()
if [ -d "$DATA" ]; then
  mapfile -d '' files < <(find "$DATA" -type f \( -name '*.jpg' -o -name '*.png' -o -name '*.webp' \) -print0 | sort -z)
else
  echo "pdq-compare: no shared reference images at $DATA; comparing generated pictures only" >&2
fi
mapfile -d '' gen < <(find "$WORK/gen" -name '*.png' -print0 | sort -z)
files+=("${gen[@]}")

"$WORK/pdqtool" hash "${files[@]}" >"$WORK/go.csv"
"$VENV/bin/python" "$HERE/pdq_compare.py" hash "${files[@]}" >"$WORK/ref.csv"
"$VENV/bin/python" "$HERE/pdq_compare.py" report "$WORK/go.csv" "$WORK/ref.csv" "$WORK/gen"
