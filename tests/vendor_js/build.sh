#!/bin/sh
# Rebuilds escrow/static/vendor/noble.js and its LICENSE texts from the versions pinned in
# package-lock.json (docs/disclosure.md, "Opening in the browser"). Byte for byte reproducible:
#   sh tests/vendor_js/build.sh && git diff --exit-code escrow/static/vendor/
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../../escrow/static/vendor"
cd "$here"
npm ci --no-audit --no-fund --ignore-scripts >/dev/null
mkdir -p "$out"
./node_modules/.bin/esbuild entry.js --bundle --format=esm --platform=browser --target=es2022 \
  --legal-comments=none --charset=utf8 \
  --banner:js="// Built by tests/vendor_js/build.sh from @noble/curves, @noble/hashes and @noble/ciphers 2.4.0 (MIT, LICENSE-noble-*.txt beside this file). Do not edit." --log-level=warning --outfile="$out/noble.js"
for package in curves hashes ciphers; do
  cp "node_modules/@noble/$package/LICENSE" "$out/LICENSE-noble-$package.txt"
done
