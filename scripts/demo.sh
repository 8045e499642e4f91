#!/usr/bin/env bash
# The main job on embedded defaults: a federation of three provinces is set up with `huren-keys` ceremonies
# (threshold 2 of 3); each province starts its issuer service (SQLite, a loopback port) and issues a credential
# through its HTTP API; a checkpoint in every province, provisioned with the federation root alone, syncs the
# trust bundle from a mirror over HTTP and then verifies every province's code from its QR image, offline. Prints
# a table, then a forged and a stale case with their codes, and shuts the services down. Nothing but loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${HUREN_DEMO_DIR:-demo-out}"
rm -rf "$out"
mkdir -p "$out"

# The first build takes a few minutes on two cores: cargo shows its progress.
echo "== 0. Building the four binaries (huren-keys, huren-issuer, huren-verifier, huren-wallet)"
cargo build --bin huren-keys --bin huren-issuer --bin huren-verifier --bin huren-wallet
bin="${CARGO_TARGET_DIR:-target}/debug"
keys="$bin/huren-keys"
issuer="$bin/huren-issuer"
verifier="$bin/huren-verifier"
wallet="$bin/huren-wallet"
provinces=(CN-GD CN-HB CN-SH)
names=(张三丰 李小龙 王五六)
ids=('4403**********1234' '4201**********567X' '3101**********0042')
q() { "$@" > /dev/null; }

echo "== 1. Each province makes its root key (offline) and an issuer key"
for p in "${provinces[@]}"; do
  "$keys" keygen --out "$out/$p/root"
  "$keys" keygen --out "$out/$p/issuer-key"
done

echo
echo "== 2. The federation root: proposed, co-signed by 2 of 3 members (one signature file each), combined"
members=()
for p in "${provinces[@]}"; do members+=(--member "$p=$out/$p/root.pub.der"); done
"$keys" propose --version 1 --threshold 2 "${members[@]}" --out "$out/root-v1.proposal"
"$keys" sign --proposal "$out/root-v1.proposal" --key "$out/CN-GD/root.key.pem" --out "$out/CN-GD.sig"
"$keys" sign --proposal "$out/root-v1.proposal" --key "$out/CN-SH/root.key.pem" --out "$out/CN-SH.sig"
"$keys" combine --proposal "$out/root-v1.proposal" --sig "$out/CN-GD.sig" --sig "$out/CN-SH.sig" --out "$out/root-v1.cose"

# Each issuer service gets a loopback port now, so that its province bundle can say where its status list lives.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ports=()
for p in "${provinces[@]}"; do ports+=("$(free_port)"); done

echo
echo "== 3. Each province certifies its issuer key and signs its province bundle; anyone assembles the trust bundle"
bundles=()
for i in "${!provinces[@]}"; do
  p=${provinces[$i]}
  "$keys" certify --root-key "$out/$p/root.key.pem" --province "$p" --key "$out/$p/issuer-key.pub.der" \
    --out "$out/$p/issuer.cert"
  "$keys" bundle --root-key "$out/$p/root.key.pem" --province "$p" --version 1 \
    --cert "$out/$p/issuer.cert" --status-list "1=http://127.0.0.1:${ports[$i]}/v1/status/1" --out "$out/$p.bundle"
  bundles+=(--bundle "$out/$p.bundle")
done
"$keys" assemble --root "$out/root-v1.cose" "${bundles[@]}" --out "$out/trust-bundle.cbor"

