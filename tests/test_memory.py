"""release_free_memory returns to the system what the C allocator holds free, which glibc keeps
when live memory sits above it (as the state does after a history sync's garbage is freed)."""

from __future__ import annotations

import subprocess
import sys

from tests.harness import REPO

PROGRAM = """
import psutil
from orchestrator.memory import release_free_memory
rss = lambda: psutil.Process().memory_info().rss
blocks = [bytes(1000) for _ in range(200_000)]  # ~200 MB from malloc (not Python's arenas)
survivor = bytes(1000)  # above them on the heap: glibc cannot give the freed space back alone
del blocks
before = rss()
released = release_free_memory()
print(released, (before - rss()) // 2**20)
"""


def test_freed_heap_goes_back_to_the_system() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM], cwd=REPO, capture_output=True, text=True, check=True
    )
    released, mib = result.stdout.split()
    assert released == "True", "no malloc_trim in this C library"
    assert int(mib) >= 100, f"only {mib} MiB went back"
