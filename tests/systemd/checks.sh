#!/usr/bin/env bash
# checks.sh: PASS/FAIL lines and their count for the container tests; sourced, not run. The sourcing script
# defines diagnostics(), which die() calls before it exits.
failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
expect() {  # DESCRIPTION COMMAND...: PASS when COMMAND succeeds
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
die() {
  echo "FAIL: $*" >&2
  diagnostics
  exit 1
}
