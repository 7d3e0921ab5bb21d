"""Offline checks of the Kubernetes manifests in deploy/kubernetes (no cluster needed).

The manifests are rendered with `kubectl kustomize` (base and every overlay), linted
with yamllint, and checked field by field: resources, probes, preStop, security
context, selectors, ports, the HorizontalPodAutoscaler's target and metric, Secret
placeholders, and PostgreSQL's max_connections against the most replicas the HPA may
start. Then the real binary is cross-checked: every flag in the container's args must
be one `quiver serve --help` lists (and a value one it accepts), and a server started
with the manifest's own args must answer every probe path with 200 and export the
metric the HPA scales on.

Every checker returns a list of problems, and test_checkers_catch_broken_manifests
feeds each one a broken copy, so none of them can pass by accident."""
import base64
import copy
import pathlib
import re
import shutil
import signal
import subprocess
import time

import pytest
import requests
import yaml

from conftest import BINARY, ROOT, find_model

K8S = ROOT / "deploy" / "kubernetes"
KUSTOMIZATIONS = {"base": K8S, "tls": K8S / "overlays" / "tls"}
# Flags of the replicated server that land with the PostgreSQL registry: tolerated as
# unknown only while `quiver serve --help` does not list --registry yet.
CLUSTER_FLAGS = {"--registry", "--replica-id", "--advertise-address", "--artifact-store"}
# The listener each port flag opens, as the "quiver listening" line names it.
PORT_FLAGS = {"--http-port": "http", "--grpc-port": "grpc", "--management-port": "management"}
CONNECTIONS_PER_REPLICA = 6  # registry, LISTEN, heartbeat, /v1/cluster, artifacts, feedback forwarding
PLACEHOLDER = "CHANGE_ME"
GOOD_INPUTS = [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]

needs_kubectl = pytest.mark.skipif(
    shutil.which("kubectl") is None,
    reason="kubectl is not installed, so the manifests cannot be rendered (scripts/install-deps.sh "
           "installs Debian's kubernetes-client)")


# ---- rendering and reading -------------------------------------------------------------

