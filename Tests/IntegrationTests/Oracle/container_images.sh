#!/bin/sh
# Runs vaultd and unseal-agent from their unpacked image trees the way the StatefulSet does:
# each chrooted into its own read-only tree, as its image's user, with the pod's volumes bound in
# (the shared socket directory, vaultd's data, the ConfigMaps, the key Secret) and a /dev like a
# container runtime's. Then the Kubernetes guide's first start: `vaultctl operator init
# --seal-key -` from inside the vaultd tree, a restart of vaultd, and the agent unsealing it.
#
# usage: unshare --mount --pid --net --fork --mount-proc --propagation private sh container_images.sh WORK
#   WORK holds vaultd/ and unseal-agent/ (the trees), vaultd.hcl, agent.hcl and unseal-key; the
#   daemons' logs are written there. Everything started dies with the PID namespace.
set -eu
work=$1
v=$work/vaultd a=$work/unseal-agent
ip link set lo up

# The pod's volumes: an emptyDir for the socket (group 10001, as fsGroup makes it), the PVC, the
# ConfigMaps and the Secret.
install -d -m 0770 -o 10001 -g 10001 "$work/socket"
install -d -m 0700 -o 10001 -g 10001 "$work/data"
install -d -m 0755 "$work/vaultd-config" "$work/agent-config" "$work/secret"
cp "$work/vaultd.hcl" "$work/vaultd-config/vaultd.hcl"
cp "$work/agent.hcl" "$work/agent-config/agent.hcl"
install -m 0440 -g 10001 "$work/unseal-key" "$work/secret/unseal-key"

# A container's root: the tree read-only, /proc, a /dev with the usual devices, then the mounts.
container_root() {
    root=$1
    mkdir -p "$root/proc" "$root/dev"
    mount --bind "$root" "$root"
    mount -t proc proc "$root/proc"
    mount -t tmpfs -o mode=0755 tmpfs "$root/dev"
    for device in null zero full random urandom tty; do
        touch "$root/dev/$device"
        mount --bind "/dev/$device" "$root/dev/$device"
    done
}
volume() { mkdir -p "$2" 2>/dev/null || true; mount --bind "$1" "$2"; }

container_root "$v"
volume "$work/socket" "$v/run/vaultd"
volume "$work/data" "$v/var/lib/vaultd"
volume "$work/vaultd-config" "$v/etc/vaultd"
mount -o remount,bind,ro "$v"

container_root "$a"
mkdir -p "$a/run/vaultd" "$a/run/secrets/vaultd" "$a/etc/unseal-agent"
volume "$work/socket" "$a/run/vaultd"
volume "$work/agent-config" "$a/etc/unseal-agent"
volume "$work/secret" "$a/run/secrets/vaultd"
mount -o remount,bind,ro "$a"

# The image's entrypoint and command, as the runtime runs them: its user, an empty environment.
VAULTD_COMMAND=$(cat "$work/vaultd.command")
AGENT_COMMAND=$(cat "$work/unseal-agent.command")
in_vaultd() { env -i PATH=/usr/bin /usr/sbin/chroot --userspec=10001:10001 "$v" "$@"; }
start_vaultd() {
    # Not through in_vaultd: $! must be vaultd itself (env and chroot exec), not a subshell.
    # shellcheck disable=SC2086 # the command is the image's argv, one word per element
    env -i PATH=/usr/bin /usr/sbin/chroot --userspec=10001:10001 "$v" $VAULTD_COMMAND >> "$work/vaultd.log" 2>&1 &
    echo $! > "$work/vaultd.pid"
}
# vaultctl status: 0 unsealed, 2 sealed (or not initialised), 1 unreachable. Waits for `want`
# while vaultd lives; bounded by the event, with a cap far above any normal start.
wait_status() {
    want=$1 tries=0
    while :; do
        status=0
        in_vaultd /usr/bin/vaultctl status > /dev/null 2>&1 || status=$?
        [ "$status" -eq "$want" ] && return 0
        kill -0 "$(cat "$work/vaultd.pid")" 2>/dev/null || { echo "vaultd exited"; return 1; }
        tries=$((tries + 1))
        [ "$tries" -lt 1200 ] || { echo "vaultctl status still $status"; return 1; }
        sleep 0.1
    done
}

start_vaultd
wait_status 2
echo "vaultd up, sealed, as $(grep '^Uid:' "/proc/$(cat "$work/vaultd.pid")/status" | tr -s '\t' ' ')"
# shellcheck disable=SC2086
env -i PATH=/usr/bin /usr/sbin/chroot --userspec=10002:10001 "$a" $AGENT_COMMAND >> "$work/unseal-agent.log" 2>&1 &
agent=$!

# The guide's first start (kubectl exec -i vaultd-0 -c vaultd -- vaultctl operator init --seal-key -).
in_vaultd /usr/bin/vaultctl operator init --seal-key - -format=json < "$work/unseal-key" > "$work/init.json"
wait_status 0
echo "initialised and unsealed"

# A restart: sealed again, and the agent (never restarted) unseals it.
kill -TERM "$(cat "$work/vaultd.pid")"
while kill -0 "$(cat "$work/vaultd.pid")" 2>/dev/null; do sleep 0.1; done
start_vaultd
wait_status 0
echo "restarted and unsealed by the agent"
kill -0 "$agent"
echo "agent as $(grep '^Uid:' "/proc/$agent/status" | tr -s '\t' ' ')"
stat -c '%u:%g %a %n' "$work/data/vault.db" "$work/socket/vaultd.sock"
