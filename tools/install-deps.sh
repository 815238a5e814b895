#!/usr/bin/env bash
# Installs, from Debian's packages, everything the build, the tests and the runbook need. Idempotent.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config clang-format clang dpkg-dev
  # -fsanitize=fuzzer: libFuzzer's runtime, with clang's sanitizer runtimes (tests/fuzz, docs/FUZZING.md).
  libclang-rt-dev
  libsystemd-dev libfmt-dev libspdlog-dev doctest-dev libseccomp-dev libmicrohttpd-dev libcap-ng-dev
  # The metrics tests scrape with a real Prometheus and check the page with its promtool.
  prometheus
  netcat-openbsd procps util-linux iproute2 strace
  systemd systemd-container debootstrap
  socat ncat xinetd
  # HAProxy: the PROXY protocol's integration test (R90) runs it with send-proxy and send-proxy-v2 in front, and
  # the fleet (deploy/, tests/fleet, docs/FLEET.md) in front of its hosts (run by the scripts, never as a
  # service); curl asks the hosts' /ready, jq reads echo-load's JSON summaries.
  haproxy curl jq
  # bench/run-bench.sh --plot: gnuplot's pngcairo and svg terminals, a font for their text; xmllint checks the SVG.
  gnuplot-nox fonts-dejavu-core libxml2-utils
  # The Debian package (debian/, tests/systemd/package-test.sh): dpkg-buildpackage, debhelper, lintian, the man
  # page's check; devscripts and equivs for "mk-build-deps", which installs debian/control's Build-Depends.
  dpkg-dev debhelper lintian man-db groff-base devscripts equivs
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
