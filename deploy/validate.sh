#!/usr/bin/env bash
# Offline manifest validation (CI): every document under k8s/ strictly against Kubernetes'
# schemas (kubernetes-validate) and Istio's CRD schemas (../shared/istio-crds, skipped visibly
# when absent), plus the kustomization and cross-file checks; then, when kubectl is installed,
# the same on what `kubectl kustomize k8s/` renders. See deploy/validate.py.
#   deploy/validate.sh [extra validate.py flags, e.g. --k8s-version 1.31]
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import kubernetes_validate, jsonschema, yaml' 2>/dev/null; then
    echo "installing kubernetes-validate, jsonschema, PyYAML"
    python3 -m pip install -q kubernetes-validate jsonschema PyYAML
fi

echo "== manifests in k8s/"
python3 deploy/validate.py "$@" k8s

if command -v kubectl >/dev/null 2>&1; then
    echo "== rendered by kubectl kustomize k8s/"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    kubectl kustomize k8s >"$tmp/rendered.yaml"
    mapfile -t manifests < <(find k8s -name '*.yaml' ! -name kustomization.yaml)
    want=$(python3 -c 'import sys, yaml; print(sum(1 for f in sys.argv[1:] for d in yaml.safe_load_all(open(f)) if d))' \
        "${manifests[@]}")
    got=$(python3 -c 'import sys, yaml; print(sum(1 for d in yaml.safe_load_all(open(sys.argv[1])) if d))' "$tmp/rendered.yaml")
    [ "$want" = "$got" ] || { echo "FAIL: kustomize rendered $got documents, k8s/ holds $want"; exit 1; }
    python3 deploy/validate.py --rendered "$@" "$tmp"
else
    echo "SKIP: kubectl not installed; kustomize rendering not checked"
fi
