"""Every benchmark script still imports against the library it measures: `make bench` is not run by
`make test`, and a renamed name in kern once broke it unseen."""

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"

IMPORT_ALL = """
import importlib, pathlib, sys
sys.path.insert(0, sys.argv[1])
failed = []
for script in sorted(pathlib.Path(sys.argv[1]).glob("*.py")):
    try:
        importlib.import_module(script.stem)
    except Exception as exc:
        failed.append(f"{script.name}: {exc!r}")
print("\\n".join(failed))
"""


def test_every_benchmark_script_imports() -> None:
    scripts = sorted(BENCHMARKS.glob("*.py"))
    assert len(scripts) > 10
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL, str(BENCHMARKS)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "", f"benchmark scripts that fail to import:\n{result.stdout}"
