"""Parsing `dvc queue status` (recorded output of DVC 3) and skipping finished experiments."""

from __future__ import annotations

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
