"""Queue a grid's experiments with DVC and run them: ``dvc exp run --queue`` + ``dvc queue``.

Experiments that already exist on the current commit, or sit in the queue, are skipped,
so re-running the command after an interruption only adds what is missing. A task that
``dvc queue status`` still calls Running while no worker is alive (its machine or worker
was killed) would be waited for forever: it is removed and queued again.
"""

from __future__ import annotations

import logging
import re
import subprocess
import tempfile
import time
from typing import Sequence

from tqdm import tqdm

from zsbir.experiments.grid import Experiment

log = logging.getLogger(__name__)

POLL_SECONDS = 15.0
_ACTIVE = ("Queued", "Running")


def dvc(*args: str) -> str:
    """Run ``dvc args``; return stdout, or raise with DVC's own message."""
    proc = subprocess.run(["dvc", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"dvc {' '.join(args)} failed:\n{proc.stderr.strip() or proc.stdout}")
    return proc.stdout


def start_workers(jobs: int) -> None:
    """``dvc queue start -j jobs``. Its workers outlive it and inherit its output streams,
    so these go to a file, not a pipe: reading a pipe would wait for the last worker."""
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.run(["dvc", "queue", "start", "-j", str(jobs)],
                              stdout=subprocess.DEVNULL, stderr=err)
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"dvc queue start -j {jobs} failed:\n{err.read().strip()}")


def queue_status() -> dict[str, str]:
    """``{experiment name: status}`` of ``dvc queue status`` (Queued, Running, Success, ...)."""
    out: dict[str, str] = {}
    for line in dvc("queue", "status").splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 4 and fields[-1] in (*_ACTIVE, "Success", "Failed"):
            out[fields[1]] = fields[-1]
    return out


def orphaned_tasks() -> dict[str, str]:
    """``{experiment name: task id}`` of the tasks Running with no worker alive."""
    out = dvc("queue", "status")
    workers = re.search(r"Worker status:\s*(\d+) active,\s*(\d+) idle", out)
    if workers is None or workers.group(1, 2) != ("0", "0"):
        return {}
    rows = (line.split() for line in out.splitlines()[1:])
    return {f[1]: f[0] for f in rows if len(f) >= 4 and f[-1] == "Running"}


def remove_orphans() -> None:
    """Kill (where DVC still can) and remove the orphaned tasks, so they are queued again."""
    orphans = orphaned_tasks()
    if not orphans:
        return
    log.warning("%d tasks Running with no worker alive, queued again: %s", len(orphans),
                ", ".join(sorted(orphans)))
    try:
        dvc("queue", "kill", *orphans.values())
    except RuntimeError as err:  # its worker is gone already: nothing left to kill
        log.debug("%s", err)
    dvc("queue", "remove", *orphans.values())


def finished_experiments() -> set[str]:
    """Names of the experiments of the current commit (``dvc exp list --name-only``)."""
    return {line.strip() for line in dvc("exp", "list", "--name-only").splitlines() if line.strip()}


def queue(experiments: Sequence[Experiment]) -> list[str]:
    """Queue every experiment not already done or queued; return the names still to run."""
    remove_orphans()
    done = finished_experiments()
    pending = {n for n, s in queue_status().items() if s in _ACTIVE}
    todo = [e for e in experiments if e.name not in done | pending]
    log.info("%d experiments: %d done, %d already queued, %d to queue", len(experiments),
             len(done & {e.name for e in experiments}), len(pending), len(todo))
    for exp in tqdm(todo, desc="queue", unit="exp"):
        dvc("exp", "run", "--queue", "--name", exp.name, *exp.set_args())
    return [e.name for e in experiments if e.name not in done]


def run_queue(names: Sequence[str], jobs: int) -> list[str]:
    """Start ``jobs`` queue workers and wait until ``names`` finished; return the failed."""
    if not names:
        return []
    start_workers(jobs)
    with tqdm(total=len(names), desc="experiments", unit="exp") as bar:
        while True:
            status = queue_status()
            finished = [n for n in names if status.get(n) not in _ACTIVE]
            bar.update(len(finished) - bar.n)
            if len(finished) == len(names):
                break
            time.sleep(POLL_SECONDS)
    failed = [n for n in names if status.get(n) == "Failed"]
    for name in failed:
        log.error("experiment %s failed; see `dvc queue logs %s`", name, name)
    return failed
