#!/usr/bin/env python3
"""Offline, strict schema check of the Kubernetes and Istio manifests under a directory.

    python3 deploy/validate.py [--k8s-version 1.30 ...] [--istio-crds FILE] [--same-as BASE] [DIR]

Every YAML document under DIR (default: k8s/ beside this script) is checked:

- Kubernetes kinds with kubernetes-validate's strict schemas (its `--strict`: unknown fields
  fail) for each --k8s-version (default 1.30, the oldest Kubernetes we deploy to, and the newest
  the installed kubernetes-validate bundles). A kind it has no schema for is an error.
- Istio kinds (*.istio.io) against the CRD's openAPIV3Schema for that group/version/kind, read
  from the CRD bundle (default ../shared/istio-crds/crd-all.gen.yaml from the repository root),
  strictly: an object without `x-kubernetes-preserve-unknown-fields` takes no fields it does not
  declare, as the API server's strict field validation has it, so a misspelled field fails.
  The CEL rules (x-kubernetes-validations) the Istio kinds use are checked too where we know
  them (durations >= 1ms, URL schemes, "only one of"); any other is listed as not evaluated.
  metadata is checked against Kubernetes' strict ObjectMeta. Without the CRD bundle, prints
  "SKIP: Istio CRD schemas not found at ..." and checks the rest.
- kustomization.yaml lists exactly the manifests in DIR (a directory below with a
  kustomization of its own, such as the gRPC variant k8s/grpc/, is left out: it is validated on
  its own), and the cross-file invariants of the deployment hold (see check_invariants): the
  Deployments' flags, probes and scrape annotations, Services' ports and protocols, the
  DestinationRules' connection pools against the apps' limits, VirtualService retries that
  cannot stack with the apps' own.
- A variant (DIR whose parent has a kustomization.yaml, or --same-as BASE) holds the same
  documents as its base, equal but for what a variant may change (VARIANT_MAY_DIFFER), and the
  same image tags.

Exit status 0 when all pass, 1 otherwise; one line per document.
"""

import argparse
import copy
import glob
import os
import re
import sys

import jsonschema
import referencing
import referencing.jsonschema
import yaml

try:
    import kubernetes_validate.utils as kv
except ImportError:  # pragma: no cover
    sys.exit("validate.py needs kubernetes-validate: pip install kubernetes-validate jsonschema PyYAML")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_CRDS = os.path.join(ROOT, "..", "shared", "istio-crds", "crd-all.gen.yaml")
KUSTOMIZATION = "kustomization.yaml"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# ---------------------------------------------------------------------------------------------
# Kubernetes kinds: kubernetes-validate, strict.


def k8s_versions(wanted):
    """The versions to check against; each must be bundled (offline) by kubernetes-validate."""
    bundled = kv.all_versions()
    out = []
    for v in wanted or ["1.30", kv.latest_version()]:
        mm = kv.major_minor(v.lstrip("v"))
        if not any(kv.major_minor(b) == mm for b in bundled):
            sys.exit(f"FAIL: kubernetes-validate {kv.__version__} has no schemas for Kubernetes {mm} "
                     f"(bundled: {kv.major_minor(bundled[0])}..{kv.major_minor(bundled[-1])})")
        if mm not in out:
            out.append(mm)
    return out


def check_k8s(doc, versions):
    errors = []
    for version in versions:
        try:
            kv.validate(doc, version, strict=True)
        except kv.ValidationError as e:
            path = ".".join(str(p) for p in e.path) or "(top)"
            errors.append(f"k8s {version} strict: {path}: {e.message}")
        except kv.SchemaNotFoundError as e:
            errors.append(e.message)
    return errors


def object_meta_registry(version):
    """Kubernetes' strict definitions (for ObjectMeta) as a referencing registry."""
    defs = kv.schema_contents(
        f"kubernetes-json-schema/v{version}.0-local-strict/_definitions.json", version)
    resource = referencing.Resource.from_contents(defs)
    return resource @ referencing.Registry(), defs["$id"] + "#/$defs/" + OBJECT_META


# ---------------------------------------------------------------------------------------------
# Istio kinds: the CRDs' openAPIV3Schema, strict, with the CEL rules we can evaluate.

GO_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")
UNIT_NS = {"ns": 1, "us": 1e3, "µs": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}


def duration_ns(text):
    """A CEL/Go duration string in nanoseconds, or None when CEL's duration() would reject it."""
    if not isinstance(text, str) or not GO_DURATION.match(text):
        return None
    parts = re.findall(r"([0-9]+(\.[0-9]+)?)(ns|us|µs|ms|s|m|h)", text)
    return sum(float(n) * UNIT_NS[u] for n, _, u in parts)


def only_one_of(fields):
    return lambda v: sum(1 for f in fields if f in v) <= 1


