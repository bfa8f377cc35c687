"""Artifact keys and atomic builds, and the same builds from several processes at once: real
processes (forked), real locks, each process bounded by a timeout."""

import errno
import logging
import multiprocessing
import os
import threading
import time
import traceback

import pytest

from tasks.config.training import TrainingConfig
from tasks.errors import PipelineError
from tasks.storage.artifacts import building, ensure_writable, is_complete, remove_stale_partials
from tasks.storage.keys import content_key
from tasks.storage.locks import artifact_lock

FORK = multiprocessing.get_context("fork")


class Run(FORK.Process):
    """A forked run whose exit status is its target's. It leaves with ``os._exit``, before the interpreter's
    shutdown: once a flow has run in the parent, Prefect 3.8.8's services, reset at fork, leave a thread-exit
    hook that fails an assertion there (``QueueService._drain``), and every child would exit 1."""

    def run(self) -> None:
        try:
            super().run()
        except BaseException:  # any failure is exit status 1, as an uncaught one would be
            traceback.print_exc()
            os._exit(1)
        os._exit(0)


def test_content_key_is_stable_and_sensitive():
    assert content_key("a", TrainingConfig()) == content_key("a", TrainingConfig())
    assert content_key("a", TrainingConfig()) != content_key("a", TrainingConfig(learning_rate=1e-3))


def test_building_moves_into_place_with_a_manifest(tmp_path):
    out = tmp_path / "step" / "key"
    with building(out) as partial:
        (partial / "data.txt").write_text("hello")
        assert not out.exists()
    assert (out / "data.txt").read_text() == "hello"
    assert is_complete(out)
    assert [p.name for p in out.parent.iterdir()] == ["key"]