echo
echo "== 4. Each province's issuer service (holding only its issuer key; SQLite) starts on a loopback port"
servers=()
urls=()
stop_servers() { for pid in "${servers[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done; }
trap stop_servers EXIT
for i in "${!provinces[@]}"; do
  p=${provinces[$i]}
  q "$issuer" init --province "$p" --dir "$out/$p/issuer" --issuer-key "$out/$p/issuer-key.key.pem" \
    --certificate "$out/$p/issuer.cert" --root-pub "$out/$p/root.pub.der" 2>/dev/null
  "$issuer" tokens create --dir "$out/$p/issuer" --role issuer > "$out/$p/token" 2>/dev/null
  "$issuer" tokens create --dir "$out/$p/issuer" --role revoker > "$out/$p/revoker-token" 2>/dev/null
  : > "$out/$p/serve.log" # exists before the service writes to it, so the wait below never reads a missing file
  "$issuer" serve --dir "$out/$p/issuer" --listen "127.0.0.1:${ports[$i]}" --trust-bundle "$out/trust-bundle.cbor" \
    --province-bundle "$out/$p.bundle" --status-interval-seconds 1 2> "$out/$p/serve.log" &
  servers+=($!)
  url=""
  for _ in $(seq 1 100); do
    url=$(sed -n 's/.*serving on \(http:[^ ]*\).*/\1/p' "$out/$p/serve.log" | head -1)
    [ -n "$url" ] && break
    sleep 0.1
  done
  [ -n "$url" ] || { echo "the $p issuer did not start:" >&2; cat "$out/$p/serve.log" >&2; exit 1; }
  urls+=("$url")
  echo "$p issuer: $url (health: $(curl -fsS "$url/healthz"), ready: $(curl -fsS "$url/readyz"))"
done

echo
echo "== 5. Each province issues a green health status through its HTTP API and fetches the QR image"
for i in "${!provinces[@]}"; do
  p=${provinces[$i]}
  url=${urls[$i]}
  request="{\"subject\": {\"name\": \"${names[$i]}\", \"masked_id\": \"${ids[$i]}\"},
    \"body\": {\"type\": \"health-status\", \"colour\": \"green\", \"reason\": \"no-risk\"}, \"valid_for_hours\": 168}"
  answer=$(curl -fsS -H "Authorization: Bearer $(cat "$out/$p/token")" -H 'Content-Type: application/json' \
    -H "Idempotency-Key: demo-$p" -d "$request" "$url/v1/credentials")
  id=$(echo "$answer" | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p')
  echo "$answer" | sed -n 's/.*"qr_text":"\([^"]*\)".*/\1/p' > "$out/$p.txt"
  curl -fsS -H "Authorization: Bearer $(cat "$out/$p/token")" "$url/v1/credentials/$id/qr.png" -o "$out/$p.png"
  echo "$id" > "$out/$p.id"
  echo "$p issued credential $id ($(wc -c < "$out/$p.txt") characters of QR text) -> $out/$p.png"
done
# Each service publishes its status list within its interval (1 s here; 60 s by default).
for url in "${urls[@]}"; do
  for _ in $(seq 1 50); do curl -fsS -o /dev/null "$url/v1/status/1" 2>/dev/null && break; sleep 0.1; done
done

echo
echo "== 6. A checkpoint in each province: provisioned with the federation root alone, then synced over HTTP"
echo "      from a mirror of the trust bundle (the CN-GD issuer; any mirror will do, every part is signed),"
echo "      then every province's status list from where its bundle says"
for c in "${provinces[@]}"; do
  q "$verifier" trust provision "$out/root-v1.cose" --store "$out/checkpoint-$c/store.cbor"
  "$verifier" sync --from "${urls[0]}/v1/trust-bundle" --store "$out/checkpoint-$c/store.cbor"
done
"$verifier" trust status --store "$out/checkpoint-CN-HB/store.cbor"

code_of() { # verify at a checkpoint, print the answer's code
  local store=$1; shift
  "$verifier" verify --json --store "$store" "$@" 2>/dev/null | sed -n 's/.*"code":"\([A-Z_]*\)".*/\1/p' | head -1 || true
}

echo
echo "== 7. Every province's QR image checked at every province's checkpoint"
printf '%-26s' "issued in \\ checked in"
for c in "${provinces[@]}"; do printf '%-12s' "$c"; done
echo
failures=0
for p in "${provinces[@]}"; do
  printf '%-26s' "$p"
  for c in "${provinces[@]}"; do
    answer=$(code_of "$out/checkpoint-$c/store.cbor" "$out/$p.png")
    printf '%-12s' "$answer"
    [ "$answer" = "OK" ] || failures=$((failures + 1))
  done
  echo
done

echo
echo "== 8. A forged code and a stale checkpoint"
text=$(cat "$out/CN-GD.txt")
forged="${text:0:${#text}-7}$( [ "${text:${#text}-7:1}" = "0" ] && echo 1 || echo 0 )${text:${#text}-6}"
forged_code=$(code_of "$out/checkpoint-CN-HB/store.cbor" "$forged")
printf '%-60s %s\n' "CN-GD code with one character changed, at CN-HB:" "$forged_code"
stale_at=$(date -u -d '+15 days' +%Y-%m-%dT%H:%M:%SZ)
stale_code=$(code_of "$out/checkpoint-CN-SH/store.cbor" --at "$stale_at" "$out/CN-HB.png")
printf '%-60s %s\n' "CN-HB code at a CN-SH checkpoint offline for 15 days:" "$stale_code"

echo
echo "== 9. CN-HB revokes its credential; the CN-SH checkpoint syncs (a small delta) and refuses it, offline;"
echo "      the CN-GD checkpoint, not synced since, does not know yet"
hb_url=${urls[1]}
curl -fsS -H "Authorization: Bearer $(cat "$out/CN-HB/revoker-token")" -H 'Content-Type: application/json' \
  -d '{"reason": "reported stolen"}' "$hb_url/v1/credentials/$(cat "$out/CN-HB.id")/revoke" > /dev/null
for _ in $(seq 1 50); do
  [ "$(curl -fsS -o /dev/null -w '%header{etag}' "$hb_url/v1/status/1")" = '"2"' ] && break
  sleep 0.1
done
"$verifier" sync --from "${urls[0]}/v1/trust-bundle" --store "$out/checkpoint-CN-SH/store.cbor" | grep CN-HB
revoked_code=$(code_of "$out/checkpoint-CN-SH/store.cbor" "$out/CN-HB.png")
unsynced_code=$(code_of "$out/checkpoint-CN-GD/store.cbor" "$out/CN-HB.png")
printf '%-60s %s\n' "CN-HB code at the CN-SH checkpoint after its sync:" "$revoked_code"
printf '%-60s %s\n' "CN-HB code at the CN-GD checkpoint (not synced since):" "$unsynced_code"
[ "$revoked_code" = "REVOKED" ] || failures=$((failures + 1))

echo
echo "== 10. A resident's wallet: CN-GD binds a credential to the wallet's device key and sends a claim link; the"
echo "       wallet redeems it (once), shows a dynamic code that changes every 30 s; the CN-HB checkpoint accepts"
echo "       it, and refuses the static code (what a screenshot of an old code amounts to)"
export HUREN_WALLET_PASSPHRASE="demo passphrase"
w=(--wallet "$out/resident/wallet.hrw")
mkdir -p "$out/resident"
"$wallet" "${w[@]}" device-key --out "$out/resident/device.key"
device_hex=$(od -An -tx1 -v "$out/resident/device.key" | tr -d ' \n')
gd_url=${urls[0]}
bound=$(curl -fsS -H "Authorization: Bearer $(cat "$out/CN-GD/token")" -H 'Content-Type: application/json' \
  -d "{\"subject\": {\"name\": \"${names[0]}\", \"masked_id\": \"${ids[0]}\"}, \"body\": {\"type\": \"health-status\",
       \"colour\": \"green\", \"reason\": \"no-risk\"}, \"valid_for_hours\": 24, \"holder_key\": \"$device_hex\"}" \
  "$gd_url/v1/credentials")
bound_id=$(echo "$bound" | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p')
bound_static=$(echo "$bound" | sed -n 's/.*"qr_text":"\([^"]*\)".*/\1/p')
claim=$(curl -fsS -X POST -H "Authorization: Bearer $(cat "$out/CN-GD/token")" "$gd_url/v1/credentials/$bound_id/claim-link" |
  sed -n 's/.*"path":"\([^"]*\)".*/\1/p')
"$wallet" "${w[@]}" import --trust "$out/checkpoint-CN-GD/store.cbor" --claim "$gd_url$claim"
if "$wallet" "${w[@]}" import --trust "$out/checkpoint-CN-GD/store.cbor" --claim "$gd_url$claim" 2> "$out/resident/again.err"; then
  echo "a claim link was redeemed twice" >&2; failures=$((failures + 1))
fi
echo "second redemption of the claim link: $(cat "$out/resident/again.err")"
"$wallet" "${w[@]}" list
"$wallet" "${w[@]}" present --png "$out/resident/dynamic.png" > "$out/resident/dynamic.txt"
echo "dynamic code: $(wc -c < "$out/resident/dynamic.txt") characters of QR text -> $out/resident/dynamic.png"
dynamic_code=$(code_of "$out/checkpoint-CN-HB/store.cbor" "$out/resident/dynamic.png")
static_code=$(code_of "$out/checkpoint-CN-HB/store.cbor" "$bound_static")
printf '%-60s %s\n' "the wallet's dynamic code (image) at the CN-HB checkpoint:" "$dynamic_code"
printf '%-60s %s\n' "the same credential's static code at the CN-HB checkpoint:" "$static_code"
[ "$dynamic_code" = "OK" ] || failures=$((failures + 1))
[ "$static_code" = "PRESENTATION_REQUIRED" ] || failures=$((failures + 1))

echo
echo "== 11. The CN-SH checkpoint's kiosk (huren-verifier serve: the camera page, and a JSON API for gates)"
kiosk_port=$(free_port)
"$verifier" serve --store "$out/checkpoint-CN-SH/store.cbor" --listen "127.0.0.1:$kiosk_port" \
  --log "$out/checkpoint-CN-SH/outcomes.jsonl" > "$out/kiosk.out" &
kiosk_pid=$!
trap 'stop_servers; kill -TERM "$kiosk_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do grep -q "kiosk on" "$out/kiosk.out" 2>/dev/null && break; sleep 0.1; done
cat "$out/kiosk.out"
verdict_of() { # POST an image to the kiosk's API, print "verdict code"
  curl -fsS -H 'Content-Type: image/png' --data-binary "@$1" "http://127.0.0.1:$kiosk_port/api/verify" |
    sed -n 's/.*"code":"\([A-Z_]*\)".*"verdict":"\([a-z]*\)".*/\2 \1/p'
}
gd_verdict=$(verdict_of "$out/CN-GD.png")
hb_verdict=$(verdict_of "$out/CN-HB.png")
printf '%-60s %s\n' "gate asks the kiosk about the CN-GD code:" "$gd_verdict"
printf '%-60s %s\n' "gate asks the kiosk about the revoked CN-HB code:" "$hb_verdict"
[ "$gd_verdict" = "green OK" ] || failures=$((failures + 1))
[ "$hb_verdict" = "red REVOKED" ] || failures=$((failures + 1))
echo "the kiosk's outcome log (time, code, issuer; nothing else):"
cat "$out/checkpoint-CN-SH/outcomes.jsonl"
kill -TERM "$kiosk_pid"
wait "$kiosk_pid" || { echo "the kiosk exited badly" >&2; failures=$((failures + 1)); }
trap stop_servers EXIT

echo
echo "== 12. The issuer services shut down cleanly (SIGTERM: in-flight requests finish, exit status 0)"
trap - EXIT
for i in "${!provinces[@]}"; do
  kill -TERM "${servers[$i]}"
  if wait "${servers[$i]}"; then echo "${provinces[$i]} issuer stopped"; else echo "${provinces[$i]} issuer exited badly" >&2; failures=$((failures + 1)); fi
done
"$issuer" audit verify --dir "$out/CN-GD/issuer"

if [ "$failures" -ne 0 ] || [ "$forged_code" = "OK" ] || [ "$stale_code" != "TRUST_STORE_STALE" ]; then
  echo "demo FAILED: $failures cross-province checks not OK, forged=$forged_code, stale=$stale_code" >&2
  exit 1
fi
echo
echo "demo finished: 9 of 9 cross-province checks OK; forged, stale and revoked codes refused; a wallet's dynamic code accepted and its static form refused; the kiosk answered a gate; services stopped; files in $out/"
