#!/bin/sh
# Runs a command the way the systemd units run the daemons, without systemd: in a private mount
# namespace where every mount is read-only except WRITABLE (ProtectSystem=strict with
# StateDirectory=/RuntimeDirectory=), as an unprivileged uid/gid with no capabilities at all and
# no_new_privs (User=, CapabilityBoundingSet=, NoNewPrivileges=).
#
# usage: unshare --mount --propagation private sh restricted.sh UID GID GROUPS WRITABLE[:WRITABLE…] -- COMMAND…
set -eu
uid=$1 gid=$2 groups=$3 writable=$4
shift 5
old_ifs=$IFS
IFS=:
for dir in $writable; do mount --bind "$dir" "$dir"; done
IFS=$old_ifs
awk '{print $5}' /proc/self/mountinfo | sort -u | while read -r point; do
    case "$point" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*) continue ;; esac
    keep=0
    IFS=:
    for dir in $writable; do [ "$point" = "$dir" ] && keep=1; done
    IFS=$old_ifs
    # A mount point may vanish between the listing and the remount (another test deleting its
    # network namespace under /run/netns): only a failure on a point that still exists counts.
    [ "$keep" = 1 ] || mount -o remount,bind,ro "$point" 2>/dev/null || [ ! -e "$point" ] || mount -o remount,bind,ro "$point"
done
exec setpriv --reuid "$uid" --regid "$gid" --groups "$groups" --no-new-privs --inh-caps=-all --bounding-set=-all -- "$@"
