#!/usr/bin/env bash
# Proves deploy/validate.py fails on broken manifests: copies k8s/ to a temp dir, breaks one
# thing per case, and expects exit status 1 with the FAIL line naming the problem. Also checks
# the untouched copy passes, and that without the Istio CRDs it says SKIP and still fails a
# broken Kubernetes manifest.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import kubernetes_validate, jsonschema, yaml' 2>/dev/null; then
    python3 -m pip install -q kubernetes-validate jsonschema PyYAML
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

# case NAME WANT_STATUS WANT_LINE FILE SED_EXPR [validate.py flags...]: k8s/ with FILE edited by
# SED_EXPR (none when FILE is -) must give WANT_STATUS and print a line matching WANT_LINE.
case_() {
    local name=$1 want_status=$2 want_line=$3 file=$4 expr=$5
    shift 5
    local dir=$tmp/$name
    cp -r k8s "$dir"
    if [ "$file" != - ]; then
        local before
        before=$(cat "$dir/$file")
        sed -i "$expr" "$dir/$file"
        [ "$before" != "$(cat "$dir/$file")" ] || { echo "FAIL $name: the edit changed nothing"; failures=$((failures + 1)); return; }
    fi
    local status=0 out
    out=$(python3 deploy/validate.py "$@" "$dir" 2>&1) || status=$?
    if [ "$status" = "$want_status" ] && grep -qE -- "$want_line" <<<"$out"; then
        echo "ok   $name: exit $status, $(grep -E -- "$want_line" <<<"$out" | head -1)"
    else
        echo "FAIL $name: want exit $want_status and a line matching /$want_line/, got exit $status:"
        printf '       %s\n' "${out//$'\n'/$'\n'       }"
        failures=$((failures + 1))
    fi
}

case_ good 0 '^PASS: ' - ''
case_ core-typo 1 "^FAIL api/deployment.yaml Deployment/go-micro-api-sample-v1: k8s 1.30 strict: spec: .*'replica' was unexpected" \
    api/deployment.yaml 's/^  replicas: 2$/  replica: 2/'
if [ ! -f ../shared/istio-crds/crd-all.gen.yaml ]; then
    echo "SKIP: Istio CRD schemas not found at ../shared/istio-crds/crd-all.gen.yaml; the Istio cases are NOT run"
    istio_cases=false
else
    istio_cases=true
fi
$istio_cases && case_ istio-typo 1 "^FAIL srv/virtual-service.yaml VirtualService/go-micro-srv-sample: .*spec: .*'htttp' was unexpected" \
    srv/virtual-service.yaml 's/^  http:$/  htttp:/'
$istio_cases && case_ istio-nested-typo 1 "connectionPool.http: .*'idleTimout' was unexpected" \
    srv/destination-rule.yaml 's/idleTimeout: 1h$/idleTimout: 1h/'
$istio_cases && case_ istio-cel-duration 1 "idleTimeout: '1hr': must be a valid duration" \
    srv/destination-rule.yaml 's/idleTimeout: 1h$/idleTimeout: 1hr/'
$istio_cases && case_ istio-wrong-type 1 "retries.attempts: '1' is not of type 'integer'" \
    srv/virtual-service.yaml 's/attempts: 1$/attempts: "1"/'
$istio_cases && case_ jwt-not-required 1 '^FAIL api/request-authentication.yaml: .*no ALLOW AuthorizationPolicy .* requires requestPrincipals' \
    api/authorization-policy.yaml '/requestPrincipals:/,/- "\*"/d'
case_ scrape-wrong-port 1 "^FAIL srv/deployment.yaml: pod template annotation prometheus.io/port '9090' is not a containerPort \\(9080\\)" \
    srv/deployment.yaml 's/prometheus.io\/port: "9080"$/prometheus.io\/port: "9090"/'
case_ scrape-metrics-off 1 '^FAIL api/deployment.yaml: -metrics_path= turns metrics off, but prometheus.io/scrape is "true"' \
    api/deployment.yaml 's/^            - -shutdown_delay=2s$/            - -metrics_path=\n&/'
case_ unlisted-file 1 'not listed in kustomization.yaml' \
    kustomization.yaml '/- ingress\/gateway.yaml/d'
case_ no-crds-skips 0 '^SKIP: Istio CRD schemas not found at /nonexistent' - '' --istio-crds /nonexistent/crd-all.gen.yaml
case_ no-crds-core-still-fails 1 "'replica' was unexpected" \
    api/deployment.yaml 's/^  replicas: 2$/  replica: 2/' --istio-crds /nonexistent/crd-all.gen.yaml

if [ "$failures" -ne 0 ]; then
    echo "validate-test: $failures case(s) failed"
    exit 1
fi
echo "validate-test: PASS"
