#!/usr/bin/env bash
# Vendors hls.js into web/vendor/hls/ (livesale serves it under /static/vendor/hls/; no CDN).
#
# The version is pinned in scripts/vendor/package.json and package-lock.json; `npm ci` fetches
# exactly that from the npm registry (integrity-checked against the lock). Copied: the light ES
# module build (LL-HLS, no subtitles/alternate audio/DRM, which the viewer page does not use),
# its LICENSE (Apache-2.0), and a README naming the version, the source and the file's sha256.
# The files are committed; run this again after bumping the version, then commit what changed
# (web/vendor/hls/VERSION is compiled into the server: the page asks for ?v=<version>, so the
# long cache of /static/vendor/ never serves an old copy).
#
#   scripts/vendor-hls.sh            # fetch and copy
#   scripts/vendor-hls.sh --check    # fail if web/vendor/hls/ differs from the pinned package
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
pkg="$root/scripts/vendor"
out="$root/web/vendor/hls"
file="hls.light.min.mjs"

(cd "$pkg" && npm ci --ignore-scripts --no-audit --no-fund >&2)
src="$pkg/node_modules/hls.js"
version="$(node -p "require('$src/package.json').version")"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
cp "$src/dist/$file" "$stage/hls.mjs"
# The source map is not vendored: drop the comment that points at it.
sed -i '/^\/\/# sourceMappingURL=/d' "$stage/hls.mjs"
cp "$src/LICENSE" "$stage/LICENSE"
printf '%s\n' "$version" > "$stage/VERSION"
sum="$(sha256sum "$stage/hls.mjs" | cut -d' ' -f1)"
cat > "$stage/README.md" <<README
# hls.js $version (vendored)

- What: \`dist/$file\` of the npm package [hls.js](https://github.com/video-dev/hls.js)
  $version, as \`hls.mjs\` (an ES module; its source-map comment removed).
- Licence: Apache License 2.0, Copyright (c) 2017 Dailymotion (the package's LICENSE file,
  copied beside it).
- sha256 of hls.mjs: \`$sum\`
- How: \`scripts/vendor-hls.sh\` (pinned in scripts/vendor/package.json and its lock). Do not
  edit these files by hand.
- Used by: web/js/feature/hls.js (the viewer page's LL-HLS player), served by livesale under
  /static/vendor/hls/ with a long cache.
README

if [[ "${1:-}" == "--check" ]]; then
  diff -r "$stage" "$out" >&2 || { echo "web/vendor/hls/ is not hls.js $version: run scripts/vendor-hls.sh" >&2; exit 1; }
  echo "web/vendor/hls/ is hls.js $version" >&2
  exit 0
fi
mkdir -p "$out"
rm -f "$out"/*
cp "$stage"/* "$out"/
echo "web/vendor/hls/: hls.js $version ($file, sha256 $sum)" >&2
