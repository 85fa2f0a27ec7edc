#!/usr/bin/env bash
# Every example config in docs/configs must pass --check-config (copied to a
# private file first: the examples hold secrets, and git does not keep modes).
set -euo pipefail
CP=$1; DIR=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
rc=0
for f in "$DIR"/*.toml; do
  install -m 600 "$f" "$tmp/$(basename "$f")"
  "$CP" --config "$tmp/$(basename "$f")" --check-config || rc=1
done
exit $rc
