#!/usr/bin/env bash
# Validates the deploy files offline (part of `make test`, via `make deploy-check`):
#   1. docker-compose -f deploy/docker-compose.yml config   (Debian's docker-compose)
#   2. kubectl kustomize deploy/k8s                          (renders the manifests)
#   3. every rendered object against the Kubernetes OpenAPI schemas (npm kubernetes-models 4.x)
#   4. deploy/k8s/config.yaml against Portico's own config schema, for both roles
# Needs docker-compose and kubectl (for `kubectl kustomize`; a standalone `kustomize` does
# too). Installs docker-compose from Debian when it is missing and root (or passwordless sudo)
# is there; otherwise, and for kubectl, which Debian does not package, it says what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v docker-compose >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then sudo=""; elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
    echo "deploy-check: needs docker-compose: as root, apt-get install -y docker-compose (Debian package)" >&2
    exit 1
  fi
  echo "deploy-check: installing docker-compose (Debian package)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends docker-compose
fi
if command -v kubectl >/dev/null 2>&1; then render=(kubectl kustomize deploy/k8s)
elif command -v kustomize >/dev/null 2>&1; then render=(kustomize build deploy/k8s)
else
  echo "deploy-check: needs kubectl (for 'kubectl kustomize deploy/k8s') or kustomize on PATH; Debian has no package:" \
    "install kubectl from the Kubernetes package repository (https://kubernetes.io/docs/tasks/tools/install-kubectl-linux/)" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Dummy values: `config` must interpolate, and the real secrets never live in the repo.
PORTICO_ADMIN_KEY=deploy-check PORTICO_KEYRING=deploy-check \
  docker-compose -f deploy/docker-compose.yml config >"$tmp/compose.yml"
echo "deploy-check: docker-compose config ok ($(grep -c '^  [a-z0-9-]*:$' "$tmp/compose.yml") services)"

"${render[@]}" >"$tmp/k8s.yaml"

node - "$tmp/k8s.yaml" <<'JS'
// Validates every rendered object with kubernetes-models (the OpenAPI schemas of the API
// version it names); an unknown apiVersion/kind is an error, not a skip.
const fs = require('node:fs');
const YAML = require('yaml');
const docs = YAML.parseAllDocuments(fs.readFileSync(process.argv[2], 'utf8')).map((d) => d.toJSON()).filter(Boolean);
let failed = 0;
const kinds = [];
for (const obj of docs) {
  const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : [undefined, obj.apiVersion];
  const mod = group ? `kubernetes-models/${group}/${version}/${obj.kind}` : `kubernetes-models/${version}/${obj.kind}`;
  const name = `${obj.kind}/${obj.metadata?.name}`;
  try {
    const Model = require(mod)[obj.kind];
    new Model(obj).validate();
    kinds.push(name);
  } catch (err) {
    failed++;
    console.error(`deploy-check: ${name} (${obj.apiVersion}): ${err.message}`);
  }
}
const need = ['StatefulSet/etcd', 'Deployment/portico-control-plane', 'Deployment/portico-data-plane', 'HorizontalPodAutoscaler/portico-data-plane',
  'PodDisruptionBudget/portico-data-plane', 'ConfigMap/', 'Secret/portico-secrets', 'ServiceAccount/portico', 'Service/portico-gateway'];
for (const n of need) if (!kinds.some((k) => k.startsWith(n))) { failed++; console.error(`deploy-check: rendered manifests lack ${n}`); }
if (failed) process.exit(1);
console.log(`deploy-check: kustomize rendered ${docs.length} objects, all valid: ${kinds.join(', ')}`);
JS

for role in control_plane data_plane; do
  PORTICO_ROLE=$role PORTICO_ADMIN_KEY=deploy-check PORTICO_KEYRING=deploy-check \
    PORTICO_ETCD_HOSTS='["http://etcd-0.etcd:2379","http://etcd-1.etcd:2379","http://etcd-2.etcd:2379"]' \
    node packages/cli/dist/main.js validate -c deploy/k8s/config.yaml >/dev/null
done
echo "deploy-check: deploy/k8s/config.yaml valid for control_plane and data_plane"
