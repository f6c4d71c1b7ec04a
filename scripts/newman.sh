#!/usr/bin/env bash
# Runs the Postman collection (docs/vigil.postman_collection.json) with newman against a real,
# listening Vigil: a fresh server on a free port, on embedded PGlite in a temporary DATA_DIR,
# started as `npm start` starts it, with a bootstrap admin. Stops the server with SIGTERM and
# exits with newman's status. The last line is always `newman: N passed, M failed`, counting
# assertions; a script or request error that kept assertions from running counts as a failure,
# and a run that could not happen at all is reported as one failure, so the line never reads
# green when nothing was checked.
#
# Usage: scripts/newman.sh [extra newman options, e.g. --bail]
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

work=''
server_pid=''
summary_printed=''

summary() {
  [ -n "$summary_printed" ] && return
  summary_printed=1
  echo "newman: $1 passed, $2 failed"
}

cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  fi
  [ -n "$work" ] && rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail_to_run() {
  echo "newman.sh: $1" >&2
  if [ -n "$work" ] && [ -s "$work/server.log" ]; then
    echo '--- last lines of the server log ---' >&2
    tail -n 40 "$work/server.log" >&2
  fi
  summary 0 1
  exit 1
}

work="$(mktemp -d "${TMPDIR:-/tmp}/vigil-newman.XXXXXX")" || fail_to_run 'could not create a temporary directory'

# A free port: bind to port 0 and read back what the kernel chose.
port="$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")" ||
  fail_to_run 'could not find a free port'
base="http://127.0.0.1:$port"
admin_user='newman-admin'
# Fresh secrets per run; nothing here is a credential anyone else holds.
admin_password="$(node -e "console.log(require('crypto').randomBytes(18).toString('base64url'))")"
jwt_secret="$(node -e "console.log(require('crypto').randomBytes(48).toString('base64url'))")"

# Compiled, as `npm start` runs it.
npm run -s build

# DATABASE_URL is unset so the server runs on embedded PGlite in the temporary DATA_DIR.
env -u DATABASE_URL \
  NODE_ENV=production \
  HOST=127.0.0.1 \
  PORT="$port" \
  DATA_DIR="$work/data" \
  JWT_SECRET="$jwt_secret" \
  ADMIN_USERNAME="$admin_user" \
  ADMIN_PASSWORD="$admin_password" \
  LOG_LEVEL=warn \
  node $(node -p "require('./package.json').config.node_flags") dist/src/server.js >"$work/server.log" 2>&1 &
server_pid=$!

# Wait for liveness (the first start applies migrations to the new data directory).
ready=''
for _ in $(seq 1 300); do
  kill -0 "$server_pid" 2>/dev/null || fail_to_run 'the server exited during start-up'
  if curl -fsS -o /dev/null --max-time 2 "$base/health/live" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.2
done
[ -n "$ready" ] || fail_to_run "the server did not answer $base/health/live within 60 seconds"
echo "newman.sh: Vigil is listening on $base (PGlite in $work/data)"

report="$work/newman.json"
npx --no-install newman run docs/vigil.postman_collection.json \
  --env-var "baseUrl=$base" \
  --env-var "adminUser=$admin_user" \
  --env-var "adminPassword=$admin_password" \
  --reporters cli,json \
  --reporter-json-export "$report" \
  "$@"
newman_status=$?

kill -TERM "$server_pid" 2>/dev/null
wait "$server_pid"
server_status=$?
server_pid=''
if [ "$server_status" -ne 0 ]; then
  echo "newman.sh: warning: the server exited with status $server_status after SIGTERM" >&2
  tail -n 40 "$work/server.log" >&2
fi

[ -s "$report" ] || fail_to_run 'newman wrote no report'
counts="$(node -e '
  const run = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).run
  const a = run.stats.assertions
  // Failures that are not failed assertions: script errors, requests that got no response.
  const other = run.failures.filter((f) => f.error && f.error.name !== "AssertionError").length
  console.log(`${a.total - a.failed - a.pending} ${a.failed + other}`)
' "$report")" || fail_to_run 'could not read the newman report'
read -r passed failed <<<"$counts"

summary "$passed" "$failed"
# A non-zero newman status with no counted failure (e.g. a bad option) still fails the run.
exit "$newman_status"
