#!/usr/bin/env bash
# check-man.sh: the rendered echo-hardened(8) lists exactly the options --help prints, with the same value name,
# environment variable and text (defaults included), in the same order; and man renders it without a warning.
#
# Usage: check-man.sh BINARY PAGE. Both sides are reduced to one line per option,
#   --name METAVAR [VARIABLE] help text...
# from --help's "  --name METAVAR  [VARIABLE]" line and its indented continuation lines, and from the page's
# OPTIONS section as "man -l" renders it (no hyphenation or justification, wide enough for one line per
# paragraph). Prints the difference when they disagree. Exit status: 0 they agree, 1 otherwise, 2 usage.
set -euo pipefail
export LC_ALL=C.UTF-8
# A step that fails under set -e says which, rather than ending the check without a word.
trap 'echo "check-man: line $LINENO failed (status $?): $BASH_COMMAND" >&2' ERR

binary=${1:?usage: check-man.sh BINARY PAGE}
page=${2:?usage: check-man.sh BINARY PAGE}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Both awk programs read to the end rather than exit once past what they want: with pipefail, a reader that left
# early fails the check whenever the writer still had output (status 141, SIGPIPE: seen on the man side, once the
# page grew past the pipe's buffer).
"$binary" --help | awk '
  /^  --help, --version/ { done = 1 }
  done { next }
  /^  --/ { if (entry != "") print entry; sub(/^  /, ""); sub(/  \[/, " ["); entry = $0; next }
  /^    / && entry != "" { sub(/^ +/, ""); entry = entry " " $0 }
  END { if (entry != "") print entry }' >"$tmp/help"

MANWIDTH=1000 man --nh --nj -l -P cat "$page" 2>"$tmp/warnings" | col -bx | awk '
  /^OPTIONS/ { inside = 1; next }
  inside && /^[A-Z]/ { inside = 0; past = 1 }
  !inside || past { next }
  /^       -/ { flush(); sub(/^ +/, ""); flag = $0; text = ""; env = ""; next }
  /^              Environment: / { sub(/^ +Environment: /, ""); env = $0; next }
  /^              / && flag != "" { sub(/^ +/, ""); text = text (text == "" ? "" : " ") $0 }
  function flush() { if (flag != "" && flag !~ /^-[hV], /) print flag " [" env "] " text; flag = "" }
  END { flush() }' >"$tmp/man"

failed=0
if ! diff -u --label "--help" --label "$page" "$tmp/help" "$tmp/man"; then
  echo "FAIL: the man page's options differ from --help (above)" >&2
  failed=1
fi
count=$(wc -l <"$tmp/help")
((count > 0)) || { echo "FAIL: --help listed no options" >&2; failed=1; }
if [[ -s $tmp/warnings ]]; then
  echo "FAIL: man reported:" >&2
  cat "$tmp/warnings" >&2
  failed=1
fi
warnings=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$page" 2>&1 >/dev/null || true)
if [[ -n $warnings ]]; then
  echo "FAIL: groff warnings (lintian reports these as groff-message):" >&2
  echo "$warnings" >&2
  failed=1
fi
((failed)) || echo "PASS: the man page lists the $count options of --help, each with its variable and text"
exit "$failed"
