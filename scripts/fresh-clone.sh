#!/usr/bin/env bash
# The check a new user's first minutes make: clone the repository's HEAD into an empty directory (nothing
# beside it: no ../shared, no node_modules, no built image) and run the README's two commands there:
#   npm install && npm start   the relay comes up on the seed; the README's swaks example is delivered
#   npm install && npm test    every tier passes (KUBEMTA_FRESH_CLONE=1: without this check, no recursion)
# The clone and everything the commands started are removed at the end, also when a step fails.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
PATH="$repo/node_modules/.bin:$PATH"; export PATH
dir=$(mktemp -d /tmp/kubemta-fresh.XXXXXX)
start_pid=""
# stop_start: TERM to npm start's process group (npm, the shell, the relay), KILL after 15 s
stop_start() {
  [ -n "$start_pid" ] || return 0
  kill -TERM -- "-$start_pid" 2>/dev/null || true
  for _ in $(seq 150); do kill -0 -- "-$start_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$start_pid" 2>/dev/null || true
  start_pid=""
}
cleanup() {
  stop_start
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$(date +%s)
git clone -q "$repo" "$dir/kubemta"
cd "$dir/kubemta"
[ ! -e ../shared ] || { echo "fresh-clone: $dir has a shared/ beside the clone" >&2; exit 1; }
echo "fresh-clone: $(git log --oneline -1) in $dir/kubemta"

echo "fresh-clone: npm install && npm start"
npm install --no-audit --no-fund >"$dir/install.log" 2>&1 || { tail -20 "$dir/install.log" >&2; exit 1; }
# its own process group, so that the relay (and an operator, when a cluster is up) stop with it;
# no KUBECONFIG: the README's relay alone
env -u KUBECONFIG KUBEMTA_START_CLUSTER=0 setsid npm start >"$dir/start.log" 2>&1 &
start_pid=$!
ready=""
for _ in $(seq 300); do
  if grep -q '"msg":"relay ready"' "$dir/start.log" 2>/dev/null; then ready=1; break; fi
  kill -0 "$start_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$ready" ] || { tail -30 "$dir/start.log" >&2; echo "fresh-clone: npm start did not bring the relay up" >&2; exit 1; }
# the README's example, word for word
swaks --server 127.0.0.1:2587 -tls --auth-user max --auth-password demo-password --from max@example.org --to moritz@example.net \
  >"$dir/swaks.log" 2>&1 || { cat "$dir/swaks.log" >&2; echo "fresh-clone: the README's swaks example failed" >&2; exit 1; }
grep -q '250 2.0.0 Ok: queued as' "$dir/swaks.log" || { cat "$dir/swaks.log" >&2; exit 1; }
mbox=examples/seed/state/mail/mbox/moritz
for _ in $(seq 100); do [ -s "$mbox" ] && break; sleep 0.1; done
grep -q '^From: max@example.org' "$mbox" || { echo "fresh-clone: the mail did not reach $mbox" >&2; exit 1; }
stop_start
echo "fresh-clone: npm start: relay up, the README's swaks mail delivered to $mbox ($(( $(date +%s) - t0 )) s)"

echo "fresh-clone: npm install && npm test"
npm install --no-audit --no-fund >"$dir/install2.log" 2>&1 || { tail -20 "$dir/install2.log" >&2; exit 1; }
KUBEMTA_FRESH_CLONE=1 npm test
echo "fresh-clone: passed in $(( $(date +%s) - t0 )) s"