# The CEL rules Istio's CRDs put on the kinds we use, as Python (keys: whitespace normalised). Rules not
# listed here are reported as not evaluated (a line at the end), never silently passed.
CEL = {
    "duration(self) >= duration('1ms')": lambda v: (duration_ns(v) or 0) >= 1e6,
    'url(self).getScheme() in ["http", "https"]':
        lambda v: isinstance(v, str) and re.match(r"^https?://", v) is not None,
    "self.all(key, !key.contains(\"*\"))": lambda v: all("*" not in k for k in v),
    "self.all(key, key.size() != 0)": lambda v: all(k != "" for k in v),
    "!self.contains(\"*\")": lambda v: "*" not in v,
    "self.size() == 0": lambda v: len(v) == 0,
    "(has(self.selector) ? 1 : 0) + (has(self.targetRef) ? 1 : 0) + (has(self.targetRefs) ? 1 : 0) <= 1":
        only_one_of(["selector", "targetRef", "targetRefs"]),
    "(has(self.jwksUri) ? 1 : 0) + (has(self.jwks_uri) ? 1 : 0) + (has(self.jwks) ? 1 : 0) <= 1":
        only_one_of(["jwksUri", "jwks_uri", "jwks"]),
    "(has(self.tlsCertificates) ? 1 : 0) + (has(self.credentialNames) ? 1 : 0) <= 1":
        only_one_of(["tlsCertificates", "credentialNames"]),
    "(has(self.credentialName) ? 1 : 0) + (has(self.credentialNames) ? 1 : 0) <= 1":
        only_one_of(["credentialName", "credentialNames"]),
    "(has(self.credentialNames) ? 1 : 0) + (has(self.tlsCertificates) ? 1 : 0) <= 1":
        only_one_of(["credentialNames", "tlsCertificates"]),
    "(has(self.serviceAccounts) || has(self.notServiceAccounts)) ? (!has(self.principals) && "
    "!has(self.notPrincipals) && !has(self.namespaces) && !has(self.notNamespaces)) : true":
        lambda v: not (("serviceAccounts" in v or "notServiceAccounts" in v)
                       and any(k in v for k in ("principals", "notPrincipals",
                                                "namespaces", "notNamespaces"))),
    "has(self.portLevelMtls) ? (((has(self.selector) && has(self.selector.matchLabels)) ? "
    "self.selector.matchLabels : {}).size() > 0) : true":
        lambda v: "portLevelMtls" not in v or len((v.get("selector") or {}).get("matchLabels") or {}) > 0,
}
CEL_NOT_EVALUATED = set()


def cel_key(rule):
    """A rule with its whitespace normalised (the CRDs wrap long rules over lines)."""
    return " ".join(rule.split())


def cel_keyword(validator, rules, instance, schema):
    for rule in rules:
        check = CEL.get(cel_key(rule["rule"]))
        if check is None:
            CEL_NOT_EVALUATED.add(cel_key(rule["rule"]))
            continue
        try:
            ok = check(instance)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            yield jsonschema.ValidationError(
                f"{instance!r}: {rule.get('message', 'failed')} (CEL: {rule['rule']})")


StrictValidator = jsonschema.validators.extend(
    jsonschema.validators.Draft202012Validator, {"x-kubernetes-validations": cel_keyword})


def strict(schema):
    """openAPIV3Schema as the API server applies it: unknown fields are errors, nullable is null."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key in ("properties", "patternProperties"):
            out[key] = {name: strict(s) for name, s in value.items()}
        elif key in ("items", "additionalProperties", "not", "anyOf", "oneOf", "allOf"):
            out[key] = strict(value)
        else:
            out[key] = value
    if (out.get("type") == "object" and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    if out.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def load_crds(path):
    """(group, version, kind) -> openAPIV3Schema, for every version of every CRD in the bundle."""
    with open(path) as f:
        docs = [d for d in yaml.load_all(f, Loader=Loader) if d]
    out = {}
    for d in docs:
        if d.get("kind") != "CustomResourceDefinition":
            continue
        spec = d["spec"]
        for v in spec["versions"]:
            schema = v.get("schema", {}).get("openAPIV3Schema")
            if schema is not None and v.get("served", True):
                out[(spec["group"], v["name"], spec["names"]["kind"])] = schema
    return out


class IstioChecker:
    def __init__(self, crds, meta_registry, meta_ref):
        self.crds = crds
        self.registry = meta_registry
        self.meta_ref = meta_ref
        self.cache = {}

    def validator(self, group, version, kind):
        key = (group, version, kind)
        if key not in self.cache:
            schema = strict(copy.deepcopy(self.crds[key]))
            # What every object has besides the CRD's own fields (the CRD schema leaves them out).
            schema.setdefault("properties", {}).update({
                "apiVersion": {"const": f"{group}/{version}"},
                "kind": {"const": kind},
                "metadata": {"$ref": self.meta_ref},
            })
            schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata"})
            schema["additionalProperties"] = False
            schema.pop("x-kubernetes-preserve-unknown-fields", None)
            self.cache[key] = StrictValidator(schema, registry=self.registry)
        return self.cache[key]

    def check(self, doc):
        group, _, version = doc["apiVersion"].partition("/")
        key = (group, version, doc["kind"])
        if key not in self.crds:
            known = sorted(f"{g}/{v}" for g, v, k in self.crds if k == doc["kind"])
            return [f"no Istio CRD schema for {doc['apiVersion']} {doc['kind']} "
                    f"(served: {', '.join(known) or 'none'})"]
        errors = []
        for e in sorted(self.validator(*key).iter_errors(doc), key=lambda e: list(map(str, e.path))):
            path = ".".join(str(p) for p in e.path) or "(top)"
            errors.append(f"istio CRD {group}/{version} strict: {path}: {e.message}")
        return errors


# ---------------------------------------------------------------------------------------------
# The app's flags, as a Deployment passes them.

# The defaults of the built-in flags the checks read (README "Flags").
FLAG_DEFAULTS = {
    "server_address": "0.0.0.0:9080",
    "server": "http",
    "client": "http",
    "client_retries": "1",
    "server_max_in_flight": "128",
    "server_max_concurrent_streams": "100",
    "server_idle_timeout": "60m10s",
    "metrics_path": "/metrics",
}
FLAG_VALUES = {"server": ("http", "tiny_http"), "client": ("http", "grpc")}
# Named like a built-in: such a flag must be one (the app exits 2 on an unknown flag). A service's
# own flags (Service::flag) are named otherwise and not checked.
BUILTIN_NAMES = ("server", "client", "resolve")
BUILTIN_PREFIXES = ("server_", "client_", "shutdown_", "metrics_", "log_")
BUILTINS_RS = os.path.join(ROOT, "src", "flags", "builtins.rs")
# Flags the manifests pass ahead of src/flags/builtins.rs (reported as a note while missing there).
PENDING_FLAGS = {"client": "--client (http or grpc): the gRPC client is being built"}


def builtin_flags():
    """The built-in flags' names from src/flags/builtins.rs, or None when it is not there."""
    try:
        with open(BUILTINS_RS) as f:
            return set(re.findall(r'key: "--([a-z_]+)"', f.read()))
    except OSError:
        return None


