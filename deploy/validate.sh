#!/usr/bin/env bash
# Offline manifest validation (CI): every document of both variants, k8s/ (HTTP) and k8s/grpc/
# (gRPC), strictly against Kubernetes' schemas (kubernetes-validate) and Istio's CRD schemas
# (../shared/istio-crds, skipped visibly when absent), plus the kustomization and cross-file
# checks, and k8s/grpc/ against k8s/ (the same documents but for what the variant changes);
# then, when kubectl is installed, the same on what `kubectl kustomize` renders of each.
# See deploy/validate.py.
#   deploy/validate.sh [extra validate.py flags, e.g. --k8s-version 1.31]
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import kubernetes_validate, jsonschema, yaml' 2>/dev/null; then
    echo "installing kubernetes-validate, jsonschema, PyYAML"
    python3 -m pip install -q kubernetes-validate jsonschema PyYAML
fi

# The variants: the HTTP one, and the gRPC one checked against it.
variants=(k8s k8s/grpc)

for dir in "${variants[@]}"; do
    echo "== manifests in $dir/"
    python3 deploy/validate.py "$@" "$dir"
done

# count_docs DIR: the YAML documents of DIR's own manifests (not those of a kustomization nested
# in it, such as k8s/grpc/ in k8s/), which its kustomization must render, no more, no fewer.
count_docs() {
    local files=()
    mapfile -t files < <(find "$1" -mindepth 1 -type d -exec test -e '{}/kustomization.yaml' ';' -prune \
        -o -name '*.yaml' ! -name kustomization.yaml -print)
    python3 -c 'import sys, yaml; print(sum(1 for f in sys.argv[1:] for d in yaml.safe_load_all(open(f)) if d))' \
        "${files[@]}"
}

if command -v kubectl >/dev/null 2>&1; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    for dir in "${variants[@]}"; do
        echo "== rendered by kubectl kustomize $dir/"
        out=$tmp/${dir//\//-}    # k8s, k8s-grpc: side by side, neither inside the other
        mkdir -p "$out"
        kubectl kustomize "$dir" >"$out/rendered.yaml"
        want=$(count_docs "$dir")
        got=$(python3 -c 'import sys, yaml; print(sum(1 for d in yaml.safe_load_all(open(sys.argv[1])) if d))' "$out/rendered.yaml")
        [ "$want" = "$got" ] || { echo "FAIL: kustomize rendered $got documents, $dir/ holds $want"; exit 1; }
        if [ "$dir" = k8s ]; then
            python3 deploy/validate.py --rendered "$@" "$out"
        else
            python3 deploy/validate.py --rendered --same-as "$tmp/k8s" "$@" "$out"
        fi
    done
else
    echo "SKIP: kubectl not installed; kustomize rendering not checked"
fi