def test_failure_leaves_the_previous_artifact_and_no_partial(tmp_path):
    out = tmp_path / "step" / "key"
    with building(out) as partial:
        (partial / "data.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with building(out) as partial:
            (partial / "data.txt").write_text("new")
            raise RuntimeError("interrupted")
    assert (out / "data.txt").read_text() == "old"
    assert [p.name for p in out.parent.iterdir()] == ["key"]


def test_missing_or_truncated_file_makes_an_artifact_incomplete(tmp_path):
    out = tmp_path / "key"
    with building(out) as partial:
        (partial / "a.txt").write_text("abc")
        (partial / "b.txt").write_text("def")
    (out / "a.txt").write_text("a")
    assert not is_complete(out)
    (out / "a.txt").write_text("abc")
    assert is_complete(out)
    (out / "b.txt").unlink()
    assert not is_complete(out)
    assert not is_complete(tmp_path / "never-built")


def test_unwritable_artifacts_directory_is_named(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(PipelineError, match=f"artifacts directory {blocker}/artifacts is not writable"):
        ensure_writable(blocker / "artifacts")


def test_a_replacement_keeps_the_old_artifact_complete_until_it_is_in_place(tmp_path):
    out = tmp_path / "step" / "key"
    with building(out) as partial:
        (partial / "data.txt").write_text("old")
    with building(out) as partial:
        (partial / "data.txt").write_text("new")
        assert is_complete(out) and (out / "data.txt").read_text() == "old"
    assert is_complete(out) and (out / "data.txt").read_text() == "new"
    assert [p.name for p in out.parent.iterdir()] == ["key"]


def test_a_replacement_that_cannot_move_in_leaves_the_old_artifact(tmp_path, monkeypatch):
    out = tmp_path / "step" / "key"
    with building(out) as partial:
        (partial / "data.txt").write_text("old")

    def refuse(source, target):
        raise OSError(errno.EIO, "disk gone")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk gone"):
        with building(out) as partial:
            (partial / "data.txt").write_text("new")
    assert is_complete(out) and (out / "data.txt").read_text() == "old"
    assert [p.name for p in out.parent.iterdir()] == ["key"]


def test_building_removes_what_a_dead_run_left_of_its_key_only(tmp_path):
    out = tmp_path / "step" / "key"
    dead = [tmp_path / "step" / ".key.partial-0123abcd", tmp_path / "step" / ".key.replaced-4567cdef"]
    other = tmp_path / "step" / ".other.partial-89abcdef"
    for path in (*dead, other):
        path.mkdir(parents=True)
    with building(out) as partial:
        assert not any(path.exists() for path in dead)
        (partial / "data.txt").write_text("x")
    assert other.is_dir() and is_complete(out)


def build_once(out, built_log, start):
    """What a step does in a run: under the key's lock, build the artifact unless it is complete."""
    start.wait(timeout=10)
    with artifact_lock(out):
        if not is_complete(out):
            with building(out) as partial:
                time.sleep(0.5)  # long enough for the other process to reach the lock
                (partial / "builder").write_text(str(os.getpid()))
                with open(built_log, "a") as log:
                    log.write(f"{os.getpid()}\n")


def test_two_runs_building_one_key_at_once_build_it_once(tmp_path):
    out, built_log = tmp_path / "step" / "key", tmp_path / "built.log"
    start = FORK.Barrier(2)
    runs = [Run(target=build_once, args=(out, built_log, start)) for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join(30)
    assert [run.exitcode for run in runs] == [0, 0]
    builders = built_log.read_text().split()
    assert len(builders) == 1 and (out / "builder").read_text() == builders[0]
    assert is_complete(out)
    assert sorted(p.name for p in out.parent.iterdir()) == [".key.lock", "key"]


def hold_lock_while_building(out, building_now, release):
    with artifact_lock(out):
        with building(out) as partial:
            (partial / "data.txt").write_text("x")
            building_now.set()
            release.wait(timeout=20)


def test_a_waiting_run_says_what_it_waits_for(tmp_path, caplog):
    out = tmp_path / "step" / "key"
    building_now, release = FORK.Event(), FORK.Event()
    holder = Run(target=hold_lock_while_building, args=(out, building_now, release))
    holder.start()
    assert building_now.wait(timeout=20)
    threading.Timer(1.0, release.set).start()
    with caplog.at_level(logging.INFO, logger="tasks.console"), artifact_lock(out):
        assert is_complete(out)
    holder.join(20)
    assert holder.exitcode == 0
    assert [record.getMessage() for record in caplog.records] == [f"Waiting for another run building {out}."]


def die_while_building(out):
    with artifact_lock(out):
        with building(out) as partial:
            (partial / "data.txt").write_text("half")
            os._exit(1)  # no clean-up runs, as when the machine or the process is killed


def test_leftovers_of_dead_runs_are_removed_and_live_ones_kept(tmp_path):
    dead, live = tmp_path / "model" / "dead", tmp_path / "tokenized" / "live"
    died = Run(target=die_while_building, args=(dead,))
    died.start()
    died.join(20)
    assert died.exitcode == 1
    [dead_partial] = dead.parent.glob(".dead.partial-*")
    building_now, release = FORK.Event(), FORK.Event()
    holder = Run(target=hold_lock_while_building, args=(live, building_now, release))
    holder.start()
    try:
        assert building_now.wait(timeout=20)
        [live_partial] = live.parent.glob(".live.partial-*")
        assert remove_stale_partials(tmp_path) == [dead_partial]
        assert not dead_partial.exists() and live_partial.is_dir()
    finally:
        release.set()
        holder.join(20)
    assert holder.exitcode == 0 and is_complete(live)
    assert remove_stale_partials(tmp_path) == [] and remove_stale_partials(tmp_path / "missing") == []


def test_a_steps_callers_see_what_it_takes_and_returns():
    """The step a function becomes takes ``store`` for ``out_dir`` and returns a StepReport, as its signature
    and annotations say (what an editor shows), not the function's own ``-> str``."""
    import inspect

    from tasks.steps.train import train
    from tasks.storage.step import ArtifactStore, StepReport

    step_function = train.fn
    assert inspect.signature(step_function).return_annotation is StepReport
    assert step_function.__annotations__["return"] is StepReport
    assert step_function.__annotations__["store"] is ArtifactStore and "out_dir" not in step_function.__annotations__
    assert inspect.signature(train.fn.__wrapped__).return_annotation is str  # the function it was made from
