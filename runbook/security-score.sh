#!/usr/bin/env bash
# security-score.sh: prints echo-hardened.service's systemd-analyze exposure score and every remaining ✗ finding.
#
# Usage: security-score.sh [--max SCORE] [UNIT_FILE | UNIT_NAME]
#   UNIT_FILE (a path, e.g. units/echo-hardened.service): offline review of the file and its .d/ drop-ins.
#   UNIT_NAME (default echo-hardened.service): review of the unit loaded in the running systemd.
#   --max SCORE: exit 1 if the overall exposure is above SCORE (e.g. 0.1), the figure documented in RUNBOOK.md.
# Output: "exposure <score> <verdict>" on the first line, then one line per ✗ finding (name, why, weight).
set -euo pipefail

max=""
if [[ ${1:-} == --max ]]; then
  max=${2:?--max needs a score such as 0.1}
  shift 2
fi
unit=${1:-echo-hardened.service}
mode=(--offline=false)
[[ $unit == */* ]] && mode=(--offline=true)

out=$(mktemp)
trap 'rm -f "$out"' EXIT
# A UTF-8 locale keeps systemd's ✗/✓ marks (in the C locale it prints "-"/"+" instead).
if ! LC_ALL=C.UTF-8 timeout 60 systemd-analyze security --no-pager "${mode[@]}" "$unit" >"$out" 2>&1; then
  cat "$out" >&2
  echo "security-score: systemd-analyze security $unit failed" >&2
  exit 1
fi
# systemd-analyze prints parse warnings ("Unknown key ...") but still scores: a warning means a setting the score
# may silently not include, so it is an error here.
if grep -E '^/.*:[0-9]+: ' "$out" >&2; then
  echo "security-score: $unit has unit file warnings (above)" >&2
  exit 1
fi

overall=$(sed -n 's/^→ Overall exposure level for .*: \([0-9][0-9.]*\) \([A-Z]*\).*/\1 \2/p' "$out")
[[ -n $overall ]] || { cat "$out" >&2; echo "security-score: no overall exposure line" >&2; exit 1; }
echo "exposure $overall"
grep '^✗' "$out" | sed 's/  */ /g' || true

if [[ -n $max ]]; then
  score=${overall%% *}
  if awk -v s="$score" -v m="$max" 'BEGIN {exit !(s > m)}'; then
    echo "security-score: exposure $score is above the documented $max" >&2
    exit 1
  fi
fi
