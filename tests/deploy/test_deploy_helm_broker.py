"""The chart's broker modes and the domain pods: who logs in as whom, where state lives."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

import pytest

from interplay.cli.contracts import event_catalog
from tests.deploy.deploy_harness import (
    CHART,
    CHART_SCENARIOS,
    DEFINITIONS,
    DOMAINS,
    manifests,
    of_kind,
    render,
    values_file,
    with_image,
)

SCENARIO = {path.stem: path for path in CHART_SCENARIOS}


def scenario(name: str) -> list[dict[str, Any]]:
    return manifests(render(values_file(SCENARIO[name])))


def by_name(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in of_kind(objects, kind)}


def container(workload: dict[str, Any]) -> dict[str, Any]:
    (only,) = workload["spec"]["template"]["spec"]["containers"]
    return only


def env_of(workload: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(workload)["env"]}


def decoded(secret: dict[str, Any]) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


def definitions() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DEFINITIONS.read_text())
    return loaded


# --- bundled: a user per domain, from the generated definitions --------------------------


def test_bundled_broker_gives_each_domain_its_own_user_and_no_domain_an_administrator() -> None:
    objects = manifests(render(with_image()))
    secrets = {s["metadata"]["name"]: decoded(s) for s in of_kind(objects, "Secret")}
    deployments = by_name(objects, "Deployment")
    assert set(deployments) == {f"demo-interplay-{domain}" for domain in DOMAINS}
    for domain in DOMAINS:
        deployment = deployments[f"demo-interplay-{domain}"]
        assert container(deployment)["args"] == ["run", domain]
        reference = env_of(deployment)["INTERPLAY_AMQP_URL"]["secretKeyRef"]
        assert reference == {"name": f"demo-interplay-broker-{domain}", "key": "amqp-url"}
        secret = secrets[reference["name"]]
        assert secret["username"] == domain
        assert re.fullmatch(r"[A-Za-z0-9]{32}", secret["password"])
        assert secret["amqp-url"] == (
            f"amqp://{domain}:{secret['password']}@demo-interplay-rabbitmq:5672/"
        )
    administrators = {u["name"] for u in definitions()["users"] if "administrator" in u["tags"]}
    used = {env_of(d)["INTERPLAY_AMQP_URL"]["secretKeyRef"]["name"] for d in deployments.values()}
    assert not {f"demo-interplay-broker-{admin}" for admin in administrators} & used


def test_bundled_broker_loads_definitions_written_from_the_users_secrets() -> None:
    objects = manifests(render(with_image()))
    (statefulset,) = of_kind(objects, "StatefulSet")
    pod = statefulset["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    assert init["image"] == "registry.example.internal/interplay:0.1.0"
    assert init["args"][:2] == ["broker", "definitions"] and "--operator" in init["args"]
    written = init["args"][init["args"].index("--output") + 1]
    password_env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in init["env"]}
    # Every user of the definitions gets its password from its own Secret.
    assert set(password_env) == {f"{u['name'].upper()}_PASSWORD" for u in definitions()["users"]}
    assert all(ref["key"] == "password" for ref in password_env.values())
    secret_names = {s["metadata"]["name"] for s in of_kind(objects, "Secret")}
    assert {ref["name"] for ref in password_env.values()} == secret_names
    (config,) = [c for c in of_kind(objects, "ConfigMap") if "rabbitmq.conf" in c["data"]]
    loaded = re.search(r"^load_definitions = (\S+)$", config["data"]["rabbitmq.conf"], re.M)
    assert loaded
    mounts = {m["name"]: m["mountPath"] for m in init["volumeMounts"]}
    (broker,) = pod["containers"]
    broker_mounts = {m["name"]: m["mountPath"] for m in broker["volumeMounts"]}
    assert written.startswith(mounts["definitions"] + "/")
    inside_broker = broker_mounts["definitions"] + written.removeprefix(mounts["definitions"])
    assert loaded.group(1) == inside_broker
    assert "env" not in broker, "no default user: the definitions make every user"


def test_generated_passwords_differ_per_install_and_agree_within_one() -> None:
    first, second = (manifests(render(with_image())) for _ in range(2))
    passwords = [
        {s["metadata"]["name"]: decoded(s)["password"] for s in of_kind(objects, "Secret")}
        for objects in (first, second)
    ]
    assert all(passwords[0][name] != passwords[1][name] for name in passwords[0])
    # A pod rolls when its user's password changes: the checksum is of the password it reads.
    deployment = by_name(first, "Deployment")["demo-interplay-orders"]
    annotation = deployment["spec"]["template"]["metadata"]["annotations"]["checksum/secrets"]
    expected = json.dumps([passwords[0]["demo-interplay-broker-orders"]], separators=(",", ":"))
    assert annotation == hashlib.sha256(expected.encode()).hexdigest()[:16]


def test_existing_secrets_replace_the_generated_ones() -> None:
    values = with_image({"rabbitmq": {"auth": {"existingSecretPrefix": "shop-broker"}}})
    objects = manifests(render(values))
    assert not of_kind(objects, "Secret")
    deployment = by_name(objects, "Deployment")["demo-interplay-payments"]
    assert (
        env_of(deployment)["INTERPLAY_AMQP_URL"]["secretKeyRef"]["name"] == "shop-broker-payments"
    )


def test_no_secret_has_a_default_value() -> None:
    text = (CHART / "values.yaml").read_text()
    assert not re.search(r"^\s*(password|token|url|amqp-url):\s*\S", text, re.MULTILINE)


# --- operator: the cluster and the topology as custom resources ---------------------------


def test_operator_mode_renders_a_three_node_cluster_and_the_generated_topology() -> None:
    objects = scenario("operator-values")
    (cluster,) = of_kind(objects, "RabbitmqCluster")
    assert cluster["spec"]["replicas"] == 3
    assert not of_kind(objects, "StatefulSet")
    generated = definitions()
    users = {u["spec"]["importCredentialsSecret"]["name"]: u for u in of_kind(objects, "User")}
    assert set(users) == {f"demo-interplay-broker-{name}" for name in (*DOMAINS, "operator")}
    permissions = {p["spec"]["user"]: p["spec"] for p in of_kind(objects, "Permission")}
    for permission in generated["permissions"]:
        if permission["user"] in permissions:
            expected = {k: permission[k] for k in ("configure", "write", "read")}
            assert permissions[permission["user"]]["permissions"] == expected
    assert set(permissions) == {*DOMAINS, "operator"}
    topic = {
        p["spec"]["user"]: p["spec"]["permissions"] for p in of_kind(objects, "TopicPermission")
    }
    for granted in generated["topic_permissions"]:
        if granted["user"] in topic:
            assert topic[granted["user"]]["write"] == granted["write"]
    assert topic["payments"]["write"] == r"^payments\."
    exchanges = {e["spec"]["name"]: e["spec"]["type"] for e in of_kind(objects, "Exchange")}
    assert exchanges == {e["name"]: e["type"] for e in generated["exchanges"]}
    for resource in objects:
        if (
            resource["apiVersion"] == "rabbitmq.com/v1beta1"
            and resource["kind"] != "RabbitmqCluster"
        ):
            assert resource["spec"]["rabbitmqClusterReference"] == {
                "name": "demo-interplay-rabbitmq"
            }


def test_chart_definitions_are_the_generated_definitions() -> None:
    assert (CHART / "files" / "definitions.json").resolve() == DEFINITIONS.resolve()


# --- external: each domain's own Secret ---------------------------------------------------


def test_external_broker_reads_each_domain_url_from_its_own_secret() -> None:
    objects = scenario("external-broker-values")
    assert not of_kind(objects, "StatefulSet") and not of_kind(objects, "RabbitmqCluster")
    assert not of_kind(objects, "Secret"), "the chart must not make a Secret for an external broker"
    deployments = by_name(objects, "Deployment")
    assert "demo-interplay-notifications" not in deployments
    for domain in ("orders", "payments", "inventory", "shipping"):
        assert env_of(deployments[f"demo-interplay-{domain}"])["INTERPLAY_AMQP_URL"] == {
            "secretKeyRef": {"name": f"interplay-{domain}-broker", "key": "amqp-url"}
        }
        image = container(deployments[f"demo-interplay-{domain}"])["image"]
        assert image == "registry.example.internal/interplay:0.1.0"
    (test_pod,) = of_kind(objects, "Pod")
    assert env_of_pod(test_pod)["INTERPLAY_AMQP_URL"]["secretKeyRef"]["name"] == (
        "interplay-operator-broker"
    )


# --- state: SQLite on a claim, or PostgreSQL with a migration Job -------------------------


def test_sqlite_state_is_on_a_claim_per_domain_written_by_one_pod() -> None:
    objects = manifests(render(with_image()))
    claims = by_name(objects, "PersistentVolumeClaim")
    assert set(claims) == {f"demo-interplay-{domain}-data" for domain in DOMAINS}
    assert all(
        c["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep" for c in claims.values()
    )
    for name, deployment in by_name(objects, "Deployment").items():
        assert deployment["spec"]["replicas"] == 1
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        assert volumes["data"]["persistentVolumeClaim"] == {"claimName": f"{name}-data"}
        domain = name.removeprefix("demo-interplay-")
        assert env_of(deployment)["INTERPLAY_DATABASE_URL"] == (
            f"sqlite+aiosqlite:////data/{domain}.sqlite3"
        )
    assert not of_kind(objects, "Job")


def test_postgresql_state_is_migrated_once_by_a_hook_job_before_the_pods_start() -> None:
    objects = scenario("split-roles-values")
    assert not of_kind(objects, "PersistentVolumeClaim")
    jobs = by_name(objects, "Job")
    assert set(jobs) == {f"demo-interplay-{domain}-migrate" for domain in DOMAINS}
    for name, job in jobs.items():
        domain = name.removeprefix("demo-interplay-").removesuffix("-migrate")
        assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
        assert container(job)["args"] == ["db", "upgrade", "--domain", domain]
        assert env_of(job)["INTERPLAY_DATABASE_URL"] == {
            "secretKeyRef": {"name": "interplay-databases", "key": f"{domain}-database-url"}
        }
    deployments = by_name(objects, "Deployment")
    gateway = deployments["demo-interplay-payments-gateway"]
    assert "replicas" not in gateway["spec"], "the HPA owns the replicas"
    assert container(gateway)["args"] == ["run", "payments", "--role", "gateway"]
    assert "demo-interplay-payments" not in deployments
    assert (
        deployments["demo-interplay-orders-order-book"]["spec"]["template"]["metadata"]["labels"][
            "interplay.dev/role"
        ]
        == "order_book"
    )
    for deployment in deployments.values():
        assert env_of(deployment)["INTERPLAY_MIGRATE_ON_START"] == "false"
        assert "strategy" not in deployment["spec"]


# --- every domain pod ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["defaults", *SCENARIO])
def test_every_interplay_pod_is_locked_down(name: str) -> None:
    objects = manifests(render(with_image() if name == "defaults" else values_file(SCENARIO[name])))
    workloads = of_kind(objects, "Deployment") + of_kind(objects, "Job")
    pods = [w["spec"]["template"]["spec"] for w in workloads] + [
        p["spec"] for p in of_kind(objects, "Pod")
    ]
    assert pods
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        for each in pod["containers"]:
            security = each["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"] == {"drop": ["ALL"]}
            mounts = {m["mountPath"] for m in each["volumeMounts"]}
            assert {"/tmp", "/data"} <= mounts


def test_domain_pods_probe_start_liveness_readiness_and_spread_over_nodes() -> None:
    for deployment in of_kind(manifests(render(with_image())), "Deployment"):
        probes = container(deployment)
        assert probes["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
        assert (
            probes["startupProbe"]["periodSeconds"] * probes["startupProbe"]["failureThreshold"]
            >= 60
        )
        assert probes["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
        assert probes["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
        spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert {s["topologyKey"] for s in spread} == {
            "kubernetes.io/hostname",
            "topology.kubernetes.io/zone",
        }
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert all(s["labelSelector"]["matchLabels"].items() <= pod_labels.items() for s in spread)


def test_each_domain_has_a_metrics_service_and_each_role_a_disruption_budget() -> None:
    objects = scenario("split-roles-values")
    services = by_name(objects, "Service")
    budgets = by_name(objects, "PodDisruptionBudget")
    deployments = by_name(objects, "Deployment")
    assert set(budgets) == set(deployments)
    for name, deployment in deployments.items():
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert budgets[name]["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        domain = pod_labels["app.kubernetes.io/component"]
        assert (
            services[f"demo-interplay-{domain}"]["spec"]["selector"].items() <= pod_labels.items()
        )
    for job in of_kind(objects, "Job"):
        job_labels = job["spec"]["template"]["metadata"]["labels"]
        assert not any(
            s["spec"]["selector"].items() <= job_labels.items() for s in services.values()
        )


def test_choreography_scenario_sets_every_domain_pattern() -> None:
    for deployment in of_kind(scenario("choreography-values"), "Deployment"):
        domain = deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        assert env_of(deployment)[f"INTERPLAY_{domain.upper()}_PATTERN"] == "choreography"


def test_a_domain_pattern_overrides_the_top_level_pattern() -> None:
    values = with_image(
        {"pattern": "choreography", "domains": {"payments": {"pattern": "orchestration"}}}
    )
    for deployment in of_kind(manifests(render(values)), "Deployment"):
        domain = deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        expected = "orchestration" if domain == "payments" else "choreography"
        assert env_of(deployment)[f"INTERPLAY_{domain.upper()}_PATTERN"] == expected


def test_orchestrators_take_rpc_replies_on_a_queue_of_their_own_on_the_operators_cluster() -> None:
    for deployment in of_kind(scenario("operator-values"), "Deployment"):
        assert env_of(deployment)["INTERPLAY_RPC_REPLY_TO"] == "queue"
    for deployment in of_kind(manifests(render(with_image({}))), "Deployment"):  # bundled
        assert env_of(deployment)["INTERPLAY_RPC_REPLY_TO"] == "direct"
    for deployment in of_kind(manifests(render(with_image({"rpcReplyTo": "queue"}))), "Deployment"):
        assert env_of(deployment)["INTERPLAY_RPC_REPLY_TO"] == "queue"


# --- autoscaling, network, helm test ------------------------------------------------------


def test_keda_scales_each_role_on_the_depth_of_its_own_queue() -> None:
    objects = scenario("operator-values")
    scaled = by_name(objects, "ScaledObject")
    deployments = by_name(objects, "Deployment")
    assert set(scaled) == set(deployments)
    queues = {name: s["spec"]["triggers"][0]["metadata"]["queueName"] for name, s in scaled.items()}
    assert queues["demo-interplay-shipping-courier"] == "shipping.courier.rpc"
    assert queues["demo-interplay-shipping-orchestrator"] == "shipping.inbox"
    assert queues["demo-interplay-orders"] == "orders.inbox"
    assert all("replicas" not in d["spec"] for d in deployments.values())
    auth = by_name(objects, "TriggerAuthentication")["demo-interplay-payments"]
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "host", "name": "demo-interplay-broker-payments", "key": "amqp-url"}
    ]


def test_hpa_is_the_cpu_alternative() -> None:
    objects = scenario("split-roles-values")
    assert not of_kind(objects, "ScaledObject")
    hpas = by_name(objects, "HorizontalPodAutoscaler")
    assert set(hpas) == set(by_name(objects, "Deployment"))
    assert all(h["spec"]["minReplicas"] == 2 for h in hpas.values())


def test_domains_reach_only_the_broker_their_database_and_dns() -> None:
    bundled = by_name(manifests(render(with_image())), "NetworkPolicy")["demo-interplay-domains"]
    egress_ports = [sorted(p["port"] for p in rule["ports"]) for rule in bundled["spec"]["egress"]]
    assert egress_ports == [[53, 53], [5672]]
    assert (
        bundled["spec"]["egress"][1]["to"][0]["podSelector"]["matchLabels"][
            "app.kubernetes.io/component"
        ]
        == "rabbitmq"
    )
    (ingress,) = bundled["spec"]["ingress"]
    assert ingress["ports"] == [{"port": 9464, "protocol": "TCP"}]
    external = by_name(scenario("external-broker-values"), "NetworkPolicy")[
        "demo-interplay-domains"
    ]
    ports = [
        sorted(p["port"] for p in rule.get("ports", [])) for rule in external["spec"]["egress"]
    ]
    assert ports[:2] == [[53, 53], [5671]]
    split = by_name(scenario("split-roles-values"), "NetworkPolicy")["demo-interplay-domains"]
    ports = [sorted(p["port"] for p in rule.get("ports", [])) for rule in split["spec"]["egress"]]
    assert ports == [[53, 53], [5672], [5432]]


def env_of_pod(pod: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod["spec"]["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in only["env"]}


def test_helm_test_places_a_valid_order_as_the_operator_user() -> None:
    (pod,) = of_kind(manifests(render(with_image())), "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    env = env_of_pod(pod)
    assert env["INTERPLAY_AMQP_URL"]["secretKeyRef"]["name"] == "demo-interplay-broker-operator"
    order = event_catalog()["orders.order.placed"].model_validate_json(env["ORDER"])
    assert order.model_dump()["card_token"] == "tok_visa"
    script = pod["spec"]["containers"][0]["args"][0]
    assert "--follow" in script and "orders.order.completed" in script


def test_keda_may_read_the_bundled_brokers_queues_and_nothing_else_may() -> None:
    values = with_image({"database": {"existingSecret": "db"}})
    for keda in (False, True):
        values["autoscaling"] = {"keda": {"enabled": keda}}
        objects = manifests(render(values))
        broker = by_name(objects, "NetworkPolicy")["demo-interplay-rabbitmq"]
        amqp = [rule for rule in broker["spec"]["ingress"] if rule["ports"][0]["port"] == 5672]
        (rule,) = amqp
        namespaces = [
            peer["namespaceSelector"]["matchLabels"]
            for peer in rule["from"]
            if "namespaceSelector" in peer
        ]
        assert namespaces == ([{"kubernetes.io/metadata.name": "keda"}] if keda else [])
