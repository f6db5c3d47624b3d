"""The deployment files are hardened: every pod spec passes Kubernetes' restricted Pod Security
Standard (checked by rules written from https://kubernetes.io/docs/concepts/security/pod-security-standards/),
plus limits, no service-account token, a NetworkPolicy, a non-root image pinned by digest, and
TF Serving started so two-phase label moves work; compose publishes on 127.0.0.1 only."""

from __future__ import annotations

import copy
import re

import pytest
import yaml

from pipeline.config import PROJECT_ROOT
from pipeline.serving.release import UNLABELLED_FLAG

DEPLOY = PROJECT_ROOT / "deploy"
POD_KINDS = {"Pod": ("spec",), "Deployment": ("spec", "template", "spec"),
             "StatefulSet": ("spec", "template", "spec"), "DaemonSet": ("spec", "template", "spec"),
             "Job": ("spec", "template", "spec"), "CronJob": ("spec", "jobTemplate", "spec",
                                                              "template", "spec")}
# Restricted profile: volume types allowed, the one capability that may be added back.
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                      "persistentVolumeClaim", "projected", "secret"}
ADDABLE_CAPABILITIES = {"NET_BIND_SERVICE"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
                "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies",
                "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
                "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"}
SELINUX_TYPES = {None, "", "container_t", "container_init_t", "container_kvm_t",
                 "container_engine_t"}
# Images whose digest could not be looked up offline (docs/scaling.md says how to pin them).
DIGEST_NOT_VERIFIED = {"apache/beam_python3.10_sdk:2.61.0", "tensorflow/serving:2.16.1"}
DIGEST = re.compile(r"^[^@\s]+:[^@\s]+@sha256:[0-9a-f]{64}$")


def _containers(pod: dict) -> list[tuple[str, dict]]:
    """Every container of a pod spec, named by where it is."""
    return [(f"{kind}[{c.get('name', i)}]", c)
            for kind in ("initContainers", "containers", "ephemeralContainers")
            for i, c in enumerate(pod.get(kind) or [])]


def _baseline_violations(pod: dict) -> list[str]:
    """The Baseline profile's controls (Restricted includes them)."""
    found = [f"spec.{key}: must not be true" for key in ("hostNetwork", "hostPID", "hostIPC")
             if pod.get(key)]
    context = pod.get("securityContext") or {}
    if (context.get("windowsOptions") or {}).get("hostProcess"):
        found.append("spec.securityContext.windowsOptions.hostProcess: must not be true")
    found += [f"spec.volumes[{v.get('name')}]: hostPath is not allowed"
              for v in pod.get("volumes") or [] if "hostPath" in v]
    found += [f"spec.securityContext.sysctls[{s['name']}]: not a safe sysctl"
              for s in context.get("sysctls") or [] if s.get("name") not in SAFE_SYSCTLS]
    found += _selinux_violations("spec.securityContext", context)
    found += _apparmor_violations("spec.securityContext", context)
    for where, container in _containers(pod):
        security = container.get("securityContext") or {}
        if security.get("privileged"):
            found.append(f"{where}.securityContext.privileged: must not be true")
        if (security.get("windowsOptions") or {}).get("hostProcess"):
            found.append(f"{where}.securityContext.windowsOptions.hostProcess: must not be true")
        if security.get("procMount", "Default") != "Default":
            found.append(f"{where}.securityContext.procMount: must be Default")
        found += [f"{where}.ports[{p.get('containerPort')}].hostPort: must be unset or 0"
                  for p in container.get("ports") or [] if p.get("hostPort")]
        found += _selinux_violations(f"{where}.securityContext", security)
        found += _apparmor_violations(f"{where}.securityContext", security)
    return found


def _apparmor_violations(where: str, context: dict) -> list[str]:
    """AppArmor: the runtime's default or a node-local profile, never Unconfined."""
    kind = (context.get("appArmorProfile") or {}).get("type")
    return [] if kind in (None, "RuntimeDefault", "Localhost") else [
        f"{where}.appArmorProfile.type: {kind} is not allowed"]


