#!/usr/bin/env bash
# Assembles the video corpus of the video robustness evaluation (takedownctl
# robustness --videos) in DIR (default ~/.cache/takedown/robustness-videos)
# and prints DIR. Nothing is copied into the project:
#   - three of the reference vPDQ's sample videos, one per family (chair,
#     pattern, doorknob), linked from ../shared/testdata/vpdq/videos: the other
#     sample files are variants of these, and the evaluation counts a match
#     between two corpus videos as false;
#   - generated videos, 10 s each, from ffmpeg's lavfi sources (testsrc2,
#     mandelbrot, life, cellauto, sierpinski) with motion, each of another
#     source or other parameters;
#   - natural photographs of ../shared/testdata/pdq panned and zoomed slowly
#     (zoompan), and one held still with a little temporal noise (a nearly
#     static video, where many bank frames are equally close);
#   - 22 more natural photographs, from the image corpus's Debian and Plasma wallpapers
#     (scripts/robustness-corpus.sh, which fetches them), each another
#     picture, panned, zoomed in or out, or shaken, in landscape and portrait
#     frames (v3: before, 18 videos, of which 9 generated and 2 of those flat
#     fields of 1-2 pixel cells, made 95% mean 18 of 18).
# Idempotent: an existing corpus is reused.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$HOME/.cache/takedown/robustness-videos}"
marker="$dir/.complete-v3"
if [[ -f "$marker" ]]; then
	echo "$dir"
	exit 0
