#!/usr/bin/env bash
# package-test.sh: builds the Debian package from a clean copy of the checkout, runs lintian on it, and installs,
# uses, upgrades, removes and purges it in a real systemd 252 container, checking what an operator would (R71, R72).
#
# Usage: package-test.sh SOURCE_DIR
#   1. copies the checkout's files (git ls-files, uncommitted changes included, no build trees) into a temp dir
#      and runs "dpkg-buildpackage -us -uc -b" there; then a second package, version 0.1.0-2 (changelog bumped
#      in the copy), for the upgrade;
#   2. lintian on the .deb: any E: or W: fails (overrides: debian/echo-hardened.lintian-overrides);
#   3. boots systemd in systemd-nspawn (tests/systemd/container.sh) over a cached root holding the package's
#      dependencies and man-db, so "apt-get install ./echo-hardened_….deb" downloads nothing;
#   4. checks install (socket enabled and listening), start, echo, STATUS=, systemd-analyze security 0.1, man 8,
#      the drop-in against ldd, the library trigger, reload, upgrade, stop, remove and purge.
# Needs root, the build dependencies (tools/install-deps.sh), lintian, systemd-container and debootstrap.
# Never skips. Cleans the container and the temp dir up whatever happens.
# The scripts run inside the container are single-quoted on purpose: they expand there, not here.
# shellcheck disable=SC2016
set -euo pipefail

source_dir=$(cd "${1:?usage: package-test.sh SOURCE_DIR}" && pwd)
unit=echo-hardened.service
sock=echo-hardened.socket
here=$(cd "$(dirname "$0")" && pwd)
ct_timeout=120
# shellcheck source-path=SCRIPTDIR source=harness.sh
. "$here/harness.sh"
poll_interval=0.1
diagnostics() {
  [[ -n $CONTAINER_PID ]] || return 0
  echo "---- systemctl status" >&2
  in_ct systemctl status --no-pager --full "$sock" "$unit" >&2 || true
  echo "---- journal" >&2
  in_ct journalctl --no-pager -o short-monotonic -n 60 -u "$sock" -u "$unit" >&2 || true
}

for tool in dpkg-buildpackage lintian systemd-nspawn debootstrap nsenter git flock; do
  command -v "$tool" >/dev/null || die "$tool is missing (tools/install-deps.sh installs it)"
done

scratch_dir package
SECONDS=0

