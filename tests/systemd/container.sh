#!/usr/bin/env bash
# container.sh: boots a real systemd as PID 1 of a throw-away systemd-nspawn container; sourced, not run.
#
# The root is debootstrapped once (minbase + systemd + the packages owning the binary's libraries) and cached
# under $ECHO_NSPAWN_CACHE; every boot runs it with --volatile=overlay, so the cache is never written to and each
# test starts from the same pristine system. The container gets its own network namespace (--private-network):
# port 7007 inside it cannot collide with anything on the host.
#
# Functions: container_packages BINARY, container_root PACKAGE..., container_boot ROOT MACHINE LOG,
# container_exec CMD..., container_teardown. State: CONTAINER_NSPAWN_PID, CONTAINER_PID (host PIDs).

: "${ECHO_NSPAWN_CACHE:=/var/cache/echo-hardened}"
: "${ECHO_DEBIAN_MIRROR:=http://deb.debian.org/debian}"
CONTAINER_NSPAWN_PID=""
CONTAINER_PID=""

# The Debian packages owning every library ldd lists for BINARY, plus what the container itself needs
# (systemd as init; procps for the unit's ExecReload=/bin/kill). Prints one per line, sorted.
container_packages() {
  local binary=$1 lib candidate owner
  local -a found=(systemd systemd-sysv procps)
  while read -r lib; do
    owner=""
    # Under merged /usr, dpkg knows a file by the path its package ships, /lib/... or /usr/lib/...
    for candidate in "$lib" "$(readlink -f "$lib")" "/usr${lib}" "${lib#/usr}"; do
      owner=$(dpkg-query -S "$candidate" 2>/dev/null | head -n1 | cut -d: -f1) && [[ -n $owner ]] && break
    done
    [[ -n $owner ]] || { echo "container: no Debian package owns $lib (needed by $binary)" >&2; return 1; }
    found+=("$owner")
  done < <(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
  printf '%s\n' "${found[@]}" | sort -u
}

# Prints the path of a cached root holding PACKAGES, debootstrapping it first if needed (under a lock, built
# aside and renamed, so a concurrent or interrupted run never sees half a root).
container_root() {
  local suite key dir
  suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [[ -n $suite ]] || { echo "container: /etc/os-release names no VERSION_CODENAME" >&2; return 1; }
  key=$(printf '%s\n' "$suite" "$@" | sha256sum | cut -c1-12)
  dir=$ECHO_NSPAWN_CACHE/root-$suite-$key
  mkdir -p "$ECHO_NSPAWN_CACHE"
  (
    flock -w 900 9 || { echo "container: timed out waiting for $ECHO_NSPAWN_CACHE/lock" >&2; exit 1; }
    [[ -d $dir ]] && exit 0
    echo "container: debootstrap $suite into $dir (once; about a minute)" >&2
    rm -rf "$dir.partial"
    if ! timeout 900 debootstrap --variant=minbase --include="$(IFS=,; echo "$*")" \
        "$suite" "$dir.partial" "$ECHO_DEBIAN_MIRROR" >"$dir.log" 2>&1; then
      tail -n 20 "$dir.log" >&2
      echo "container: debootstrap failed, full log in $dir.log" >&2
      rm -rf "$dir.partial"
      exit 1
    fi
    mv "$dir.partial" "$dir"
  ) 9>"$ECHO_NSPAWN_CACHE/lock" || return 1
  echo "$dir"
}

# Boots ROOT (volatile) as machine MACHINE, console to LOG; returns once the container's systemd is up and its
# boot has finished. Sets CONTAINER_NSPAWN_PID and CONTAINER_PID. The array CONTAINER_NSPAWN_ARGS, if set, adds
# options to systemd-nspawn (tests/systemd/acl-test.sh: the capabilities and call systemd's BPF firewall needs).
container_boot() {
  local root=$1 machine=$2 log=$3 pid state
  local -a extra=()
  [[ -n ${CONTAINER_NSPAWN_ARGS+set} ]] && extra=("${CONTAINER_NSPAWN_ARGS[@]}")
  systemd-nspawn --directory="$root" --volatile=overlay --boot --register=no --keep-unit --private-network \
    --machine="$machine" --console=read-only "${extra[@]}" >"$log" 2>&1 &
  CONTAINER_NSPAWN_PID=$!
  # The container's init is the child of nspawn whose PID in its own namespace is 1.
  for _ in $(seq 100); do
    for pid in $(pgrep -P "$CONTAINER_NSPAWN_PID" || true); do
      awk '$1 == "NSpid:" && $NF == 1 {found = 1} END {exit !found}' "/proc/$pid/status" 2>/dev/null &&
        CONTAINER_PID=$pid
    done
    [[ -n $CONTAINER_PID && -S /proc/$CONTAINER_PID/root/run/systemd/private ]] && break
    kill -0 "$CONTAINER_NSPAWN_PID" 2>/dev/null || break
    sleep 0.2
  done
  if [[ -z $CONTAINER_PID || ! -S /proc/$CONTAINER_PID/root/run/systemd/private ]]; then
    echo "container: systemd did not come up in $machine; console:" >&2
    tail -n 40 "$log" >&2
    return 1
  fi
  state=$(container_exec timeout 60 systemctl is-system-running --wait || true)
  if [[ $state != running && $state != degraded ]]; then
    echo "container: boot did not finish (is-system-running: '$state'); console:" >&2
    tail -n 40 "$log" >&2
    return 1
  fi
  [[ $state == running ]] || container_exec systemctl --failed --no-pager >&2 || true
}

# Runs CMD in every namespace of the container (its mount, PID, network, ... namespaces and its root).
container_exec() {
  nsenter --target="$CONTAINER_PID" --all "$@"
}

# Powers the container off (nspawn turns SIGTERM into the container's poweroff signal), bounded; if that hangs,
# SIGKILL to the container's init ends its whole PID namespace. Only PIDs this shell started are signalled.
container_teardown() {
  [[ -n $CONTAINER_NSPAWN_PID ]] || return 0
  if kill -0 "$CONTAINER_NSPAWN_PID" 2>/dev/null; then
    kill -TERM "$CONTAINER_NSPAWN_PID" 2>/dev/null || true
    if ! timeout 30 tail --pid="$CONTAINER_NSPAWN_PID" -f /dev/null; then
      echo "container: nspawn $CONTAINER_NSPAWN_PID did not stop in 30 s, killing it" >&2
      [[ -n $CONTAINER_PID ]] && kill -KILL "$CONTAINER_PID" 2>/dev/null
      kill -KILL "$CONTAINER_NSPAWN_PID" 2>/dev/null || true
    fi
  fi
  wait "$CONTAINER_NSPAWN_PID" 2>/dev/null || true
  CONTAINER_NSPAWN_PID=""
  CONTAINER_PID=""
}
