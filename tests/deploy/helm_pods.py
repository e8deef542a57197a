"""Run what the Helm chart renders as containers, as a kubelet would run its pods.

No Kubernetes API server can run here, so this does the part of one that the chart depends on:
each Deployment and StatefulSet becomes one container per pod (init containers first, to
completion), with the pod's image, command and arguments, user and group, read-only root
filesystem, dropped capabilities and no privilege escalation; its environment from the rendered
Secrets and ConfigMaps (and from stand-ins the test gives for Secrets the chart expects to
exist); each volume as a folder of the test bound into the containers (an emptyDir or a claim,
shared by the containers that mount it; a ConfigMap's keys as read-only files); and each Service
as a network alias of the pods it selects, on one network. Probes run as the kubelet would run
them: exec probes in the container; HTTP and TCP probes from inside the pod's network namespace
(the container itself, with its Python or bash).
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
from docker.models.containers import Container
from docker.types import Mount

from tests.deploy.deploy_harness import of_kind

LABEL = "interplay.test/helm-pods"
HTTP_PROBE = "import urllib.request; urllib.request.urlopen('http://127.0.0.1:%s%s', timeout=%s)"


def decoded_secrets(objects: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {
        s["metadata"]["name"]: {k: base64.b64decode(v).decode() for k, v in s["data"].items()}
        for s in of_kind(objects, "Secret")
    }


def config_maps(objects: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {c["metadata"]["name"]: c["data"] for c in of_kind(objects, "ConfigMap")}


@dataclass
class Pods:
    """The rendered objects of one release, run on one engine network."""

    client: docker.DockerClient
    objects: list[dict[str, Any]]
    workdir: Path
    images: dict[str, str]  # rendered image -> the image built here
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)  # stand-ins, by name
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    containers: dict[str, Container] = field(default_factory=dict)  # pod name -> container

    def __post_init__(self) -> None:
        self.secrets = decoded_secrets(self.objects) | self.secrets
        self.config_maps = config_maps(self.objects)
        self.network = self.client.networks.create(
            f"helm-pods-{self.run_id}", labels={LABEL: self.run_id}
        )

    # --- what a pod spec says, as the engine's arguments ----------------------------------

    def value_of(self, entry: dict[str, Any]) -> str:
        if "value" in entry:
            return str(entry["value"])
        source = entry["valueFrom"]
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            return self.secrets[ref["name"]][ref["key"]]
        ref = source["configMapKeyRef"]
        return self.config_maps[ref["name"]][ref["key"]]

    def volume(self, pod: str, spec: dict[str, Any]) -> Path:
        """A folder for an emptyDir or a claim, shared by the pod's containers (init ones too),
        writable by any user as an emptyDir is; a claim's folder is shared by the pods."""
        claim = spec.get("persistentVolumeClaim", {}).get("claimName")
        folder = self.workdir / "volumes" / (claim or f"{pod}-{spec['name']}")
        if not folder.exists():
            folder.mkdir(parents=True)
            folder.chmod(0o1777)
        return folder

    def mounts(self, pod: str, pod_spec: dict[str, Any], container: dict[str, Any]) -> list[Mount]:
        by_name = {v["name"]: v for v in pod_spec.get("volumes", [])}
        mounts = []
        for mount in container.get("volumeMounts", []):
            spec = by_name[mount["name"]]
            read_only = bool(mount.get("readOnly"))
            if "configMap" in spec:
                data = self.config_maps[spec["configMap"]["name"]]
                folder = self.workdir / f"{pod}-{mount['name']}"
                folder.mkdir(exist_ok=True)
                for key, text in data.items():
                    (folder / key).write_text(text)
                source = folder / mount["subPath"] if "subPath" in mount else folder
                mounts.append(Mount(mount["mountPath"], str(source), type="bind", read_only=True))
            else:
                source = self.volume(pod, spec)
                mounts.append(
                    Mount(mount["mountPath"], str(source), type="bind", read_only=read_only)
                )
        return mounts

    def aliases(self, labels: dict[str, str]) -> list[str]:
        """The Services whose selector picks a pod with these labels."""
        return [
            s["metadata"]["name"]
            for s in of_kind(self.objects, "Service")
            if s["spec"]["selector"].items() <= labels.items()
        ]

    def start(
        self, pod: str, template: dict[str, Any], container: dict[str, Any], detach: bool = True
    ) -> Container:
        pod_spec = template["spec"]
        pod_security = pod_spec.get("securityContext", {})
        security = pod_security | container.get("securityContext", {})
        user = f"{security['runAsUser']}:{security.get('runAsGroup', security['runAsUser'])}"
        assert security.get("runAsNonRoot"), f"{pod}/{container['name']} may run as root"
        created = self.client.containers.create(
            self.images.get(container["image"], container["image"]),
            entrypoint=container.get("command"),
            command=container.get("args"),
            name=f"helm-pods-{self.run_id}-{pod}-{container['name']}",
            hostname=pod,
            user=user,
            group_add=[str(pod_security["fsGroup"])] if "fsGroup" in pod_security else None,
            read_only=bool(security.get("readOnlyRootFilesystem")),
            cap_drop=security.get("capabilities", {}).get("drop"),
            security_opt=(
                ["no-new-privileges"] if security.get("allowPrivilegeEscalation") is False else []
            ),
            environment={e["name"]: self.value_of(e) for e in container.get("env", [])},
            mounts=self.mounts(pod, pod_spec, container),
            mem_limit=memory_limit(container),
            labels={LABEL: self.run_id},
            network=self.network.name,
            networking_config={
                self.network.name: self.client.api.create_endpoint_config(
                    aliases=self.aliases(template["metadata"]["labels"])
                )
            },
        )
        created.start()
        return created

    # --- whole pods -----------------------------------------------------------------------

    def run_pod(self, pod: str, template: dict[str, Any]) -> Container:
        """Init containers to completion, then the one main container; returns it running."""
        for init in template["spec"].get("initContainers", []):
            container = self.start(f"{pod}", template, init)
            status = container.wait(timeout=120)
            assert status["StatusCode"] == 0, container.logs().decode(errors="replace")[-3000:]
        (main,) = template["spec"]["containers"]
        self.containers[pod] = self.start(pod, template, main)
        return self.containers[pod]

    def run_jobs(self, timeout: float) -> list[str]:
        """Every Job the chart renders (its pre-install hooks: the migrations), each pod to
        completion before the next, as Helm waits for its hooks; the Jobs' names."""
        ran = []
        for job in of_kind(self.objects, "Job"):
            name = job["metadata"]["name"]
            container = self.run_pod(name, job["spec"]["template"])
            status = container.wait(timeout=timeout)
            logs = container.logs().decode(errors="replace")
            assert status["StatusCode"] == 0, f"Job {name} failed:\n{logs[-3000:]}"
            ran.append(name)
        return ran

    def run_stand_in(
        self,
        name: str,
        image: str,
        command: list[str],
        environment: dict[str, str],
        mounts: list[Mount],
        tmpfs: dict[str, str],
    ) -> Container:
        """A server the release expects to exist outside it (its PostgreSQL), reachable on the
        release's network as ``name``."""
        created = self.client.containers.create(
            image,
            entrypoint=command,
            name=f"helm-pods-{self.run_id}-{name}",
            hostname=name,
            environment=environment,
            mounts=mounts,
            tmpfs=tmpfs,
            labels={LABEL: self.run_id},
            network=self.network.name,
            networking_config={
                self.network.name: self.client.api.create_endpoint_config(aliases=[name])
            },
        )
        created.start()
        self.containers[name] = created
        return created

    def workloads(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(pod name, pod template) of every StatefulSet and Deployment pod, brokers first."""
        for statefulset in of_kind(self.objects, "StatefulSet"):
            for index in range(statefulset["spec"]["replicas"]):
                yield f"{statefulset['metadata']['name']}-{index}", statefulset["spec"]["template"]
        for deployment in of_kind(self.objects, "Deployment"):
            for index in range(deployment["spec"].get("replicas", 1)):
                yield f"{deployment['metadata']['name']}-{index}", deployment["spec"]["template"]

    def probe(self, pod: str, probe: dict[str, Any], ports: dict[str, int]) -> bool:
        container = self.containers[pod]
        container.reload()
        if container.status != "running":
            raise AssertionError(f"a probe cannot answer: {self.why(pod)}")
        if "exec" in probe:
            command = probe["exec"]["command"]
        elif "tcpSocket" in probe:
            port = ports.get(probe["tcpSocket"]["port"], probe["tcpSocket"]["port"])
            command = ["bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{port}"]
        else:
            get = probe["httpGet"]
            port = ports.get(get["port"], get["port"])
            timeout = probe.get("timeoutSeconds", 1)
            command = ["python", "-c", HTTP_PROBE % (port, get["path"], timeout)]
        exit_code, _ = container.exec_run(command)
        return bool(exit_code == 0)

    def wait_ready(self, pod: str, template: dict[str, Any], timeout: float) -> float:
        """Seconds until the pod's startup and readiness probes pass; every probe must answer."""
        (main,) = template["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in main.get("ports", [])}
        started = time.monotonic()
        probes = [main[k] for k in ("startupProbe", "readinessProbe") if k in main]
        for probe in probes:
            until(lambda p=probe: self.probe(pod, p, ports), timeout, lambda: self.why(pod))
        for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
            if kind in main:
                assert self.probe(pod, main[kind], ports), f"{pod} {kind}:\n{self.why(pod)}"
        return time.monotonic() - started

    def why(self, pod: str) -> str:
        container = self.containers[pod]
        container.reload()
        logs = container.logs(tail=30).decode(errors="replace")
        return f"{pod} is {container.status}:\n{logs}"

    def run_to_completion(self, pod: dict[str, Any], timeout: float) -> tuple[int, str]:
        """A bare Pod (the helm test): its exit code and output."""
        template = {"metadata": pod["metadata"], "spec": pod["spec"]}
        container = self.run_pod(pod["metadata"]["name"], template)
        status = container.wait(timeout=timeout)
        return int(status["StatusCode"]), container.logs().decode(errors="replace")

    def run_script(self, image: str, script: str, environment: dict[str, str]) -> str:
        """A Python script in a throw-away container of ``image`` on the release's network."""
        container = self.client.containers.create(
            image,
            entrypoint=["python", "-c", script],
            environment=environment,
            user="10001:10001",
            read_only=True,
            cap_drop=["ALL"],
            labels={LABEL: self.run_id},
            network=self.network.name,
            tmpfs={"/tmp": "size=16m", "/data": "size=16m"},
        )
        container.start()
        container.wait(timeout=60)
        return str(container.logs().decode(errors="replace"))

    def remove(self) -> None:
        for container in self.client.containers.list(all=True, filters={"label": LABEL}):
            if container.labels.get(LABEL) == self.run_id:
                container.remove(force=True, v=True)
        self.network.remove()


def memory_limit(container: dict[str, Any]) -> str:
    """The container's memory limit as the engine writes it: Kubernetes' 256Mi is 256M."""
    quantity: str = container.get("resources", {}).get("limits", {}).get("memory", "1Gi")
    return quantity.removesuffix("i")


def until(check: Callable[[], bool], timeout: float, why: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {why()}")
        time.sleep(0.5)


@contextmanager
def pods_of(
    client: docker.DockerClient,
    objects: list[dict[str, Any]],
    workdir: Path,
    images: dict[str, str],
    secrets: dict[str, dict[str, str]] | None = None,
) -> Iterator[Pods]:
    """The release's pods on the engine; every container, volume and the network removed after."""
    pods = Pods(client, objects, workdir, images, secrets or {})
    try:
        yield pods
    finally:
        pods.remove()