# ---- build from a clean copy: only the checkout's files, so nothing of a build tree leaks into the package
src=$tmp/src/echo-hardened
mkdir -p "$src"
git -C "$source_dir" ls-files -z --cached --others --exclude-standard |
  (cd "$source_dir" && xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
  tar -C "$source_dir" --null -T - -cf - | tar -C "$src" -xf -
build_package() {  # LOG [dpkg-buildpackage options]: builds in $src, the .deb lands in $tmp/src
  local log=$1
  shift
  if ! (cd "$src" && timeout 1800 dpkg-buildpackage -us -uc -b "$@") >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    die "dpkg-buildpackage $* failed (log above)"
  fi
}
build_package "$tmp/build-1.log"
version=$(cd "$src" && dpkg-parsechangelog -S Version)
arch=$(dpkg --print-architecture)
deb1=$tmp/src/echo-hardened_${version}_$arch.deb
[[ -f $deb1 ]] || die "dpkg-buildpackage wrote no $deb1"
pass "dpkg-buildpackage -us -uc -b built $(basename "$deb1") in ${SECONDS}s"

# ---- lintian: nothing at error or warning level (info lines are shown, not counted)
lintian_rc=0
lintian --fail-on error,warning --display-info "$deb1" >"$tmp/lintian.txt" 2>&1 || lintian_rc=$?
grep -v '^running with root privileges' "$tmp/lintian.txt" | sed 's/^/       lintian: /' || true
echo "       lintian: $(grep -c '^[EWIP]: ' "$tmp/lintian.txt" || true) tags reported," \
  "$(grep -c '^echo-hardened: ' "$src/debian/echo-hardened.lintian-overrides") overridden (each with its reason)"
expect "lintian: no error, no warning (exit $lintian_rc)" \
  [ "$lintian_rc" = 0 -a -z "$(grep -E '^[EW]: ' "$tmp/lintian.txt")" ]

# ---- the package's contents
contents=$(dpkg-deb -c "$deb1" | awk '{print $NF}' | sed 's|^\./|/|')
for f in /usr/bin/echo-hardened /lib/systemd/system/$sock /lib/systemd/system/$unit \
  /lib/systemd/system/echo-hardened-metrics.socket /usr/lib/echo-hardened/update-root \
  /usr/share/man/man8/echo-hardened.8.gz /usr/share/doc/echo-hardened/RUNBOOK.md.gz \
  /usr/lib/systemd/catalog/echo-hardened.catalog; do
  expect "package ships $f" grep -qx "$f" <<<"$contents"
done
expect "package ships no generated private root or drop-in (postinst writes them)" \
  [ -z "$(grep -E 'echo-hardened/root|service\.d' <<<"$contents")" ]

# ---- a second version for the upgrade: the same tree, the changelog bumped, rebuilt without cleaning
sed -i "1s/($version)/(${version%-*}-2)/" "$src/debian/changelog"
build_package "$tmp/build-2.log" -nc
version2=$(cd "$src" && dpkg-parsechangelog -S Version)
deb2=$tmp/src/echo-hardened_${version2}_$arch.deb
[[ -f $deb2 && $version2 != "$version" ]] || die "no second package $deb2"

# ---- boot a container whose root already holds every dependency (nothing to download, no network needed)
# Depends: names some virtual packages (libspdlog1.10-fmt9), which debootstrap cannot resolve: the real ones are
# the owners of the libraries ldd lists (container_packages), plus every Depends: name that is a real package here.
dpkg-deb -x "$deb1" "$tmp/unpacked"
owners=$(container_packages "$tmp/unpacked/usr/bin/echo-hardened") || die "cannot map the binary's libraries to packages"
mapfile -t packages < <({
  echo "$owners"
  echo man-db
  for dep in $(dpkg-deb -f "$deb1" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/:.*//; s/ //g'); do
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$dep" 2>/dev/null) == installed ]] && echo "$dep"
  done
} | grep -v '^$' | sort -u)
root=$(container_root "${packages[@]}") || die "no container root (debootstrap)"
boot_start=$SECONDS
container_boot "$root" "echo-pkg-$$" "$tmp/console.log" || die "the container did not boot"
pass "systemd $(in_ct systemctl --version | awk 'NR == 1 {print $2}') booted in the container in $((SECONDS - boot_start))s"
in_ct mkdir -p /root/debs
for deb in "$deb1" "$deb2"; do
  # shellcheck disable=SC2094 # reads the host file, writes one inside the container
  in_ct sh -c "cat >/root/debs/$(basename "$deb")" <"$deb"
done

# ---- install: the socket is enabled and listening, the service waits for a connection
apt_get() { in_ct env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0 "$@"; }  # the container has no network: nothing can be downloaded
if apt_get install "/root/debs/$(basename "$deb1")" >"$tmp/install.log" 2>&1; then
  pass "apt-get install ./$(basename "$deb1")"
else
  cat "$tmp/install.log" >&2
  die "apt-get install failed"
fi
expect "socket enabled ($(in_ct systemctl is-enabled "$sock" || true))" in_ct systemctl -q is-enabled "$sock"
expect "metrics socket not enabled ($(in_ct systemctl is-enabled echo-hardened-metrics.socket || true))" \
  [ "$(in_ct systemctl is-enabled echo-hardened-metrics.socket || true)" = disabled ]
expect "socket active after installation" property_is ActiveState active "$sock"
expect "service not started by the installation (socket-activated)" property_is ActiveState inactive
dropin=/lib/systemd/system/$unit.d/root.conf
expect "postinst wrote the drop-in $dropin" in_ct test -f "$dropin"
drop_in_matches_ldd() {  # the drop-in binds exactly what ldd lists in the container, and each has a mount point
  in_ct bash -c '
    dropin=$1; root=/usr/lib/echo-hardened/root
    want=$(ldd /usr/bin/echo-hardened | awk "\$2 == \"=>\" && \$3 ~ /^\\// {print \$3} \$1 ~ /^\\// {print \$1}" | sort)
    have=$(sed -n "s/^BindReadOnlyPaths=//p" "$dropin" | grep -v "^/usr/bin/echo-hardened:" | sort)
    [ -n "$want" ] && [ "$want" = "$have" ] || exit 1
    for lib in $want /usr/bin/echo-hardened; do [ -f "$root$lib" ] || exit 1; done' check "$dropin"
}
expect "the drop-in binds exactly the libraries ldd lists in the container" drop_in_matches_ldd

# ---- as an operator: start, echo, status, security, man
in_ct timeout 40 systemctl start echo-hardened || die "systemctl start echo-hardened failed"
expect "service active (running)" [ "$(show ActiveState)/$(show SubState)" = active/running ]
echo_once() {
  in_ct timeout 20 bash -c 'exec 3<>/dev/tcp/127.0.0.1/7007; printf "hello package\n" >&3; read -r -t 5 line <&3
    [ "$line" = "hello package" ] && echo OK'
}
expect "an echo through the socket" [ "$(echo_once)" = OK ]
status=$(in_ct systemctl status --no-pager "$unit" || true)
expect "systemctl status has the Status: line ($(grep -o 'Status: .*' <<<"$status" || true))" \
  grep -qE 'Status: "[^"]*[0-9]+/[0-9]+ workers' <<<"$status"
security=$(in_ct systemd-analyze security --no-pager "$unit" 2>&1 | tail -n 1)
expect "systemd-analyze security: '$security'" grep -q "exposure level for $unit: 0.1 " <<<"$security"
manpage=$(in_ct env MANWIDTH=100 man 8 echo-hardened 2>&1 | col -bx || true)
expect "man 8 echo-hardened renders (NAME, OPTIONS, --listen, ECHO_LISTEN)" \
  bash -c 'grep -q "^NAME" <<<"$1" && grep -q "^OPTIONS" <<<"$1" && grep -q -- "--listen ADDR:PORT" <<<"$1" &&
    grep -q "Environment: ECHO_LISTEN" <<<"$1"' check "$manpage"
expect "systemctl help names the man page" grep -q 'man:echo-hardened(8)' <<<"$(show Documentation)"
# systemd's own dpkg trigger on /usr/lib/systemd/catalog compiled the catalog: journalctl -x explains our ids.
catalog_id=ccc5806e42144d05b2232dc44768a435  # server/base/log_event.hpp: LogEvent::Ready
expect "systemd's trigger compiled the catalog (journalctl --list-catalog names $catalog_id)" \
  grep -q "^$catalog_id echo-hardened: " <<<"$(in_ct journalctl --list-catalog 2>&1)"
expect "the service's ready record has its MESSAGE_ID" \
  grep -q '"MESSAGE_ID":"'$catalog_id'"' <<<"$(in_ct journalctl -o json -u "$unit" MESSAGE_ID=$catalog_id)"

# ---- a library package changes: the trigger rewrites the drop-in (here one spoiled on purpose)
echo "BindReadOnlyPaths=/nonexistent" | in_ct tee -a "$dropin" >/dev/null
libc=$(in_ct bash -c 'ldd /usr/bin/echo-hardened | awk "\$3 ~ /libc\\.so/ {print \$3}"')
if ! { in_ct dpkg-trigger --no-await "$libc" && in_ct dpkg --triggers-only --pending; } >"$tmp/trigger.log" 2>&1; then
  cat "$tmp/trigger.log" >&2
  fail "activating the file trigger for $libc"
fi
expect "the library trigger rewrote the drop-in" drop_in_matches_ldd

# ---- reload: same master, still serving
main=$(show MainPID)
in_ct timeout 40 systemctl reload "$unit" || fail "systemctl reload returned an error"
expect "reload: active again" wait_until 30 property_is ActiveState active
expect "reload kept the master $main" [ "$(show MainPID)" = "$main" ]
expect "an echo after the reload" [ "$(echo_once)" = OK ]

# ---- upgrade: the socket keeps listening throughout, the running service is restarted (dh_installsystemd's
# default until the connection hand-over of R62 exists)
sock_since=$(show ActiveEnterTimestampMonotonic "$sock")
if apt_get install "/root/debs/$(basename "$deb2")" >"$tmp/upgrade.log" 2>&1; then
  pass "apt-get install ./$(basename "$deb2") (upgrade from $version)"
else
  cat "$tmp/upgrade.log" >&2
  fail "upgrade to $version2"
fi
expect "installed version is $version2" [ "$(in_ct dpkg-query -W -f='${Version}' echo-hardened)" = "$version2" ]
expect "the socket was not restarted by the upgrade" [ "$(show ActiveEnterTimestampMonotonic "$sock")" = "$sock_since" ]
expect "the service was restarted (MainPID $main -> $(show MainPID)) and runs" \
  [ "$(show MainPID)" != "$main" -a "$(show ActiveState)" = active ]
expect "an echo after the upgrade" [ "$(echo_once)" = OK ]

# ---- stop: a draining stop that succeeds
in_ct timeout 40 systemctl stop "$unit" || fail "systemctl stop returned an error"
expect "stopped: Result=$(show Result), exit status $(show ExecMainStatus)" \
  [ "$(show ActiveState)/$(show Result)/$(show ExecMainStatus)" = inactive/success/0 ]
expect "a connection starts it again (socket activation)" [ "$(echo_once)" = OK ]

# ---- remove stops everything; purge leaves nothing behind
in_ct dpkg-query -L echo-hardened >"$tmp/files.txt"
apt_get remove echo-hardened >"$tmp/remove.log" 2>&1 || { cat "$tmp/remove.log" >&2; fail "apt-get remove"; }
expect "remove: no echo-hardened process left" [ -z "$(in_ct pgrep -x echo-hardened || true)" ]
# /proc/net/tcp: local address (port 7007 is 1B5F) and state (0A: listening).
expect "remove: nothing listens on 7007" \
  [ -z "$(in_ct awk '$2 ~ /:1B5F$/ && $4 == "0A"' /proc/net/tcp)" ]
expect "remove: dpkg reported no leftover directory" [ -z "$(grep -i 'not empty' "$tmp/remove.log" || true)" ]
apt_get purge echo-hardened >"$tmp/purge.log" 2>&1 || { cat "$tmp/purge.log" >&2; fail "apt-get purge"; }
expect "purge: dpkg no longer knows the package" [ -z "$(in_ct dpkg-query -W -f='${Status}' echo-hardened 2>/dev/null || true)" ]
left=""
while read -r path; do
  [[ $path == /. ]] && continue
  in_ct test -e "$path" || continue
  # A directory other packages also ship (/usr/bin, /usr/share/lintian/overrides, ...) stays, rightly.
  in_ct test -d "$path" && in_ct dpkg-query -S "$path" >/dev/null 2>&1 && continue
  left+=" $path"
done <"$tmp/files.txt"
expect "purge: no file of the package left${left:+ (left:$left)}" [ -z "$left" ]
leftovers=$(in_ct bash -c 'find / -xdev \( -path /proc -o -path /sys -o -path /root/debs -o -path /var/log \
  -o -path /run/log \) -prune -o -name "*echo-hardened*" -print 2>/dev/null' || true)
expect "purge: no path named *echo-hardened* anywhere${leftovers:+ (found: $(tr '\n' ' ' <<<"$leftovers"))}" \
  [ -z "$leftovers" ]
expect "purge: no running process" [ -z "$(in_ct pgrep -x echo-hardened || true)" ]
expect "purge: systemd knows no such unit" property_is LoadState not-found
expect "purge: the trigger dropped the catalog's entries" \
  bash -c '! grep -q "^$1 " <<<"$2"' _ "$catalog_id" "$(in_ct journalctl --list-catalog 2>&1)"

if ((failures)); then
  diagnostics
  echo "package-test: $failures check(s) failed" >&2
  exit 1
fi
echo "package-test: all checks passed in ${SECONDS}s"
