#!/usr/bin/env python3
"""Offline, strict schema check of the Kubernetes and Istio manifests under a directory.

    python3 deploy/validate.py [--k8s-version 1.30 ...] [--istio-crds FILE] [DIR]

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
- kustomization.yaml lists exactly the manifests in DIR, and the cross-file invariants of the
  deployment hold (see check_invariants).

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
# Cross-file checks: what the issue asks of the manifests, kept true by CI.


def container_flags(deploy):
    c = deploy["spec"]["template"]["spec"]["containers"][0]
    flags = {}
    for arg in c.get("command", []) + c.get("args", []):
        m = re.match(r"^--?([a-z_]+)=(.*)$", arg)
        if m:
            flags[m.group(1)] = m.group(2)
    return flags


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


def check_invariants(docs):
    """docs: [(file, doc)]. Returns [(file, message)]."""
    errors = []
    by_kind = {}
    for f, d in docs:
        by_kind.setdefault(d.get("kind"), []).append((f, d))
    sas = {(d["metadata"].get("namespace"), d["metadata"]["name"])
           for _, d in by_kind.get("ServiceAccount", [])}
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
        errors += [(f, e) for e in scrape_errors(d, flags)]
        ns = d["metadata"].get("namespace")
        if (ns, spec.get("serviceAccountName")) not in sas:
            errors.append((f, f"serviceAccountName {spec.get('serviceAccountName')!r} "
                              "is not a ServiceAccount here"))
    for f, d in by_kind.get("Service", []):
        for p in d["spec"].get("ports", []):
            if p.get("appProtocol") != "http":
                errors.append((f, f"port {p.get('name')}: appProtocol must be http (HTTP/1.1 to the app)"))
    # The app's idle keep-alive: -server_idle_timeout if a Deployment sets it, else 1h10s.
    app_idle = min([duration_ns(container_flags(d).get("server_idle_timeout", "1h10s")) or 0
                    for _, d in by_kind.get("Deployment", [])] or [duration_ns("1h10s")])
    for f, d in by_kind.get("DestinationRule", []):
        pool = d["spec"].get("trafficPolicy", {}).get("connectionPool", {})
        idle = duration_ns(pool.get("http", {}).get("idleTimeout", ""))
        if idle is None or idle >= app_idle:
            errors.append((f, f"trafficPolicy.connectionPool.http.idleTimeout must be set below the app's "
                              f"idle keep-alive ({app_idle / 1e9:.0f}s)"))
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


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("directory", nargs="?", default=os.path.join(ROOT, "k8s"))
    ap.add_argument("--k8s-version", action="append", help="Kubernetes version (repeatable)")
    ap.add_argument("--istio-crds", default=DEFAULT_CRDS, help="CRD bundle (crd-all.gen.yaml)")
    ap.add_argument("--rendered", action="store_true",
                    help="DIR holds rendered output (kubectl kustomize), not the kustomization")
    args = ap.parse_args()

    directory = os.path.normpath(args.directory)
    versions = k8s_versions(args.k8s_version)
    files = sorted(f for f in glob.glob(os.path.join(directory, "**", "*.y*ml"), recursive=True)
                   if os.path.basename(f) != KUSTOMIZATION)
    if not files:
        print(f"FAIL: no manifests under {directory}")
        return 1

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
    docs = []
    for path in files:
        rel = os.path.relpath(path, directory)
        try:
            with open(path) as f:
                file_docs = [d for d in yaml.load_all(f, Loader=Loader) if d is not None]
        except yaml.YAMLError as e:
            print(f"FAIL {rel}: YAML: {e}")
            failed += 1
            continue
        for d in file_docs:
            if not isinstance(d, dict) or "apiVersion" not in d or "kind" not in d:
                print(f"FAIL {rel}: a document without apiVersion and kind")
                failed += 1
                continue
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

    problems = ([] if args.rendered else check_kustomization(directory, files)) + check_invariants(docs)
    for f, msg in problems:
        print(f"FAIL {f}: {msg}")
    failed += len(problems)
    if not problems:
        print("ok   " + ("" if args.rendered else f"{KUSTOMIZATION} lists every manifest; ")
              + "cross-file invariants hold")
    if CEL_NOT_EVALUATED:
        print(f"note: {len(CEL_NOT_EVALUATED)} CEL rule(s) not evaluated: "
              + "; ".join(sorted(CEL_NOT_EVALUATED)))

    print(f"{'FAIL' if failed else 'PASS'}: {len(docs)} documents in {len(files)} files, {failed} problem(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
