#!/usr/bin/env bash
# `make cluster` / `make cluster-down`: on loopback, the topology of deploy/docker-compose.yml —
# 3 etcd members, 1 control plane, 3 data planes, a Redis (rate-limit counters shared by the
# data planes) and an echo upstream — as background
# processes whose pid files, configs, logs and data live under $CLUSTER_DIR.
#   scripts/cluster.sh up      start everything, wait until healthy, print the URLs
#   scripts/cluster.sh down    stop everything started by `up` (by pid file) and remove $CLUSTER_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CLUSTER_DIR="${CLUSTER_DIR:-${TMPDIR:-/tmp}/portico-cluster}"
ETCD_BIN="${ETCD_BIN:-etcd}"
KEYRING="${PORTICO_KEYRING:-portico-make-cluster-keyring-0001}"   # a local demo value, not a secret
ADMIN_PORT=9180
ECHO_PORT=1980
REDIS_PORT="${REDIS_PORT:-6379}"
REDIS_BIN="${REDIS_BIN:-redis-server}"
ETCD_CLIENT=(2379 2479 2579)
ETCD_PEER=(2380 2480 2580)
DP_PROXY=(9080 9081 9082)
DP_CONTROL=(9110 9111 9112)
DP_METRICS=(9120 9121 9122)

# Starts "$@" in the background with its output in $CLUSTER_DIR/<name>.log and its pid in <name>.pid.
launch() {
  local name=$1; shift
  nohup "$@" >"$CLUSTER_DIR/$name.log" 2>&1 &
  echo $! >"$CLUSTER_DIR/$name.pid"
}

# Polls a URL until it answers 200 (curl-free: node is always there). Fails after $2 seconds.
wait_http() {
  local url=$1 secs=${2:-30}
  node -e '
    const [url, secs] = [process.argv[1], Number(process.argv[2])];
    const deadline = Date.now() + secs * 1000;
    (async function poll() {
      try { if ((await fetch(url)).status === 200) process.exit(0); } catch {}
      if (Date.now() > deadline) { console.error(`not healthy within ${secs} s: ${url}`); process.exit(1); }
      setTimeout(poll, 200);
    })();' "$url" "$secs"
}