def _selinux_violations(where: str, context: dict) -> list[str]:
    """SELinux: only the container types, and no custom user or role."""
    options = context.get("seLinuxOptions") or {}
    found = [] if options.get("type") in SELINUX_TYPES else [
        f"{where}.seLinuxOptions.type: {options['type']} is not allowed"]
    return found + [f"{where}.seLinuxOptions.{key}: must be unset"
                    for key in ("user", "role") if options.get(key)]


def _seccomp(context: dict) -> str | None:
    """The seccomp profile type a security context sets, if any."""
    return (context.get("seccompProfile") or {}).get("type")


def restricted_violations(pod: dict) -> list[str]:
    """Every control of the Restricted profile this pod spec breaks, each naming its field."""
    found = _baseline_violations(pod)
    found += [f"spec.volumes[{v.get('name')}]: volume type not allowed"
              for v in pod.get("volumes") or []
              if not set(v) - {"name"} <= RESTRICTED_VOLUMES]
    context = pod.get("securityContext") or {}
    if context.get("runAsUser") == 0:
        found.append("spec.securityContext.runAsUser: must not be 0")
    if _seccomp(context) not in (None, "RuntimeDefault", "Localhost"):
        found.append("spec.securityContext.seccompProfile.type: must be RuntimeDefault or Localhost")
    for where, container in _containers(pod):
        security = container.get("securityContext") or {}
        if security.get("allowPrivilegeEscalation") is not False:
            found.append(f"{where}.securityContext.allowPrivilegeEscalation: must be false")
        non_root = security.get("runAsNonRoot", context.get("runAsNonRoot"))
        if non_root is not True:
            found.append(f"{where}.securityContext.runAsNonRoot: must be true")
        if security.get("runAsUser") == 0:
            found.append(f"{where}.securityContext.runAsUser: must not be 0")
        if (_seccomp(security) or _seccomp(context)) not in ("RuntimeDefault", "Localhost"):
            found.append(f"{where}.securityContext.seccompProfile.type: must be "
                         "RuntimeDefault or Localhost (here or on the pod)")
        capabilities = security.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            found.append(f"{where}.securityContext.capabilities.drop: must include ALL")
        added = set(capabilities.get("add") or []) - ADDABLE_CAPABILITIES
        if added:
            found.append(f"{where}.securityContext.capabilities.add: {sorted(added)} not allowed")
    return found


def manifests() -> list[dict]:
    """Every Kubernetes document under deploy/k8s."""
    return [doc for path in sorted((DEPLOY / "k8s").glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text()) if doc]


def pod_specs() -> dict[str, dict]:
    """The pod spec of every workload manifest, by kind/name."""
    specs = {}
    for doc in manifests():
        if doc["kind"] in POD_KINDS:
            spec = doc
            for key in POD_KINDS[doc["kind"]]:
                spec = spec[key]
            specs[f"{doc['kind']}/{doc['metadata']['name']}"] = spec
    return specs


def serving_pod() -> dict:
    """The TF Serving Deployment's pod spec."""
    return pod_specs()["Deployment/taxi-serving"]


def test_every_pod_spec_meets_the_restricted_pod_security_standard() -> None:
    specs = pod_specs()
    assert specs, "no workload manifests found"
    for name, spec in specs.items():
        assert restricted_violations(spec) == [], name