def app_container(deploy):
    return deploy["spec"]["template"]["spec"]["containers"][0]


def container_flags(deploy):
    """The flags the container sets: MICRO_* environment values, then its command line (which
    wins), in Go's and GNU's spellings (-name=value, --name value). Unset flags are absent."""
    c = app_container(deploy)
    flags = {}
    for e in c.get("env", []):
        if e.get("name", "").startswith("MICRO_") and "value" in e:
            flags[e["name"][len("MICRO_"):].lower()] = e["value"]
    argv = (c.get("command") or [None])[1:] + c.get("args", [])
    i = 0
    while i < len(argv):
        m = re.match(r"^--?([a-z_]+)(=(.*))?$", str(argv[i]), re.S)
        if m and m.group(2) is not None:
            flags[m.group(1)] = m.group(3)
        elif m and i + 1 < len(argv) and not str(argv[i + 1]).startswith("-"):
            flags[m.group(1)] = str(argv[i + 1])
            i += 1
        elif m:
            flags[m.group(1)] = ""
        i += 1
    return flags


def flag(flags, name):
    return flags.get(name, FLAG_DEFAULTS[name])


def flag_int(flags, name):
    """A whole-number flag's value, or None when it is not one (flag_errors reports it)."""
    value = flag(flags, name)
    return int(value) if value.isdigit() else None


def server_port(flags):
    """The port the app listens on (-server_address HOST:PORT), or None when unreadable."""
    port = flag(flags, "server_address").rpartition(":")[2]
    return int(port) if port.isdigit() else None


def micro_name(deploy):
    """The go-micro name the pods serve, from their app label (the name rule in reverse)."""
    return deploy["spec"]["template"]["metadata"].get("labels", {}).get("app", "").replace("-", ".")


def flag_errors(flags, known, notes):
    errors = []
    for name, value in sorted(flags.items()):
        builtin_like = name in BUILTIN_NAMES or name.startswith(BUILTIN_PREFIXES)
        if builtin_like and known is not None and name not in known:
            if name in PENDING_FLAGS:
                notes.add(f"-{name} is not in {os.path.relpath(BUILTINS_RS, ROOT)} yet; accepted as "
                          f"coming: {PENDING_FLAGS[name]}")
            else:
                errors.append(f"-{name}: no such built-in flag ({os.path.relpath(BUILTINS_RS, ROOT)}); "
                              "the app would exit 2")
        if name in FLAG_VALUES and value not in FLAG_VALUES[name]:
            errors.append(f"-{name}={value}: must be one of {', '.join(FLAG_VALUES[name])}")
        if name in ("client_retries", "server_max_in_flight", "server_max_concurrent_streams") \
                and not value.isdigit():
            errors.append(f"-{name}={value}: must be a whole number")
    return errors


