#!/usr/bin/env bash
# Offline Go vulnerability database for govulncheck (make lint).
# Usage: scripts/vulndb.sh [VERSION]   (prints the database directory)
#
# The database is published as the Go module golang.org/x/vulndb, whose
# data/osv holds one OSV file per report; govulncheck -db file://DIR wants the
# v1 layout (index/db.json, index/modules.json, index/vulns.json, ID/<id>.json)
# that the module's own cmd/indexdb builds from those files. Both come through
# the Go module proxy, so no other network access is needed. The result is
# cached in $TAKEDOWN_CACHE (~/.cache/takedown)/vulndb-VERSION and built once.
#
# To update: `GOWORK=off go list -m golang.org/x/vulndb@latest` (in a directory
# outside any module) names the newest pseudo-version; set VULNDB_VERSION in
# the Makefile (and the default below) to it.
set -euo pipefail

VERSION="${1:-${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}}"
CACHE_ROOT="${TAKEDOWN_CACHE:-${HOME:-/root}/.cache/takedown}"
DB="$CACHE_ROOT/vulndb-$VERSION"

say() { echo "vulndb: $*" >&2; }

if [[ -f "$DB/.complete" ]]; then echo "$DB"; exit 0; fi

# Outside the workspace: the database tool's dependencies are not ours.
export GOWORK=off GOFLAGS=-mod=mod
scratch="$(mktemp -d)"
tmp=""
cleanup() { rm -rf "$scratch"; [[ -z "$tmp" ]] || rm -rf "$tmp"; }
trap cleanup EXIT
cd "$scratch"

say "downloading golang.org/x/vulndb@$VERSION"
field() { sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}$/\1/p" <<<"$info" | head -n1; }
info="$(go mod download -json "golang.org/x/vulndb@$VERSION")" ||
  { say "go mod download golang.org/x/vulndb@$VERSION failed: $(field Error)"; exit 1; }
src="$(field Dir)"
infofile="$(field Info)"
[[ -d "$src/data/osv" ]] || { say "no data/osv in $src"; exit 1; }
osv_count=$(find "$src/data/osv" -name '*.json' | wc -l)

mkdir -p "$CACHE_ROOT"
tmp="$(mktemp -d "$CACHE_ROOT/vulndb-$VERSION.tmp.XXXXXX")"
say "indexing $osv_count OSV reports into $DB (cmd/indexdb)"
go run "golang.org/x/vulndb/cmd/indexdb@$VERSION" -vulns "$src/data/osv" -out "$tmp/db" >&2

# The OSV files in the repository carry no modified time (the published
# database sets it), so db.json would say 0001-01-01 and govulncheck would
# report that as the database's date; the commit time of the module version
# is when this copy was last modified.
when="$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$infofile")"
if [[ -n "$when" ]]; then
  printf '{"modified":"%s"}' "$when" >"$tmp/db/index/db.json"
  gzip -c -n "$tmp/db/index/db.json" >"$tmp/db/index/db.json.gz"
fi

for f in index/db.json index/modules.json index/vulns.json; do
  [[ -s "$tmp/db/$f" ]] || { say "indexdb wrote no $f"; exit 1; }
done
ids=$(find "$tmp/db/ID" -name '*.json' | wc -l)
[[ "$ids" -eq "$osv_count" ]] || { say "indexdb wrote $ids of $osv_count reports"; exit 1; }

# Marked complete only once every step succeeded. A build that finished
# meanwhile (another make lint) is kept; a leftover of a failed one is not.
if [[ ! -f "$DB/.complete" ]]; then
  rm -rf "$DB"
  mv "$tmp/db" "$DB" && touch "$DB/.complete"
fi
say "database of $when ready: $DB"
echo "$DB"
