# policy.awk: the one parser of seccomp/policy.txt; every consumer (header, unit lines, census) reads its output.
#
# Output, one record per policy line, tab-separated:
#   name  roles  errno  condition  reason
# roles: the line's roles expanded ("both" becomes master,worker), comma-separated, in a fixed order.
# errno: empty (allow) or the errno name. condition: empty (any arguments) or the normalised "when" text.
# Errors go to stderr as "FILE:LINE: message" and the exit status is 1, so a build or test using it fails.
BEGIN {
    FS = "[ \t]+"
    known_roles = "start bind drop master setup confine worker metrics systemd sanitizer"
    role_count = split(known_roles, role_order, " ")
    failed = 0
}

function fail(message) {
    printf "%s:%d: %s\n", FILENAME, FNR, message > "/dev/stderr"
    failed = 1
}

function is_arg(token) { return token ~ /^arg[0-5]$/ }
function is_operand(token) { return token ~ /^[A-Za-z0-9_|()+~-]+$/ && token != "and" && token != "or" }

# Checks the tokens of a condition, t[first..last]: comparisons joined by "and"/"or".
function check_condition(t, first, last,    i, want_comparison) {
    if (first > last) return "\"when\" needs a condition"
    i = first
    for (;;) {
        if (!is_arg(t[i])) return "expected argN (N from 0 to 5), found \"" t[i] "\""
        if (t[i + 1] == "&") {
            if (!is_operand(t[i + 2]) || t[i + 3] != "==" || !is_operand(t[i + 4]))
                return "expected \"argN & MASK == VALUE\" at \"" t[i] "\""
            i += 5
        } else {
            if (t[i + 1] !~ /^(==|!=|<|<=|>|>=)$/ || !is_operand(t[i + 2]))
                return "expected \"argN OP VALUE\" with OP one of == != < <= > >= at \"" t[i] "\""
            i += 3
        }
        if (i > last + 1) return "incomplete comparison at the end"
        if (i == last + 1) return ""
        if (t[i] != "and" && t[i] != "or") return "expected \"and\" or \"or\", found \"" t[i] "\""
        if (i == last) return "condition ends with \"" t[i] "\""
        ++i
    }
}

/^[ \t]*(#|$)/ { next }

{
    line = $0
    sep = index(line, " -- ")
    if (sep == 0) { fail("missing \" -- reason\""); next }
    reason = substr(line, sep + 4)
    sub(/^[ \t]+/, "", reason)
    sub(/[ \t]+$/, "", reason)
    if (reason == "") { fail("empty reason"); next }
    head = substr(line, 1, sep - 1)
    sub(/^[ \t]+/, "", head)
    sub(/[ \t]+$/, "", head)
    n = split(head, t, /[ \t]+/)

    name = t[1]
    if (name !~ /^[a-z_][a-z0-9_]*$/) { fail("\"" name "\" is not a system call name"); next }
    if (n < 2) { fail("missing roles after " name); next }

    delete has
    nr = split(t[2], r, ",")
    bad = ""
    for (i = 1; i <= nr; ++i) {
        if (r[i] == "both") { has["master"] = 1; has["worker"] = 1; continue }
        if ((" " known_roles " ") !~ (" " r[i] " ")) bad = r[i]
        has[r[i]] = 1
    }
    if (bad != "") { fail("unknown role \"" bad "\" (roles: both " known_roles ")"); next }
    roles = ""
    for (i = 1; i <= role_count; ++i)
        if (role_order[i] in has) roles = roles (roles == "" ? "" : ",") role_order[i]

    err = ""
    cond = ""
    i = 3
    if (t[i] == "errno") {
        if (t[i + 1] !~ /^E[A-Z0-9]+$/) { fail("\"errno\" needs an errno name such as ENOSYS"); next }
        err = t[i + 1]
        i += 2
    }
    if (t[i] == "when") {
        why = check_condition(t, i + 1, n)
        if (why != "") { fail(why); next }
        for (j = i + 1; j <= n; ++j) cond = cond (cond == "" ? "" : " ") t[j]
    } else if (i <= n) {
        fail("unexpected \"" t[i] "\" (expected \"errno ERRNO\", \"when CONDITION\" or \" -- reason\")")
        next
    }
    if (err != "" && cond != "") { fail("\"errno\" and \"when\" cannot be combined"); next }
    key = name SUBSEP roles SUBSEP cond
    if (key in seen) { fail(name " repeats line " seen[key] " with the same roles and condition"); next }
    seen[key] = FNR
    # An errno answer and an allow rule for one call would contradict each other in the same filter.
    if ((err != "" && (name in allowed)) || (err == "" && (name in answered))) {
        fail(name ": an \"errno\" line cannot share a system call with allowing lines")
        next
    }
    if (err != "") answered[name] = 1
    else allowed[name] = 1
    printf "%s\t%s\t%s\t%s\t%s\n", name, roles, err, cond, reason
}

END { exit failed }
