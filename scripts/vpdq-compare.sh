#!/usr/bin/env bash
# Cross-checks package video (vPDQ) against Meta's reference vPDQ (PyPI vpdq,
# which compiles the reference C++ against the system's FFmpeg libraries):
# hashes the shared sample videos and a few generated ones on both sides,
# every frame and at 1 frame per second, and prints per video the frame
# agreement and the distance distribution. The Python side lives in a venv
# under ~/.cache/takedown/venv-vpdq, made on first use; building vpdq needs
# cmake, g++, pkg-config and Debian's libav*-dev packages (installed here
# when missing and running as root).
set -euo pipefail
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}" # go.mod names go1.27.3

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
VENV="${HOME}/.cache/takedown/venv-vpdq"
DATA="$ROOT/../shared/testdata/vpdq"
DEV_PKGS=(cmake g++ pkg-config libavcodec-dev libavformat-dev libavutil-dev libswscale-dev
	libavfilter-dev libavdevice-dev libswresample-dev)

if ! "$VENV/bin/python" -c 'import vpdq' 2>/dev/null; then
	if ! pkg-config --exists libavcodec libavformat libswscale libavfilter libavdevice 2>/dev/null || ! command -v cmake >/dev/null; then
		if [ "$(id -u)" = 0 ]; then
			echo "vpdq-compare: installing ${DEV_PKGS[*]} (vpdq builds against them)" >&2
			apt-get update -qq
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${DEV_PKGS[@]}" >&2
		else
			echo "vpdq-compare: PyPI vpdq builds against FFmpeg's development files; install: ${DEV_PKGS[*]}" >&2
			exit 1
		fi
	fi
	echo "vpdq-compare: setting up $VENV (vpdq compiles C++; this takes a minute or two)" >&2
	python3 -m venv "$VENV"
	"$VENV/bin/pip" install --quiet --upgrade pip
	"$VENV/bin/pip" install --quiet vpdq==0.2.5
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

(cd "$ROOT/pkg" && go build -o "$WORK/vpdqtool" ./hashing/video/internal/vpdqtool)

# Generated inputs: other sizes, frame rates (29.97 included) and content.
gen() { ffmpeg -nostdin -v error -y -f lavfi -i "$1" -c:v libx264 -preset veryfast -pix_fmt yuv420p "$WORK/$2"; }
gen "testsrc2=size=640x360:rate=30:duration=6" testsrc2-360p30.mp4
gen "testsrc2=size=1280x720:rate=30000/1001:duration=6" testsrc2-720p2997.mp4
gen "mandelbrot=size=480x270:rate=25,trim=duration=6" mandelbrot-270p25.mp4
gen "life=size=320x240:rate=15:mold=10:ratio=0.3:death_color=#204020:life_color=#e0ffe0,trim=duration=6" life-240p15.mp4

files=()
if [ -d "$DATA/videos" ]; then
	mapfile -d '' files < <(find "$DATA/videos" -name '*.mp4' -print0 | sort -z)
else
	echo "vpdq-compare: no shared sample videos at $DATA; comparing generated videos only" >&2
fi
files+=("$WORK"/*.mp4)

for fps in -1 1; do
	if [ "$fps" = -1 ]; then echo "== every frame"; else echo "== $fps frame per second"; fi
	"$WORK/vpdqtool" -fps "$fps" "${files[@]}" >"$WORK/go.csv"
	"$VENV/bin/python" "$HERE/vpdq_compare.py" hash --fps "$fps" "${files[@]}" >"$WORK/ref.csv"
	if [ "$fps" = -1 ] && [ -d "$DATA/hashes" ]; then
		"$VENV/bin/python" "$HERE/vpdq_compare.py" report "$WORK/go.csv" "$WORK/ref.csv" "$DATA/hashes"
	else
		"$VENV/bin/python" "$HERE/vpdq_compare.py" report "$WORK/go.csv" "$WORK/ref.csv"
	fi
	echo
done
