#!/usr/bin/env bash
# Installs the proxy benchmark's tools if missing: wrk (load generator), nginx (baseline proxy)
# and a C compiler from Debian packages, then builds bench/tools/openloop.c (the open-loop generator of
# the latency target) into bench/.bin/openloop when it is missing or older than its source.
# Needs root (or passwordless sudo) only when a package is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
build_openloop() {
  local src="$here/bench/tools/openloop.c" bin="$here/bench/.bin/openloop"
  if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ]; then
    mkdir -p "$here/bench/.bin"
    gcc -O2 -Wall -Wextra -o "$bin" "$src" -lm
  fi
}
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
# gcc without its recommends has no C library headers
[ -e /usr/include/stdio.h ] || missing+=(libc6-dev)
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  # nginx-light is enough (core + proxy + upstream keepalive); fall back to nginx.
  policy=$(apt-cache policy nginx-light 2>/dev/null || true)
  if [[ "$policy" == *"Candidate: "[0-9]* ]]; then missing+=(nginx-light); else missing+=(nginx); fi
fi
command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
if [ ${#missing[@]} -eq 0 ]; then build_openloop; exit 0; fi
echo "bench-tools: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "bench-tools: need root to install ${missing[*]} (apt-get install -y ${missing[*]})" >&2; exit 1; fi
fi
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; then
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian package may start a system nginx on :80; the bench runs its own, so stop that one.
if [[ " ${missing[*]} " == *" nginx"* ]] && command -v systemctl >/dev/null 2>&1; then
  $SUDO systemctl stop nginx >/dev/null 2>&1 || true
fi
build_openloop
