"""Script runner benchmark: per-hook overhead and memory with a huge output.

Run from the repository root: ``.venv/bin/python bench/bench_hooks_output.py [--gib N]``.
Prints ratios measured side by side in one run; it asserts nothing.

1. 50 no-op hooks run by ``run_script`` against the same 50 files run by a plain shell
   loop: the difference per hook is the runner's overhead (temp file, process group,
   pipes, masking, bounded storage, reaping).
2. A hook that writes N GiB to stdout (default 1): growth of the runner's peak RSS, in a
   child interpreter so nothing else is counted.
"""

import argparse
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hooks.services.runner import run_script  # noqa: E402

HOOKS = 50
NO_OP = "#!/bin/sh\nexit 0\n"
ENV = {"PATH": "/usr/bin:/bin"}


def time_shell_loop(directory: Path) -> float:
    for index in range(HOOKS):
        path = directory / f"hook{index}"
        path.write_text(NO_OP)
        path.chmod(0o700)
    loop = f'for f in "{directory}"/hook*; do "$f" >/dev/null 2>&1; done'
    started = time.perf_counter()
    subprocess.run(["/bin/sh", "-c", loop], check=True)
    return time.perf_counter() - started


def time_runner(secrets: list[str]) -> float:
    started = time.perf_counter()
    for _ in range(HOOKS):
        result = run_script(NO_OP, ENV, timeout=30, secrets=secrets)
        assert result.ok, result
    return time.perf_counter() - started


def overhead() -> None:
    with tempfile.TemporaryDirectory() as directory:
        time_runner([])  # warm up: imports, page cache
        shell = min(time_shell_loop(Path(directory)) for _ in range(3))
    runner = min(time_runner([]) for _ in range(3))
    masked = min(time_runner(["s3cret-value", "another-secret"]) for _ in range(3))
    print(f"{HOOKS} no-op hooks, best of 3")
    print(f"  plain shell loop        {shell * 1000 / HOOKS:7.2f} ms/hook")
    print(f"  run_script              {runner * 1000 / HOOKS:7.2f} ms/hook")
    print(f"  run_script, 2 secrets   {masked * 1000 / HOOKS:7.2f} ms/hook")
    print(f"  overhead per hook       {(runner - shell) * 1000 / HOOKS:7.2f} ms (target < 10 ms)")


# VmHWM (this process's peak RSS), not ru_maxrss, which survives exec from the parent.
MEMORY_PROBE = textwrap.dedent("""\
    import sys, time
    sys.path.insert(0, sys.argv[2])
    from hooks.services.runner import run_script
    gib = float(sys.argv[1])
    body = f"#!/bin/sh\\nhead -c {int(gib * 2**30)} /dev/zero | tr '\\\\0' x\\n"
    def peak_kib():
        return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
    before = peak_kib()
    started = time.perf_counter()
    result = run_script(body, {"PATH": "/usr/bin:/bin"}, timeout=3600, secrets=["s3cret-value"])
    elapsed = time.perf_counter() - started
    after = peak_kib()
    assert result.ok, result.error
    print(before, after, result.stdout_total, len(result.stdout), elapsed)
    """)


def memory(gib: float) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(gib), str(ROOT)], capture_output=True, text=True, check=True
    )
    before, after, total, kept, elapsed = probe.stdout.split()
    growth_mib = (int(after) - int(before)) / 1024
    print(f"hook writing {gib:g} GiB to stdout (masked with one secret)")
    print(f"  characters seen {int(total):,}, kept {int(kept):,}, in {float(elapsed):.1f} s")
    print(f"  peak RSS {int(before) / 1024:.1f} MiB before, {int(after) / 1024:.1f} MiB after")
    print(f"  growth {growth_mib:.1f} MiB (target < 64 MiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gib", type=float, default=1.0, help="size of the big output (default 1)")
    arguments = parser.parse_args()
    overhead()
    memory(arguments.gib)


if __name__ == "__main__":
    main()
