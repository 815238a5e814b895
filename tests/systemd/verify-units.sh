#!/usr/bin/env bash
# verify-units.sh: installs the build into a scratch DESTDIR, checks what landed, and runs systemd-analyze verify.
#
# Usage: verify-units.sh BUILD_DIR
# "systemd-analyze verify" ignores RootDirectory= and wants ExecStart= to exist on this host, so the installed
# units and their drop-in are verified from a copy whose ExecStart= points at the staged binary. Any output at all
# (verify reports unknown keys and bad values on stderr yet exits 0) is a failure.
set -euo pipefail

build=${1:?usage: verify-units.sh BUILD_DIR}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
stage=$tmp/stage
units=$stage/usr/lib/systemd/system
rootdir=$stage/usr/lib/echo-hardened/root
failed=0
check() {  # DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then echo "PASS: $what"; else echo "FAIL: $what" >&2; failed=1; fi
}

DESTDIR=$stage timeout 120 cmake --install "$build" --prefix /usr >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log" >&2; echo "FAIL: cmake --install" >&2; exit 1; }

check "binary installed to /usr/bin" test -x "$stage/usr/bin/echo-hardened"
check "units installed to /usr/lib/systemd/system" test -f "$units/echo-hardened.socket" -a -f "$units/echo-hardened.service" \
  -a -f "$units/echo-hardened-metrics.socket"
dropin=$units/echo-hardened.service.d/root.conf
check "drop-in root.conf installed" test -f "$dropin"
check "drop-in sets RootDirectory=/usr/lib/echo-hardened/root" grep -qx 'RootDirectory=/usr/lib/echo-hardened/root' "$dropin"
# The binary is a copy in the root, not a bind mount: a running service must see it replaced (R61, docs/UPGRADE.md).
check "drop-in does not bind the binary" bash -c '! grep -q "^BindReadOnlyPaths=/usr/bin/echo-hardened" "$1"' _ "$dropin"
check "the root holds a copy of the binary" cmp -s "$stage/usr/bin/echo-hardened" "$rootdir/usr/bin/echo-hardened"
unbound="" unmounted="" count=0
while read -r lib; do
  count=$((count + 1))
  grep -qx "BindReadOnlyPaths=$lib" "$dropin" || unbound+=" $lib"
  [[ -f $rootdir$lib ]] || unmounted+=" $lib"
done < <(ldd "$stage/usr/bin/echo-hardened" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
check "drop-in binds all $count libraries ldd lists${unbound:+ (missing:$unbound)}" test -z "$unbound"
check "root has a mount point for each library${unmounted:+ (missing:$unmounted)}" test -z "$unmounted"
check "no library bound that ldd does not list" \
  test "$(grep -c '^BindReadOnlyPaths=' "$dropin")" = "$count"
check "the root holds nothing but mount points and the binary (no other file has content)" \
  test -z "$(find "$rootdir" -type f -size +0 ! -path "$rootdir/usr/bin/echo-hardened" -print -quit)"

mkdir "$tmp/verify"
cp "$units/echo-hardened.socket" "$units/echo-hardened-metrics.socket" "$units/echo-hardened.service" "$tmp/verify/"
cp -r "$units/echo-hardened.service.d" "$tmp/verify/"
sed -i "s|^ExecStart=/usr/bin/echo-hardened|ExecStart=$stage/usr/bin/echo-hardened|" "$tmp/verify/echo-hardened.service"
rc=0
# verify runs "man" for Documentation=man:echo-hardened(8): the staged page must be there.
out=$(MANPATH=$stage/usr/share/man timeout 60 systemd-analyze verify "$tmp/verify/echo-hardened.socket" "$tmp/verify/echo-hardened-metrics.socket" "$tmp/verify/echo-hardened.service" 2>&1) ||
  rc=$?
[[ -z $out ]] || printf '%s\n' "$out" >&2
check "systemd-analyze verify: exit 0 ($rc), no output" test "$rc" = 0 -a -z "$out"
exit "$failed"
