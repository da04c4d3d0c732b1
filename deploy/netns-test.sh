#!/usr/bin/env bash
# Kubernetes-like network test on one machine. Network namespaces play pods on a bridge of their
# own (10.244.77.0/24, inside a namespace of its own too, so nothing touches the host's network),
# dnsmasq plays the cluster DNS answering <service>.<namespace>.svc.cluster.local, and each pod
# gets Kubernetes' resolv.conf (search <ns>.svc.cluster.local svc.cluster.local cluster.local,
# options ndots:5). srv and api run as the manifests run them: the static binaries in an
# image-equivalent chroot (binary, /etc/hosts, /etc/resolv.conf) as uid 65532, with
# `-server_address=0.0.0.0:9080 -client_call_address=:9080` and POD_NAMESPACE set.
#
#   pod              k8s namespace  IP            role
#   dns              kube-system    10.244.77.10  dnsmasq (the cluster DNS)
#   srv              default        10.244.77.11  go-micro-srv-sample
#   api              default        10.244.77.12  go-micro-api-sample -> go-micro-srv-sample:9080
#   srvb             team-b         10.244.77.13  go-micro-srv-sample (another namespace)
#   apinons          default        10.244.77.14  api without POD_NAMESPACE (search list only)
#   apigrpc          default        10.244.77.15  api with --client grpc -> go-micro-srv-sample:9080
#   client           default        10.244.77.20  curl (Debian's), short names
#   other            other          10.244.77.21  curl, cross-namespace names
#
# Service names resolve straight to pod IPs (as a headless Service would); there is no kube-proxy.
# Cleans up every namespace, /etc/netns dir and process on exit, pass or fail. Needs root.
set -euo pipefail
# shellcheck source=deploy/lib.sh source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: netns test needs root"
    exit 0
fi

START=$SECONDS
apt_need ip iproute2
apt_need dnsmasq dnsmasq-base
apt_need curl curl

NET=10.244.77
DNS_IP=$NET.10
P=mmk$$ # prefix of every namespace we create
WORK=$(mktemp -d /tmp/micro-mesh-netns.XXXXXX)
chmod 0755 "$WORK"
NAMESPACES=()

# kill_ns NS: SIGKILLs every process in NS (all ours: we made NS) and waits up to 5 s for them.
kill_ns() {
    local ns=$1 pid pids i
    for ((i = 0; i < 50; i++)); do
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        [ -z "$pids" ] && return 0
        for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
        sleep 0.1
    done
    echo "WARN: processes still in $ns: $(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')" >&2
}

cleanup() {
    local rc=$? ns
    for ns in "${NAMESPACES[@]}"; do kill_ns "$ns"; done
    for ns in "${NAMESPACES[@]}"; do
        ip netns del "$ns" 2>/dev/null || true
        rm -rf "/etc/netns/$ns"
    done
    if [ "$rc" -ne 0 ]; then
        for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 50 "$f"; }; done >&2
    fi
    rm -rf "$WORK"
    left=$(ip netns list | grep -c "^$P-" || true)
    [ "$left" -eq 0 ] || echo "WARN: $left namespaces named $P-* left behind" >&2
    echo "netns-test: run time $((SECONDS - START)) s"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

build_static

# -- the "node": a bridge in a namespace of its own.
BR_NS=$P-net
ip netns add "$BR_NS"
NAMESPACES+=("$BR_NS")
ip -n "$BR_NS" link set lo up
ip -n "$BR_NS" link add br0 type bridge
ip -n "$BR_NS" link set br0 up

# pod NAME K8S_NAMESPACE LAST_OCTET: a namespace with eth0 on the bridge and Kubernetes' DNS
# files in /etc/netns/<ns>/ (which `ip netns exec` mounts over /etc/ for what runs there).
declare -A POD_IP POD_K8S_NS
pod() {
    local name=$1 k8s_ns=$2 ip=$NET.$3 ns=$P-$1
    ip netns add "$ns"
    NAMESPACES+=("$ns")
    ip -n "$BR_NS" link add "v-$name" type veth peer name eth0 netns "$ns"
    ip -n "$BR_NS" link set "v-$name" master br0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$ip/24" dev eth0
    ip -n "$ns" link set eth0 up
    POD_IP[$name]=$ip
    POD_K8S_NS[$name]=$k8s_ns
    mkdir -p "/etc/netns/$ns"
    kube_resolv "$k8s_ns" >"/etc/netns/$ns/resolv.conf"
    kube_hosts "$name" "$ip" >"/etc/netns/$ns/hosts"
}
kube_resolv() {
    printf 'search %s.svc.cluster.local svc.cluster.local cluster.local\nnameserver %s\noptions ndots:5\n' "$1" "$DNS_IP"
}
kube_hosts() {
    printf '# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\t%s\n' "$2" "$1"
}

