"""deploy/kuberay/ and the Dockerfile: the manifests validate against KubeRay's RayCluster schema and
Kubernetes' own, with unknown fields as errors (as `kubectl apply` checks them); the token, database and
key come from Secrets; `kern serve` joins the RayCluster; the image installs what uv.lock pins."""

from __future__ import annotations

import copy
import json
import re
import shlex
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = Path(__file__).with_name("schemas")
KUBERAY = ROOT / "deploy" / "kuberay"
KUBERNETES_TYPES = {"Deployment": "io.k8s.api.apps.v1.Deployment", "Service": "io.k8s.api.core.v1.Service"}

Manifest = dict[str, Any]


def load(name: str) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all((KUBERAY / name).read_text()) if doc]


RAYCLUSTER = load("raycluster.yaml")[0]
DEPLOYMENT, SERVICE = load("kern-serve.yaml")


def strict(schema: Any) -> Any:
    """`schema` with unknown fields refused wherever it names the fields: a CRD schema leaves that out,
    but the API server rejects unknown fields under `kubectl apply`'s default (strict) validation."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: strict(value) for key, value in schema.items()}
    if "properties" in result and "additionalProperties" not in result:
        if not result.get("x-kubernetes-preserve-unknown-fields"):
            result["additionalProperties"] = False
    return result


@cache
def registry() -> Registry:
    kubernetes = json.loads((SCHEMAS / "kubernetes-1.37.json").read_text())
    return Registry().with_resource(kubernetes["$id"], Resource.from_contents(kubernetes))


@cache
def validator(kind: str) -> Draft202012Validator:
    if kind == "RayCluster":
        schema = strict(yaml.safe_load((SCHEMAS / "raycluster-v1.yaml").read_text())["openAPIV3Schema"])
    else:
        schema = {"$ref": f"https://kubernetes.io/api/_definitions.json#/$defs/{KUBERNETES_TYPES[kind]}"}
    return Draft202012Validator(schema, registry=registry())


def errors(manifest: Manifest) -> list[str]:
    found = validator(manifest["kind"]).iter_errors(manifest)
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in found]


@pytest.mark.parametrize("manifest", [RAYCLUSTER, DEPLOYMENT, SERVICE], ids=lambda m: m["kind"])
def test_manifests_match_their_schemas(manifest: Manifest) -> None:
    assert errors(manifest) == []


def mistaken(manifest: Manifest, path: str, value: Any) -> Manifest:
    changed = copy.deepcopy(manifest)
    *parents, last = path.split(".")
    node = changed
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    node[last] = value
    return changed


@pytest.mark.parametrize(
    ("manifest", "path", "value"),
    [
        (RAYCLUSTER, "spec.headGroupSpec.replica", 1),
        (RAYCLUSTER, "spec.authOptions.mode", "tokens"),
        (RAYCLUSTER, "spec.workerGroupSpecs.0.minReplicas", "1"),
        (RAYCLUSTER, "spec.headGroupSpec.template.spec.containers.0.env.0.valuFrom", {}),
        (DEPLOYMENT, "spec.template.spec.containers.0.port", 7777),
        (SERVICE, "spec.ports.0.port", "http"),
    ],
)
def test_the_schemas_catch_mistakes(manifest: Manifest, path: str, value: Any) -> None:
    assert errors(mistaken(manifest, path, value)), f"{manifest['kind']} with {path}={value!r} passed"


def containers(manifest: Manifest) -> list[dict[str, Any]]:
    if manifest["kind"] == "RayCluster":
        groups = [manifest["spec"]["headGroupSpec"], *manifest["spec"]["workerGroupSpecs"]]
        return [c for group in groups for c in group["template"]["spec"]["containers"]]
    return list(manifest["spec"]["template"]["spec"]["containers"])


def env(container: dict[str, Any]) -> dict[str, Any]:
    """name -> value, or (Secret, key) for a value from a Secret."""
    result: dict[str, Any] = {}
    for item in container.get("env", []):
        ref = item.get("valueFrom", {}).get("secretKeyRef")
        result[item["name"]] = (ref["name"], ref["key"]) if ref else item.get("value")
    return result


def test_ray_uses_token_auth_from_one_secret() -> None:
    auth = RAYCLUSTER["spec"]["authOptions"]
    assert auth["mode"] == "token", "the RayCluster should turn Ray's token authentication on"
    (serve,) = containers(DEPLOYMENT)
    assert env(serve)["RAY_AUTH_MODE"] == "token", "kern serve's Ray node runs without token auth"
    assert env(serve)["RAY_AUTH_TOKEN"] == (auth["secretName"], "auth_token"), (
        "kern serve should read the token from the RayCluster's Secret (KubeRay's key: auth_token)"
    )


def test_every_pod_runs_one_image_with_the_locked_ray() -> None:
    images = {c["image"] for manifest in (RAYCLUSTER, DEPLOYMENT) for c in containers(manifest)}
    assert len(images) == 1, f"Ray and Python must match in every pod: images {images}"
    ray = re.search(r'name = "ray"\nversion = "([^"]+)"', (ROOT / "uv.lock").read_text())
    assert ray and RAYCLUSTER["spec"]["rayVersion"] == ray.group(1), "rayVersion is not uv.lock's Ray"


def test_ray_containers_run_actors_at_normal_priority_on_the_shared_database() -> None:
    (serve,) = containers(DEPLOYMENT)
    for container in containers(RAYCLUSTER):
        assert env(container).get("RAY_worker_niceness") == "0", f"{container['name']}: workers at nice 15"
        assert env(container).get("KERN_DB_URL") == env(serve)["KERN_DB_URL"], container["name"]
    assert RAYCLUSTER["spec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0", "actors on the head"


def test_kern_serve_joins_the_raycluster_and_serves_on_7777_with_its_key() -> None:
    (serve,) = containers(DEPLOYMENT)
    variables = env(serve)
    assert variables["RAY_ADDRESS"] == f"{RAYCLUSTER['metadata']['name']}-head-svc:6379", (
        "RAY_ADDRESS should name the head Service KubeRay makes (<cluster>-head-svc)"
    )
    assert isinstance(variables["OS_SECURITY_KEY"], tuple), "OS_SECURITY_KEY should come from a Secret"
    assert isinstance(variables["KERN_DB_URL"], tuple), "KERN_DB_URL should come from a Secret"
    script = " ".join(serve["command"] + serve["args"])
    join = script.find('ray start --address="$RAY_ADDRESS" --num-cpus=0')
    serve_at = script.find("exec kern serve --host 0.0.0.0 --port 7777")
    assert 0 <= join < serve_at, f"the pod should join Ray as a node without CPUs, then serve: {script}"
    assert serve["readinessProbe"]["httpGet"]["path"] == "/health", "readiness is not kern serve's /health"
    assert [p["containerPort"] for p in serve["ports"]] == [7777], "kern serve's port is not 7777"
    labels = DEPLOYMENT["spec"]["template"]["metadata"]["labels"]
    assert SERVICE["spec"]["selector"].items() <= labels.items(), "the Service selects no kern serve pod"
    assert SERVICE["spec"]["ports"][0]["targetPort"] == serve["ports"][0]["name"], "the Service misses 7777"


DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions(name: str) -> list[str]:
    return re.findall(rf"^{name} (.+(?:\\\n.+)*)", DOCKERFILE, re.M)


def test_the_image_installs_from_the_lock_file_with_pinned_uv_and_python() -> None:
    assert instructions("FROM") == ["python:3.11-slim"], "the image should be python:3.11-slim"
    uv = re.search(r"uv==([0-9.]+)", (ROOT / "Makefile").read_text())
    assert uv and f"uv=={uv.group(1)}" in DOCKERFILE, "the image should install the uv the Makefile pins"
    syncs = [line for line in instructions("RUN") if "uv sync" in line]
    assert syncs and all("--frozen" in s and "--no-dev" in s for s in syncs), f"not from uv.lock: {syncs}"
    assert all("--python /usr/local/bin/python3.11" in s for s in syncs), "uv may pick another Python"
    assert "pip install -e" not in DOCKERFILE and "pip install ray" not in DOCKERFILE, "Ray beside uv.lock"
    assert DOCKERFILE.index("COPY pyproject.toml uv.lock") < DOCKERFILE.index("uv sync"), "sync before lock"


def test_the_image_copies_files_that_exist_and_only_those() -> None:
    sources = []
    for line in instructions("COPY"):
        words = [w for w in shlex.split(line) if not w.startswith("--")]
        sources += words[:-1]
    for source in sources:
        assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which does not exist"
    ignore = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line[:1] not in ("", "#")]
    assert ignore[0] == "*", ".dockerignore should leave out everything but what the image copies"
    assert {line[1:] for line in ignore if line.startswith("!")} == set(sources)
