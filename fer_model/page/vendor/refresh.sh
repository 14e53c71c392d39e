#!/usr/bin/env bash
# Refreshes page/vendor/onnxruntime-web from the npm registry (npm pack), at the pinned version in
# its VERSION file or the one given, and rewrites SHA256SUMS:
#     bash page/vendor/refresh.sh           # the pinned version again
#     bash page/vendor/refresh.sh 1.31.1    # another version (then run the tests)
# Only the WebAssembly build the page uses is kept: the ES module, its loader and its .wasm.
set -euo pipefail
dest="$(cd "$(dirname "$0")" && pwd)/onnxruntime-web"
version="${1:-$(cat "$dest/VERSION")}"
files=(ort.wasm.min.mjs ort-wasm-simd-threaded.mjs ort-wasm-simd-threaded.wasm)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "onnxruntime-web@$version" >/dev/null && tar xzf onnxruntime-web-*.tgz)
for name in "${files[@]}"; do cp "$work/package/dist/$name" "$dest/$name"; done
echo "$version" > "$dest/VERSION"
(cd "$dest" && sha256sum "${files[@]}" > SHA256SUMS)
echo "onnxruntime-web $version in $dest"
