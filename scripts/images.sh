#!/usr/bin/env bash
# The container images of the pipeline, built offline: no registry can be
# reached from these machines and there is no Docker daemon, so the bases are
# made here and the Go binaries are built on the host (docs/images.md).
#
#   takedown-ingest, -matcher, -review, -enforcer, -takedownctl
#       ko v0.18.1 (built from the Go module proxy), CGO_ENABLED=0, on
#       base-static: scratch + CA certificates + /etc/passwd and /etc/group
#       with the numeric user 65532. No shell, no package manager.
#   takedown-hasher
#       buildah bud of services/hasher/Dockerfile (cgo, libjpeg-turbo), on
#       base-hasher: ffmpeg, ffprobe, prlimit and nice with exactly the shared
#       libraries they load, taken from a debootstrap of the host's Debian
#       release (so the host-built hasher finds the same libjpeg and glibc).
#       No shell, no apt, no dpkg.
#
# Everything is cached under $TAKEDOWN_CACHE (~/.cache/takedown): ko, the
# Debian tree (slow: a few minutes), buildah's storage (vfs driver, chroot
# isolation: no daemon, no overlay mounts) and the bases, so a second run,
# or a fresh clone on the same machine, only rebuilds what changed.
#
# Usage: scripts/images.sh build            build the bases (once) and the six images
#        scripts/images.sh bases            only the bases
#        scripts/images.sh buildah ARGS...  buildah on this storage (e.g. images, run, push)
#        scripts/images.sh push REGISTRY    push the bases and images to REGISTRY (e.g. registry.example.com/takedown)
#        scripts/images.sh env              the settings the image test reads, as export lines
# Settings: TAKEDOWN_IMAGE_TAG (default latest), TAKEDOWN_BASE_REGISTRY
# (default localhost/takedown, the bases made here; a registry's name to
# build from bases pushed there, with TAKEDOWN_BASE_STATIC_DIGEST and
# TAKEDOWN_BASE_HASHER_DIGEST),
# TAKEDOWN_DEBIAN_MIRROR, TAKEDOWN_IMAGES_REFRESH=1 (remake the Debian tree
# and the bases, e.g. for security updates).
set -euo pipefail
cd "$(dirname "$0")/.."

KO_VERSION=v0.18.1
CACHE_ROOT="${TAKEDOWN_CACHE:-${HOME:-/root}/.cache/takedown}"
KO="$CACHE_ROOT/ko-$KO_VERSION/bin/ko"
STORE="$CACHE_ROOT/containers"
IMGS="$CACHE_ROOT/images"
# ko's cache: ko finds a base referenced by digest in the OCI layout $KOCACHE/img
# instead of pulling it.
export KOCACHE="$IMGS/ko"
TAG="${TAKEDOWN_IMAGE_TAG:-latest}"
BASE_REGISTRY="${TAKEDOWN_BASE_REGISTRY:-localhost/takedown}"
LOCAL_REPO=localhost/takedown
MIRROR="${TAKEDOWN_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# Bump when what goes into a base changes, so cached bases are remade.
STATIC_RECIPE=1
HASHER_RECIPE=1
# The pure-Go images: image name suffix and package directory.
KO_IMAGES=(ingest:services/ingest matcher:services/matcher review:services/review
  enforcer:services/enforcer takedownctl:cmd/takedownctl)
UID_NONROOT=65532

say() { echo "images: $*" >&2; }
die() { say "$*"; exit 1; }

bah() {
  buildah --root "$STORE/storage" --runroot "$STORE/run" --storage-driver vfs "$@"
}
export BUILDAH_ISOLATION=chroot

# One build at a time per machine: two would fight over the storage and the bases.
lock() {
  mkdir -p "$CACHE_ROOT" "$IMGS"
  exec 9>"$CACHE_ROOT/.images.lock"
  flock 9
}

