"""The AgentOS behind Ray Serve: `serve.run(kern.os.ray_serve.application("my_app:agent_os"))`.

Serve carries the HTTP only: each Serve replica builds the app of `kern serve` from the same target, and
the runs go to kern's own agent and team actors (named, in kern's namespace), as from `kern serve`. So a
run started through one replica is cancelled, continued or rejoined through any other, or through a
`kern serve` process on the same cluster.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

if TYPE_CHECKING:
    from ray.serve import Application

DEPLOYMENT_NAME = "kern-os"


def application(target: str, **deployment_options: Any) -> Application:
    """A Serve application serving `target` (`module:attr`: an `AgentOS` or a function making one, as
    for `kern serve`). `deployment_options` go to `serve.deployment` (`num_replicas`,
    `ray_actor_options`...); a replica asks for no CPU unless you say (it only carries HTTP: the runs
    execute on kern's actors)."""
    from ray import serve

    def build() -> FastAPI:
        from kern.os.serve import load_os

        return load_os(target).get_app()

    options: dict[str, Any] = {"name": DEPLOYMENT_NAME, **deployment_options}
    options["ray_actor_options"] = {"num_cpus": 0, **options.get("ray_actor_options", {})}
    ingress = serve.ingress(build)()  # (a class that serves the app each replica builds)
    return serve.deployment(**options)(ingress).bind()