pod dns kube-system 10
pod srv default 11
pod api default 12
pod srvb team-b 13
pod apinons default 14
pod apigrpc default 15
pod client default 20
pod other other 21

# -- the cluster DNS: cluster.local is answered from the hosts file only (unknown names get
# NXDOMAIN, so the search list moves on); there is no upstream, nothing is forwarded.
cat >"$WORK/cluster.hosts" <<EOF
${POD_IP[srv]} go-micro-srv-sample.default.svc.cluster.local
${POD_IP[api]} go-micro-api-sample.default.svc.cluster.local
${POD_IP[srvb]} go-micro-srv-sample.team-b.svc.cluster.local
EOF
chmod 0644 "$WORK/cluster.hosts"
ip netns exec "$P-dns" dnsmasq --keep-in-foreground --conf-file=/dev/null --pid-file= \
    --no-resolv --no-hosts --no-poll --addn-hosts="$WORK/cluster.hosts" \
    --local=/cluster.local/ --domain-needed --bogus-priv \
    --listen-address="$DNS_IP" --bind-interfaces --log-queries --log-facility=- \
    >"$WORK/dnsmasq.log" 2>&1 &
disown # background jobs here are cleaned up by namespace (kill_ns), not waited for
for ((i = 0; i < 100; i++)); do
    ip netns exec "$P-client" getent ahostsv4 go-micro-srv-sample >/dev/null 2>&1 && break
    sleep 0.1
done
ip netns exec "$P-client" getent ahostsv4 go-micro-srv-sample >/dev/null || die "cluster DNS did not answer within 10 s"

# -- the services, as the Deployments run them.
# serve POD EXAMPLE [POD_NAMESPACE [FLAG...]]: the static EXAMPLE in an image-equivalent root, in
# POD, as 65532:65532, with POD_NAMESPACE as the downward API sets it (the third argument;
# default or "": the pod's namespace, as in k8s/; "-" leaves it unset), and FLAGs after the
# Deployment's.
serve() {
    local name=$1 ex=$2 root=$WORK/root-$1 pod_ns=${3:-${POD_K8S_NS[$1]}}
    local env=(env -u POD_NAMESPACE)
    [ "$pod_ns" = - ] || env+=("POD_NAMESPACE=$pod_ns")
    make_root "$root" "$STATIC_BIN_DIR/$ex" "$(kube_hosts "$name" "${POD_IP[$name]}")" \
        "$(kube_resolv "${POD_K8S_NS[$name]}")"
    "${env[@]}" ip netns exec "$P-$name" \
        chroot --userspec=65532:65532 "$root" \
        /sample -server_address=0.0.0.0:9080 -client_call_address=:9080 "${@:4}" \
        >"$WORK/$name.log" 2>&1 &
    disown
}
serve srv srv
serve api api
serve srvb srv
serve apinons api - # POD_NAMESPACE unset: only the resolv.conf search list can find srv
serve apigrpc api "" -client=grpc # calls srv over gRPC (h2c), same name, same DNS
for name in srv api srvb apinons apigrpc; do wait_http "$P-client" "http://${POD_IP[$name]}:9080/"; done

# curl_from POD ARGS...: Debian's curl in POD (its resolv.conf, its search list), bounded.
curl_from() { ip netns exec "$P-$1" curl -sS --noproxy '*' --max-time 10 "${@:2}"; }
rpc() { curl_from "$1" -XPOST -H 'Content-Type: application/json' -d '{"name":"Hobo"}' "$2"; }
HELLO='{"msg":"Hello Hobo"}'

echo "== same namespace, short names (client in default)"
expect "client -> go-micro-api-sample:9080 (api -> go-micro-srv-sample:9080 -> srv)" "$HELLO" \
    "$(curl_from client 'http://go-micro-api-sample:9080/example/call?name=Hobo')"
expect "client POST /example/call" "$HELLO" \
    "$(curl_from client -XPOST -d '{"name":"Hobo"}' http://go-micro-api-sample:9080/example/call)"
expect "client -> go-micro-srv-sample:9080/Example.Call" "$HELLO" \
    "$(rpc client http://go-micro-srv-sample:9080/Example.Call)"
expect "api passes srv's 400 through" 400 \
    "$(curl_from client -o /dev/null -w '%{http_code}' 'http://go-micro-api-sample:9080/example/call?name=')"