need_tools() {
  local missing=()
  for t in buildah debootstrap go chroot ldconfig flock sha256sum; do
    command -v "$t" >/dev/null || missing+=("$t")
  done
  ((${#missing[@]} == 0)) || die "missing: ${missing[*]} (Debian: apt-get install buildah debootstrap; .ci/run installs them)"
  [[ $(id -u) == 0 ]] || die "debootstrap, chroot and buildah's vfs storage need root"
}

# ko from the Go module proxy, once per machine.
build_ko() {
  [[ -x "$KO" && -f "$CACHE_ROOT/ko-$KO_VERSION/.complete" ]] && return 0
  exec 8>"$CACHE_ROOT/.ko-build.lock"
  flock 8
  if [[ ! -f "$CACHE_ROOT/ko-$KO_VERSION/.complete" ]]; then
    say "building ko $KO_VERSION from the Go module proxy (a few CPU-minutes, once)"
    local tmp
    tmp=$(mktemp -d)
    # Outside the workspace: ko's dependencies are not ours.
    (cd "$tmp" && GOWORK=off GOFLAGS=-mod=mod GOBIN="$tmp/bin" CGO_ENABLED=0 go install "github.com/google/ko@$KO_VERSION") ||
      { rm -rf "$tmp"; die "building ko failed"; }
    mkdir -p "$CACHE_ROOT/ko-$KO_VERSION"
    rm -rf "$CACHE_ROOT/ko-$KO_VERSION/bin" && mv "$tmp/bin" "$CACHE_ROOT/ko-$KO_VERSION/bin" && rm -rf "$tmp"
    touch "$CACHE_ROOT/ko-$KO_VERSION/.complete"
  fi
  exec 8>&-
}

image_exists() { bah inspect --type image "$1" >/dev/null 2>&1; }
label_of() { bah inspect --type image --format "{{index .OCIv1.Config.Labels \"$2\"}}" "$1" 2>/dev/null || true; }

# /etc/passwd and /etc/group of the bases: root (owner of every file) and
# the numeric non-root user the images run as, with no login shell (there
# is none) and no home.
write_users() {
  local root=$1
  mkdir -p "$root/etc"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/nonexistent:/sbin/nologin\n' \
    "$UID_NONROOT" "$UID_NONROOT" >"$root/etc/passwd"
  printf 'root:x:0:\nnonroot:x:%d:\n' "$UID_NONROOT" >"$root/etc/group"
  # Host names from /etc/hosts, then DNS (Go's resolver reads this file).
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
  # The only writable place, and only when the pod mounts an emptyDir there
  # (the chart runs every container with a read-only root file system).
  mkdir -p "$root/tmp" && chmod 1777 "$root/tmp"
}

# commit_base NAME DIR: an image of DIR's tree, from scratch, as the
# non-root user. --timestamp 0 makes the digest a function of the content
# only: the same CA bundle gives the same base-static on every machine.
commit_base() {
  local name=$1 dir=$2 ctr
  ctr=$(bah from scratch)
  bah copy "$ctr" "$dir" / >/dev/null
  bah config --user "$UID_NONROOT:$UID_NONROOT" --env PATH=/usr/local/bin:/usr/bin:/bin \
    --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt --workingdir / \
    --label org.opencontainers.image.source=https://github.com/takedown-pipeline/takedown \
    --label "takedown.base.inputs=$3" "$ctr"
  bah commit --quiet --timestamp 0 --rm "$ctr" "$LOCAL_REPO/$name:latest" >/dev/null
}

# The digest by which the images name their base. It is recorded in
# $IMGS/<base>.digest, not in the repository: a base made on this machine
# has this machine's digest (the Debian tree of another day, another CA
# bundle), so a digest committed in git would name an image no other
# machine has. The build reads the file and passes the digest as a build
# argument; users with a registry pass their own (docs/images.md).
digest_file() { echo "$IMGS/$1.digest"; }

# base_digest NAME: the digest the images pin for base NAME: the one made
# here, or with TAKEDOWN_BASE_REGISTRY set to a registry, the one given in
# TAKEDOWN_BASE_STATIC_DIGEST / TAKEDOWN_BASE_HASHER_DIGEST (the registry's
# digest of a pushed base is not the local one: `push` prints it).
remote_bases() { [[ $BASE_REGISTRY != "$LOCAL_REPO" ]]; }
base_digest() {
  local v
  if remote_bases; then
    v=TAKEDOWN_$(tr 'a-z-' 'A-Z_' <<<"$1")_DIGEST
    [[ ${!v:-} == sha256:* ]] || die "with TAKEDOWN_BASE_REGISTRY=$BASE_REGISTRY, set $v to the registry's digest of $1 (scripts/images.sh push prints it)"
    echo "${!v}"
  else
    cat "$(digest_file "$1")"
  fi
}

base_static() {
  local ca=/etc/ssl/certs/ca-certificates.crt inputs tree
  [[ -s $ca ]] || die "no $ca (apt-get install ca-certificates)"
  inputs="recipe=$STATIC_RECIPE ca=$(sha256sum <"$ca" | cut -c1-64)"
  if [[ -z ${TAKEDOWN_IMAGES_REFRESH:-} && -s $(digest_file base-static) ]] &&
    [[ "$(label_of "$LOCAL_REPO/base-static:latest" takedown.base.inputs)" == "$inputs" ]] &&
    [[ "$(cat "$KOCACHE/img/index.json" 2>/dev/null)" == *"$(cat "$(digest_file base-static)")"* ]]; then
    return 0
  fi
  say "making base-static (scratch, CA certificates, user $UID_NONROOT)"
  tree=$(mktemp -d)
  write_users "$tree"
  mkdir -p "$tree/etc/ssl/certs" "$tree/usr"
  cp "$ca" "$tree/etc/ssl/certs/ca-certificates.crt"
  # ko puts the binary at /ko-app/NAME and nowhere else; with this link it is
  # also /usr/local/bin/NAME, the path every image's ENTRYPOINT names.
  mkdir -p "$tree/usr/local" && ln -s ../../ko-app "$tree/usr/local/bin"
  commit_base base-static "$tree" "$inputs"
  rm -rf "$tree"
  # ko reads its base from the OCI layout; the digest it is pushed under is
  # the one the images pin.
  mkdir -p "$KOCACHE"
  bah push --quiet --digestfile "$(digest_file base-static).tmp" "$LOCAL_REPO/base-static:latest" "oci:$KOCACHE/img:base-static"
  mv "$(digest_file base-static).tmp" "$(digest_file base-static)"
  say "base-static: $(cat "$(digest_file base-static)")"
}

# The Debian release of the host: the hasher is linked on the host, against
# the host's libjpeg and glibc, so its base must be the same release.
host_release() {
  # shellcheck disable=SC1091
  (. /etc/os-release && [[ ${ID:-} == debian && -n ${VERSION_CODENAME:-} ]] && echo "$VERSION_CODENAME") ||
    die "the hasher image is made from a debootstrap of the host's Debian release, and this host is not Debian (/etc/os-release)"
}

# A Debian tree (debootstrap minbase) with ffmpeg, libjpeg-turbo and the CA
# certificates, upgraded from the security suite. Only a source of files for
# base-hasher: nothing of it but the files the tools load goes into the image.
debian_tree() {
  local rel=$1
  local dir="$CACHE_ROOT/debian-$rel-ffmpeg"
  if [[ -n ${TAKEDOWN_IMAGES_REFRESH:-} ]]; then
    rm -rf "$dir"
  fi
  [[ -f "$dir/.complete" ]] && { echo "$dir/rootfs"; return 0; }
  rm -rf "$dir" && mkdir -p "$dir"
  local start=$SECONDS
  say "debootstrap --variant=minbase $rel from $MIRROR into $dir (a few minutes, once per machine)"
  debootstrap --variant=minbase "$rel" "$dir/rootfs" "$MIRROR" >"$dir/debootstrap.log" 2>&1 ||
    { tail -n 20 "$dir/debootstrap.log" >&2; die "debootstrap failed (log: $dir/debootstrap.log)"; }
  local security="${MIRROR%/debian}/debian-security"
  cat >"$dir/rootfs/etc/apt/sources.list" <<EOF
deb $MIRROR $rel main
deb $MIRROR $rel-updates main
deb $security $rel-security main
EOF
  say "installing ffmpeg, libjpeg62-turbo and ca-certificates in it"
  chroot "$dir/rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C \
    sh -c 'apt-get update -qq && apt-get upgrade -y -qq && apt-get install -y -qq --no-install-recommends ffmpeg libjpeg62-turbo ca-certificates util-linux coreutils && apt-get clean' \
    >"$dir/apt.log" 2>&1 || { tail -n 20 "$dir/apt.log" >&2; die "apt-get in the Debian tree failed (log: $dir/apt.log)"; }
  date -u +%Y-%m-%dT%H:%M:%SZ >"$dir/.complete"
  say "Debian tree ready in $((SECONDS - start)) s"
  echo "$dir/rootfs"
}

# hasher_tree SRC DST: into DST, the programs the hasher runs (pkg/hashing/video:
# ffmpeg and ffprobe, under prlimit and nice), every shared library they and
# the hasher itself (libjpeg-turbo) load, resolved by the dynamic loader of
# SRC, the CA certificates, and the dpkg status and copyright of each
# package a file came from (so image scanners see the versions; no dpkg).
hasher_tree() {
  local src=$1 dst=$2 f real dir
  local progs=(/usr/bin/ffmpeg /usr/bin/ffprobe /usr/bin/prlimit /usr/bin/nice)
  local jpeg
  jpeg=$(chroot "$src" dpkg -L libjpeg62-turbo | grep '/libjpeg\.so\.62$' | head -n1)
  [[ -n $jpeg ]] || die "no libjpeg.so.62 in libjpeg62-turbo"
  local files
  files=$( {
    printf '%s\n' "${progs[@]}" "$jpeg"
    for f in "${progs[@]}" "$jpeg"; do
      chroot "$src" ldd "$f" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'
      if chroot "$src" ldd "$f" | grep -q 'not found'; then die "$f: a library is not found in the Debian tree"; fi
    done
    # glibc loads libgcc_s at run time (thread cancellation, unwinding), not via DT_NEEDED.
    chroot "$src" sh -c 'ls /usr/lib/*-linux-gnu/libgcc_s.so.1'
  } | sort -u)
  # The merged-/usr links (bin -> usr/bin, lib -> usr/lib, lib64 -> usr/lib64).
  for f in "$src"/*; do
    [[ -L $f ]] && ln -s "$(readlink "$f")" "$dst/$(basename "$f")"
  done
  for f in $files; do
    # Under the file's own name (the soname the loader asks for), in the real
    # directory (/lib/x -> /usr/lib/x), with the content of what it links to
    # (liblapack.so.3 goes through /etc/alternatives).
    dir=$(chroot "$src" readlink -f "$(dirname "$f")")
    real=$(chroot "$src" readlink -f "$f")
    mkdir -p "$dst$dir"
    cp -L --preserve=mode "$src$real" "$dst$dir/$(basename "$f")"
  done
  write_users "$dst"
  mkdir -p "$dst/etc/ssl/certs" "$dst/usr/local/bin"
  cp -L "$src/etc/ssl/certs/ca-certificates.crt" "$dst/etc/ssl/certs/"
  cp -a "$src/etc/ld.so.conf" "$src/etc/ld.so.conf.d" "$dst/etc/"
  ldconfig -r "$dst"
  cp "$src/etc/os-release" "$dst/etc/os-release" 2>/dev/null || cp "$src/usr/lib/os-release" "$dst/etc/os-release"
  # Package records, for scanners and licences.
  local pkgs p
  # By base name: dpkg knows a file by the path its package ships it at,
  # /lib/... or /usr/lib/..., which merged /usr makes the same directory.
  # One pattern per word: no file name here has a space.
  # shellcheck disable=SC2046
  pkgs=$(chroot "$src" dpkg -S $(for f in $files; do echo "*/$(basename "$(chroot "$src" readlink -f "$f")")"; done) 2>/dev/null |
    cut -d: -f1 | tr ',' '\n' | tr -d ' ' | sort -u || true)
  mkdir -p "$dst/var/lib/dpkg/status.d"
  for p in $pkgs ca-certificates; do
    chroot "$src" dpkg -s "$p" >"$dst/var/lib/dpkg/status.d/$p"
    if [[ -f "$src/usr/share/doc/$p/copyright" ]]; then
      mkdir -p "$dst/usr/share/doc/$p" && cp "$src/usr/share/doc/$p/copyright" "$dst/usr/share/doc/$p/"
    fi
  done
}

base_hasher() {
  local rel src inputs tree
  rel=$(host_release)
  src=$(debian_tree "$rel")
  inputs="recipe=$HASHER_RECIPE release=$rel tree=$(cat "$src/../.complete")"
  if [[ -z ${TAKEDOWN_IMAGES_REFRESH:-} && -s $(digest_file base-hasher) ]] &&
    [[ "$(label_of "$LOCAL_REPO/base-hasher:latest" takedown.base.inputs)" == "$inputs" ]] &&
    image_exists "$LOCAL_REPO/base-hasher@$(cat "$(digest_file base-hasher)")"; then
    return 0
  fi
  say "making base-hasher (ffmpeg, ffprobe, prlimit, nice and their libraries from Debian $rel)"
  tree=$(mktemp -d)
  hasher_tree "$src" "$tree"
  commit_base base-hasher "$tree" "$inputs"
  rm -rf "$tree"
  bah images --format '{{.Digest}}' "$LOCAL_REPO/base-hasher:latest" | head -n1 >"$(digest_file base-hasher)"
  say "base-hasher: $(cat "$(digest_file base-hasher)")"
}

bases() {
  base_static
  base_hasher
}

# When the sources were last committed: the images' creation time, so that
# two builds of one commit give the same image.
source_epoch() { git log -1 --format=%ct 2>/dev/null || echo 0; }

# The five pure-Go images with ko, then each imported into buildah's storage
# with its ENTRYPOINT at /usr/local/bin/NAME.
ko_images() {
  build_ko
  local out tar refs
  out=$(mktemp -d)
  tar="$out/images.tar"
  local paths=() static
  static=$(base_digest base-static)
  for e in "${KO_IMAGES[@]}"; do paths+=("./${e#*:}"); done
  say "ko build (CGO_ENABLED=0) ${paths[*]}"
  # .ko.yaml sets CGO_ENABLED=0, -trimpath, -s -w and the platform.
  refs=$(SOURCE_DATE_EPOCH=$(source_epoch) KO_DOCKER_REPO=$LOCAL_REPO/ko \
    KO_DEFAULTBASEIMAGE="$BASE_REGISTRY/base-static@$static" \
    "$KO" build --base-import-paths --push=false --tarball="$tar" --sbom=none --tags=latest "${paths[@]}" 2>"$out/ko.log") ||
    { cat "$out/ko.log" >&2; rm -rf "$out"; die "ko build failed"; }
  local e name dir ref digest img ctr
  for e in "${KO_IMAGES[@]}"; do
    name=${e%%:*} dir=${e#*:}
    ref=$(grep -E "^$LOCAL_REPO/ko/$(basename "$dir")@sha256:" <<<"$refs" | head -n1)
    [[ -n $ref ]] || { rm -rf "$out"; die "ko printed no image for $dir: $refs"; }
    digest=${ref#*@}
    img="$LOCAL_REPO/takedown-$name:$TAG"
    if [[ "$(label_of "$img" takedown.ko.digest)" == "$digest" ]]; then
      say "takedown-$name: unchanged ($digest)"
      continue
    fi
    bah pull --quiet "docker-archive:$tar:$LOCAL_REPO/ko/$(basename "$dir"):latest" >/dev/null
    ctr=$(bah from --pull=never "$LOCAL_REPO/ko/$(basename "$dir"):latest")
    local cfg=(--entrypoint "[\"/usr/local/bin/$name\"]"
      --label "takedown.ko.digest=$digest" --label "takedown.base.digest=$static"
      --label org.opencontainers.image.title="takedown-$name")
    # A service in a container listens on every interface, on the port the
    # chart names (the binaries' own default is 127.0.0.1:808x).
    [[ $name == takedownctl ]] || cfg+=(--env TAKEDOWN_HTTP_ADDR=:8080 --port 8080)
    bah config "${cfg[@]}" "$ctr"
    bah commit --quiet --timestamp "$(source_epoch)" --rm "$ctr" "$img" >/dev/null
    bah rmi "$LOCAL_REPO/ko/$(basename "$dir"):latest" >/dev/null 2>&1 || true
    say "takedown-$name: built"
  done
  rm -rf "$out"
}

# The hasher: built on the host with cgo (libjpeg-turbo), then copied onto
# base-hasher by services/hasher/Dockerfile.
hasher_image() {
  command -v gcc >/dev/null && [[ -e /usr/include/jpeglib.h ]] ||
    die "the hasher image needs cgo with libjpeg-turbo: apt-get install gcc libjpeg62-turbo-dev"
  local ctx=bin/images/hasher-context img="$LOCAL_REPO/takedown-hasher:$TAG" sum base
  mkdir -p "$ctx"
  say "go build (cgo, libjpeg-turbo) ./services/hasher"
  CGO_ENABLED=1 go build -trimpath -ldflags='-s -w' -o "$ctx/hasher" ./services/hasher
  sum=$(sha256sum <"$ctx/hasher" | cut -c1-64)
  base=$(base_digest base-hasher)
  if [[ "$(label_of "$img" takedown.binary.sha256)" == "$sum" && "$(label_of "$img" takedown.base.digest)" == "$base" ]] &&
    [[ "$(label_of "$img" takedown.dockerfile.sha256)" == "$(sha256sum <services/hasher/Dockerfile | cut -c1-64)" ]]; then
    say "takedown-hasher: unchanged"
    return 0
  fi
  local pull=--pull=never
  remote_bases && pull=--pull
  bah bud --quiet --isolation chroot "$pull" --timestamp "$(source_epoch)" \
    --build-arg "BASE_REGISTRY=$BASE_REGISTRY" --build-arg "BASE_DIGEST=$base" \
    --label "takedown.binary.sha256=$sum" --label "takedown.base.digest=$base" \
    --label "takedown.dockerfile.sha256=$(sha256sum <services/hasher/Dockerfile | cut -c1-64)" \
    -f services/hasher/Dockerfile -t "$img" "$ctx" >/dev/null
  say "takedown-hasher: built"
}

build() {
  need_tools
  lock
  local start=$SECONDS
  # With a registry of bases, nothing is made here.
  remote_bases || bases
  ko_images
  hasher_image
  # Images of earlier builds that lost their tag to a newer one.
  bah rmi --prune >/dev/null 2>&1 || true
  say "done in $((SECONDS - start)) s:"
  bah images --filter "reference=$LOCAL_REPO/*" >&2
}

push() {
  local reg=${1:?usage: scripts/images.sh push REGISTRY (e.g. registry.example.com/takedown)} n tmp
  tmp=$(mktemp -d)
  # Credentials: buildah login REGISTRY, or REGISTRY_AUTH_FILE.
  for n in base-static base-hasher takedown-ingest takedown-hasher takedown-matcher takedown-review \
    takedown-enforcer takedown-takedownctl; do
    local tag=$TAG
    [[ $n == base-* ]] && tag=latest
    bah push --quiet --digestfile "$tmp/d" "$LOCAL_REPO/$n:$tag" "docker://$reg/$n:$tag"
    # The registry's digest: the layers are compressed on the way, so it is
    # not the local one. Pin this one (BASE_DIGEST, the chart's image values).
    echo "$reg/$n:$tag@$(cat "$tmp/d")"
  done
  rm -rf "$tmp"
}

case "${1:-}" in
  build) build ;;
  bases) need_tools; lock; bases ;;
  buildah) shift; bah "$@" ;;
  push) shift; push "$@" ;;
  env)
    echo "export TAKEDOWN_IMAGE_REPO=$LOCAL_REPO"
    echo "export TAKEDOWN_IMAGE_TAG=$TAG"
    ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2; exit 2 ;;
esac