def scrape_errors(deploy, flags):
    """The pod's prometheus.io annotations (which Istio's metrics merging reads) must point at the
    app's metrics: scrape "true", a port the container declares, the app's -metrics_path
    (default /metrics). An app started with metrics off (-metrics_path=) must not be scraped."""
    tmpl = deploy["spec"]["template"]
    ann = tmpl.get("metadata", {}).get("annotations", {})
    path = flags.get("metrics_path", "/metrics")
    if not path:
        return ["-metrics_path= turns metrics off, but prometheus.io/scrape is \"true\""] \
            if ann.get("prometheus.io/scrape") == "true" else []
    ports = {str(p.get("containerPort")) for c in tmpl["spec"]["containers"] for p in c.get("ports", [])}
    errors = []
    if ann.get("prometheus.io/scrape") != "true":
        errors.append('pod template annotation prometheus.io/scrape must be "true"')
    if ann.get("prometheus.io/port") not in ports:
        errors.append(f"pod template annotation prometheus.io/port {ann.get('prometheus.io/port')!r} "
                      f"is not a containerPort ({', '.join(sorted(ports)) or 'none'})")
    if ann.get("prometheus.io/path") != path:
        errors.append(f"pod template annotation prometheus.io/path {ann.get('prometheus.io/path')!r} "
                      f"is not the app's metrics path {path!r}")
    return errors


# The paths the server answers itself (README "Health and shutdown"): liveness must not fail
# while the app is only not ready (starting, or its own check failing), or the kubelet would
# restart it.
LIVE_PATHS = ("/health/live",)
READY_PATHS = ("/health/ready", "/health")


def probe_errors(deploy, flags):
    """Each probe must reach a health answer the app serves, on the port it listens on: httpGet
    /health/live for liveness, /health/ready or /health for readiness (startup: any of them),
    or for readiness only a grpc probe (grpc.health.v1 Check answers readiness: NOT_SERVING
    while starting or draining) with no service name or the app's own."""
    c = app_container(deploy)
    port = server_port(flags)
    named = {p["name"]: p.get("containerPort") for p in c.get("ports", []) if p.get("name")}
    declared = sorted(p.get("containerPort") for p in c.get("ports", []))
    errors = []
    if port not in declared:
        errors.append(f"-server_address port {port} is not a containerPort ({declared})")
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = c.get(kind)
        if probe is None:
            if kind != "startupProbe":
                errors.append(f"{kind}: missing")
            continue
        if "httpGet" in probe:
            get = probe["httpGet"]
            to = named.get(get.get("port"), get.get("port"))
            paths = READY_PATHS if kind == "readinessProbe" else LIVE_PATHS
            paths += READY_PATHS if kind == "startupProbe" else ()
            if to != port:
                errors.append(f"{kind}: httpGet port {get.get('port')!r} is not the app's port {port} "
                              "(-server_address)")
            if get.get("path") not in paths:
                errors.append(f"{kind}: httpGet path {get.get('path')!r} is not {' or '.join(paths)}")
            if get.get("scheme", "HTTP") != "HTTP":
                errors.append(f"{kind}: the app serves plain HTTP (the sidecar does TLS), not "
                              f"{get.get('scheme')}")
        elif "grpc" in probe:
            grpc = probe["grpc"]
            if kind != "readinessProbe":
                errors.append(f"{kind}: a grpc probe answers readiness (NOT_SERVING until ready, or while "
                              "the service's own check fails), so the kubelet would restart a pod that is "
                              f"only not ready: use httpGet {LIVE_PATHS[0]}")
            if grpc.get("port") != port:
                errors.append(f"{kind}: grpc port {grpc.get('port')!r} is not the app's port {port} "
                              "(-server_address)")
            if grpc.get("service", "") not in ("", micro_name(deploy)):
                errors.append(f"{kind}: grpc service {grpc.get('service')!r}: the app answers NOT_FOUND "
                              f"for any name but '' and {micro_name(deploy)!r}")
            if flag(flags, "server") == "tiny_http":
                errors.append(f"{kind}: a grpc probe needs HTTP/2, which -server=tiny_http does not speak")
        else:
            errors.append(f"{kind}: probe the app's health answers (httpGet, or grpc for readiness)")
    return errors


# ---------------------------------------------------------------------------------------------
# Cross-file checks: what the issue asks of the manifests, kept true by CI.

# retryOn conditions (Envoy's, as Istio passes them on; a number is a retriable status code).
# Those before the app: the request provably never reached it. The others follow an answer, or
# a reset, after which the app may have run the call.
RETRY_BEFORE_APP = {"connect-failure", "refused-stream", "reset-before-request", "envoy-ratelimited",
                    "http3-post-connect-failure"}
RETRY_AFTER_REPLY = {"5xx", "gateway-error", "reset", "retriable-4xx", "retriable-status-codes",
                     "retriable-headers", "cancelled", "deadline-exceeded", "internal",
                     "resource-exhausted", "unavailable"}
# What Istio retries on a route without `retries` (2 attempts).
ISTIO_DEFAULT_RETRY = "connect-failure,refused-stream,unavailable,cancelled,503"


def selects(service, deploy):
    sel = service["spec"].get("selector") or {}
    labels = deploy["spec"]["template"]["metadata"].get("labels", {})
    return (bool(sel) and service["metadata"].get("namespace") == deploy["metadata"].get("namespace")
            and all(labels.get(k) == v for k, v in sel.items()))


