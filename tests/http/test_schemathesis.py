"""Schemathesis against a real `kern serve`: every generated request, valid or not, gets an answer the
OpenAPI document lists, in the documented shape, and never a server error; invalid ones are refused.

The server runs without a key, so that invalid requests reach the routes' own checks rather than all
being 401s; the key's answers are tested in test_auth.py."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.http.conftest import KernServer

EXAMPLES_PER_ROUTE = 15
"""Per route and mode (valid data, invalid data): about 800 requests over the 27 routes, plus
schemathesis's probes."""
SERVED = {"agent_id": "writer", "team_id": "quick-team"}
"""Ids of served components, so that half the requests reach them (random ids are 404s): fast ones."""


def test_every_answer_is_documented_and_none_is_a_server_error(api: KernServer) -> None:
    # (schemathesis.pytest's fixture loader does not work on pytest 9: the routes are walked here.)
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    failures: dict[str, str] = {}
    routes = 0
    for result, mode in ((r, m) for r in schema.get_all_operations() for m in GenerationMode):
        operation = result.ok()
        routes += mode is GenerationMode.POSITIVE
        served = {name: SERVED[name] for name in SERVED if f"{{{name}}}" in operation.path}
        cases = operation.as_strategy(mode)
        if served:
            cases = st.one_of(cases, operation.as_strategy(mode, path_parameters=served))

        @given(case=cases)
        @settings(
            max_examples=EXAMPLES_PER_ROUTE,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            # A request the schema allows may ask for an Agno feature kern lacks (files, a version, a
            # background run, another db_id): the documented 400, which a schema cannot express.
            case.call_and_validate(timeout=30, excluded_checks=[positive_data_acceptance])

        try:
            check()
        except Unsatisfiable:  # nothing to make invalid (GET /health)
            assert mode is GenerationMode.NEGATIVE, operation.label
        except (Exception, BaseExceptionGroup) as exc:  # every route is tried; all are reported together
            failures[f"{operation.label} ({mode.value})"] = str(exc)[:3000]
    assert routes >= 15, "the OpenAPI document lists every route"
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
