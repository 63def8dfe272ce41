"""Write `kubernetes-1.37.json`: the definitions the manifests use (Deployment, Service, PodTemplateSpec and
what they refer to), descriptions left out, from kubernetes-validate's copy of Kubernetes' schemas.

    pip download --no-deps -d /tmp/kv kubernetes-validate==1.37.0 && unzip -q -d /tmp/kv /tmp/kv/*.whl
    python tests/deploy/schemas/subset_kubernetes.py \
        /tmp/kv/kubernetes_validate/kubernetes-json-schema/v1.37.0-local-strict/_definitions.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOTS = ("io.k8s.api.apps.v1.Deployment", "io.k8s.api.core.v1.Service", "io.k8s.api.core.v1.PodTemplateSpec")
OUT = Path(__file__).with_name("kubernetes-1.37.json")


def referenced(node: Any, found: set[str]) -> set[str]:
    """The names of the definitions `node` refers to (`#/$defs/NAME`), directly or not."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                found.add(value.rsplit("/", 1)[-1])
            else:
                referenced(value, found)
    elif isinstance(node, list):
        for value in node:
            referenced(value, found)
    return found


def without_descriptions(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: without_descriptions(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [without_descriptions(v) for v in node]
    return node


def main(source: str) -> None:
    document = json.loads(Path(source).read_text())
    definitions = document["$defs"]
    names: set[str] = set()
    pending = list(ROOTS)
    while pending:
        name = pending.pop()
        if name not in names:
            names.add(name)
            pending.extend(referenced(definitions[name], set()))
    subset = {
        "$schema": document["$schema"],
        "$id": document["$id"],
        "$defs": {name: without_descriptions(definitions[name]) for name in sorted(names)},
    }
    OUT.write_text(json.dumps(subset, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
