"""`cluster.yaml` passes Ray's own cluster-launcher validation (what `ray up` checks before SSH)."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTER_YAML = Path(__file__).resolve().parents[1] / "cluster.yaml"


def test_cluster_yaml_is_a_valid_local_provider_config() -> None:
    config = yaml.safe_load(CLUSTER_YAML.read_text())
    assert config["provider"]["type"] == "local"
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    assert set(prepared["available_node_types"]) == {"local.cluster.node"}
    assert all("RAY_AUTH_MODE=token" in command for command in config["head_start_ray_commands"])
    assert not any(
        "ray stop" in c for c in config["head_start_ray_commands"] + config["worker_start_ray_commands"]
    )