def service_of_host(host, namespace, services):
    """The Service a DestinationRule or VirtualService host names (short, name.ns, or FQDN)."""
    name, _, rest = host.partition(".")
    ns, _, suffix = rest.partition(".")
    if suffix not in ("", "svc", "svc.cluster.local"):
        return None
    ns = ns or namespace
    return next((s for s in services
                 if s["metadata"]["name"] == name and s["metadata"].get("namespace") == ns), None)


def service_errors(svc, deploys):
    errors = []
    backends = [(d, container_flags(d)) for d in deploys if selects(svc, d)]
    if not backends:
        errors.append("selects no Deployment here")
    for p in svc["spec"].get("ports", []):
        name, proto = p.get("name", ""), p.get("appProtocol")
        if proto not in ("http", "grpc"):
            errors.append(f"port {name}: appProtocol must be http (HTTP/1.1 to the app) or grpc "
                          "(HTTP/2, h2c, to the app)")
        elif not (name == proto or name.startswith(proto + "-")):
            errors.append(f"port {name}: appProtocol {proto} needs a port named {proto} (or {proto}-*), "
                          "which Istio reads where appProtocol is not")
        for d, flags in backends:
            c = app_container(d)
            target = p.get("targetPort", p.get("port"))
            named = {q["name"]: q.get("containerPort") for q in c.get("ports", []) if q.get("name")}
            if named.get(target, target) != server_port(flags):
                errors.append(f"port {name}: targetPort {target!r} is not where {d['metadata']['name']} "
                              f"listens ({server_port(flags)}, -server_address)")
            if proto == "grpc" and flag(flags, "server") == "tiny_http":
                errors.append(f"port {name}: appProtocol grpc has the sidecar speak HTTP/2 to "
                              f"{d['metadata']['name']}, whose -server=tiny_http is HTTP/1.1 only")
    return errors


def pool_errors(http, svc, backends, app_idle):
    """A DestinationRule's connectionPool.http against the apps behind its host."""
    errors = []
    where = "trafficPolicy.connectionPool.http"
    protos = {p.get("appProtocol") for p in (svc or {"spec": {}})["spec"].get("ports", [])}
    idle = duration_ns(http.get("idleTimeout", ""))
    if idle is None or idle >= app_idle:
        errors.append(f"{where}.idleTimeout must be set below the app's idle timeout "
                      f"({app_idle / 1e9:.0f}s, -server_idle_timeout)")
    streams, requests = http.get("maxConcurrentStreams"), http.get("http2MaxRequests")
    if "grpc" in protos and streams is None:
        errors.append(f"{where}.maxConcurrentStreams must be set (HTTP/2 to the app): the app's "
                      "-server_max_concurrent_streams")
    if "grpc" in protos and requests is None:
        errors.append(f"{where}.http2MaxRequests must be set (HTTP/2 to the app): at most the app's "
                      "-server_max_in_flight")
    if "grpc" in protos and http.get("h2UpgradePolicy") == "DO_NOT_UPGRADE":
        errors.append(f"{where}.h2UpgradePolicy DO_NOT_UPGRADE contradicts the grpc port (HTTP/2)")
    for d, flags in backends:
        dname = d["metadata"]["name"]
        limit = flag_int(flags, "server_max_concurrent_streams")
        if streams is not None and limit is not None and streams != limit:
            errors.append(f"{where}.maxConcurrentStreams {streams} must equal {dname}'s "
                          f"SETTINGS_MAX_CONCURRENT_STREAMS ({limit}, -server_max_concurrent_streams): "
                          + ("above, the sidecar opens streams the app refuses" if streams > limit
                             else "below, the sidecar opens connections it need not"))
        in_flight = flag_int(flags, "server_max_in_flight")
        if requests is not None and in_flight is not None and not 0 < requests <= in_flight:
            errors.append(f"{where}.http2MaxRequests {requests} must be from 1 to {dname}'s "
                          f"-server_max_in_flight ({in_flight}): the sidecar's inbound pool would hold "
                          "more requests in the app than it admits")
        if flag(flags, "server") == "tiny_http" and http.get("h2UpgradePolicy") == "UPGRADE":
            errors.append(f"{where}.h2UpgradePolicy UPGRADE: {dname}'s -server=tiny_http is HTTP/1.1 only")
    return errors


