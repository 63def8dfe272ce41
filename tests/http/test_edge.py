"""What the HTTP edge refuses before anything runs: ids outside the documented pattern, bodies over the
size cap, JSON beyond its limits; and that none of it costs the server its health."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from kern.os.limits import (
    DEFAULT_MAX_REQUEST_BYTES,
    MAX_INTEGER_DIGITS,
    MAX_JSON_DEPTH,
    MAX_REQUEST_BYTES_VARIABLE,
    max_request_bytes,
)
from kern.specs import new_id
from tests.http.conftest import KernServer

RUNS = "/agents/writer/runs"
BAD_IDS = ["сессия", "a\x00b", "a\r\nb", "a b", "x" * 129, "run/1", "é"]


@pytest.mark.parametrize("field", ["run_id", "session_id", "user_id"])
def test_ids_outside_the_pattern_are_422_and_nothing_runs(client: httpx.Client, field: str) -> None:
    session = f"edge-{new_id()}"
    for bad in BAD_IDS:
        body = {"message": "hi", "stream": False, "session_id": session, field: bad}
        for sent in ({"json": body}, {"data": {k: str(v) for k, v in body.items()}}):
            response = client.post(RUNS, **sent)  # type: ignore[arg-type]
            assert response.status_code == 422, (field, bad, response.text)
            assert f"{field} must be 1-128 ASCII letters" in response.json()["detail"]
    assert client.get(f"/sessions/{session}").status_code == 404, "no run was stored"


@pytest.mark.parametrize(
    "path",
    [
        "/agents/writer/runs/%D1%81%D0%B5%D1%81/cancel",
        "/agents/writer/runs/a%00b",
        "/teams/quick-team/runs/a%0D%0Ab/cancel",
        "/sessions/%D1%81%D0%B5%D1%81",
        "/sessions/a%0Ab/runs",
        f"/sessions/{'x' * 129}",
    ],
)
def test_ids_in_paths_are_checked_too(client: httpx.Client, path: str) -> None:
    method = "POST" if path.endswith("/cancel") else "GET"
    response = client.request(method, path)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["type"] == "string_pattern_mismatch"


def test_unicode_messages_and_ids_that_fit_the_pattern_run(client: httpx.Client) -> None:
    run_id = f"run.{new_id()}"
    body = {"message": "Écris une histoire, сессия \u001f", "stream": False, "run_id": run_id,
            "user_id": "ada@example.org", "session_id": "team:42"}  # fmt: skip
    response = client.post(RUNS, json=body)
    assert response.status_code == 200, response.text
    assert response.headers["x-run-id"] == run_id
    assert response.json()["input"] == {"input_content": body["message"]}
    empty = client.post(RUNS, data={"message": "hi", "stream": "false", "session_id": "", "run_id": ""})
    assert empty.status_code == 200, "an empty id in a form means none, as forms send it"
    assert empty.json()["session_id"] and empty.json()["run_id"]


def test_bodies_over_the_cap_are_413(client: httpx.Client, api: KernServer) -> None:
    message = "a" * (DEFAULT_MAX_REQUEST_BYTES + 1)

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it is read
        yield b'{"message": "'
        for _ in range(DEFAULT_MAX_REQUEST_BYTES // 65_536 + 1):
            yield b"a" * 65_536
        yield b'"}'

    for sent in (
        {"json": {"message": message}},
        {"data": {"message": message}},
        {"content": chunks(), "headers": {"content-type": "application/json"}},
    ):
        response = client.post(RUNS, **sent)  # type: ignore[arg-type]
        assert response.status_code == 413, response.text[:200]
        assert MAX_REQUEST_BYTES_VARIABLE in response.json()["detail"]
    assert api.process.poll() is None
    assert client.post(RUNS, json={"message": "b" * 100_000, "stream": False}).status_code == 200


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"[" * 100_000 + b"]" * 100_000, f"nested more than {MAX_JSON_DEPTH} levels"),
        (b'{"message": "hi", "x": ' + b"[" * 40 + b"]" * 40 + b"}", f"nested more than {MAX_JSON_DEPTH}"),
        (b'{"message": "hi", "n": ' + b"9" * 5000 + b"}", f"more than {MAX_INTEGER_DIGITS} digits"),
        (b'{"message": "hi", "n": NaN}', "NaN"),
        (b'{"message": "\\ud800"}', "lone surrogate"),
        (b'{"message": "hi", "\\udfff": 1}', "lone surrogate"),
        (b'{"message": "\xff\xfe"}', "not UTF-8"),
    ],
)
def test_json_beyond_its_limits_is_422(client: httpx.Client, body: bytes, expected: str) -> None:
    response = client.post(RUNS, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text[:300]
    assert expected in response.json()["detail"]


def test_the_cap_is_configurable_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MAX_REQUEST_BYTES_VARIABLE, raising=False)
    assert max_request_bytes() == DEFAULT_MAX_REQUEST_BYTES
    monkeypatch.setenv(MAX_REQUEST_BYTES_VARIABLE, "4096")
    assert max_request_bytes() == 4096
    for bad in ("0", "-1", "1MB"):
        monkeypatch.setenv(MAX_REQUEST_BYTES_VARIABLE, bad)
        with pytest.raises(ValueError, match=MAX_REQUEST_BYTES_VARIABLE):
            max_request_bytes()
