#!/bin/sh
# Runs shell scripts as root on a throwaway copy of this machine, so that tests can run the
# docs' install commands verbatim: an overlay of / whose changes land in a tmpfs, a fresh /run
# and /tmp, its own PID namespace (everything started is killed at the end) and its own network
# namespace with only loopback. `systemctl` and `journalctl` are the stand-ins in standin-bin/.
#
# usage: unshare --mount --pid --net --fork --propagation private sh scratch_machine.sh OUT STAGE SCRIPT…
#   STAGE is mounted at /stage (the scripts' working directory); each SCRIPT (a path inside
#   STAGE) runs with `sh -eu` in order until one fails; afterwards the machine's changes are
#   copied to OUT/changes and the services' logs to OUT/logs.
set -eu
# A machine boots with umask 022, whatever the caller's: the overlay's root directory takes the
# mode of the upper directory made below, and under a caller's 077 it would be 0700 — no
# service user could reach /usr/local/bin (a parallel test run once started this script while
# another thread of the runner held umask 077: "Permission denied" starting vaultd).
umask 022
out=$1 stage=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
scratch=$out/.scratch
mkdir -p "$scratch"
mount -t tmpfs -o mode=0755 tmpfs "$scratch"
mkdir -p "$scratch/changes" "$scratch/work" "$scratch/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$scratch/changes,workdir=$scratch/work" "$scratch/root"
root=$scratch/root
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=0755 tmpfs "$root/run"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
mkdir -p "$root/run/standin/bin" "$root/stage"
mount --bind "$here/standin-bin" "$root/run/standin/bin"
# The package (its build, its .venv) at its own path, even where the fresh /tmp hides it (a
# clone under /tmp, as CI's may be).
package=$(cd "$here/../../.." && pwd)
mkdir -p "$root$package"
mount --bind "$package" "$root$package"
mount --bind "$stage" "$root/stage"
ip link set lo up
status=0
for script in "$@"; do
    echo "==> $script"
    chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
        PATH=/run/standin/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        sh -c 'cd /stage && exec sh -eu "$1"' - "$script" || { status=$?; echo "==> $script failed ($status)"; break; }
done
mkdir -p "$out/changes" "$out/logs"
cp -a "$scratch/changes/." "$out/changes/"
cp -a "$root/var/log/standin/." "$out/logs/" 2>/dev/null || true
exit $status
