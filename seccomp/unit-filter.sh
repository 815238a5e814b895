#!/usr/bin/env bash
# unit-filter.sh: prints the SystemCallFilter= allow lines of units/echo-hardened.service from seccomp/policy.txt.
#
# Usage: unit-filter.sh [POLICY]
# The unit's list is the union of every role but "bind", "drop", "confine" and "sanitizer": systemd's filter is in
# force from execve() on, so it admits the master's start-up (role start; not bind: the unit always passes its
# socket; not drop and confine: under DynamicUser= the server never starts as root), both processes' filters'
# calls (master, setup, worker), and what systemd itself does between loading it and execve() (role systemd). "seccomp" is among them (roles start and
# setup): the server stacks its own filters on systemd's. Argument conditions and "errno" answers stay in the
# server's filters; clone3 is listed so RestrictNamespaces=, which answers it with ENOSYS, decides its fate rather
# than this list's kill. systemd adds its @default group to any allow list by itself.
# Paste the output over the unit's allow lines; seccomp/check-unit.sh (a ctest) fails while they differ.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
policy=${1:-$here/policy.txt}

awk -f "$here/policy.awk" "$policy" |
    awk -F '\t' '{ n = split($2, r, ","); for (i = 1; i <= n; ++i) if (r[i] !~ /^(bind|drop|confine|sanitizer)$/) { print $1; break } }' |
    sort -u |
    awk '
        BEGIN { print "# Generated from seccomp/policy.txt by seccomp/unit-filter.sh; ctest seccomp.unit-filter checks it." }
        {
            if (line != "" && length(line) + 1 + length($0) > 110) { print line; line = "" }
            line = line == "" ? "SystemCallFilter=" $0 : line " " $0
        }
        END { if (line != "") print line }'
