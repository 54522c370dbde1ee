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
# ~/.cache/takedown/robustness-negatives): pictures of other kinds, from
# Debian packages that ship photographs and artwork (landscape photographs,
# painted portraits and story art, astronomical photographs and deep-sky
# images, star-atlas engravings, planet and nebula renders, game scenery and
# mission art, clip art, desktop backgrounds), fetched with apt-get download
# into ~/.cache/takedown/negatives-debs. The packages ship families of one
# picture (sizes, recolours, renders of one template, one picture in two
# packages), which would count as false matches although they are the same
# picture, so the candidates go through
# cmd/takedownctl/internal/distinctpictures: icons and sprites (shorter side
# below 256 pixels) and flat pictures are dropped, and so is a picture whose
# greyscale thumbnails (of the picture without its uniform or transparent
# borders) correlate, in layout and in detail, with one already kept or with
# a picture of the positive corpus. That test is independent of
# the matcher (no PDQ): de-duplicating with the matcher's own rule would make
# "0 false matches" hold by construction.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [[ "${1:-}" == --negatives ]]; then
	shift
	dir="${1:-$HOME/.cache/takedown/robustness-negatives}"
	# The marker names the set's version: a changed source list or rule
	# rebuilds it.
	marker="$dir/.complete-v3"
	if [[ -f "$marker" ]]; then
		echo "$dir"
		exit 0
	fi
	# The negatives must hold no picture of the positive corpus.
	corpus="$("$0")"
	mkdir -p "$dir"
	rm -f "$dir"/neg-* "$dir"/.complete*
	debs="$HOME/.cache/takedown/negatives-debs"
	mkdir -p "$debs"
	pkgs=(endless-sky-data wesnoth-1.16-data naev-data stellarium-data freeorion-data tuxpaint-stamps-default
		hedgewars-data kstars-data extremetuxracer-data openclipart-png desktop-base xfdesktop4-data)
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
	mkdir "$work/cand"
	: >"$work/cand.txt"
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
			name="neg-$prefix-$(basename "$(dirname "$f")")-$(basename "$f")"
			[[ -e "$work/cand/$name" ]] && continue
			cp "$f" "$work/cand/$name"
			echo "$work/cand/$name" >>"$work/cand.txt"
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
	hw="$work/hedgewars-data/usr/share/games/hedgewars/Data"
	take hedgewars "$hw"/Forts/*.png "$hw"/Graphics/Missions/**/*.png "$hw"/Themes/**/*.{png,jpg}
	ks="$work/kstars-data/usr/share"
	take kstars "$ks"/kstars/textures/*.{png,jpg} "$ks"/kstars/skycultures/**/*.{png,jpg} "$ks"/doc/HTML/en/kstars/*.{png,jpg}
	take etr "$work"/extremetuxracer-data/usr/share/games/etr/**/*.{png,jpg}
	oc=("$work"/openclipart-png/usr/share/openclipart/png/**/*.png)
	take openclipart "${oc[@]//*\/computer\/icons\/*/}"
	take backgrounds "$work"/desktop-base/usr/share/**/*.{png,jpg} "$work"/xfdesktop4-data/usr/share/backgrounds/**/*.{png,jpg}
	# Distinct pictures only, kept in the order taken above.
	(cd "$root" && go run ./cmd/takedownctl/internal/distinctpictures --min-side 256 --against "$corpus" - <"$work/cand.txt") >"$work/kept.txt"
	while IFS= read -r f; do
		cp "$f" "$dir/"
	done <"$work/kept.txt"
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
