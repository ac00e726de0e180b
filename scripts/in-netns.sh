#!/usr/bin/env bash
# Runs a command inside a private network namespace holding loopback plus a veth pair
# (10.77.0.1 <-> 10.77.0.2) with a default route. WebRTC (Chromium, node-datachannel) needs a
# non-loopback interface with a route to gather ICE candidates; inside this namespace it gets
# one, and no packet can leave the namespace: nothing outside this machine is reachable.
# Needs root (CI, this dev machine) or unprivileged user namespaces.
set -euo pipefail
if [ "${MESHWORK_IN_NETNS:-}" = 1 ]; then exec "$@"; fi
for tool in unshare ip; do
  command -v "$tool" >/dev/null || { echo "in-netns: '$tool' is missing: apt-get install -y util-linux iproute2" >&2; exit 1; }
done
setup='ip link set lo up
ip link add mw0 type veth peer name mw1
ip addr add 10.77.0.1/24 dev mw0
ip addr add 10.77.0.2/24 dev mw1
ip link set mw0 up
ip link set mw1 up
ip route add default via 10.77.0.2 dev mw0'
if [ "$(id -u)" = 0 ]; then flags=(-n); else flags=(-r -n); fi
exec unshare "${flags[@]}" -- bash -c "$setup"'
export MESHWORK_IN_NETNS=1
exec "$@"' in-netns "$@"
