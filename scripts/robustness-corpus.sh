#!/usr/bin/env bash
# Assembles the image corpus of the robustness evaluation (takedownctl
# robustness) in DIR (default ~/.cache/takedown/robustness-corpus) and prints
# DIR. Sources, none of them copied into the project:
#   - the natural photographs of ../shared/testdata/pdq (peer project's test set);
#   - photographs and artwork from Debian's wallpaper packages, fetched with
#     apt-get download (no install, no root needed) and unpacked with dpkg-deb;
#   - scikit-image's bundled sample photographs, from its PyPI wheel.
# Variants of one picture (sizes, light/dark editions) are left out: the
# evaluation counts a match between two files as false, so the corpus must
# hold distinct pictures. Idempotent: an existing corpus is reused.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$HOME/.cache/takedown/robustness-corpus}"
# The marker names the corpus version: a changed source list rebuilds it.
marker="$dir/.complete-v2"
if [[ -f "$marker" ]]; then
	echo "$dir"
	exit 0
fi
mkdir -p "$dir"
# Only what an earlier version of this script put there.
rm -f "$dir"/shared-* "$dir"/debian-* "$dir"/plasma-* "$dir"/skimage-* "$dir"/.complete*
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

shared="$root/../shared/testdata/pdq"
if [[ -d "$shared" ]]; then
	for f in "$shared"/reg-test-input/labelme-subset/*.jpg "$shared"/reg-test-input/dih/bridge-1-original.jpg \
		"$shared"/misc-images/c.png "$shared"/misc-images/wee.jpg "$shared"/reg-test-input/pen-and-coaster.png \
		; do
		[[ -f "$f" ]] && cp "$f" "$dir/shared-$(basename "$f")"
	done
fi

(cd "$work" && apt-get download mate-backgrounds lomiri-wallpapers-20.04 lomiri-wallpapers-16.04 ukui-wallpapers \
	plasma-workspace-wallpapers gnome-backgrounds sway-backgrounds >/dev/null 2>&1) || echo "warning: apt-get download failed; corpus without Debian wallpapers" >&2
for deb in "$work"/*.deb; do
	[[ -f "$deb" ]] || continue
	dpkg-deb -x "$deb" "$work/x"
done
if [[ -d "$work/x" ]]; then
	bg="$work/x/usr/share/backgrounds"
	for f in "$bg"/mate/nature/*.jpg "$bg"/mate/abstract/Elephants.jpg "$bg"/mate/abstract/{Gulp,Flow}.png \
		"$bg"/mate/desktop/{GreenTraditional.jpg,Float-into-MATE.png,Ubuntu-Mate-Warm-no-logo.png} \
		"$bg"/*.jpg "$bg"/*.png "$bg"/gnome/*-l.webp; do
		[[ -f "$f" ]] && cp "$f" "$dir/debian-$(basename "$f")"
	done
	# Sway ships one picture in many sizes and orientations: keep one.
	[[ -f "$bg"/sway/Sway_Wallpaper_Blue_2048x1536.png ]] && cp "$bg"/sway/Sway_Wallpaper_Blue_2048x1536.png "$dir/debian-sway-blue.png"
	# Plasma ships each wallpaper in many sizes: keep the largest of each.
	for d in "$work"/x/usr/share/wallpapers/*/; do
		f="$(ls -S "$d"contents/images/* 2>/dev/null | head -1 || true)"
		[[ -n "$f" ]] && cp "$f" "$dir/plasma-$(basename "$d")-$(basename "$f")"
	done
fi

if command -v pip >/dev/null && pip download --no-deps --only-binary=:all: -d "$work/wheel" scikit-image >/dev/null 2>&1; then
	python3 -m zipfile -e "$work"/wheel/scikit_image-*.whl "$work/skimage" >/dev/null
	for f in "$work"/skimage/skimage/data/*.{png,jpg}; do
		case "$(basename "$f")" in
		# a synthetic board twice, and the right half of a stereo pair
		chessboard_*|motorcycle_right.png) continue ;;
		esac
		[[ -f "$f" ]] && cp "$f" "$dir/skimage-$(basename "$f")"
	done
else
	echo "warning: could not fetch scikit-image; corpus without its sample photographs" >&2
fi
touch "$marker"
echo "$dir"
