#!/bin/sh
# `npm run cluster`: the project's local cluster with a node (e2e/cluster/cluster.sh up --with-node; the
# first run builds it, ~6 min, cached after), the kubemta image built (`npm run image`) and imported into
# the node, so that the README's "Install in a cluster" commands work here as written. Idempotent. Then:
#   eval "$(e2e/cluster/cluster.sh env)"     # KUBECONFIG, and helm + kubectl on PATH
set -eu
cd "$(dirname "$0")/.."
PATH="$PWD/node_modules/.bin:$PATH"; export PATH
e2e/cluster/cluster.sh up --with-node >/dev/null
node --disable-warning=ExperimentalWarning image/build.ts --quiet
e2e/cluster/cluster.sh load image/out/kubemta-image.tar >/dev/null
echo "cluster: up, with the kubemta image on its node. Use it with:" >&2
echo "  eval \"\$(e2e/cluster/cluster.sh env)\"" >&2
e2e/cluster/cluster.sh env
