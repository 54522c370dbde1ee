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
#
# With --negatives, assembles instead the larger negative set (default DIR
# ~/.cache/takedown/robustness-negatives): 2,301 usable pictures of other
# kinds, from Debian packages that ship photographs and artwork
# (landscape photographs, painted portraits and story art, astronomical
# photographs, star-atlas engravings, planet and nebula renders, clip-art
# photographs), fetched with apt-get download into
# ~/.cache/takedown/negatives-debs. Files with equal bytes are kept once;
# takedownctl robustness --min-side 256 leaves out icons and sprites. Not yet
# a set of distinct pictures: the game packages ship families of variants of
# one picture (recoloured planets and landscapes, one hull or nebula at
# several sizes or in two packages), which match each other (README,
# "Robustness"); they still have to be weeded out.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [[ "${1:-}" == --negatives ]]; then
	shift
	dir="${1:-$HOME/.cache/takedown/robustness-negatives}"
	marker="$dir/.complete-v1"
	if [[ -f "$marker" ]]; then
		echo "$dir"
		exit 0
	fi
	mkdir -p "$dir"
	rm -f "$dir"/neg-* "$dir"/.complete*
	debs="$HOME/.cache/takedown/negatives-debs"
	mkdir -p "$debs"
	pkgs=(endless-sky-data wesnoth-1.16-data naev-data stellarium-data freeorion-data tuxpaint-stamps-default)
	for p in "${pkgs[@]}"; do
		ls "$debs/${p}"_*.deb >/dev/null 2>&1 || (cd "$debs" && apt-get download "$p" >/dev/null 2>&1) ||
			echo "warning: apt-get download $p failed; negative set without it" >&2
	done
	work="$(mktemp -d)"
	trap 'rm -rf "$work"' EXIT
	for p in "${pkgs[@]}"; do
		for deb in "$debs/${p}"_*.deb; do
			[[ -f "$deb" ]] && dpkg-deb -x "$deb" "$work/$p"
		done
	done
	declare -A seen
	take() { # prefix, files...
		local prefix="$1" f sum name
		shift
		for f in "$@"; do
			[[ -f "$f" ]] || continue
			# Several editions of one picture: wesnoth's portraits without
			# their background.
			[[ "$f" == */transparent/* ]] && continue
			sum="$(sha256sum <"$f" | cut -c1-64)"
			[[ -n "${seen[$sum]:-}" ]] && continue
			seen[$sum]=1
			name="$(basename "$(dirname "$f")")-$(basename "$f")"
			cp "$f" "$dir/neg-$prefix-$name"
		done
	}
	shopt -s nullglob globstar
	es="$work/endless-sky-data/usr/share/games/endless-sky/images"
	take endless "$es"/land/*.jpg "$es"/scene/*.* "$es"/planet/*.*
	wn="$work/wesnoth-1.16-data/usr/share/games/wesnoth/1.16/data"
	take wesnoth "$wn"/core/images/portraits/**/*.{png,webp,jpg} "$wn"/core/images/story/*.* "$wn"/campaigns/*/images/story/*.*
	nv="$work/naev-data/usr/share/naev/dat/gfx"
	take naev "$nv"/planet/exterior/*.* "$nv"/planet/space/*.* "$nv"/loading/*.* "$nv"/bkg/**/*.* "$nv"/commodity/*.*
	st="$work/stellarium-data/usr/share/stellarium"
	take stellarium "$st"/nebulae/default/*.{png,jpg} "$st"/skycultures/*/*.{png,jpg} "$st"/textures/*.{png,jpg}
	take freeorion "$work"/freeorion-data/usr/share/games/freeorion/default/data/art/**/*.{png,jpg}
	take tuxpaint "$work"/tuxpaint-stamps-default/usr/share/tuxpaint/stamps/**/*.{png,jpg}
	touch "$marker"
	echo "$dir"
	exit 0
fi
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
