#!/usr/bin/env bash
# check-unit.sh: fails when the unit's SystemCallFilter= and seccomp/policy.txt have drifted apart (R34).
#
# Usage: check-unit.sh UNIT_FILE [POLICY]
# (a) the unit's allow lines (SystemCallFilter= without "~") must be exactly what seccomp/unit-filter.sh prints;
# (b) no system call the policy gives the unit may belong to a group the unit's deny lines (SystemCallFilter=~)
#     name: systemd would silently drop it from the allow list and the server would die on it. Groups are
#     expanded, nested ones too, with "systemd-analyze syscall-filter", which needs no running systemd.
# Exit status: 0 they agree, 1 they differ (what to change is printed), 2 usage.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
unit=${1:?usage: check-unit.sh UNIT_FILE [POLICY]}
policy=${2:-$here/policy.txt}
[[ -r $unit ]] || { echo "check-unit: cannot read $unit" >&2; exit 2; }
command -v systemd-analyze >/dev/null || { echo "check-unit: systemd-analyze is not installed" >&2; exit 1; }

generated=$(bash "$here/unit-filter.sh" "$policy")
expected=$(grep '^SystemCallFilter=' <<<"$generated")
actual=$(grep -E '^[[:space:]]*SystemCallFilter=[^~]' "$unit" | sed 's/^[[:space:]]*//' || true)
names() { sed 's/^SystemCallFilter=//' | tr ' ' '\n' | grep -v '^$' | sort -u; }
status=0

if [[ $actual != "$expected" ]]; then
    echo "check-unit: (a) $unit's SystemCallFilter= allow lines differ from seccomp/unit-filter.sh's output" >&2
    extra=$(comm -13 <(names <<<"$expected") <(names <<<"$actual") | tr '\n' ' ')
    missing=$(comm -23 <(names <<<"$expected") <(names <<<"$actual") | tr '\n' ' ')
    echo "  in the unit, not in the policy: ${extra:-none}" >&2
    echo "  in the policy, not in the unit: ${missing:-none}" >&2
    echo "  replace the unit's allow lines (between # BEGIN allow list and # END allow list) with:" >&2
    printf '    %s\n' "${generated//$'\n'/$'\n'    }" >&2
    status=1
fi

# Each denied name, or each member of a denied @group, recursively.
expand() {
    local item
    for item in "$@"; do
        if [[ $item == @* ]]; then
            local members
            members=$(systemd-analyze syscall-filter --no-pager "$item" 2>/dev/null | tail -n +2 |
                      grep -v '^[[:space:]]*#' | awk 'NF { print $1 }') ||
                { echo "check-unit: systemd-analyze does not know the group $item" >&2; exit 1; }
            [[ -n $members ]] || { echo "check-unit: systemd-analyze lists nothing for $item" >&2; exit 1; }
            # shellcheck disable=SC2086  # one member per word
            expand $members
        else
            echo "$item"
        fi
    done
}
denied_items=$(grep -E '^[[:space:]]*SystemCallFilter=~' "$unit" | sed 's/^[[:space:]]*SystemCallFilter=~//' | tr '\n' ' ')
if [[ -z $denied_items ]]; then
    echo "check-unit: (b) $unit has no SystemCallFilter=~ deny line to check against" >&2
    status=1
else
    # shellcheck disable=SC2086
    denied=$(expand $denied_items | sort -u)
    clash=$(comm -12 <(names <<<"$expected") <(echo "$denied") | tr '\n' ' ')
    if [[ -n $clash ]]; then
        echo "check-unit: (b) the policy allows calls the unit denies ($denied_items): $clash" >&2
        echo "  each one would kill the service under systemd; drop it from the policy or the deny line" >&2
        status=1
    fi
fi

if ((status == 0)); then
    echo "check-unit: $unit allows exactly the policy's $(names <<<"$expected" | wc -l) system calls, none of them in: $denied_items"
fi
exit "$status"
