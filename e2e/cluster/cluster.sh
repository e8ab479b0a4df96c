#!/usr/bin/env bash
# kubemta's own local Kubernetes cluster, from Debian packages and the npm registry only (no Docker, no
# other download): etcd (Debian etcd-server) + kube-apiserver + kube-controller-manager 1.20.2 built once
# from Debian's `kubernetes` source package with Debian's Go and cached; with `--with-node` also a real
# node: containerd + runc (Debian), kubelet, kube-scheduler and kube-proxy (iptables mode, so Services
# route: a pod reaches the API server as https://10.96.0.1), a CNI bridge, and a volume provisioner for
# the default StorageClass `local`. helm and kubectl come from npm. README.md beside this file says how it
# is built and what it lacks.
#
# Usage: e2e/cluster/cluster.sh COMMAND
#   up [--with-node]  build what is missing, start what is not running, wait until ready; prints the
#                     kubeconfig path on stdout (progress on stderr). Idempotent.
#   down              stop what `up` started (recorded and checked pids), clean the node, remove the state
#   status            components and health; exit 0 only when everything started is running and ready
#   env               shell exports: KUBECONFIG, and PATH with the cached helm and kubectl
#   kubeconfig        the kubeconfig path (exit 1 when the API server is not running)
#   tools             fetch helm + kubectl into the cache; print their directory
#   load TARBALL      import an image tarball (docker-archive or OCI) into the node's containerd
#   build [--with-node]  install packages and build the binaries, start nothing
#
# Environment (optional): KUBEMTA_CLUSTER_CACHE (~/.cache/kubemta/cluster-1.20.2),
#   KUBEMTA_CLUSTER_STATE (/tmp/kubemta-cluster), KUBEMTA_CLUSTER_PORT (API server, 17443),
#   KUBEMTA_CLUSTER_ETCD_PORT (23890; peer port +1), KUBEMTA_CLUSTER_TIMEOUT (readiness wait, 180 s).
set -euo pipefail

K8S_VERSION=1.20.2
CACHE=${KUBEMTA_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubemta/cluster-$K8S_VERSION}
STATE=${KUBEMTA_CLUSTER_STATE:-/tmp/kubemta-cluster}
PORT=${KUBEMTA_CLUSTER_PORT:-17443}
EPORT=${KUBEMTA_CLUSTER_ETCD_PORT:-23890}
TIMEOUT=${KUBEMTA_CLUSTER_TIMEOUT:-180}
BIN=$CACHE/bin
TOOLS=$CACHE/tools
KUBECONFIG_PATH=$STATE/kubeconfig
# the pod network: a bridge whose gateway address is also where pods reach the API server (the
# `kubernetes` Service's endpoint), so in-cluster clients work as on any cluster
BRIDGE=kmta0
POD_CIDR=10.244.0.0/24
GATEWAY=10.244.0.1
SERVICE_CIDR=10.96.0.0/16
NODE_NAME=localhost   # the API server reaches the kubelet (logs, exec) by this name: loopback
export DEBIAN_FRONTEND=noninteractive

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/proc.sh
. "$HERE/lib/proc.sh"
# shellcheck source=lib/build.sh
. "$HERE/lib/build.sh"
# shellcheck source=lib/plane.sh
. "$HERE/lib/plane.sh"
# shellcheck source=lib/node.sh
. "$HERE/lib/node.sh"

cmd_build() {
  mkdir -p "$CACHE"
  apt_install etcd-server openssl curl ca-certificates iproute2
  build_plane_binaries
  [[ ${1:-} != --with-node ]] || { node_packages; build_node_binaries; build_images; }
  ensure_tools
}

cmd_up() {
  local t0=$SECONDS with_node=""
  case ${1:-} in --with-node) with_node=1 ;; "") ;; *) die "unknown option for up: $1 (only --with-node)" ;; esac
  cmd_build "${1:-}"
  mkdir -p "$(dirname "$STATE")"
  exec 9>"$STATE.lock"; flock 9
  if plane_up; then log "control plane already up ($STATE)"
  else
    init_state
    # one retry: a component still shutting down (or that crashed) while we waited is started again
    (start_plane) || { log "retrying once"; sleep 2; start_plane; }
    log "control plane ready in $((SECONDS - t0)) s: https://127.0.0.1:$PORT"
  fi
  if [[ -n $with_node ]]; then
    if node_up; then log "node $NODE_NAME already up"
    else start_node; log "node $NODE_NAME Ready in $((SECONDS - t0)) s (Service routing by kube-proxy)"; fi
  fi
  exec 9>&-
  echo "$KUBECONFIG_PATH"
}

cmd_down() {
  [[ -d $STATE ]] || { log "not up ($STATE absent)"; return 0; }
  exec 9>"$STATE.lock"; flock 9
  local had_node=""; [[ -d $N ]] && had_node=1
  stop_node
  stop kcm; stop apiserver; stop etcd
  unmount_state || die "mounts remain under $STATE; not removing it"
  # the bridge is the node's (one per machine): a second, plane-only cluster leaves it alone
  [[ -z $had_node ]] || remove_bridge
  rm -rf "$STATE"; rm -f "$STATE.lock"
  log "down; removed $STATE"
}

cmd_status() {
  local ok=0 c
  for c in etcd apiserver kcm containerd scheduler kubelet proxy provisioner; do
    [[ -f $STATE/$c.pid ]] || continue
    if alive "$c"; then printf '%-10s running  pid %-7s log %s\n' "$c" "$(cat "$STATE/$c.pid")" "$STATE/$c.log"
    else printf '%-10s stopped\n' "$c"; ok=1; fi
  done
  if [[ -s $STATE/token ]] && api_ready; then echo "readyz     ok (https://127.0.0.1:$PORT)"; else echo "readyz     not ready"; ok=1; fi
  echo "kubeconfig $KUBECONFIG_PATH"
  echo "cache      $CACHE"
  return $ok
}

cmd_env() { printf 'export KUBECONFIG=%q\nexport PATH=%q:"$PATH"\n' "$KUBECONFIG_PATH" "$TOOLS"; }

case ${1:-} in
  up) cmd_up "${2:-}" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  kubeconfig) echo "$KUBECONFIG_PATH"; [[ -f $KUBECONFIG_PATH ]] && alive apiserver ;;
  tools) mkdir -p "$CACHE"; ensure_tools; echo "$TOOLS" ;;
  load) [[ -f ${2:-} ]] || die "usage: $0 load TARBALL"; alive containerd || die "no node: run $0 up --with-node"; CTR images import "$2" ;;
  build) cmd_build "${2:-}" ;;
  -h|--help|help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
  *) echo "usage: $0 up [--with-node]|down|status|env|kubeconfig|tools|build [--with-node]" >&2; exit 2 ;;
esac
