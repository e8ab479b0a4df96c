# Processes the cluster runs: each under setsid with its log and pid file in the state dir. A pid is
# only ever signalled when its program and command line are still ours, so a reused pid is never killed.

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { printf '[cluster] ERROR: %s\n' "$*" >&2; exit 1; }

prog_of() {
  case $1 in
    etcd) echo etcd ;; apiserver) echo kube-apiserver ;; kcm) echo kube-controller-manager ;;
    containerd) echo containerd ;; kubelet) echo kubelet ;; scheduler) echo kube-scheduler ;; proxy) echo kube-proxy ;;
    provisioner) echo node ;;
  esac
}
# pid program: argv[0] is that program and the command line names our state dir
is_ours() {
  local pid=$1 name=$2 args=()
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  mapfile -d '' args 2>/dev/null <"/proc/$pid/cmdline" || return 1
  ((${#args[@]})) && [[ ${args[0]##*/} == "$name" && "${args[*]}" == *"$STATE"* ]]
}
alive() {
  local pid; pid=$(cat "$STATE/$1.pid" 2>/dev/null) || return 1
  is_ours "$pid" "$(prog_of "$1")"
}
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start COMPONENT CMD...: detached (own session, stdin closed, no inherited lock fds), logging to the state dir
start() {
  local c=$1 i; shift
  setsid "$@" </dev/null >>"$STATE/$c.log" 2>&1 8>&- 9>&- &
  local pid=$!
  echo "$pid" >"$STATE/$c.pid"
  # let setsid/env exec the real program before anyone checks it (wait_for fails fast if it died)
  for i in $(seq 40); do is_ours "$pid" "$(prog_of "$c")" && return 0; kill -0 "$pid" 2>/dev/null || return 0; sleep 0.05; done
}
# stop COMPONENT: TERM, then KILL after 10 s
stop() {
  local c=$1 pid i
  pid=$(cat "$STATE/$c.pid" 2>/dev/null) || return 0
  if is_ours "$pid" "$(prog_of "$c")"; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 100); do is_ours "$pid" "$(prog_of "$c")" || break; sleep 0.1; done
    if is_ours "$pid" "$(prog_of "$c")"; then kill -KILL "$pid" 2>/dev/null || true; sleep 0.2; fi
    log "stopped $c (pid $pid)"
  fi
  rm -f "$STATE/$c.pid"
}
# wait_for WHAT COMPONENT CHECK...: until CHECK succeeds; fails at once when the component died
wait_for() {
  local what=$1 c=$2 t0=$SECONDS; shift 2
  until "$@" >/dev/null 2>&1; do
    alive "$c" || { tail -25 "$STATE/$c.log" >&2; die "$c exited while waiting for $what (log: $STATE/$c.log)"; }
    ((SECONDS - t0 < TIMEOUT)) || { tail -25 "$STATE/$c.log" >&2; die "timeout waiting for $what (log: $STATE/$c.log)"; }
    sleep 0.3
  done
}
