#!/usr/bin/env bash
# gen-policy.sh: compiles seccomp/policy.txt into the rule table server/seccomp_filter.cpp includes.
#
# Usage: gen-policy.sh POLICY OUTPUT
# Writes one C++ initializer per rule alternative: {SCMP_SYS(name), "name", roles, errno, count, {comparisons}}.
# Only the roles the in-process filters use are kept (start and systemd lines feed the unit alone). An unknown
# syscall name fails the compile (SCMP_SYS), an unknown constant too: the policy cannot rot quietly.
set -euo pipefail
policy=${1:?usage: gen-policy.sh POLICY OUTPUT}
output=${2:?usage: gen-policy.sh POLICY OUTPUT}
here=$(cd "$(dirname "$0")" && pwd)

records=$(awk -f "$here/policy.awk" "$policy")
tmp=$(mktemp "$output.XXXXXX")
trap 'rm -f "$tmp"' EXIT
{
    echo "// Generated from seccomp/policy.txt by seccomp/gen-policy.sh: edit the policy, not this file."
    printf '%s\n' "$records" | awk -F '\t' '
        function role_bits(roles,    n, r, i, bits) {
            n = split(roles, r, ",")
            bits = ""
            for (i = 1; i <= n; ++i) {
                if (r[i] == "master") bits = bits (bits == "" ? "" : " | ") "kRoleMaster"
                else if (r[i] == "setup") bits = bits (bits == "" ? "" : " | ") "kRoleSetup"
                else if (r[i] == "confine") bits = bits (bits == "" ? "" : " | ") "kRoleConfine"
                else if (r[i] == "worker") bits = bits (bits == "" ? "" : " | ") "kRoleWorker"
                else if (r[i] == "metrics") bits = bits (bits == "" ? "" : " | ") "kRoleMetrics"
                else if (r[i] == "sanitizer") bits = bits (bits == "" ? "" : " | ") "kRoleSanitizer"
            }
            return bits
        }
        # "arg1 == X" or "arg0 & M == V" -> a scmp_arg_cmp initializer.
        function comparison(text,    t, n, op) {
            n = split(text, t, " ")
            if (n == 5) return sprintf("{%s, SCMP_CMP_MASKED_EQ, datum(%s), datum(%s)}", substr(t[1], 4), t[3], t[5])
            op = t[2] == "==" ? "EQ" : t[2] == "!=" ? "NE" : t[2] == "<" ? "LT" : t[2] == "<=" ? "LE" : t[2] == ">" ? "GT" : "GE"
            return sprintf("{%s, SCMP_CMP_%s, datum(%s), 0}", substr(t[1], 4), op, t[3])
        }
        {
            bits = role_bits($2)
            if (bits == "") next
            err = $3 == "" ? "0" : $3
            if ($4 == "") {
                printf "{SCMP_SYS(%s), \"%s\", %s, %s, 0, {}},\n", $1, $1, bits, err
                next
            }
            nalt = split($4, alt, / or /)
            for (a = 1; a <= nalt; ++a) {
                ncmp = split(alt[a], cmp, / and /)
                if (ncmp > 3) { print "policy: more than 3 comparisons in one alternative of " $1 > "/dev/stderr"; exit 1 }
                list = ""
                for (c = 1; c <= ncmp; ++c) list = list (c == 1 ? "" : ", ") comparison(cmp[c])
                printf "{SCMP_SYS(%s), \"%s\", %s, %s, %d, {%s}},\n", $1, $1, bits, err, ncmp, list
            }
        }'
} >"$tmp"
# Rewritten only when it changed, so touching the policy's comments does not rebuild the server.
if ! cmp -s "$tmp" "$output"; then mv "$tmp" "$output"; fi
