"""Run every benchmark, one after the other, and print one Markdown table for the README.

``python benchmarks/run_all.py`` (about 14 minutes; ``--quick``: about 4 minutes). Each benchmark runs in its own
interpreter, so that one's threads and memory do not weigh on the next.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import Row, print_table

HERE = Path(__file__).resolve().parent
BENCHMARKS = {  # script: bound on its run, in s
    "suite": 600.0,
    "receiver": 900.0,
    "memory": 900.0,
    "latency": 900.0,
    "flood": 600.0,
    "fleet": 2400.0,
}


def run(name: str, timeout: float, flags: list[str]) -> list[Row]:
    """The rows one benchmark script wrote, or one row saying why there are none."""
    with tempfile.TemporaryDirectory(prefix="bench-all-") as tmp:
        out = Path(tmp, f"{name}.json")
        argv = [sys.executable, str(HERE / f"{name}.py"), "--json", str(out), *flags]
        print(f"running {name}.py ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            done = subprocess.run(  # noqa: S603 - our own scripts
                argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            return [Row(f"{name}.py", "no figures", "", f"FAILED: no result within {timeout:g} s")]
        print(f"  {name}.py took {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        if done.returncode != 0 or not out.exists():
            sys.stderr.write(done.stderr)
            last = (done.stderr.strip().splitlines() or ["no message"])[-1][:200]
            return [Row(f"{name}.py", "no figures", "", f"FAILED (exit {done.returncode}): {last}")]
        sys.stderr.write(done.stderr)
        return [Row(**row) for row in json.loads(out.read_text())]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick to every benchmark")
    parser.add_argument(
        "--only", action="append", choices=list(BENCHMARKS), help="run only this benchmark (repeatable)"
    )
    parser.add_argument(
        "--bytecode", choices=["cached", "uncached", "inherit"], default="cached", help="passed to suite.py"
    )
    args = parser.parse_args(argv)
    rows: list[Row] = []
    for name, timeout in BENCHMARKS.items():
        if args.only is None or name in args.only:
            flags = (["--quick"] if args.quick else []) + (["--bytecode", args.bytecode] if name == "suite" else [])
            rows += run(name, timeout, flags)
    print_table(rows)
    return 1 if any(r.result.startswith("FAILED") for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