def retry_errors(vs, services, deploys):
    """retryOn names known conditions; a mesh route that retries after the app may have run the
    call (a reply or a reset) must be the only retrier: every other Deployment here passes
    -client_retries=0, or the attempts multiply (the client's retry, each retried by the sidecar).
    A route without `retries` gets Istio's default, which retries on replies too."""
    errors = []
    mesh = not vs["spec"].get("gateways") or "mesh" in vs["spec"]["gateways"]
    ns = vs["metadata"].get("namespace")
    for i, route in enumerate(vs["spec"].get("http", [])):
        retries = route.get("retries")
        retry_on = ISTIO_DEFAULT_RETRY if retries is None else retries.get("retryOn", ISTIO_DEFAULT_RETRY)
        attempts = 2 if retries is None else retries.get("attempts", 0)
        conditions = [c.strip() for c in retry_on.split(",") if c.strip()]
        unknown = [c for c in conditions
                   if c not in RETRY_BEFORE_APP | RETRY_AFTER_REPLY and not c.isdigit()]
        if unknown:
            errors.append(f"http[{i}].retries.retryOn: unknown condition(s) {', '.join(unknown)}")
        after = [c for c in conditions if c in RETRY_AFTER_REPLY or c.isdigit()]
        if not (mesh and attempts and after):
            continue
        behind = [service_of_host(r.get("destination", {}).get("host", ""), ns, services)
                  for r in route.get("route", [])]
        for d in deploys:
            if any(s and selects(s, d) for s in behind):
                continue
            if flag_int(container_flags(d), "client_retries") != 0:
                errors.append(f"http[{i}] retries on {','.join(after)}"
                              f"{' (Istio default: no retries block)' if retries is None else ''}, after "
                              f"which the app may have run the call: {d['metadata']['name']} must pass "
                              "-client_retries=0 (else its retries and the sidecar's stack), or retry only "
                              "on connect-failure,refused-stream")
    return errors


def check_invariants(docs, notes):
    """docs: [(file, doc)]. Returns [(file, message)]; adds notes (not failures) to notes."""
    errors = []
    by_kind = {}
    for f, d in docs:
        by_kind.setdefault(d.get("kind"), []).append((f, d))
    sas = {(d["metadata"].get("namespace"), d["metadata"]["name"])
           for _, d in by_kind.get("ServiceAccount", [])}
    deploys = [d for _, d in by_kind.get("Deployment", [])]
    services = [d for _, d in by_kind.get("Service", [])]
    known = builtin_flags()
    if known is None:
        notes.add(f"{BUILTINS_RS} not found: flag names not checked")
    for f, d in by_kind.get("Deployment", []):
        spec = d["spec"]["template"]["spec"]
        flags = container_flags(d)
        delay = duration_ns(flags.get("shutdown_delay", ""))
        timeout = duration_ns(flags.get("shutdown_timeout", ""))
        grace = spec.get("terminationGracePeriodSeconds", 30)
        if delay is None or timeout is None:
            errors.append((f, "the command must pass -shutdown_delay and -shutdown_timeout explicitly"))
        elif grace * 1e9 <= delay + timeout:
            errors.append((f, f"terminationGracePeriodSeconds {grace} must exceed "
                              "shutdown_delay + shutdown_timeout"))
        errors += [(f, e) for e in flag_errors(flags, known, notes)]
        errors += [(f, e) for e in scrape_errors(d, flags)]
        errors += [(f, e) for e in probe_errors(d, flags)]
        ns = d["metadata"].get("namespace")
        if (ns, spec.get("serviceAccountName")) not in sas:
            errors.append((f, f"serviceAccountName {spec.get('serviceAccountName')!r} "
                              "is not a ServiceAccount here"))
    for f, d in by_kind.get("Service", []):
        errors += [(f, e) for e in service_errors(d, deploys)]
    # Without a Service and Deployment behind a host, the shortest idle timeout of all apps here.
    all_idle = min([duration_ns(flag(container_flags(d), "server_idle_timeout")) or 0 for d in deploys]
                   or [duration_ns(FLAG_DEFAULTS["server_idle_timeout"])])
    for f, d in by_kind.get("DestinationRule", []):
        svc = service_of_host(d["spec"].get("host", ""), d["metadata"].get("namespace"), services)
        backends = [(b, container_flags(b)) for b in deploys if svc and selects(svc, b)]
        app_idle = min([duration_ns(flag(fl, "server_idle_timeout")) or 0 for _, fl in backends]
                       or [all_idle])
        policies = [d["spec"].get("trafficPolicy", {})] + [
            s["trafficPolicy"] for s in d["spec"].get("subsets", []) if "trafficPolicy" in s]
        for policy in policies:
            http = policy.get("connectionPool", {}).get("http", {})
            errors += [(f, e) for e in pool_errors(http, svc, backends, app_idle)]
    for f, d in by_kind.get("VirtualService", []):
        errors += [(f, e) for e in retry_errors(d, services, deploys)]
    for f, d in by_kind.get("AuthorizationPolicy", []):
        for rule in d["spec"].get("rules", []):
            for src in rule.get("from", []):
                for p in src.get("source", {}).get("principals", []):
                    m = re.match(r"^cluster\.local/ns/([^/]+)/sa/([^/]+)$", p)
                    if m and m.group(1) != "istio-system" and (m.group(1), m.group(2)) not in sas:
                        errors.append((f, f"principal {p} names no ServiceAccount defined here"))
    ras = {(f, d["metadata"].get("namespace"),
            tuple(sorted(d["spec"].get("selector", {}).get("matchLabels", {}).items())))
           for f, d in by_kind.get("RequestAuthentication", [])}
    for ra_file, ns, sel in sorted(ras):
        required = any(
            d["metadata"].get("namespace") == ns
            and tuple(sorted(d["spec"].get("selector", {}).get("matchLabels", {}).items())) == sel
            and d["spec"].get("action", "ALLOW") == "ALLOW" and d["spec"].get("rules")
            and all(any(s.get("source", {}).get("requestPrincipals") for s in r.get("from", []))
                    for r in d["spec"]["rules"])
            for _, d in by_kind.get("AuthorizationPolicy", []))
        if not required:
            errors.append((ra_file, f"RequestAuthentication for {dict(sel)} in {ns}: no ALLOW "
                                    "AuthorizationPolicy for the same workload requires requestPrincipals "
                                    "in every rule, so token-less requests pass"))
    return errors


