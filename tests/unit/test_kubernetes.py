"""deploy/kubernetes, held to the Kubernetes schemas and to docker-compose.yml.

No cluster here: the built-in kinds are checked against the API's JSON schemas
(kubernetes-validate, strict: an unknown field fails), KEDA's kinds against KEDA's CRD schemas
(cloudcoil-models-keda: pydantic models generated from them; strict too). The rest checks what a
schema cannot: each worker Deployment runs the queues, concurrency and node name of its compose
service, its grace period outlasts the hard time limits of the tasks it runs, exactly one beat,
resources and a non-root user everywhere, and the kustomization lists every file.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pydantic
import pytest
import yaml

from tests.unit.test_deployment import (
    CELERY_SERVICES,
    _limits_by_queue,
    command_words,
    compose,
    option,
)

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
BASE = KUBERNETES / "base"
OVERLAY = KUBERNETES / "overlays" / "example"
KUBERNETES_VERSION = "1.30.0"  # the schemas kubernetes-validate checks against
KEDA = "keda.sh/"
IMAGE_USER = 10001  # the Dockerfile's `useradd --uid`
POD_KINDS = ("Deployment", "Job")


def documents(directory: Path = KUBERNETES) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every YAML document under ``directory``, with its file."""
    for path in sorted(directory.rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document is not None:
                assert isinstance(document, dict), path
                yield path, document


def manifests() -> list[dict[str, Any]]:
    """The base's resources (the overlays hold kustomizations only)."""
    return [d for p, d in documents(BASE) if p.name != "kustomization.yaml"]


def resources(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in manifests() if d["kind"] == kind}


def pod_specs() -> Iterator[tuple[str, dict[str, Any]]]:
    for kind in POD_KINDS:
        for name, resource in resources(kind).items():
            yield f"{kind}/{name}", resource["spec"]["template"]["spec"]


def main_container(deployment: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


def celery_program(command: list[str]) -> list[str] | None:
    """``celery -A app <verb> ...`` out of a command (a ``sh -c`` script's too), else None."""
    words = command_words(command)
    return words[words.index("celery") :] if "celery" in words else None


def test_every_yaml_file_loads() -> None:
    found = list(documents())
    assert {p.name for p, _ in found} >= {"kustomization.yaml"}
    assert len([d for p, d in found if p.name != "kustomization.yaml"]) >= 10
    for path, document in found:
        assert "kind" in document, path


def test_every_builtin_kind_follows_the_kubernetes_schema() -> None:
    builtin = [d for d in manifests() if not d["apiVersion"].startswith(KEDA)]
    assert len(builtin) >= 10
    errors = []
    for document in builtin:  # KEDA's kinds (CRDs) are checked below
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            name = f"{document['kind']}/{document['metadata']['name']}"
            errors.append(f"{name} at {list(error.absolute_path)}: {error.message}")
    assert not errors, "\n".join(errors)


def keda_model(kind: str) -> type[Any]:
    """The model cloudcoil generated from KEDA's CRD for ``kind``."""
    from cloudcoil.models.keda import v1alpha1

    model: type[Any] = getattr(v1alpha1, kind)
    return model


def test_every_keda_kind_follows_the_keda_crd_schema() -> None:
    keda = [d for d in manifests() if d["apiVersion"].startswith(KEDA)]
    assert {d["kind"] for d in keda} == {"ScaledObject", "TriggerAuthentication"}
    for document in keda:
        assert document["apiVersion"] == "keda.sh/v1alpha1"
        parsed = keda_model(document["kind"]).model_validate(document)
        # The models ignore a field they do not know: strict means it must come back out.
        assert parsed.model_dump(by_alias=True, exclude_unset=True, mode="json") == document


def test_the_keda_check_catches_a_wrong_field() -> None:
    scaled = copy.deepcopy(resources("ScaledObject")["worker-ingest"])
    model = keda_model("ScaledObject")
    scaled["spec"]["minReplicaCount"] = "one"
    with pytest.raises(pydantic.ValidationError, match="minReplicaCount"):
        model.model_validate(scaled)
    scaled["spec"]["minReplicaCount"] = 1
    scaled["spec"]["pollingIntervall"] = 15  # misspelt: dropped by the model, caught by strictness
    dumped = model.model_validate(scaled).model_dump(by_alias=True, exclude_unset=True, mode="json")
    assert dumped != scaled


def test_the_scaled_object_scales_worker_ingest_on_its_queue() -> None:
    scaled = [d for d in manifests() if d["kind"] == "ScaledObject"]
    assert len(scaled) == 1
    spec = scaled[0]["spec"]
    assert scaled[0]["apiVersion"] == "keda.sh/v1alpha1"
    assert spec["scaleTargetRef"]["name"] == "worker-ingest"
    assert "worker-ingest" in resources("Deployment")
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    redis = [t for t in spec["triggers"] if t["type"] == "redis"]
    assert len(redis) == 1, spec["triggers"]
    metadata = redis[0]["metadata"]
    assert metadata["listName"] == "routelearn.ingest"
    assert isinstance(metadata["listLength"], str)  # KEDA's metadata values are strings
    assert metadata["listLength"].isdigit() and int(metadata["listLength"]) > 0
    # The address comes from the Secret (a TriggerAuthentication), never written here.
    assert "address" not in metadata
    auth_name = redis[0]["authenticationRef"]["name"]
    auths = {d["metadata"]["name"]: d for d in manifests() if d["kind"] == "TriggerAuthentication"}
    secret = resources("Secret")["routelearn-secrets"]
    refs = {r["parameter"]: r for r in auths[auth_name]["spec"]["secretTargetRef"]}
    assert "address" in refs
    for ref in refs.values():
        assert ref["name"] == "routelearn-secrets"
        assert ref["key"] in secret["stringData"]
    # The ingest Deployment leaves its replica count to the autoscaler.
    assert "replicas" not in resources("Deployment")["worker-ingest"]["spec"]


def test_every_celery_worker_runs_as_its_compose_service() -> None:
    services = compose()
    limits = _limits_by_queue()
    workers = {}
    for name, deployment in resources("Deployment").items():
        program = celery_program(main_container(deployment)["command"])
        if program is not None and program[3] == "worker":
            workers[name] = (deployment, program)
    assert set(workers) == set(CELERY_SERVICES)
    for name, (deployment, program) in workers.items():
        in_compose = celery_program(services[name]["command"])
        assert in_compose is not None, name
        for flag in ("-A", "--queues", "--concurrency", "--hostname", "--loglevel"):
            assert option(program, flag) == option(in_compose, flag), (name, flag)
        queues = option(program, "--queues")
        assert queues, name
        longest = max(limits[q] for q in queues.split(","))
        grace = deployment["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
        assert grace > longest, f"{name}: {grace} s to stop, but a task may run {longest} s"
        # The liveness probe pings this worker's own node name.
        node = option(program, "--hostname")
        assert node and node.endswith("@%h"), name
        probe = main_container(deployment)["livenessProbe"]
        ping = command_words(probe["exec"]["command"])
        assert option(ping, "--destination") == node.replace("%h", "$HOSTNAME"), name
        assert probe["periodSeconds"] >= 60 and probe["timeoutSeconds"] > 10, name


def test_every_other_process_runs_the_compose_command() -> None:
    services = compose()
    deployments = resources("Deployment")
    for name in ("beat", "api", "flower"):
        assert main_container(deployments[name])["command"] == services[name]["command"], name
    job = resources("Job")["routelearn-migrate"]
    assert (
        job["spec"]["template"]["spec"]["containers"][0]["command"]
        == (services["migrate"]["command"])
    )
    assert job["spec"]["backoffLimit"] >= 1
    assert job["spec"]["ttlSecondsAfterFinished"] > 0


def test_exactly_one_beat_even_during_a_rollout() -> None:
    beat = resources("Deployment")["beat"]
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"]["type"] == "Recreate"
    scaled = {d["spec"]["scaleTargetRef"]["name"] for d in resources("ScaledObject").values()}
    assert "beat" not in scaled


def test_every_container_has_resources_and_runs_as_non_root() -> None:
    specs = list(pod_specs())
    assert len(specs) == 6  # five Deployments and the migrate Job
    for where, spec in specs:
        pod = spec.get("securityContext", {})
        assert pod.get("runAsNonRoot") is True, where
        assert pod.get("runAsUser") == IMAGE_USER, where
        for container in spec.get("initContainers", []) + spec["containers"]:
            name = f"{where}/{container['name']}"
            own = container.get("securityContext", {})
            assert own.get("runAsNonRoot", True) is True, name
            assert own.get("runAsUser", IMAGE_USER) != 0, name
            assert own.get("privileged", False) is False, name
            for bound in ("requests", "limits"):
                assert set(container.get("resources", {}).get(bound, {})) >= {"cpu", "memory"}, (
                    name,
                    bound,
                )
            # The configuration: every setting from the ConfigMap and the Secret.
            sources = {next(iter(s)): next(iter(s.values()))["name"] for s in container["envFrom"]}
            assert sources == {
                "configMapRef": "routelearn-config",
                "secretRef": "routelearn-secrets",
            }, name


def test_the_api_and_flower_probes_and_services() -> None:
    deployments = resources("Deployment")
    api = main_container(deployments["api"])
    assert api["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert api["livenessProbe"]["httpGet"]["path"] == "/health"
    assert 3003 in {p["containerPort"] for p in api["ports"]}
    flower = main_container(deployments["flower"])
    assert flower["livenessProbe"]["httpGet"]["path"] == "/healthcheck"
    env = {e["name"]: e.get("value") for e in flower.get("env", [])}
    assert env["ROUTELEARN_FLOWER_ADDRESS"] == "0.0.0.0"
    assert env["ROUTELEARN_FLOWER_PORT"] == "5555"
    # Beyond loopback `routelearn flower` refuses to start without FLOWER_BASIC_AUTH.
    assert "FLOWER_BASIC_AUTH" in resources("Secret")["routelearn-secrets"]["stringData"]
    services = resources("Service")
    for name, port in (("api", 3003), ("flower", 5555)):
        assert [p["port"] for p in services[name]["spec"]["ports"]] == [port], name
        selector = services[name]["spec"]["selector"]
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), name
    budgets = {n: b["spec"] for n, b in resources("PodDisruptionBudget").items()}
    for name in ("worker-ingest", "api"):
        assert budgets[name]["minAvailable"] == 1, name
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert budgets[name]["selector"]["matchLabels"].items() <= labels.items(), name


def test_the_example_secret_holds_placeholders_only() -> None:
    secret = resources("Secret")["routelearn-secrets"]
    assert "data" not in secret
    for key in ("ROUTELEARN_BROKER_URL", "ROUTELEARN_DATABASE_URL", "FLOWER_BASIC_AUTH"):
        assert "REPLACE_ME" in secret["stringData"][key], key
    config = resources("ConfigMap")["routelearn-config"]["data"]
    assert all(k.startswith("ROUTELEARN_") for k in config)
    assert not set(config) & set(secret["stringData"])


def test_the_kustomization_lists_every_file_of_the_base() -> None:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed))
    for name in listed:
        assert (BASE / name).is_file(), f"base/kustomization.yaml lists missing {name}"
    files = {p.name for p in BASE.glob("*.yaml") if p.name != "kustomization.yaml"}
    assert files == set(listed), f"not listed: {sorted(files - set(listed))}"
    assert not list(BASE.glob("*.yml")), "use .yaml"
    overlay = yaml.safe_load((OVERLAY / "kustomization.yaml").read_text())
    assert overlay["resources"] == ["../../base"]
    assert overlay["namespace"] == "routelearn"
    assert [i["name"] for i in overlay["images"]] == ["routelearn"]
    assert {r["name"]: r["count"] for r in overlay["replicas"]} == {"api": 2}