up() {
  if [ -d "$CLUSTER_DIR" ] && ls "$CLUSTER_DIR"/*.pid >/dev/null 2>&1; then
    echo "cluster: $CLUSTER_DIR already holds a cluster; run 'make cluster-down' first" >&2
    exit 1
  fi
  command -v "$ETCD_BIN" >/dev/null || { echo "cluster: etcd not found (scripts/install-deps.sh --test installs it)" >&2; exit 1; }
  command -v "$REDIS_BIN" >/dev/null || { echo "cluster: redis-server not found (scripts/install-deps.sh --test installs it)" >&2; exit 1; }
  [ -f packages/cli/dist/main.js ] || { echo "cluster: run 'npx tsc -b' (make build) first" >&2; exit 1; }
  mkdir -p "$CLUSTER_DIR"
  # If anything below fails, leave nothing running.
  trap 'echo "cluster: start-up failed; logs in $CLUSTER_DIR" >&2; down_processes' ERR

  local initial=""
  for i in 0 1 2; do initial+="${initial:+,}etcd$i=http://127.0.0.1:${ETCD_PEER[$i]}"; done
  local endpoints=""
  for i in 0 1 2; do endpoints+="${endpoints:+, }\"http://127.0.0.1:${ETCD_CLIENT[$i]}\""; done
  for i in 0 1 2; do
    launch "etcd$i" "$ETCD_BIN" --name "etcd$i" --data-dir "$CLUSTER_DIR/etcd$i.data" \
      --listen-client-urls "http://127.0.0.1:${ETCD_CLIENT[$i]}" --advertise-client-urls "http://127.0.0.1:${ETCD_CLIENT[$i]}" \
      --listen-peer-urls "http://127.0.0.1:${ETCD_PEER[$i]}" --initial-advertise-peer-urls "http://127.0.0.1:${ETCD_PEER[$i]}" \
      --initial-cluster "$initial" --initial-cluster-token portico-make-cluster --initial-cluster-state new
  done
  for i in 0 1 2; do wait_http "http://127.0.0.1:${ETCD_CLIENT[$i]}/health" 30; done

  # Redis for cluster-wide rate limits: loopback only, no persistence (windows are short-lived).
  launch redis "$REDIS_BIN" --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$CLUSTER_DIR"
  node -e '
    const [port, secs] = [Number(process.argv[1]), 10];
    const deadline = Date.now() + secs * 1000;
    (function poll() {
      const s = require("node:net").connect(port, "127.0.0.1", () => s.write("PING\r\n"));
      s.on("data", (d) => { if (String(d).startsWith("+PONG")) process.exit(0); });
      s.on("error", () => { if (Date.now() > deadline) { console.error(`redis not up within ${secs} s`); process.exit(1); } setTimeout(poll, 200); });
    })();' "$REDIS_PORT"

  # The echo upstream: answers every request with what it received.
  launch echo node -e '
    require("node:http").createServer((req, res) => {
      const chunks = []; req.on("data", (c) => chunks.push(c));
      req.on("end", () => { res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() })); });
    }).listen(Number(process.argv[1]), "127.0.0.1");' "$ECHO_PORT"

  write_config() { # name role proxy control metrics
    mkdir -p "$CLUSTER_DIR/$1"
    cat >"$CLUSTER_DIR/$1/config.yaml" <<YAML
apisix:
  node_listen: [{ ip: 127.0.0.1, port: $3 }]
  data_encryption: { keyring: ["$KEYRING"] }
deployment:
  role: $2
  config_provider: etcd
  embedded: { data_dir: "$CLUSTER_DIR/$1/data" }
  admin:
    admin_listen: { ip: 127.0.0.1, port: $ADMIN_PORT }
    admin_key_required: false
  etcd:
    host: [ $endpoints ]
    prefix: /apisix
    timeout: 5
control: { ip: 127.0.0.1, port: $4 }
metrics: { ip: 127.0.0.1, port: $5 }
YAML
  }
  write_config cp control_plane 9130 9131 9132
  launch cp node packages/cli/dist/main.js start -c "$CLUSTER_DIR/cp/config.yaml"
  for i in 0 1 2; do
    write_config "dp$((i + 1))" data_plane "${DP_PROXY[$i]}" "${DP_CONTROL[$i]}" "${DP_METRICS[$i]}"
    PORTICO_NODE_ID="dp$((i + 1))" launch "dp$((i + 1))" node packages/cli/dist/main.js start -c "$CLUSTER_DIR/dp$((i + 1))/config.yaml"
  done
  wait_http "http://127.0.0.1:$ADMIN_PORT/apisix/admin/routes" 30
  for i in 0 1 2; do wait_http "http://127.0.0.1:${DP_CONTROL[$i]}/status/ready" 30; done
  trap - ERR

  cat <<TXT
Portico cluster is up (state, logs and pid files in $CLUSTER_DIR):
  Admin API (control plane)  http://127.0.0.1:$ADMIN_PORT/apisix/admin
  Node registry              http://127.0.0.1:$ADMIN_PORT/apisix/admin/cluster/nodes
  Data planes (proxy)        http://127.0.0.1:${DP_PROXY[0]}  http://127.0.0.1:${DP_PROXY[1]}  http://127.0.0.1:${DP_PROXY[2]}
  Data planes (control API)  http://127.0.0.1:${DP_CONTROL[0]}  http://127.0.0.1:${DP_CONTROL[1]}  http://127.0.0.1:${DP_CONTROL[2]}
  etcd members               http://127.0.0.1:${ETCD_CLIENT[0]}  http://127.0.0.1:${ETCD_CLIENT[1]}  http://127.0.0.1:${ETCD_CLIENT[2]}
  Echo upstream              127.0.0.1:$ECHO_PORT
  Redis (rate limits)        127.0.0.1:$REDIS_PORT   (limit-count: "policy": "redis", "redis_host": "127.0.0.1", "redis_port": $REDIS_PORT)
Try:
  curl -X PUT http://127.0.0.1:$ADMIN_PORT/apisix/admin/routes/1 -d '{"uri":"/anything","upstream":{"nodes":{"127.0.0.1:$ECHO_PORT":1}}}'
  curl http://127.0.0.1:${DP_PROXY[0]}/anything
Stop it with: make cluster-down
TXT
}

# Stops, by pid file, what `up` started: Portico first (they leave the registry), etcd last.
down_processes() {
  local name pid
  for name in dp1 dp2 dp3 cp echo redis etcd0 etcd1 etcd2; do
    [ -f "$CLUSTER_DIR/$name.pid" ] || continue
    pid=$(cat "$CLUSTER_DIR/$name.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$CLUSTER_DIR/$name.pid"
  done
}

down() {
  if [ ! -d "$CLUSTER_DIR" ]; then echo "cluster: nothing running ($CLUSTER_DIR does not exist)"; return; fi
  down_processes
  rm -rf "$CLUSTER_DIR"
  echo "cluster: stopped; removed $CLUSTER_DIR"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
