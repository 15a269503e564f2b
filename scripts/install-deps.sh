#!/usr/bin/env bash
# Installs what Portico needs on a fresh Debian/Ubuntu machine, skipping what is present.
#   scripts/install-deps.sh          node + npm packages (for make run)
#   scripts/install-deps.sh --test   also etcd (the tests start their own etcd processes)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then $SUDO apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@"
}

# Node.js >= 20.18 (Debian bookworm's own nodejs is too old; install Node 20+ first if this fails).
if ! command -v node >/dev/null 2>&1; then
  echo "install-deps: node not found, trying Debian's nodejs + npm"
  apt_install nodejs npm
fi
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=18)?0:1)'; then
  echo "install-deps: Portico needs Node.js >= 20.18, found $(node --version). Install a current Node.js and retry." >&2
  exit 1
fi

# npm packages, exactly as locked. The stamp avoids re-running npm ci when nothing changed.
if [ ! -f node_modules/.portico-installed ] || [ package-lock.json -nt node_modules/.portico-installed ]; then
  npm ci --no-audit --no-fund
  touch node_modules/.portico-installed
fi

if [ "$want_test" = 1 ] && ! command -v etcd >/dev/null 2>&1; then
  echo "install-deps: installing etcd (Debian package etcd-server)"
  apt_install etcd-server
  # The package may start a system etcd on :2379; tests use their own on free ports, so stop it.
  if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl stop etcd >/dev/null 2>&1 || true; fi
fi
exit 0