# ---------------------------------------------------------------------------------------------
# A variant (k8s/grpc/) against its base (k8s/): the same documents, equal but for what the
# variant is for.

# kind -> paths that may differ ("*": every item of a list). VirtualService routes only for the
# mesh (no gateways): the ingress routes stay the same.
VARIANT_MAY_DIFFER = {
    "Service": [("spec", "ports")],
    "Deployment": [("spec", "template", "spec", "containers", "*", "command"),
                   ("spec", "template", "spec", "containers", "*", "args")],
    "DestinationRule": [("spec", "trafficPolicy", "connectionPool")],
    "VirtualService": [("spec", "http")],
    "AuthorizationPolicy": [("spec", "rules")],
}


def without(doc, path):
    """doc with path (and, for "*", that path in every list item) removed."""
    if not path or not isinstance(doc, (dict, list)):
        return doc
    head, rest = path[0], path[1:]
    if head == "*" and isinstance(doc, list):
        return [without(item, rest) for item in doc]
    if isinstance(doc, dict) and head in doc:
        out = dict(doc)
        if rest:
            out[head] = without(doc[head], rest)
        else:
            del out[head]
        return out
    return doc


def first_difference(a, b, path=""):
    """The first path where a and b differ, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                return f"{path}.{k}".lstrip(".")
            d = first_difference(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path} (length {len(b)} against {len(a)})".lstrip(".")
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            d = first_difference(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    return None if a == b else (path.lstrip(".") or "(top)")


def variant_errors(docs, base_docs, base_label):
    """The variant's documents against its base's, by kind, namespace and name."""
    def key(d):
        meta = d.get("metadata") or {}
        return (d["kind"], meta.get("namespace"), meta.get("name"))
    mine = {key(d): (f, d) for f, d in docs}
    base = {key(d): (f, d) for f, d in base_docs}
    errors = [(mine[k][0], f"{k[0]}/{k[2]} is not in {base_label}") for k in sorted(set(mine) - set(base))]
    errors += [("(variant)", f"lacks {k[0]}/{k[2]} of {base_label}{base[k][0]}")
               for k in sorted(set(base) - set(mine))]
    for k in sorted(set(mine) & set(base)):
        (f, d), (bf, bd) = mine[k], base[k]
        paths = VARIANT_MAY_DIFFER.get(k[0], [])
        if k[0] == "VirtualService" and ((d.get("spec") or {}).get("gateways")
                                         or (bd.get("spec") or {}).get("gateways")):
            paths = []
        for p in paths:
            d, bd = without(d, p), without(bd, p)
        diff = first_difference(bd, d)
        if diff:
            allowed = (f"a variant may change only {', '.join('.'.join(p) for p in paths)}" if paths
                       else "a variant may not change it")
            errors.append((f, f"{k[0]}/{k[2]} differs from {base_label}{bf} at {diff}; {allowed} "
                              "(make the change in both)"))
    return errors


def kustomization_images(directory):
    try:
        with open(os.path.join(directory, KUSTOMIZATION)) as f:
            return (yaml.load(f, Loader=Loader) or {}).get("images")
    except OSError:
        return None


# ---------------------------------------------------------------------------------------------


def check_kustomization(directory, files):
    path = os.path.join(directory, KUSTOMIZATION)
    if not os.path.exists(path):
        return [(KUSTOMIZATION, "missing")]
    with open(path) as f:
        k = yaml.load(f, Loader=Loader) or {}
    listed = {os.path.normpath(r) for r in k.get("resources", [])}
    present = {os.path.relpath(f, directory) for f in files}
    errors = [(KUSTOMIZATION, f"lists {r}, which does not exist") for r in sorted(listed - present)]
    errors += [(f, f"not listed in {KUSTOMIZATION}") for f in sorted(present - listed)]
    return errors


def nested_kustomizations(directory):
    """Directories below directory with a kustomization of their own (variants such as k8s/grpc/):
    not part of directory's manifests; each is validated on its own."""
    return sorted(os.path.dirname(p) for p in glob.glob(os.path.join(directory, "**", KUSTOMIZATION),
                                                        recursive=True)
                  if os.path.dirname(p) != directory)


def manifest_files(directory):
    nested = nested_kustomizations(directory)
    return sorted(f for f in glob.glob(os.path.join(directory, "**", "*.y*ml"), recursive=True)
                  if os.path.basename(f) != KUSTOMIZATION
                  and not any(f.startswith(n + os.sep) for n in nested))


