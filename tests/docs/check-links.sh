#!/usr/bin/env bash
# check-links.sh [SOURCE_DIR]: fails when the documentation points at something that is not there.
#
#   1. Every relative Markdown link in README.md, RUNBOOK.md and docs/*.md, [text](path), [text](path#anchor) and
#      [text](#anchor), names a file that exists and, for a Markdown target, an anchor that one of its headings
#      (GitHub's slug rules) or an <a id="..."> defines.
#   2. Every citation of a section by title in the code, the tests, the scripts and the docs, written as the file
#      name followed by the quoted title (several titles may follow, separated by commas), names a heading of that
#      file: RUNBOOK.md at the top, ARCHITECTURE.md in docs/. A title may stop before the heading's ':' or ' (' part.
#   3. Every R-number cited anywhere in the project is a heading of docs/REQUIREMENTS.md.
#
# Prints one line per broken reference, FILE:LINE: what is wrong. Exit status: 0 all resolve, 1 otherwise, 2 usage.
# Slugs: lower case, punctuation other than '-' and '_' removed, spaces to '-', "-1", "-2"... for repeated headings.
# Only ASCII letters and digits survive in a slug here (GitHub also keeps non-ASCII letters); headings of this
# project are ASCII apart from symbols, which GitHub drops too.
set -euo pipefail
export LC_ALL=C