# saw_query POD: the cluster DNS was asked for srv's name in default by POD's address.
saw_query() {
    grep -q "query\[A\] go-micro-srv-sample.default.svc.cluster.local from ${POD_IP[$1]}$" "$WORK/dnsmasq.log" \
        || die "the cluster DNS never saw $1 (${POD_IP[$1]}) ask for go-micro-srv-sample.default.svc.cluster.local"
}
saw_query api
echo "ok   api (static binary in its chroot) looked go-micro-srv-sample up in the cluster DNS (dnsmasq: go-micro-srv-sample.default.svc.cluster.local from ${POD_IP[api]})"
expect "api without POD_NAMESPACE -> go-micro-srv-sample:9080 -> srv" "$HELLO" \
    "$(curl_from client "http://${POD_IP[apinons]}:9080/example/call?name=Hobo")"
saw_query apinons
echo "ok   ... through the resolv.conf search list (dnsmasq: go-micro-srv-sample.default.svc.cluster.local from ${POD_IP[apinons]})"

echo "== api calling srv over gRPC (--client grpc; client in default)"
expect "client -> apigrpc (api -> go-micro-srv-sample:9080 over gRPC -> srv)" "$HELLO" \
    "$(curl_from client "http://${POD_IP[apigrpc]}:9080/example/call?name=Hobo")"
expect "client POST /example/call to apigrpc" "$HELLO" \
    "$(curl_from client -XPOST -d '{"name":"Hobo"}' "http://${POD_IP[apigrpc]}:9080/example/call")"
reply=$(curl_from client -w ' %{http_code}' "http://${POD_IP[apigrpc]}:9080/example/call?name=")
case "$reply" in
*'"id":"go.micro.srv.sample","code":400,'*' 400') echo "ok   apigrpc passes srv's 400 through as the go-micro error ($reply)" ;;
*) die "apigrpc: want srv's 400 as the go-micro error JSON, got: $reply" ;;
esac
saw_query apigrpc
echo "ok   ... apigrpc looked go-micro-srv-sample up in the cluster DNS (dnsmasq: go-micro-srv-sample.default.svc.cluster.local from ${POD_IP[apigrpc]})"
# srv's metrics: the calls above arrived over gRPC (the 200s and the 400).
metrics=$(curl_from client http://go-micro-srv-sample:9080/metrics)
for code in 200 400; do
    want="micro_server_requests_total{route=\"/Example.Call\",code=\"$code\",protocol=\"grpc\"}"
    grep -qF "$want" <<<"$metrics" || die "srv's /metrics lacks $want; protocol lines: $(grep protocol= <<<"$metrics" | tr '\n' ' ')"
    echo "ok   srv counted gRPC calls: $(grep -F "$want" <<<"$metrics")"
done

echo "== across namespaces (client in other)"
expect "other -> go-micro-srv-sample.team-b:9080/Example.Call" "$HELLO" \
    "$(rpc other http://go-micro-srv-sample.team-b:9080/Example.Call)"
expect "other -> go-micro-srv-sample.team-b.svc.cluster.local:9080/Example.Call" "$HELLO" \
    "$(rpc other http://go-micro-srv-sample.team-b.svc.cluster.local:9080/Example.Call)"
expect "other -> go-micro-api-sample.default:9080 (-> srv in default)" "$HELLO" \
    "$(curl_from other 'http://go-micro-api-sample.default:9080/example/call?name=Hobo')"
rc=0
curl_from other -o /dev/null 'http://go-micro-api-sample:9080/example/call?name=Hobo' 2>/dev/null || rc=$?
expect "other -> go-micro-api-sample (short name, other namespace) does not resolve (curl exit 6)" 6 "$rc"

echo "== each name reaches its own namespace's pod"
kill_ns "$P-srvb"
rc=0
rpc other http://go-micro-srv-sample.team-b:9080/Example.Call >/dev/null 2>&1 || rc=$?
expect "srv in team-b stopped: other -> go-micro-srv-sample.team-b refused (curl exit 7)" 7 "$rc"
expect "srv in team-b stopped: the chain in default still works" "$HELLO" \
    "$(curl_from client 'http://go-micro-api-sample:9080/example/call?name=Hobo')"
kill_ns "$P-srv"
reply=$(curl_from client -w ' %{http_code}' 'http://go-micro-api-sample:9080/example/call?name=Hobo')
case "$reply" in
*'"id":"go.micro.client"'*' 503') echo "ok   srv in default stopped: api answers 503 from its client ($reply)" ;;
*) die "srv in default stopped: want api's 503 from go.micro.client, got: $reply" ;;
esac
reply=$(curl_from client -w ' %{http_code}' "http://${POD_IP[apigrpc]}:9080/example/call?name=Hobo")
case "$reply" in
*'"id":"go.micro.client"'*' 503') echo "ok   srv in default stopped: apigrpc answers 503 from its gRPC client ($reply)" ;;
*) die "srv in default stopped: want apigrpc's 503 from go.micro.client, got: $reply" ;;
esac

echo "netns-test: PASS"
