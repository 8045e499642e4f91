#!/usr/bin/env bash
# The main job on embedded defaults: a province is set up, issues a credential, renders its QR image, and an
# offline verifier checks the image and prints its answer. No network, no external service.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${HUREN_DEMO_DIR:-demo-out}"
rm -rf "$out"
mkdir -p "$out"

cargo build --quiet --bin huren-issuer --bin huren-verifier
bin="${CARGO_TARGET_DIR:-target}/debug"

echo "== 1. Guangdong sets up its province (root key, issuer key + certificate, trust file)"
"$bin/huren-issuer" init --province CN-GD --dir "$out/CN-GD"

echo
echo "== 2. Guangdong issues a green health status to 张三丰 and renders the QR code"
"$bin/huren-issuer" issue --dir "$out/CN-GD" --name 张三丰 --pinyin "ZHANG Sanfeng" --id '4403**********1234' \
  --colour green --reason no-risk --valid-hours 168 --png "$out/code.png" --svg "$out/code.svg" > "$out/code.txt"
echo "QR text ($(wc -c < "$out/code.txt") chars): $(cat "$out/code.txt")"
echo "QR image: $out/code.png"

echo
echo "== 3. A checkpoint verifier, offline, reads the image and checks it against the trust file"
"$bin/huren-verifier" verify --trust "$out/CN-GD/trust.cbor" "$out/code.png"

echo
echo "== 4. The same code a week and a day later is refused"
set +e
"$bin/huren-verifier" verify --trust "$out/CN-GD/trust.cbor" \
  --at "$(date -u -d '+8 days' +%Y-%m-%dT%H:%M:%SZ)" "$out/code.png"
status=$?
set -e
if [ "$status" -ne 1 ]; then
  echo "expected the expired code to be refused with exit status 1, got $status" >&2
  exit 1
fi
echo
echo "demo finished: files in $out/"