def render(folder):
    out = subprocess.run(["kubectl", "kustomize", str(folder)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"kubectl kustomize {folder} failed:\n{out.stderr}"
    return [d for d in yaml.safe_load_all(out.stdout) if d]


@pytest.fixture(scope="module")
def rendered():
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed (scripts/install-deps.sh installs it)")
    return {name: render(folder) for name, folder in KUSTOMIZATIONS.items()}


def of_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def one(docs, kind, name=None):
    found = [d for d in of_kind(docs, kind) if name is None or d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def named(docs, kind, name):
    return next((d for d in of_kind(docs, kind) if d["metadata"]["name"] == name), None)


def pod_spec(deployment):
    return deployment["spec"]["template"]["spec"]


def containers(deployment):
    spec = pod_spec(deployment)
    return spec.get("initContainers", []) + spec.get("containers", [])


def main_container(docs):
    return one(docs, "Deployment", "quiver")["spec"]["template"]["spec"]["containers"][0]


def secret_values(secret):
    values = dict(secret.get("stringData") or {})
    for key, value in (secret.get("data") or {}).items():
        values[key] = base64.b64decode(value).decode(errors="replace")
    return values


def container_port(container, ref):
    """The containerPort a probe or Service names (by name or number), else None."""
    for p in container.get("ports", []):
        if ref in (p.get("name"), p["containerPort"]):
            return p
    return None


# ---- the real server's command line ----------------------------------------------------

def serve_help():
    out = subprocess.run([str(BINARY), "serve", "--help"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


def parse_help(text):
    """{flag: {"choices": set or None, "default": str or None}} from CLI11's help."""
    flags = {}
    for line in text.splitlines():
        m = re.match(r"^\s+(?:-\w,)?(--[a-z][a-z0-9-]*)(.*)$", line)
        if not m:
            continue
        rest = m.group(2).split("  ")[0]  # the type and default, before the description
        choices = re.search(r"\{([^}]*)\}", rest)
        default = re.search(r"=(\S+)", rest)
        flags[m.group(1)] = {"choices": set(choices.group(1).split(",")) if choices else None,
                             "default": default.group(1) if default else None}
    return flags


def split_flag(arg):
    name, _, value = arg.partition("=")
    return name, (value if "=" in arg else None)


def check_flags(container, help_flags):
    """Every --flag in the args is one `quiver serve` accepts, with an accepted value."""
    problems = []
    if pathlib.PurePath((container.get("command") or ["?"])[-1]).name != "quiver" or \
            (container.get("args") or [None])[0] != "serve":
        problems.append(f"container {container['name']} does not run `quiver serve`")
    cluster_flags_known = "--registry" in help_flags
    for arg in (container.get("args") or [])[1:]:
        if not arg.startswith("--"):
            problems.append(f"argument {arg!r} is not a --flag=value (write flags and values as one item)")
            continue
        name, value = split_flag(arg)
        if name not in help_flags:
            if name in CLUSTER_FLAGS and not cluster_flags_known:
                continue  # not built yet: enforced once --registry appears in the help
            problems.append(f"`quiver serve --help` has no flag {name}")
            continue
        choices = help_flags[name]["choices"]
        if value is not None and choices and "$(" not in value and value not in choices:
            problems.append(f"{name}={value}: quiver serve accepts only {sorted(choices)}")
    return problems


def container_env(container, docs):
    """Environment values as the kubelet would set them, with made-up pod fields."""
    fields = {"metadata.name": "quiver-7d9c-abcde", "status.podIP": "10.1.2.3", "metadata.namespace": "quiver"}
    env = {}
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
            continue
        source = e.get("valueFrom", {})
        if "fieldRef" in source:
            env[e["name"]] = fields.get(source["fieldRef"]["fieldPath"], "x")
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            cm = named(docs, "ConfigMap", ref["name"])
            if cm is not None and ref["key"] in cm.get("data", {}):
                env[e["name"]] = cm["data"][ref["key"]]
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            secret = named(docs, "Secret", ref["name"])
            if secret is not None and ref["key"] in secret_values(secret):
                env[e["name"]] = secret_values(secret)[ref["key"]]
    return env


def expand(arg, env):
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), arg)


# ---- checkers: each returns a list of problems ------------------------------------------

def check_workload(docs):
    problems = []
    for deployment in of_kind(docs, "Deployment"):
        spec = pod_spec(deployment)
        labels = deployment["spec"]["template"]["metadata"].get("labels", {})
        selector = deployment["spec"]["selector"].get("matchLabels", {})
        if not selector or any(labels.get(k) != v for k, v in selector.items()):
            problems.append("the Deployment's selector does not match its pod labels")
        if deployment["spec"].get("replicas", 1) < 3:
            problems.append("fewer than 3 replicas")
        if not spec.get("terminationGracePeriodSeconds"):
            problems.append("no terminationGracePeriodSeconds")
        pod_sc = spec.get("securityContext", {})
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for c in containers(deployment):
            name = c["name"]
            resources = c.get("resources", {})
            for part in ("requests", "limits"):
                for what in ("cpu", "memory"):
                    if what not in resources.get(part, {}):
                        problems.append(f"container {name} has no {part}.{what}")
            image = c.get("image", "")
            tag = image.rsplit("/", 1)[-1]
            if "@sha256:" not in image and (":" not in tag or tag.endswith(":latest")):
                problems.append(f"container {name} image {image!r} is untagged or :latest")
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                http = c.get(probe, {}).get("httpGet")
                if http is None:
                    problems.append(f"container {name} has no {probe} (httpGet)")
                elif container_port(c, http.get("port")) is None:
                    problems.append(f"container {name} {probe} port {http.get('port')!r} is not a declared port")
            if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/v2/health/ready":
                problems.append(f"container {name} readinessProbe is not on /v2/health/ready")
            if c.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/v2/health/live":
                problems.append(f"container {name} livenessProbe is not on /v2/health/live")
            pre_stop = c.get("lifecycle", {}).get("preStop", {})
            if not (pre_stop.get("exec", {}).get("command") or pre_stop.get("sleep")):
                problems.append(f"container {name} has no preStop hook")
            sc = c.get("securityContext", {})
            if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
                problems.append(f"container {name} may run as root")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"container {name} has a writable root file system")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"container {name} allows privilege escalation")
            mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
            for m in mounts.values():
                if m["name"] not in volumes:
                    problems.append(f"container {name} mounts {m['name']}, which is no volume")
            # The data dir must sit on a writable volume: the root file system is read-only.
            data_dir = next((split_flag(a)[1] for a in c.get("args", []) if a.startswith("--data-dir=")), None)
            if c is spec["containers"][0]:
                mount = mounts.get(data_dir or "")
                if mount is None or mount.get("readOnly") or "emptyDir" not in volumes.get(mount["name"], {}):
                    problems.append(f"--data-dir {data_dir} is not on a writable emptyDir volume")
            # Every $(VAR) in the args is defined, else the kubelet passes it on literally.
            defined = {e["name"] for e in c.get("env", [])}
            for arg in c.get("args", []):
                for var in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", arg):
                    if var not in defined:
                        problems.append(f"container {name} arg {arg!r} names undefined variable {var}")
            # Every required key an env var reads exists in the rendered ConfigMap/Secret.
            for e in c.get("env", []):
                for kind, ref_name in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                    ref = e.get("valueFrom", {}).get(ref_name)
                    if ref is None or ref.get("optional"):
                        continue
                    source = named(docs, kind, ref["name"])
                    keys = (secret_values(source) if kind == "Secret" else source.get("data", {})) if source else {}
                    if ref["key"] not in keys:
                        problems.append(f"env {e['name']} reads {kind} {ref['name']} key {ref['key']}: missing")
            # A file an arg names inside a mounted Secret is one of the Secret's keys.
            for m in mounts.values():
                secret_name = volumes.get(m["name"], {}).get("secret", {}).get("secretName")
                if secret_name is None:
                    continue
                secret = named(docs, "Secret", secret_name)
                keys = secret_values(secret) if secret else {}
                for arg in c.get("args", []):
                    value = split_flag(arg)[1] or ""
                    if value.startswith(m["mountPath"].rstrip("/") + "/"):
                        key = value[len(m["mountPath"].rstrip("/")) + 1:]
                        if key not in keys:
                            problems.append(f"{arg}: Secret {secret_name} has no key {key}")
    return problems


def check_wiring(docs):
    """Service, PodDisruptionBudget and HorizontalPodAutoscaler point at the Deployment."""
    problems = []
    deployment = one(docs, "Deployment", "quiver")
    labels = deployment["spec"]["template"]["metadata"].get("labels", {})
    container = main_container(docs)

    def selects_pods(selector):
        return bool(selector) and all(labels.get(k) == v for k, v in selector.items())

    for service in of_kind(docs, "Service"):
        if not selects_pods(service["spec"].get("selector", {})):
            problems.append(f"Service {service['metadata']['name']} selector does not match the pods")
        for port in service["spec"]["ports"]:
            if container_port(container, port.get("targetPort", port["port"])) is None:
                problems.append(f"Service port {port.get('name')} targets {port.get('targetPort')!r}, "
                                "which the container does not declare")
    service_ports = {p.get("name") for s in of_kind(docs, "Service") for p in s["spec"]["ports"]}
    for wanted in ("grpc", "management"):
        if wanted not in service_ports:
            problems.append(f"no Service port {wanted}")
    if not service_ports & {"http", "https"}:
        problems.append("no Service port http (or https)")

    pdbs = of_kind(docs, "PodDisruptionBudget")
    if not pdbs:
        problems.append("no PodDisruptionBudget")
    for pdb in pdbs:
        if not selects_pods(pdb["spec"].get("selector", {}).get("matchLabels", {})):
            problems.append("the PodDisruptionBudget selector does not match the pods")
        budget = {k: pdb["spec"][k] for k in ("minAvailable", "maxUnavailable") if k in pdb["spec"]}
        if budget not in ({"minAvailable": 2}, {"maxUnavailable": 1}):
            problems.append("the PodDisruptionBudget is neither minAvailable 2 nor maxUnavailable 1")

    hpas = of_kind(docs, "HorizontalPodAutoscaler")
    if not hpas:
        problems.append("no HorizontalPodAutoscaler")
    for hpa in hpas:
        if hpa["apiVersion"] != "autoscaling/v2":
            problems.append(f"HorizontalPodAutoscaler is {hpa['apiVersion']}, not autoscaling/v2")
        target = hpa["spec"]["scaleTargetRef"]
        if (target.get("kind"), target.get("name")) != ("Deployment", deployment["metadata"]["name"]):
            problems.append(f"HorizontalPodAutoscaler scales {target}, not the Deployment")
        if not any(m.get("type") == "Pods" for m in hpa["spec"].get("metrics", [])):
            problems.append("the HorizontalPodAutoscaler has no Pods metric")
        if hpa["spec"].get("minReplicas", 1) < 3:
            problems.append("the HorizontalPodAutoscaler may scale below 3 replicas")

    namespaces = {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"}
    if len(namespaces) != 1 or None in namespaces:
        problems.append(f"resources are spread over namespaces {namespaces}")
    return problems


def check_secrets(docs):
    problems = []
    for secret in of_kind(docs, "Secret"):
        for key, value in secret_values(secret).items():
            if PLACEHOLDER not in value:
                problems.append(f"Secret {secret['metadata']['name']} key {key} is not a {PLACEHOLDER} placeholder")
            if re.search(r"qv_[0-9a-f]{16}_[0-9a-f]{64}|-----BEGIN [A-Z ]*PRIVATE KEY-----", value):
                problems.append(f"Secret {secret['metadata']['name']} key {key} holds what looks like a real secret")
    return problems


def check_help_ports(container, help_flags):
    """Each declared container port is the port of one listener flag (given, or its default)."""
    problems = []
    given = {split_flag(a)[0]: split_flag(a)[1] for a in container.get("args", []) if a.startswith("--")}
    listening = {}
    for flag in PORT_FLAGS:
        value = given.get(flag, help_flags.get(flag, {}).get("default"))
        if value and value.isdigit():
            listening[int(value)] = flag
    for port in container.get("ports", []):
        if port["containerPort"] not in listening:
            problems.append(f"container port {port.get('name')} ({port['containerPort']}) is no listener's port; "
                            f"the server listens on {sorted(listening)}")
    return problems


def hpa_pod_metrics(docs):
    return [m["pods"]["metric"]["name"] for hpa in of_kind(docs, "HorizontalPodAutoscaler")
            for m in hpa["spec"]["metrics"] if m.get("type") == "Pods"]


def adapter_rules():
    return yaml.safe_load((K8S / "prometheus-adapter-rules.yaml").read_text())["rules"]


def source_metric(metric_name, rules):
    """The Quiver series an adapter rule turns into `metric_name`, else None."""
    for rule in rules:
        if rule.get("name", {}).get("as") == metric_name:
            m = re.match(r"\s*([a-zA-Z_:][a-zA-Z0-9_:]*)", rule["seriesQuery"])
            return m.group(1) if m else None
    return None


def postgres_settings():
    cm = yaml.safe_load((K8S / "postgresql-settings.yaml").read_text())
    settings = {}
    for text in cm["data"].values():
        for line in text.splitlines():
            m = re.match(r"^\s*([a-z_]+)\s*=\s*'?([^'#]*?)'?\s*(#.*)?$", line)
            if m:
                settings[m.group(1)] = m.group(2).strip()
    return settings


def check_connections(docs, settings):
    problems = []
    for name in ("max_connections", "idle_in_transaction_session_timeout", "tcp_keepalives_idle",
                 "tcp_keepalives_interval", "tcp_keepalives_count"):
        if name not in settings:
            problems.append(f"postgresql-settings.yaml sets no {name}")
    max_replicas = max([h["spec"]["maxReplicas"] for h in of_kind(docs, "HorizontalPodAutoscaler")] +
                       [d["spec"].get("replicas", 1) for d in of_kind(docs, "Deployment")])
    surge = 1  # the rolling update's maxSurge
    needed = (max_replicas + surge) * CONNECTIONS_PER_REPLICA + int(settings.get("superuser_reserved_connections", 3))
    if int(settings.get("max_connections", 0)) < needed:
        problems.append(f"max_connections {settings.get('max_connections')} < {needed} "
                        f"({max_replicas}+{surge} replicas x {CONNECTIONS_PER_REPLICA} + reserved)")
    return problems


# ---- static tests ------------------------------------------------------------------------

def test_manifests_pass_yamllint():
    if shutil.which("yamllint") is None:
        pytest.skip("yamllint is not installed (scripts/install-deps.sh installs it)")
    out = subprocess.run(["yamllint", "-s", "-c", str(K8S / ".yamllint"), str(K8S)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_yamllint_catches_a_broken_file(tmp_path):
    if shutil.which("yamllint") is None:
        pytest.skip("yamllint is not installed")
    bad = tmp_path / "bad.yaml"
    bad.write_text((K8S / "base" / "pdb.yaml").read_text().replace("  maxUnavailable: 1", "  maxUnavailable:   1 "))
    out = subprocess.run(["yamllint", "-s", "-c", str(K8S / ".yamllint"), str(bad)], capture_output=True, text=True)
    assert out.returncode != 0


@needs_kubectl
@pytest.mark.parametrize("variant", sorted(KUSTOMIZATIONS))
def test_rendered_manifests_are_complete_and_wired(rendered, variant):
    docs = rendered[variant]
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "Secret",
            "ConfigMap"} <= kinds, kinds
    problems = check_workload(docs) + check_wiring(docs) + check_secrets(docs)
    assert problems == [], "\n".join(problems)


@needs_kubectl
def test_tls_overlay_serves_https_probes(rendered):
    container = main_container(rendered["tls"])
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"].get("scheme") == "HTTPS", probe
    flags = {split_flag(a)[0] for a in container["args"]}
    assert {"--tls-cert", "--tls-key"} <= flags


@needs_kubectl
@pytest.mark.parametrize("variant", sorted(KUSTOMIZATIONS))
def test_args_are_flags_quiver_serve_accepts(rendered, variant):
    help_flags = parse_help(serve_help())
    container = main_container(rendered[variant])
    problems = check_flags(container, help_flags) + check_help_ports(container, help_flags)
    assert problems == [], "\n".join(problems)
    if "--registry" in help_flags:  # the replicated server has landed: its flags are all used
        used = {split_flag(a)[0] for a in container["args"]}
        assert CLUSTER_FLAGS <= used, CLUSTER_FLAGS - used


def test_cluster_flags_are_enforced_once_registry_lands():
    container = {"name": "quiver", "command": ["quiver"],
                 "args": ["serve", "--registry=$(URL)", "--replica-id=$(POD_NAME)", "--log-format=json"]}
    before = {"--log-format": {"choices": {"text", "json"}, "default": "text"}}
    assert check_flags(container, before) == []
    after = dict(before, **{"--registry": {"choices": None, "default": None}})
    assert check_flags(container, after) == ["`quiver serve --help` has no flag --replica-id"]


@needs_kubectl
def test_postgresql_max_connections_fit_the_most_replicas(rendered):
    problems = check_connections(rendered["base"], postgres_settings())
    assert problems == [], "\n".join(problems)


@needs_kubectl
def test_hpa_metric_comes_from_an_adapter_rule_on_a_quiver_series(rendered):
    metrics = hpa_pod_metrics(rendered["base"])
    assert metrics
    registered = set(re.findall(r'"(quiver_[a-z0-9_]+)"', "".join(
        p.read_text() for p in (ROOT / "src").rglob("*.cc"))))
    for name in metrics:
        source = source_metric(name, adapter_rules())
        assert source is not None, f"no prometheus-adapter rule makes {name}"
        assert source in registered, f"{source} is not a metric the server's source registers"


@needs_kubectl
def test_checkers_catch_broken_manifests(rendered):
    docs = rendered["base"]
    help_flags = parse_help(serve_help())

    def broken(change):
        mutated = copy.deepcopy(docs)
        change(mutated)
        return mutated

    def container_of(d):
        return main_container(d)

    mutations = {
        "no limits": (check_workload, lambda d: container_of(d)["resources"].pop("limits")),
        "latest": (check_workload, lambda d: container_of(d).update(image="registry.example.com/quiver:latest")),
        "probe port": (check_workload, lambda d: container_of(d)["readinessProbe"]["httpGet"].update(port="web")),
        "preStop": (check_workload, lambda d: container_of(d).pop("lifecycle")),
        "root fs": (check_workload, lambda d: container_of(d)["securityContext"].update(readOnlyRootFilesystem=False)),
        "env var": (check_workload, lambda d: container_of(d)["args"].append("--log-level=$(NOT_DEFINED)")),
        "data dir": (check_workload, lambda d: container_of(d)["volumeMounts"].pop(0)),
        "pdb": (check_wiring, lambda d: one(d, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"].update(
            {"app.kubernetes.io/name": "other"})),
        "service": (check_wiring, lambda d: one(d, "Service")["spec"]["selector"].update(app="other")),
        "service port": (check_wiring, lambda d: one(d, "Service")["spec"]["ports"][0].update(targetPort=8080)),
        "hpa target": (check_wiring, lambda d: one(d, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"].update(
            name="quiver-old")),
        "secret": (check_secrets, lambda d: one(d, "Secret")["stringData"].update(
            {"admin-token": "qv_0123456789abcdef_" + "ab" * 32})),
    }
    for what, (checker, change) in mutations.items():
        assert checker(docs) == [], what
        assert checker(broken(change)) != [], f"the checker missed: {what}"

    good = container_of(docs)
    assert check_flags(good, help_flags) == []
    bad = copy.deepcopy(good)
    bad["args"] += ["--no-such-flag=1", "--log-format=xml"]
    assert len(check_flags(bad, help_flags)) == 2
    bad = copy.deepcopy(good)
    bad["ports"][0]["containerPort"] = 8080
    assert check_help_ports(bad, help_flags) != []
    assert check_connections(broken(lambda d: one(d, "HorizontalPodAutoscaler")["spec"].update(maxReplicas=40)),
                             postgres_settings()) != []
    assert source_metric("quiver_no_such_metric_per_second", adapter_rules()) is None


# ---- the real server, started with the manifest's own args --------------------------------

class ManifestServer:
    """`quiver serve` with the container's args: ports 0, a temporary data dir, the
    environment the kubelet would expand, and without the flags that need PostgreSQL."""

    def __init__(self, container, docs, data_dir, mount_map=None):
        self.env = container_env(container, docs)
        self.data_dir = pathlib.Path(data_dir)
        self.log_path = self.data_dir.parent / (self.data_dir.name + ".log")
        self.args = []
        for arg in container["args"]:
            name, value = split_flag(arg)
            if name in CLUSTER_FLAGS:
                continue  # the shared registry needs a PostgreSQL; these are checked against --help
            if name in PORT_FLAGS:
                arg = f"{name}=0"
            elif name == "--data-dir":
                arg = f"--data-dir={self.data_dir}"
            for mount_path, local in (mount_map or {}).items():
                arg = arg.replace(mount_path, str(local))
            self.args.append(expand(arg, self.env))
        self.proc = None
        self.ports = {}

    def start(self, timeout=60):
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([str(BINARY), *self.args], stdout=subprocess.PIPE,
                                     stderr=open(self.log_path, "ab"))
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = self.proc.stdout.readline().decode()
            if not line:
                raise RuntimeError("server exited early; log: " + self.log_path.read_text())
            if line.startswith("quiver listening"):
                fields = dict(kv.split("=", 1) for kv in line.split()[2:])
                self.ports = {k: int(v.rsplit(":", 1)[1]) for k, v in fields.items() if k in PORT_FLAGS.values()}
                return self
        raise RuntimeError("server did not print its ports")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)

    def url_of(self, container, port_ref, scheme="http"):
        """The live URL of a container port (by name or number) of the manifest."""
        declared = container_port(container, port_ref)
        if declared is None:
            return None
        flags = {split_flag(a)[0]: split_flag(a)[1] for a in container["args"] if a.startswith("--")}
        for flag, listener in PORT_FLAGS.items():
            if flags.get(flag) == str(declared["containerPort"]):
                return f"{scheme.lower()}://127.0.0.1:{self.ports[listener]}"
        return None

    def token(self):
        path = self.data_dir / "admin.token"
        return path.read_text().strip() if path.exists() else None


def probe_problems(server, container, verify=True):
    problems = []
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        http = container[probe]["httpGet"]
        base = server.url_of(container, http["port"], http.get("scheme", "HTTP"))
        if base is None:
            problems.append(f"{probe}: port {http['port']!r} is no listener of the server")
            continue
        try:
            r = requests.get(base + http["path"], timeout=10, verify=verify)
        except requests.exceptions.RequestException as e:
            problems.append(f"{probe}: GET {http['path']} on {http['port']} failed: {type(e).__name__}")
            continue
        if r.status_code != 200:
            problems.append(f"{probe}: GET {http['path']} on {http['port']} answered {r.status_code}")
    return problems


def metric_problems(metric, text):
    exported = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    return [] if metric in exported else [f"{metric} is not on /metrics (exported: {sorted(exported)})"]


@needs_kubectl
def test_probes_and_the_hpa_metric_on_the_real_server(rendered, tmp_path, example_models):
    docs = rendered["base"]
    container = main_container(docs)
    server = ManifestServer(container, docs, tmp_path / "data").start()
    try:
        assert probe_problems(server, container) == []
        # A probe on a path the server does not serve is caught.
        wrong = copy.deepcopy(container)
        wrong["livenessProbe"]["httpGet"]["path"] = "/v2/health/alive"
        assert probe_problems(server, wrong) != []

        # Serve some traffic through the manifest's listeners, with the first admin token
        # (the manifest runs with --auth), then read /metrics where the manifest serves it.
        token = server.token()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        management = server.url_of(container, "management")
        inference = server.url_of(container, "http")
        models_dir, manifest = example_models
        entry = find_model(manifest, "iris", "v1", "torchscript")
        blob = requests.post(management + "/v1/blobs", data=(models_dir / entry["path"]).read_bytes(),
                             headers={**headers, "Content-Type": "application/octet-stream"}, timeout=60)
        assert blob.status_code in (200, 201), blob.text
        r = requests.post(management + "/v1/models/iris/versions", headers=headers, timeout=30,
                          json={"artifact": blob.json()["sha256"], "framework": "torchscript",
                                "inputs": entry["inputs"], "outputs": entry["outputs"]})
        assert r.status_code in (200, 201), r.text
        r = requests.put(management + "/v1/deployments/iris", headers=headers, timeout=30,
                         json={"versions": [{"version": 1}], "traffic": [{"version": 1, "weight": 100}]})
        assert r.status_code == 200, r.text
        # The server is ready before the deployment's version is loaded: wait for the model.
        deadline = time.time() + 120
        while not requests.get(inference + "/v2/models/iris/ready", headers=headers, timeout=10).json().get("ready"):
            assert time.time() < deadline, "the deployment did not become ready"
            time.sleep(0.1)
        for _ in range(5):
            r = requests.post(inference + "/v2/models/iris/infer", json={"inputs": GOOD_INPUTS}, headers=headers,
                              timeout=30)
            assert r.status_code == 200, r.text
        assert probe_problems(server, container) == []  # ready with a model deployed, too

        text = requests.get(management + "/metrics", headers=headers, timeout=30)
        assert text.status_code == 200, text.text
        for name in hpa_pod_metrics(docs):
            source = source_metric(name, adapter_rules())
            assert metric_problems(source, text.text) == []
        assert metric_problems("quiver_no_such_metric_total", text.text) != []
    finally:
        server.stop()


@needs_kubectl
def test_tls_overlay_probes_answer_over_https(rendered, tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    docs = rendered["tls"]
    container = main_container(docs)
    certs = tmp_path / "tls"
    certs.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", "tls.key", "-out", "tls.crt", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   cwd=certs, check=True, capture_output=True)
    spec = pod_spec(one(docs, "Deployment", "quiver"))
    secret_volumes = {v["name"] for v in spec["volumes"] if "secret" in v}
    mount_map = {m["mountPath"]: certs for m in container["volumeMounts"] if m["name"] in secret_volumes}
    assert mount_map, "the TLS overlay mounts no Secret"
    server = ManifestServer(container, docs, tmp_path / "data", mount_map).start()
    try:
        assert probe_problems(server, container, verify=str(certs / "tls.crt")) == []
        plain = copy.deepcopy(container)  # probing over plain HTTP fails against a TLS listener
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            plain[probe]["httpGet"]["scheme"] = "HTTP"
        assert len(probe_problems(server, plain)) == 3
    finally:
        server.stop()