MUTATIONS = {
    "root": (lambda p: p["securityContext"].update(runAsNonRoot=False, runAsUser=0),
             "runAsUser: must not be 0"),
    "privileged": (lambda p: p["containers"][0]["securityContext"].update(privileged=True),
                   "privileged: must not be true"),
    "escalation": (lambda p: p["containers"][0]["securityContext"].pop("allowPrivilegeEscalation"),
                   "allowPrivilegeEscalation: must be false"),
    "capabilities": (lambda p: p["containers"][0]["securityContext"]["capabilities"].update(
        drop=["NET_RAW"], add=["SYS_ADMIN"]), "capabilities.drop: must include ALL"),
    "unconfined": (lambda p: p["securityContext"].update(seccompProfile={"type": "Unconfined"}),
                   "seccompProfile.type"),
    "no seccomp": (lambda p: p["securityContext"].pop("seccompProfile"), "seccompProfile.type"),
    "hostPath": (lambda p: p["volumes"].append({"name": "host", "hostPath": {"path": "/"}}),
                 "hostPath is not allowed"),
    "hostNetwork": (lambda p: p.update(hostNetwork=True), "hostNetwork: must not be true"),
    "apparmor": (lambda p: p["containers"][0]["securityContext"].update(
        appArmorProfile={"type": "Unconfined"}), "appArmorProfile.type: Unconfined"),
    "sysctl": (lambda p: p["securityContext"].update(
        sysctls=[{"name": "kernel.msgmax", "value": "1"}]), "kernel.msgmax]: not a safe sysctl"),
    "nfs volume": (lambda p: p["volumes"].append({"name": "nfs", "nfs": {"server": "x",
                                                                       "path": "/"}}),
                   "volumes[nfs]: volume type not allowed"),
    "hostPort": (lambda p: p["containers"][0]["ports"][0].update(hostPort=8500),
                 "hostPort: must be unset or 0"),
    "init container": (lambda p: p.update(initContainers=[{"name": "init", "image": "busybox"}]),
                       "initContainers[init].securityContext.allowPrivilegeEscalation"),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_the_checker_rejects_a_non_compliant_pod_spec(mutation: str) -> None:
    change, expected = MUTATIONS[mutation]
    pod = copy.deepcopy(serving_pod())
    change(pod)
    violations = restricted_violations(pod)
    assert any(expected in v for v in violations), violations


def test_serving_pod_limits_resources_and_mounts_tmp_on_a_read_only_root() -> None:
    pod = serving_pod()
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
    volume = next(v for v in pod["volumes"] if v["name"] == tmp["name"])
    assert "emptyDir" in volume
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) >= {"cpu", "memory"}, kind
    assert f"{UNLABELLED_FLAG}=true" in container["args"]


def test_a_network_policy_selects_the_serving_pods_and_denies_egress() -> None:
    deployment = next(d for d in manifests() if d["kind"] == "Deployment")
    (policy,) = [d for d in manifests() if d["kind"] == "NetworkPolicy"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert policy["spec"]["egress"] == []
    ports = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
    assert ports == {8500, 8501}


def test_compose_publishes_on_localhost_with_a_healthcheck_and_no_root() -> None:
    service = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["services"]["tf-serving"]
    assert all(p.startswith("127.0.0.1:") for p in service["ports"]), service["ports"]
    assert service["healthcheck"]["test"][0] == "CMD"
    assert not service["user"].startswith("0") and service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]
    assert f"{UNLABELLED_FLAG}=true" in service["command"]


def _dockerfile_images(text: str) -> list[str]:
    """Images the Dockerfile builds FROM or copies from, with ARG defaults substituted."""
    defaults = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.MULTILINE))
    images = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    images += re.findall(r"COPY --from=(\S+/\S+)", text)
    return [re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], i) for i in images]


def test_images_are_pinned_by_digest_and_the_pipeline_image_runs_as_non_root() -> None:
    text = (PROJECT_ROOT / "Dockerfile").read_text()
    images = _dockerfile_images(text) + [
        c["image"] for pod in pod_specs().values() for _, c in _containers(pod)]
    images.append(yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
                  ["services"]["tf-serving"]["image"])
    unpinned = {i for i in images if not DIGEST.match(i)}
    assert unpinned == DIGEST_NOT_VERIFIED, unpinned
    final_stage = text[text.rindex("\nFROM "):]
    users = re.findall(r"^USER (\S+)", final_stage, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("0", "root"), users

