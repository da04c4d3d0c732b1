#!/usr/bin/env bash
# Proves deploy/validate.py fails on broken manifests: copies k8s/ (with the gRPC variant in
# k8s/grpc/) to a temp dir, breaks one thing per case, and expects exit status 1 with the FAIL
# line naming the problem. Also checks the untouched copies of both variants pass, and that
# without the Istio CRDs it says SKIP and still fails a broken Kubernetes manifest.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import kubernetes_validate, jsonschema, yaml' 2>/dev/null; then
    python3 -m pip install -q kubernetes-validate jsonschema PyYAML
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

# case NAME WANT_STATUS WANT_LINE FILE SED_EXPR [validate.py flags...]: k8s/ with FILE edited by
# SED_EXPR (none when FILE is -) must give WANT_STATUS and print a line matching WANT_LINE. A
# case named grpc-* validates the copy's grpc/ (the gRPC variant, checked against the copy's
# k8s/ as its base); FILE is relative to the k8s/ copy either way.
case_() {
    local name=$1 want_status=$2 want_line=$3 file=$4 expr=$5
    shift 5
    local dir=$tmp/$name target=$tmp/$name
    [[ $name != grpc-* ]] || target=$dir/grpc
    cp -r k8s "$dir"
    if [ "$file" != - ]; then
        local before
        before=$(cat "$dir/$file")
        sed -i "$expr" "$dir/$file"
        [ "$before" != "$(cat "$dir/$file")" ] || { echo "FAIL $name: the edit changed nothing"; failures=$((failures + 1)); return; }
    fi
    local status=0 out
    out=$(python3 deploy/validate.py "$@" "$target" 2>&1) || status=$?
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
$istio_cases && case_ retries-after-reply 1 "^FAIL srv/virtual-service.yaml: http\\[0\\] retries on 5xx, .*go-micro-api-sample-v1 must pass -client_retries=0" \
    srv/virtual-service.yaml 's/retryOn: connect-failure,refused-stream$/retryOn: connect-failure,refused-stream,5xx/'

# The gRPC variant (k8s/grpc/).
case_ grpc-good 0 '^PASS: ' - ''
$istio_cases && case_ grpc-streams-above-server 1 "^FAIL srv/destination-rule.yaml: .*maxConcurrentStreams 200 must equal go-micro-srv-sample-v1's SETTINGS_MAX_CONCURRENT_STREAMS \\(100" \
    grpc/srv/destination-rule.yaml 's/maxConcurrentStreams: 100$/maxConcurrentStreams: 200/'
$istio_cases && case_ grpc-streams-unset 1 '^FAIL api/destination-rule.yaml: .*maxConcurrentStreams must be set' \
    grpc/api/destination-rule.yaml '/maxConcurrentStreams: 100$/d'
$istio_cases && case_ grpc-requests-above-in-flight 1 "^FAIL srv/destination-rule.yaml: .*http2MaxRequests 1000 must be from 1 to go-micro-srv-sample-v1's -server_max_in_flight \\(128\\)" \
    grpc/srv/destination-rule.yaml 's/http2MaxRequests: 128$/http2MaxRequests: 1000/'
case_ grpc-probe-wrong-port 1 "^FAIL api/deployment.yaml: readinessProbe: httpGet port 9090 is not the app's port 9080" \
    grpc/api/deployment.yaml '/readinessProbe:/,/port:/s/port: http$/port: 9090/'
case_ grpc-liveness-on-grpc-check 1 '^FAIL srv/deployment.yaml: livenessProbe: a grpc probe answers readiness' \
    grpc/srv/deployment.yaml '/livenessProbe:/,/port: http$/{s/httpGet:/grpc:/;/path:/d;s/port: http$/port: 9080/}'
case_ grpc-port-not-grpc 1 '^FAIL srv/service.yaml: port grpc: appProtocol http needs a port named http' \
    grpc/srv/service.yaml 's/appProtocol: grpc$/appProtocol: http/'
case_ grpc-tiny-http 1 "^FAIL srv/service.yaml: port grpc: appProtocol grpc .*-server=tiny_http is HTTP/1.1 only" \
    grpc/srv/deployment.yaml 's/- -server=http$/- -server=tiny_http/'
case_ grpc-flag-typo 1 '^FAIL srv/deployment.yaml: -server_max_concurent_streams: no such built-in flag' \
    grpc/srv/deployment.yaml 's/-server_max_concurrent_streams=/-server_max_concurent_streams=/'
$istio_cases && case_ grpc-retries-stack 1 "^FAIL srv/virtual-service.yaml: http\\[0\\] retries on unavailable,cancelled, .*go-micro-api-sample-v1 must pass -client_retries=0" \
    grpc/api/deployment.yaml '/- -client_retries=0$/d'
$istio_cases && case_ grpc-retry-typo 1 '^FAIL srv/virtual-service.yaml: http\[0\].retries.retryOn: unknown condition\(s\) unavailble' \
    grpc/srv/virtual-service.yaml 's/,unavailable,/,unavailble,/'
case_ grpc-drift 1 '^FAIL srv/deployment.yaml: Deployment/go-micro-srv-sample-v1 differs from \.\./srv/deployment.yaml at spec.template.spec.containers\[0\].resources.limits.memory' \
    grpc/srv/deployment.yaml 's/memory: 128Mi$/memory: 256Mi/'
case_ grpc-drift-base 1 '^FAIL ingress/gateway.yaml: Gateway/micro-mesh-gateway differs from \.\./ingress/gateway.yaml at spec.servers\[0\].hosts\[0\]' \
    ingress/gateway.yaml 's/- micro-mesh.example.com$/- mesh.example.com/'
case_ grpc-drift-images 1 "^FAIL kustomization.yaml: images differ from \\.\\./kustomization.yaml's" \
    grpc/kustomization.yaml '0,/newTag: 0.1.0$/s//newTag: 0.2.0/'

case_ no-crds-skips 0 '^SKIP: Istio CRD schemas not found at /nonexistent' - '' --istio-crds /nonexistent/crd-all.gen.yaml
case_ no-crds-core-still-fails 1 "'replica' was unexpected" \
    api/deployment.yaml 's/^  replicas: 2$/  replica: 2/' --istio-crds /nonexistent/crd-all.gen.yaml

if [ "$failures" -ne 0 ]; then
    echo "validate-test: $failures case(s) failed"
    exit 1
fi
echo "validate-test: PASS"
