#!/bin/sh
# `npm start`: the relay on the seed example (examples/seed/relay.yaml) and, where a control plane is
# reachable, the operator beside it: $KUBECONFIG if set, else the project's local cluster
# (e2e/cluster/cluster.sh, `npm run cluster`) when it is up; KUBEMTA_START_CLUSTER=0: the relay alone.
# The operator then runs outside the cluster with that kubeconfig, after the CRDs are applied; in a real
# cluster the Helm chart does both (README, "Install in a cluster").
set -eu
cd "$(dirname "$0")/.."
K8S=e2e/cluster/cluster.sh
if [ "${KUBEMTA_START_CLUSTER:-}" = 0 ]; then
  unset KUBECONFIG
elif [ -z "${KUBECONFIG:-}" ] && "$K8S" status >/dev/null 2>&1; then
  KUBECONFIG=$("$K8S" kubeconfig)
  export KUBECONFIG
  eval "$("$K8S" env)"
fi
if [ -n "${KUBECONFIG:-}" ] && command -v kubectl >/dev/null 2>&1 && kubectl version >/dev/null 2>&1; then
  echo "start: control plane at $(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}'): CRDs applied, operator on :${KUBEMTA_OPERATOR_PORT:-8080}" >&2
  kubectl apply --server-side --force-conflicts --field-manager=kubemta-start -f crds/ >/dev/null
  bin/kubemta operator --http-port "${KUBEMTA_OPERATOR_PORT:-8080}" &
  operator=$!
  trap 'kill "$operator" 2>/dev/null || true' EXIT INT TERM
else
  echo "start: no control plane reachable (set KUBECONFIG to run the operator too); the relay alone" >&2
fi
bin/kubemta relay --config examples/seed/relay.yaml
