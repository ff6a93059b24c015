"""Parsing `dvc queue status` (recorded output of DVC 3), skipping finished experiments, and
starting the queue workers without waiting for them."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from zsbir.experiments import queue as q
from zsbir.experiments.grid import Experiment

STATUS = """Task     Name                            Created    Status
a31ef18  paper-raw-s0                    07:52 PM   Success
b577e00  paper-raw-s1                    07:52 PM   Running
eaa08f9  paper-raw-s2                    Nov 25, 2026   Queued
07fb7ba  paper-cvae-s0                   07:52 PM   Failed

Worker status: 1 active, 0 idle
"""


def test_queue_status_reads_names_and_states(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(q, "dvc", lambda *args: STATUS)
    assert q.queue_status() == {"paper-raw-s0": "Success", "paper-raw-s1": "Running",
                                "paper-raw-s2": "Queued", "paper-cvae-s0": "Failed"}


def test_queue_skips_finished_and_pending(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, ...]] = []

    def fake_dvc(*args: str) -> str:
        calls.append(args)
        if args[:2] == ("exp", "list"):
            return "paper-raw-s0\n"
        return STATUS if args[:2] == ("queue", "status") else ""

    monkeypatch.setattr(q, "dvc", fake_dvc)
    names = ["paper-raw-s0", "paper-raw-s1", "paper-raw-s2", "paper-cvae-s0", "paper-cvae-s1"]
    exps = [Experiment(n, n.split("-")[1], 0, (("seed", 0),)) for n in names]
    pending = q.queue(exps)
    # s0 finished, s1 running, s2 queued; the failed cvae-s0 and the new cvae-s1 are queued
    queued = [c[4] for c in calls if c[:3] == ("exp", "run", "--queue")]
    assert queued == ["paper-cvae-s0", "paper-cvae-s1"]
    assert calls[-1] == ("exp", "run", "--queue", "--name", "paper-cvae-s1", "-S", "seed=0")
    assert pending == names[1:]  # everything but the finished one is waited for

def test_a_task_running_with_no_worker_alive_is_removed_and_queued_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, ...]] = []
    orphaned = STATUS.replace("1 active, 0 idle", "0 active, 0 idle")
    removed: set[str] = set()

    def fake_dvc(*args: str) -> str:
        calls.append(args)
        if args[:2] == ("queue", "remove"):
            removed.update(args[2:])
        if args[:2] == ("queue", "status"):
            return orphaned if "b577e00" not in removed else orphaned.replace(
                "b577e00  paper-raw-s1                    07:52 PM   Running\n", "")
        return "paper-raw-s0\n" if args[:2] == ("exp", "list") else ""

    monkeypatch.setattr(q, "dvc", fake_dvc)
    names = ["paper-raw-s0", "paper-raw-s1", "paper-raw-s2"]
    pending = q.queue([Experiment(n, "raw", 0, (("seed", 0),)) for n in names])
    assert ("queue", "kill", "b577e00") in calls and ("queue", "remove", "b577e00") in calls
    assert [c[4] for c in calls if c[:3] == ("exp", "run", "--queue")] == ["paper-raw-s1"]
    assert pending == names[1:]


def test_live_workers_keep_their_running_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(q, "dvc", lambda *args: STATUS)  # 1 active worker
    assert q.orphaned_tasks() == {}
    monkeypatch.setattr(q, "dvc", lambda *args: STATUS.replace("1 active", "0 active"))
    assert q.orphaned_tasks() == {"paper-raw-s1": "b577e00"}


FAKE_DVC = """#!/bin/sh
# a stand-in for `dvc queue start`: leaves a long-lived worker holding its output streams
[ "$1 $2" = "queue start" ] || exit 3
[ "$4" = "bad" ] && { echo "no such queue" >&2; exit 1; }
sleep 30 &
exit 0
"""


@pytest.fixture()
def fake_dvc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    exe = tmp_path / "dvc"
    exe.write_text(FAKE_DVC)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    return exe


def test_start_workers_does_not_wait_for_the_workers(fake_dvc: Path) -> None:
    began = time.monotonic()
    q.start_workers(2)
    assert time.monotonic() - began < 10  # the worker sleeps 30 s with the streams open


def test_start_workers_failure_carries_dvc_message(fake_dvc: Path) -> None:
    with pytest.raises(RuntimeError, match="no such queue"):
        q.start_workers("bad")  # type: ignore[arg-type]  # str() passes it through to the fake
