"""CPU per text delta of reading a model's stream: the openai SDK's typed events against kern's reading of
the same SDK response as JSON lines (`kern.models.openai.sse`), interleaved, on the local model server.

    .venv/bin/python benchmarks/sdk_stream.py [--deltas 5000] [--reps 5]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import openai  # noqa: E402
from common import REPO, ModelServerProcess, Sample, fmt_sample, model_headers, table  # noqa: E402

from kern.models.openai.sse import sse_json  # noqa: E402


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def typed(client: openai.AsyncOpenAI) -> int:
    deltas = 0
    stream = await client.responses.create(model="gpt-bench", input="Tell me a story", stream=True)
    async for event in stream:
        deltas += event.type == "response.output_text.delta"
    return deltas


async def json_lines(client: openai.AsyncOpenAI) -> int:
    deltas = 0
    request = client.responses.with_streaming_response.create(
        model="gpt-bench", input="Tell me a story", stream=True
    )
    async with request as response:
        async for event in sse_json(response):
            deltas += event.get("type") == "response.output_text.delta"
    return deltas


async def measure(base_url: str, words: int, reps: int) -> dict[str, Sample]:
    headers = model_headers(tokens_per_second=0, reply_words=words, chunk_words=1)
    client = openai.AsyncOpenAI(api_key="bench", base_url=base_url, default_headers=headers, max_retries=0)
    results = {"sdk": Sample("us/delta"), "kern": Sample("us/delta")}
    await typed(client), await json_lines(client)  # warm: connection, imports
    for _ in range(reps):
        for name, read in (("sdk", typed), ("kern", json_lines)):
            before = cpu_seconds()
            deltas = await read(client)
            results[name].add((cpu_seconds() - before) / deltas * 1e6)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deltas", type=int, default=5000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    with ModelServerProcess(str(REPO / ".venv" / "bin" / "kern")) as admin:
        results = asyncio.run(measure(admin.base_url, args.deltas, args.reps))
    rows = [
        ["openai SDK typed stream (`responses.create(stream=True)`)", fmt_sample(results["sdk"])],
        ["kern: same SDK response read as JSON lines", fmt_sample(results["kern"])],
        ["ratio", f"{results['sdk'].median / results['kern'].median:.1f}x"],
    ]
    print(table(["CPU per text delta in the reading process (us)", "median (p90)"], rows))


if __name__ == "__main__":
    main()