if (($# > 1)); then
    echo "usage: $0 [SOURCE_DIR]" >&2
    exit 2
fi
root=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
cd "$root" || exit 2
self=tests/docs/check-links.sh

# The project's files: what git tracks or would track (new files included), else everything but build trees.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    mapfile -t files < <(git ls-files --cached --others --exclude-standard | sort -u)
else
    mapfile -t files < <(find . -path ./.git -prune -o -path './build*' -prune -o -type f -print | sed 's|^\./||' | sort)
fi
existing=()
for f in "${files[@]}"; do [[ -f $f ]] && existing+=("$f"); done
files=("${existing[@]}")

docs=()
for f in README.md RUNBOOK.md docs/*.md; do [[ -f $f ]] && docs+=("$f"); done

broken=0
report() {
    echo "$1"
    broken=$((broken + 1))
}

# An awk function both programs share: true for a line that opens or closes a fenced code block, or lies inside
# one (CommonMark: up to three spaces, then ``` or ~~~, closed by the same character at least as long).
fence_awk='
    function code_fence(line,   m) {
        if (match(line, /^ ? ? ?(```+|~~~+)/)) {
            m = substr(line, RSTART, RLENGTH)
            gsub(/ /, "", m)
            if (fence == "") { fence = m; return 1 }
            if (substr(m, 1, 1) == substr(fence, 1, 1) && length(m) >= length(fence)) { fence = ""; return 1 }
        }
        return fence != ""
    }'

# headings FILE MODE: the file's headings outside fenced code blocks; MODE slug prints their anchors (and those of
# <a id/name>), MODE text their titles without backticks.
headings() {
    awk -v mode="$2" "$fence_awk"'
        function slug(t,   s) {
            s = tolower(t)
            gsub(/[^a-z0-9 _-]/, "", s)
            gsub(/ /, "-", s)
            return s
        }
        {
            line = $0
            if (code_fence(line)) next
            if (line ~ /^ ? ? ?#+([ \t]|$)/) {
                t = line
                sub(/^ *#+[ \t]*/, "", t)
                sub(/[ \t]+#+[ \t]*$/, "", t)
                sub(/[ \t]+$/, "", t)
                if (mode == "text") {
                    gsub(/`/, "", t)
                    print t
                } else {
                    s = slug(t)
                    if (s in seen) { print s "-" seen[s]; seen[s]++ } else { print s; seen[s] = 1 }
                }
            }
            if (mode == "slug") {
                while (match(line, /<a[ \t]+(id|name)="[^"]+"/)) {
                    a = substr(line, RSTART, RLENGTH)
                    sub(/^[^"]*"/, "", a)
                    sub(/"$/, "", a)
                    print a
                    line = substr(line, RSTART + RLENGTH)
                }
            }
        }' "$1"
}

declare -A slugs_of titles_of
cache() {  # cache FILE: its anchors and titles, one per line, each list framed by newlines
    [[ -v slugs_of[$1] ]] && return
    slugs_of[$1]=$'\n'"$(headings "$1" slug)"$'\n'
    titles_of[$1]=$'\n'"$(headings "$1" text)"$'\n'
}

# 1. Markdown links. awk prints LINE<TAB>TARGET for every ](target) outside code blocks and code spans.
for doc in "${docs[@]}"; do
    dir=$(dirname "$doc")
    while IFS=$'\t' read -r lineno target; do
        case $target in
            [a-zA-Z]*:*) continue ;;  # https:, mailto: and other schemes: not checked here
            //*) continue ;;
        esac
        path=${target%%#*}
        anchor=""
        [[ $target == *'#'* ]] && anchor=${target#*#}
        if [[ -z $path ]]; then
            file=$doc
        else
            file=$dir/$path
            file=${file#./}
            if [[ ! -e $file ]]; then
                report "$doc:$lineno: link to $target: no file $file"
                continue
            fi
        fi
        if [[ -n $anchor && $file == *.md && -f $file ]]; then
            cache "$file"
            if [[ ${slugs_of[$file]} != *$'\n'"$anchor"$'\n'* ]]; then
                report "$doc:$lineno: link to $target: no heading with anchor #$anchor in $file"
            fi
        fi
    done < <(awk "$fence_awk"'
        {
            line = $0
            if (code_fence(line)) next
            gsub(/``[^`]*``/, "", line)
            gsub(/`[^`]*`/, "", line)
            while (match(line, /\]\([^)]*\)/)) {
                t = substr(line, RSTART + 2, RLENGTH - 3)
                sub(/^[ \t]*</, "", t)
                sub(/>?[ \t].*$/, "", t)
                sub(/>$/, "", t)
                if (t != "") print NR "\t" t
                line = substr(line, RSTART + RLENGTH)
            }
        }' "$doc")
done

# 2. Section citations by title.
cited_in=()
for f in "${files[@]}"; do
    case $f in
        "$self") ;;
        server/* | tests/* | runbook/* | tools/* | units/* | seccomp/* | bench/* | README.md | RUNBOOK.md | docs/*.md)
            cited_in+=("$f")
            ;;
    esac
done
title_matches() {  # title_matches FILE TITLE
    local t=${2//\`/}
    printf '%s' "${titles_of[$1]}" | awk -v t="$t" '
        { h = $0; if (h == t) found = 1
          c = h; if (sub(/:.*$/, "", c) && c == t) found = 1
          p = h; if (sub(/ \(.*$/, "", p) && p == t) found = 1 }
        END { exit found ? 0 : 1 }'
}
if ((${#cited_in[@]})); then
    while IFS= read -r hit; do
        where=${hit%%:*}
        rest=${hit#*:}
        lineno=${rest%%:*}
        cite=${rest#*:}
        case $cite in
            ARCHITECTURE.md*) target=docs/ARCHITECTURE.md ;;
            *) target=RUNBOOK.md ;;
        esac
        if [[ ! -f $target ]]; then
            report "$where:$lineno: cites $cite: there is no $target"
            continue
        fi
        cache "$target"
        # Every quoted title of the citation, backslash escapes dropped.
        while IFS= read -r title; do
            [[ -z $title ]] && continue
            title_matches "$target" "$title" || report "$where:$lineno: cites $target \"$title\": no such heading"
        done < <(printf '%s\n' "$cite" | sed 's/\\"/"/g' | grep -oE '"[^"]+"' | sed 's/^"//; s/"$//')
    done < <(grep -HnoE '(RUNBOOK|ARCHITECTURE)\.md \\?"[^"\\]+\\?"(([,;]| and) \\?"[^"\\]+\\?")*' -- "${cited_in[@]}" || true)
fi

# 3. R-numbers.
req=docs/REQUIREMENTS.md
if [[ ! -f $req ]]; then
    report "$req: missing"
else
    defined=$(headings "$req" text | grep -oE '^R[0-9]+' | sort -u)
    while IFS=: read -r where lineno number; do
        grep -qxF "$number" <<<"$defined" || report "$where:$lineno: cites $number, which is not a heading of $req"
    done < <(grep -HnoIE '\bR[0-9]{1,2}\b' -- "${files[@]}" | grep -v "^$self:" || true)
fi

if ((broken)); then
    echo "check-links: $broken broken reference(s)"
    exit 1
fi
echo "check-links: every link, section citation and R-number resolves (${#docs[@]} Markdown files, ${#cited_in[@]} files searched for citations)"
