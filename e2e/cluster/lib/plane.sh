# The control plane: certificates, etcd, kube-apiserver, kube-controller-manager.

token() { cat "$STATE/token"; }
api() { curl -sf --max-time 5 --cacert "$STATE/pki/ca.crt" -H "Authorization: Bearer $(token)" "https://127.0.0.1:$PORT$1"; }
etcd_ok() { curl -sf --max-time 3 "http://127.0.0.1:$EPORT/health" | grep -q '"health":"true"'; }
api_ready() { [[ $(api /readyz 2>/dev/null) == ok ]]; }
# the ServiceAccount and token controllers have acted: Deployments can create pods at once
kcm_ready() { api /api/v1/namespaces/default/serviceaccounts/default | grep -q '"secrets"'; }
plane_up() { alive etcd && alive apiserver && alive kcm && api_ready; }

# the bridge exists before the API server starts: its gateway address is the API server's advertised
# address, the endpoint of the `kubernetes` Service that kube-proxy routes pods to
ensure_bridge() {
  ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add "$BRIDGE" type bridge
  ip -4 addr show dev "$BRIDGE" | grep -q " $GATEWAY/" || ip addr add "$GATEWAY/${POD_CIDR#*/}" dev "$BRIDGE"
  ip link set "$BRIDGE" up
}
remove_bridge() { ip link del "$BRIDGE" 2>/dev/null || true; }

# cert NAME SUBJECT EXT: a certificate signed by the cluster's CA
cert() {
  local p=$STATE/pki
  printf '%s\n' 'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' "$3" >"$p/$1.ext"
  openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$p/$1.key" -out "$p/$1.csr" 2>/dev/null
  openssl x509 -req -in "$p/$1.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial -days 3650 \
    -extfile "$p/$1.ext" -out "$p/$1.crt" 2>/dev/null
}
init_state() {
  mkdir -p "$STATE/pki"; chmod 700 "$STATE"
  [[ -s $STATE/token ]] || od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$STATE/token"
  printf '%s,admin,admin,system:masters\n' "$(token)" >"$STATE/tokens.csv"
  local p=$STATE/pki
  if [[ ! -s $p/apiserver.crt ]]; then
    log "generating the CA, the API server's certificate and the service-account key"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=kubemta-cluster-ca -keyout "$p/ca.key" -out "$p/ca.crt" 2>/dev/null
    cert apiserver /CN=kube-apiserver "extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:$GATEWAY,IP:${SERVICE_CIDR%.0/*}.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
    # the API server's client certificate towards the kubelet (logs, exec, port-forward)
    cert kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" extendedKeyUsage=clientAuth
    openssl genrsa -out "$p/sa.key" 2048 2>/dev/null
    openssl rsa -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null
  fi
  cat >"$KUBECONFIG_PATH.tmp" <<KC
apiVersion: v1
kind: Config
clusters:
- name: kubemta-local
  cluster:
    server: https://127.0.0.1:$PORT
    certificate-authority-data: $(base64 -w0 <"$p/ca.crt")
users:
- name: admin
  user:
    token: $(token)
contexts:
- name: kubemta-local
  context: {cluster: kubemta-local, user: admin, namespace: default}
current-context: kubemta-local
KC
  chmod 600 "$KUBECONFIG_PATH.tmp"; mv -f "$KUBECONFIG_PATH.tmp" "$KUBECONFIG_PATH"
}

start_etcd() {
  alive etcd && return 0
  port_busy "$EPORT" && die "port $EPORT is busy (not our etcd); set KUBEMTA_CLUSTER_ETCD_PORT"
  local extra=()
  # a throwaway test cluster: etcd's fsyncs would only slow every write
  etcd --help 2>&1 | grep -q -- '--unsafe-no-fsync' && extra+=(--unsafe-no-fsync)
  log "starting etcd on 127.0.0.1:$EPORT"
  start etcd etcd --name kubemta --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$EPORT" --advertise-client-urls "http://127.0.0.1:$EPORT" \
    --listen-peer-urls "http://127.0.0.1:$((EPORT + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((EPORT + 1))" \
    --initial-cluster "kubemta=http://127.0.0.1:$((EPORT + 1))" "${extra[@]}"
}
start_apiserver() {
  alive apiserver && return 0
  port_busy "$PORT" && die "port $PORT is busy (not our kube-apiserver); set KUBEMTA_CLUSTER_PORT"
  local p=$STATE/pki
  ensure_bridge
  log "starting kube-apiserver on https://127.0.0.1:$PORT (pods: https://$GATEWAY:$PORT via the kubernetes Service)"
  # one bind address only, so all of them: host clients use loopback, pods the bridge's address, which is
  # advertised so the `kubernetes` Service's endpoint is where pods can reach it (token or client-cert
  # authentication only, no anonymous access)
  start apiserver "$BIN/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$EPORT" \
    --bind-address=0.0.0.0 --secure-port="$PORT" --insecure-port=0 --advertise-address="$GATEWAY" \
    --tls-cert-file="$p/apiserver.crt" --tls-private-key-file="$p/apiserver.key" --client-ca-file="$p/ca.crt" \
    --token-auth-file="$STATE/tokens.csv" --authorization-mode=RBAC --anonymous-auth=false \
    --service-account-key-file="$p/sa.pub" --service-account-signing-key-file="$p/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range="$SERVICE_CIDR" --allow-privileged=true --profiling=false \
    --kubelet-preferred-address-types=Hostname,InternalIP \
    --kubelet-client-certificate="$p/kubelet-client.crt" --kubelet-client-key="$p/kubelet-client.key"
}
start_kcm() {
  alive kcm && return 0
  local p=$STATE/pki
  log "starting kube-controller-manager"
  start kcm "$BIN/kube-controller-manager" --kubeconfig="$KUBECONFIG_PATH" \
    --bind-address=127.0.0.1 --secure-port=0 --port=0 --leader-elect=false --controllers='*' \
    --service-account-private-key-file="$p/sa.key" --root-ca-file="$p/ca.crt" \
    --cluster-signing-cert-file="$p/ca.crt" --cluster-signing-key-file="$p/ca.key" --profiling=false
}
start_plane() {
  start_etcd; wait_for "etcd health" etcd etcd_ok
  start_apiserver; wait_for "kube-apiserver /readyz" apiserver api_ready
  start_kcm; wait_for "kube-controller-manager (default ServiceAccount token)" kcm kcm_ready
}

# unmount whatever the kubelet or containerd left under the state dir (Secret tmpfs, rootfs overlays)
unmount_state() {
  local m
  for m in $(awk -v s="$STATE/" 'index($2, s) == 1 {print $2}' /proc/mounts | sort -r); do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  ! awk -v s="$STATE/" 'index($2, s) == 1 {f=1} END {exit !f}' /proc/mounts
}
