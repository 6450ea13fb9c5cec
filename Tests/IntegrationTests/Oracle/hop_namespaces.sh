#!/bin/sh
# Three network namespaces in a row, as an EC2 instance with a container on it:
#   PREFIX-c (the agent, "in a container")  10.251.1.2 ── 10.251.1.1  PREFIX-r (a router: the
#   instance's bridge, one hop)  10.251.2.1 ── 10.251.2.2 + 169.254.169.254  PREFIX-m (IMDS).
# A reply sent with IP TTL 1 from PREFIX-m dies in PREFIX-r, exactly like EC2's token response
# with HttpPutResponseHopLimit=1 on its way into a container.
#
# usage: hop_namespaces.sh up PREFIX | down PREFIX     (PREFIX: at most 8 characters)
set -eu
action=$1 p=$2
if [ "$action" = down ]; then
    for ns in "$p-c" "$p-r" "$p-m"; do ip netns delete "$ns" 2>/dev/null || true; done
    exit 0
fi
for ns in "$p-c" "$p-r" "$p-m"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip link add "$p-c0" type veth peer name "$p-r0"
ip link add "$p-r1" type veth peer name "$p-m0"
ip link set "$p-c0" netns "$p-c"; ip link set "$p-r0" netns "$p-r"
ip link set "$p-r1" netns "$p-r"; ip link set "$p-m0" netns "$p-m"
ip -n "$p-c" addr add 10.251.1.2/24 dev "$p-c0"; ip -n "$p-c" link set "$p-c0" up
ip -n "$p-r" addr add 10.251.1.1/24 dev "$p-r0"; ip -n "$p-r" link set "$p-r0" up
ip -n "$p-r" addr add 10.251.2.1/24 dev "$p-r1"; ip -n "$p-r" link set "$p-r1" up
ip -n "$p-m" addr add 10.251.2.2/24 dev "$p-m0"; ip -n "$p-m" link set "$p-m0" up
ip -n "$p-m" addr add 169.254.169.254/32 dev "$p-m0"
ip -n "$p-c" route add default via 10.251.1.1
ip -n "$p-m" route add default via 10.251.2.1
ip -n "$p-r" route add 169.254.169.254/32 via 10.251.2.2
ip netns exec "$p-r" sysctl -qw net.ipv4.ip_forward=1
