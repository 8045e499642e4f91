#!/usr/bin/env bash
# The README's test command: make sure everything the tests need is here and running, then run the whole suite.
#
#   bash scripts/test.sh [cargo test arguments...]   # e.g. bash scripts/test.sh -p huren-verifier
#
# Prerequisites it installs (Debian packages, as root) or starts when missing:
#   - PostgreSQL answering on 127.0.0.1:5432 with trust auth and a database `test` (the issuer's storage suite runs
#     against SQLite and PostgreSQL for real; override with HUREN_TEST_DATABASE_URL);
#   - Chromium, chromedriver and a CJK font (the kiosk's browser test, with a fake camera);
#   - OpenSSL's command-line tool and Python's `cryptography` (key files must be readable by standard tools; the
#     EU DCC tests make signer certificates with openssl);
#   - Node.js (it runs the wasm build in the differential test) and the web build itself (scripts/build-web.sh:
#     the wasm32 target, clang, wasm-bindgen-cli), built before the tests so it does not compete with them.
# .ci/run calls this script, so CI checks exactly what the README promises.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1 \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }
}

echo "== test prerequisites"
pg_url="${HUREN_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  echo "PostgreSQL does not answer on 127.0.0.1:5432: installing (if needed) and starting it"
  command -v pg_ctlcluster >/dev/null 2>&1 || apt_install postgresql
  cluster=$(ls /etc/postgresql | sort -V | tail -1)
  hba="/etc/postgresql/$cluster/main/pg_hba.conf"
  grep -q '^host all all 127.0.0.1/32 trust' "$hba" || sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  pg_ctlcluster --skip-systemctl-redirect "$cluster" main start \
    || pg_ctlcluster --skip-systemctl-redirect "$cluster" main reload
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
if [ -z "${HUREN_TEST_DATABASE_URL:-}" ]; then
  su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname = 'test'\"" 2>/dev/null | grep -q 1 \
    || su postgres -c "createdb test" 2>/dev/null || true
fi
pg_isready -h 127.0.0.1 -p 5432
export HUREN_TEST_DATABASE_URL="$pg_url"

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1 \
  || ! fc-list 2>/dev/null | grep -qi wenquanyi; then
  echo "installing Chromium, chromedriver and a CJK font (Debian packages)"
  apt_install chromium chromium-driver fonts-wqy-microhei
fi
chromium --version 2>/dev/null | head -1
command -v openssl >/dev/null 2>&1 || { echo "installing OpenSSL's command-line tool"; apt_install openssl; }
openssl version
if ! python3 -c 'import cryptography' 2>/dev/null; then
  echo "installing Python's cryptography package"
  apt_install python3-cryptography || true
  python3 -c 'import cryptography' 2>/dev/null || python3 -m pip install --quiet cryptography
fi
python3 -c 'import cryptography; print("python cryptography", cryptography.__version__)'

command -v node >/dev/null 2>&1 || { echo "installing Node.js"; apt_install nodejs; }
echo "node $(node --version)"
echo "== the web engine (scripts/build-web.sh)"
bash scripts/build-web.sh

echo "== tests: cargo test --workspace $*"
cargo test --workspace "$@"