def load_docs(directory, files):
    """[(relative file, doc)] and [(relative file, error)] for the YAML files."""
    docs, errors = [], []
    for path in files:
        rel = os.path.relpath(path, directory)
        try:
            with open(path) as f:
                file_docs = [d for d in yaml.load_all(f, Loader=Loader) if d is not None]
        except yaml.YAMLError as e:
            errors.append((rel, f"YAML: {e}"))
            continue
        for d in file_docs:
            if not isinstance(d, dict) or "apiVersion" not in d or "kind" not in d:
                errors.append((rel, "a document without apiVersion and kind"))
            else:
                docs.append((rel, d))
    return docs, errors


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("directory", nargs="?", default=os.path.join(ROOT, "k8s"))
    ap.add_argument("--k8s-version", action="append", help="Kubernetes version (repeatable)")
    ap.add_argument("--istio-crds", default=DEFAULT_CRDS, help="CRD bundle (crd-all.gen.yaml)")
    ap.add_argument("--rendered", action="store_true",
                    help="DIR holds rendered output (kubectl kustomize), not the kustomization")
    ap.add_argument("--same-as", metavar="BASE",
                    help="DIR is a variant of BASE: the same documents, equal but for what a variant "
                         "may change (default: DIR's parent when it has a kustomization.yaml)")
    args = ap.parse_args()

    directory = os.path.normpath(args.directory)
    versions = k8s_versions(args.k8s_version)
    files = manifest_files(directory)
    if not files:
        print(f"FAIL: no manifests under {directory}")
        return 1
    for n in nested_kustomizations(directory):
        print(f"skip {os.path.relpath(n, directory)}/: a kustomization of its own "
              f"(validate.py {os.path.relpath(n)})")
    base_dir = args.same_as
    parent = os.path.dirname(os.path.abspath(directory))
    if base_dir is None and not args.rendered and os.path.exists(os.path.join(parent, KUSTOMIZATION)):
        base_dir = parent

    crds_path = os.path.normpath(args.istio_crds)
    istio = None
    if os.path.exists(crds_path):
        registry, meta_ref = object_meta_registry(versions[0])
        istio = IstioChecker(load_crds(crds_path), registry, meta_ref)
        print(f"Istio: strict against {len(istio.crds)} CRD schema versions in {crds_path}")
    else:
        print(f"SKIP: Istio CRD schemas not found at {crds_path}; Istio kinds are NOT checked")
    print(f"Kubernetes: kubernetes-validate {kv.__version__} --strict against {', '.join(versions)}")

    failed = 0
    all_docs, load_errors = load_docs(directory, files)
    for rel, e in load_errors:
        print(f"FAIL {rel}: {e}")
        failed += 1
    docs = []
    for rel, d in all_docs:
        name = f"{d['kind']}/{d.get('metadata', {}).get('name', '?')}"
        group = d["apiVersion"].rpartition("/")[0]
        if group.endswith(".istio.io"):
            if istio is None:
                print(f"skip {rel} {name} ({d['apiVersion']}): no Istio CRD schemas")
                continue
            errors, how = istio.check(d), f"{d['apiVersion']} CRD schema"
        else:
            errors, how = check_k8s(d, versions), f"Kubernetes {'/'.join(versions)} strict"
        docs.append((rel, d))
        if errors:
            failed += 1
            for e in errors:
                print(f"FAIL {rel} {name}: {e}")
        else:
            print(f"ok   {rel} {name} ({how})")

    notes = set()
    problems = ([] if args.rendered else check_kustomization(directory, files))
    problems += check_invariants(docs, notes)
    variant = ""
    if base_dir is not None:
        base_label = os.path.relpath(base_dir, directory) + "/"
        base_docs, base_errors = load_docs(base_dir, manifest_files(base_dir))
        problems += [(f"{base_label}{f}", e) for f, e in base_errors]
        # All documents, Istio's too when their schemas are not at hand.
        problems += variant_errors(all_docs, base_docs, base_label)
        if not args.rendered and kustomization_images(directory) != kustomization_images(base_dir):
            problems.append((KUSTOMIZATION, f"images differ from {base_label}{KUSTOMIZATION}'s "
                                            "(a release tags both variants)"))
        variant = f"; the same documents as {base_label} but for what a variant may change"
    for f, msg in problems:
        print(f"FAIL {f}: {msg}")
    failed += len(problems)
    if not problems:
        print("ok   " + ("" if args.rendered else f"{KUSTOMIZATION} lists every manifest; ")
              + "cross-file invariants hold" + variant)
    for note in sorted(notes):
        print(f"note: {note}")
    if CEL_NOT_EVALUATED:
        print(f"note: {len(CEL_NOT_EVALUATED)} CEL rule(s) not evaluated: "
              + "; ".join(sorted(CEL_NOT_EVALUATED)))

    print(f"{'FAIL' if failed else 'PASS'}: {len(docs)} documents in {len(files)} files, {failed} problem(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