fi
command -v ffmpeg >/dev/null || { echo "robustness-video-corpus: ffmpeg is needed" >&2; exit 1; }
mkdir -p "$dir"
rm -f "$dir"/*.mp4 "$dir"/.complete*

samples="$root/../shared/testdata/vpdq/videos"
for f in chair-orig-22-sd-bar.mp4 pattern-hd-no-bar.mp4 doorknob-hd-no-bar.mp4; do
	if [[ -f "$samples/$f" ]]; then
		ln -sf "$(cd "$samples" && pwd)/$f" "$dir/sample-$f"
	else
		echo "warning: $samples/$f missing; corpus without it" >&2
	fi
done

enc=(-c:v libx264 -preset veryfast -crf 20 -pix_fmt yuv420p -an)
gen() { # name, lavfi graph
	ffmpeg -nostdin -v error -y -f lavfi -i "$2" -t 10 "${enc[@]}" "$dir/gen-$1.mp4"
}
gen testsrc2 "testsrc2=s=640x360:r=25"
gen mandelbrot-a "mandelbrot=s=640x360:r=25"
gen mandelbrot-b "mandelbrot=s=640x360:r=25:start_x=-0.1011:start_y=0.9563:start_scale=0.5"
gen life-a "life=s=160x90:r=25:seed=1:ratio=0.3:mold=10:life_color=#ffcc00:death_color=#101060:mold_color=#602020,scale=640:360:flags=neighbor"
gen life-b "life=s=96x96:r=25:seed=7:ratio=0.5:rule=S23/B36,scale=480:480:flags=neighbor"
gen cellauto-30 "cellauto=s=320x180:r=25:rule=30:seed=3,scale=640:360:flags=neighbor"
gen cellauto-110 "cellauto=s=320x240:r=25:rule=110:seed=5:random_fill_ratio=0.4,scale=640:480:flags=neighbor"
gen sierpinski-carpet "sierpinski=s=640x360:r=25:type=carpet:seed=11:jump=2"
gen sierpinski-triangle "sierpinski=s=480x480:r=25:type=triangle:seed=13:jump=3"

photos="$root/../shared/testdata/pdq/reg-test-input"
pan() { # name, photo, zoompan expression
	[[ -f "$photos/$2" ]] || { echo "warning: $photos/$2 missing" >&2; return 0; }
	ffmpeg -nostdin -v error -y -loop 1 -framerate 25 -i "$photos/$2" \
		-vf "scale=1280:-2,$3" -t 10 "${enc[@]}" "$dir/photo-$1.mp4"
}
pan zoom-q2821 labelme-subset/q2821.jpg "zoompan=z='min(zoom+0.0015,1.4)':d=1:x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':s=640x480:fps=25"
pan pan-q0122 labelme-subset/q0122.jpg "zoompan=z=1.3:d=1:x='on*2':y='ih/2-(ih/zoom/2)':s=640x480:fps=25"
pan zoom-q0291 labelme-subset/q0291.jpg "zoompan=z='1.5-on*0.002':d=1:x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':s=640x480:fps=25"
pan pan-q0746 labelme-subset/q0746.jpg "zoompan=z=1.25:d=1:x='iw/2-(iw/zoom/2)':y='on*1.5':s=480x640:fps=25"
pan pan-bridge dih/bridge-1-original.jpg "zoompan=z=1.2:d=1:x='iw/2-(iw/zoom/2)+on*1.2-120':y='ih/2-(ih/zoom/2)':s=640x360:fps=25"
pan static-q1050 labelme-subset/q1050.jpg "scale=640:-2,noise=alls=6:allf=t,fps=25"
# zoompan's zoom does not carry over from one frame of a looped picture to
# the next (each is an input frame of its own: zoom-q2821 above is still),
# so these move with the output frame number, on, over the 250 frames.
wall="$("$root/scripts/robustness-corpus.sh")"
wallpan() { # name, picture, output size, zoompan x, y, zoom
	[[ -f "$wall/$2" ]] || { echo "warning: $wall/$2 missing" >&2; return 0; }
	ffmpeg -nostdin -v error -y -loop 1 -framerate 25 -i "$wall/$2" \
		-vf "scale=1280:-2,zoompan=z='$6':d=1:x='$4':y='$5':s=$3:fps=25" -t 10 "${enc[@]}" "$dir/wall-$1.mp4"
}
cx="iw/2-(iw/zoom/2)" cy="ih/2-(ih/zoom/2)"
right="(iw-iw/zoom)*on/250" left="(iw-iw/zoom)*(1-on/250)" down="(ih-ih/zoom)*on/250" up="(ih-ih/zoom)*(1-on/250)"
zin="1+on*0.002" zout="1.5-on*0.002"
wallpan zoomin-bridge debian-Bridge_by_Sander_Klootwijk.jpg 640x360 "$cx" "$cy" "$zin"
wallpan panright-dragonfly debian-Dragonfly_by_Bolly.jpg 640x480 "$right" "$cy" 1.3
wallpan panleft-elephants debian-Elephants.jpg 640x360 "$left" "$cy" 1.3
wallpan zoomout-bythewater plasma-BytheWater-2560x1600.jpg 640x360 "$cx" "$cy" "$zout"
wallpan pandown-freshflower debian-FreshFlower.jpg 640x480 "$cx" "$down" 1.3
wallpan panup-garden debian-Garden.jpg 640x360 "$cx" "$up" 1.3
wallpan diag-greenmeadow debian-GreenMeadow.jpg 640x480 "$right" "$down" 1.35
wallpan zoomin-kleiber debian-Kleiber_by_Lukas_Baubkus.jpg 640x360 "$cx" "$cy" "$zin"
wallpan shake-ladybird debian-LadyBird.jpg 640x360 "$cx+12*sin(on/4)" "$cy+8*cos(on/5)" 1.25
wallpan panright-raindrops debian-RainDrops.jpg 640x360 "$right" "$cy" 1.3
wallpan zoomout-storm debian-Storm.jpg 640x360 "$cx" "$cy" "$zout"
wallpan panleft-twowings debian-TwoWings.jpg 640x480 "$left" "$cy" 1.3
wallpan zoomin-yellowflower debian-YellowFlower.jpg 640x360 "$cx" "$cy" "$zin"
wallpan panright-aitzgorri debian-aitzgorri_by_Aitzol_Berasategi.jpg 640x360 "$right" "$cy" 1.3
wallpan pandown-life debian-life_by_Aitzol_Berasategi.jpg 640x360 "$cx" "$down" 1.3
wallpan diag-picos debian-picosdeeuropa_by_Aitzol_Berasategi.jpg 640x480 "$left" "$up" 1.35
wallpan zoomout-seeding debian-seeding_by_Clements_Engelhardt.jpg 640x360 "$cx" "$cy" "$zout"
wallpan panleft-sunset debian-sunset_by_Aitzol_Berasategi.jpg 640x360 "$left" "$cy" 1.3
wallpan zoomin-dune debian-Dune.jpg 640x360 "$cx" "$cy" "$zin"
wallpan shake-wood debian-Wood.jpg 640x480 "$cx+10*cos(on/3)" "$cy+10*sin(on/4)" 1.25
wallpan panup-wine debian-Wine_by_Jakkub_Mede.jpg 360x640 "$cx" "$up" 1.3
wallpan zoomin-friends debian-friends_by_Aitzol_Berasategi.jpg 360x640 "$cx" "$cy" "$zin"
touch "$marker"
echo "$dir"
