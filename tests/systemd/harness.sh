#!/usr/bin/env bash
# harness.sh: what every container test begins with; sourced, not run. Sources container.sh (the container),
# runbook/lib/wait.sh (wait_until) and checks.sh (PASS/FAIL), and gives the commands every test uses inside.
# Before sourcing, the test sets unit= (the service the commands default to) and may set ct_timeout= (seconds any
# command inside may take, default 90). After it, the test defines diagnostics() (die() calls it) and may define
# cleanup_more(), run first on exit, for what it made besides the container and its scratch directory.
harness_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=container.sh
. "$harness_dir/container.sh"
# shellcheck source-path=SCRIPTDIR source=../../runbook/lib/wait.sh
. "$harness_dir/../../runbook/lib/wait.sh"
# shellcheck source-path=SCRIPTDIR source=checks.sh
. "$harness_dir/checks.sh"

in_ct() { container_exec timeout "${ct_timeout:-90}" "$@"; }  # every command inside is bounded
show() { in_ct systemctl show --property="$1" --value "${2:-$unit}"; }
property_is() { [[ $(show "$1" "${3:-$unit}") == "$2" ]]; }  # PROPERTY VALUE [UNIT]

# scratch_dir NAME: makes $tmp (under /var/tmp: the container's root is copied from there) and the exit trap that
# removes the container and $tmp, pass or fail.
scratch_dir() {
  [[ $(id -u) == 0 ]] || die "must run as root (systemd-nspawn)"
  tmp=$(mktemp -d "/var/tmp/echo-$1.XXXXXX")
  trap harness_cleanup EXIT
  trap 'exit 130' INT TERM
}
harness_cleanup() {
  if declare -F cleanup_more >/dev/null; then cleanup_more || true; fi
  container_teardown
  rm -rf "$tmp"
}

# stage_install BUILD_DIR: BUILD_DIR installed under $tmp/stage as a package would install it (prefix /usr).
stage_install() {
  DESTDIR=$tmp/stage timeout 120 cmake --install "$1" --prefix /usr >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log" >&2; die "cmake --install failed"; }
  [[ -x $tmp/stage/usr/bin/echo-hardened ]] || die "cmake --install staged no /usr/bin/echo-hardened"
}
