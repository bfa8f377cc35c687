"""The deployments of deployments/prefect.yaml on a real local Prefect server: first what the server holds
(schedules, limits, parameter forms) and refuses, before any worker runs. Then a retraining soak: the
finetune deployment with a worker per pool, run as a schedule and data events would run it against one
artifacts directory, with a tiny model and a data folder that changes between runs. First publish; new
data through the dataset.updated trigger as a scheduled run starts (two runs at once); worse data; a run
cancelled while training, the next lost with the server's machine (marked Crashed by deploy.sh's heartbeat
automation), then resumed. It ends with a registry, release cards, logs and artifacts that agree
with what each run's gate decided. Then the same deployments with workers that share nothing but a bucket."""

import os
import re
import shutil
import sys
import time
from pathlib import Path
from uuid import UUID

import pytest
from pydantic import BaseModel

from conftest import conll_sentences
from flows.prune import PruneConfig
from prefect_server import PREFECT, PrefectServer, alive, descendants, wait_for
from tasks.config.finetune import FinetuneConfig
from tasks.config.prediction import PredictConfig
from tasks.data.assets import embedded_conll2003_files
from tasks.scores.quality_gate import Decision, Release, card_weights_sha256
from tasks.storage.artifacts import LEFTOVER, is_complete
from tasks.storage.catalog import FOLDERS, REGISTRY
from tasks.storage.files import read_json, weights_sha256
from tasks.sweep import SweepConfig

pytestmark = pytest.mark.slow

STEPS = {"load", "data_report", "tokenize", "train", "evaluate", "check", "release"}
DATA_EVENT = ("dataset.updated", "finetune.dataset.soak")
GATE_LINES = ("Publishing: ", "Not publishing: ")  # how the gate logs its decision
LAST_LINE = "Finished in state "  # what Prefect's engine logs last for a flow run
REUSED = re.compile(r"Step (\S+) reused in ")  # a step's line when it found its artifact complete (`StepReport`)


class Sentences(BaseModel):
    train: list[str]
    validation: list[str]
    first_test: list[str]
    second_test: list[str]  # a new test split, on which the published model has no stated score


@pytest.fixture(scope="module")
def sentences() -> Sentences:
    files = embedded_conll2003_files()
    test = conll_sentences(files["test"], 100)
    return Sentences(
        train=conll_sentences(files["train"], 1000),
        validation=conll_sentences(files["validation"], 50),
        first_test=test[:50],
        second_test=test[50:],
    )


def publish_data(folder: Path, train: list[str], validation: list[str], test: list[str]) -> None:
    """Replace the data folder's files, as the pipeline that produces a new version of the data would."""
    folder.mkdir(exist_ok=True)
    for name, split in (("train.txt", train), ("valid.txt", validation), ("test.txt", test)):
        (folder / name).write_text("\n\n".join(split) + "\n")


def swap_person_and_location(sentences: list[str]) -> list[str]:
    """Training data from a broken export that swapped two entity types."""
    swapped = {"PER": "LOC", "LOC": "PER"}
    return [
        re.sub(r" ([BI])-(PER|LOC)$", lambda m: f" {m[1]}-{swapped[m[2]]}", s, flags=re.MULTILINE) for s in sentences
    ]


class Finished(BaseModel):
    """A deployed run once it has ended: its state, the gate's decision as its log states it, and which
    steps it took from complete artifacts (its train-evaluate child's included)."""

    run_id: UUID
    states: list[str]  # the run's, then its children's
    messages: list[str]  # their state messages, in that order
    started: float
    ended: float
    logged_decision: str
    reused: set[str]
    pools: list[str]  # the run's work pool, then its children's
    ui_artifacts: set[str]  # keys of the Prefect artifacts it made

    @property
    def state(self) -> str:
        return self.states[0]


class Deployed:
    """Starts finetune runs through the server, as a schedule, a person or an automation would, and
    reads back how they ended."""

    def __init__(self, server: PrefectServer, config: dict):
        self.server, self.config = server, config
        self.started: set[UUID] = set()
        with server.client() as client:
            self.deployment = client.read_deployment_by_name("finetune/finetune")

    def use_as_defaults(self) -> None:
        """The deployment's own parameters become the soak's, as a team sets its data folder in the UI,
        so that runs the trigger starts train on it."""
        from prefect.client.schemas.actions import DeploymentUpdate

        with self.server.client() as client:
            client.update_deployment(self.deployment.id, DeploymentUpdate(parameters={"config": self.config}))

    def start(self, **changes) -> UUID:
        run_id = self.server.start_run("finetune/finetune", {**self.config, **changes})
        self.started.add(run_id)
        return run_id

    def cancel_unfinished(self) -> None:
        """Mark Cancelled the runs started here that have not ended, and their children: a test that failed
        midway must not leave the deployment's one slot held for the tests after it."""
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId
        from prefect.states import Cancelled

        with self.server.client() as client:
            ids = list(self.started)
            children = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=ids))
            )
            for run in [*(client.read_flow_run(run_id) for run_id in ids), *children]:
                if not run.state.is_final():
                    client.set_flow_run_state(run.id, Cancelled(message="its test ended"), force=True)

    def triggered(self) -> UUID:
        """The run the dataset.updated automation starts for an event emitted now."""
        emitted = self.server.run(*PREFECT, "event", "emit", DATA_EVENT[0], "--resource-id", DATA_EVENT[1])
        assert emitted.returncode == 0, emitted.stderr
        with self.server.client() as client:

            def new_runs() -> list[UUID]:
                runs = client.read_flow_runs(deployment_filter=_named("finetune"))
                return [run.id for run in runs if run.id not in self.started and run.created_by.type == "AUTOMATION"]

            wait_for(new_runs, 60, "a run started by the dataset.updated trigger")
            [run_id] = new_runs()
        self.started.add(run_id)
        return run_id

    def finish(self, run_id: UUID, seconds: float = 300) -> Finished:
        from prefect.client.schemas.filters import (
            ArtifactFilter,
            ArtifactFilterFlowRunId,
            FlowRunFilter,
            FlowRunFilterParentFlowRunId,
        )

        with self.server.client() as client:

            def run_and_children() -> list:
                children = client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[run_id]))
                )
                return [client.read_flow_run(run_id), *children]

            # A cancelled child's worker marks it Cancelled a moment after its parent has ended.
            wait_for(lambda: all(r.state.is_final() for r in run_and_children()), seconds, f"the end of run {run_id}")
            run, *children = run_and_children()
            messages = _log_messages(client, [run_id, *(child.id for child in children)], run.state.is_completed())
            made = client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
            )
        decisions = [m for m in messages if m.startswith(GATE_LINES)]
        return Finished(
            run_id=run_id,
            states=[r.state.type.value for r in (run, *children)],
            messages=[r.state.message or "" for r in (run, *children)],
            started=run.start_time.timestamp(),
            ended=run.end_time.timestamp(),
            logged_decision=decisions[-1] if decisions else "",
            reused={match[1] for m in messages if (match := REUSED.match(m))},
            pools=[run.work_pool_name, *(child.work_pool_name for child in children)],
            ui_artifacts={a.key for a in made if a.key},
        )

    def run(self, **changes) -> Finished:
        return completed(self.finish(self.start(**changes)))


def completed(finished: Finished) -> Finished:
    assert finished.state == "COMPLETED", f"run {finished.run_id} ended {finished.state}"
    assert finished.pools == ["cpu", "gpu"], "trained and evaluated as a child run on the gpu pool"
    return finished


def _named(deployment: str):
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    return DeploymentFilter(name=DeploymentFilterName(any_=[deployment]))


def _log_messages(client, run_ids: list[UUID], completed: bool) -> list[str]:
    """The log messages of these runs and their task runs, in order. A completed run's are waited for until
    each run's last line, the engine's "Finished in state", has arrived: a worker's process sends its logs
    in batches, some after the run's state is final."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.client.schemas.sorting import LogSort

    def read() -> list:
        """Page by page: the server answers at most 200 logs a call."""
        logs, runs = [], LogFilter(flow_run_id=LogFilterFlowRunId(any_=run_ids))
        while page := client.read_logs(runs, offset=len(logs), sort=LogSort.TIMESTAMP_ASC):
            logs += page
        return logs

    def all_finished() -> bool:
        ended = {log.flow_run_id for log in read() if log.task_run_id is None and log.message.startswith(LAST_LINE)}
        return ended == set(run_ids)

    if completed:
        wait_for(all_finished, 30, "every run's last log line")
    return [log.message for log in read()]


def registry_history(artifacts: Path) -> tuple[Release | None, list[Release]]:
    [entry] = read_json(artifacts / REGISTRY).values()
    published = entry["published"] and Release.model_validate(entry["published"])
    return published, [Release.model_validate(release) for release in entry["history"]]


def last_decision(artifacts: Path, finished: Finished) -> Decision:
    """The decision the registry recorded for the run that ended last, checked against its log."""
    decision = registry_history(artifacts)[1][-1].decision
    assert finished.logged_decision.endswith(": " + decision.reason)
    assert finished.logged_decision.startswith("Publishing" if decision.publish else "Not publishing")
    return decision


def assert_gate_kept_its_rule(decision: Decision) -> None:
    """Published exactly when above the floor and better than the champion on the very same split."""
    if decision.already_published:
        assert not decision.publish
        return
    champion = decision.champion
    if champion is not None:
        same_split = ("fingerprint", "split", "metric")
        assert champion.model_dump(include=set(same_split)) == decision.challenger.model_dump(include=set(same_split))
    beats = champion is None or decision.challenger.value - champion.value > decision.margin
    assert decision.publish == (decision.challenger.value > decision.floor and beats)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One Prefect server for the module's tests, with deployments/deploy.sh's pools and deployments; the
    soak's tests start the workers they need."""
    with PrefectServer(tmp_path_factory.mktemp("prefect")) as server:
        deployed = server.run("deployments/deploy.sh")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        yield server


def test_server_holds_the_schedule_limit_and_the_configs_form(server):
    with server.client() as client:
        finetune = client.read_deployment_by_name("finetune/finetune")
        gpu = client.read_deployment_by_name("train-evaluate/gpu")
        sweep = client.read_deployment_by_name("sweep/sweep")
        predict = client.read_deployment_by_name("predict/predict")
        prune = client.read_deployment_by_name("prune/prune")
        pool = client.read_work_pool("gpu")
    assert [schedule.schedule.cron for schedule in finetune.schedules] == ["0 3 * * 1"]
    assert finetune.work_pool_name == "cpu" and gpu.work_pool_name == "gpu"
    # One train-evaluate run per GPU: the pool's limit (GPU_COUNT), which a sweep's trials share.
    assert gpu.global_concurrency_limit is None and pool.concurrency_limit == 1
    assert finetune.global_concurrency_limit.limit == 1
    assert finetune.concurrency_options.collision_strategy == "ENQUEUE"
    assert finetune.parameters == {"config": {"train_deployment": "train-evaluate/gpu"}}
    schema = finetune.parameter_openapi_schema
    fields = schema["definitions"]["FinetuneConfig"]["properties"]
    assert set(fields) == set(FinetuneConfig.model_fields)
    for name in ("epochs", "learning_rate", "train_deployment", "hub_model_id"):
        assert fields[name]["description"] == FinetuneConfig.model_fields[name].description
    assert fields["epochs"]["default"] == 1.0 and fields["batch_size"]["default"] == 16
    assert sweep.work_pool_name == "cpu"
    assert sweep.parameters["config"]["base"] == {"train_deployment": "train-evaluate/gpu"}
    form = sweep.parameter_openapi_schema["definitions"]["SweepConfig"]["properties"]
    assert set(form) == set(SweepConfig.model_fields)
    assert form["strategy"]["enum"] == ["grid", "random", "tpe"]
    SweepConfig.model_validate(sweep.parameters["config"])  # the form's defaults are a valid sweep
    assert predict.work_pool_name == "gpu" and predict.schedules == []  # its schedule is an example, commented out
    form = predict.parameter_openapi_schema["definitions"]["PredictConfig"]["properties"]
    assert set(form) == set(PredictConfig.model_fields) and form["runtime"]["enum"] == ["pytorch", "onnx"]
    PredictConfig.model_validate(predict.parameters["config"])
    assert prune.work_pool_name == "cpu" and [schedule.schedule.cron for schedule in prune.schedules] == ["0 4 * * 0"]
    assert PruneConfig.model_validate(prune.parameters["config"]).apply


def test_a_wrong_parameter_type_is_refused_naming_the_field(server):
    refused = server.run(*PREFECT, "deployment", "run", "finetune/finetune", "--param", 'config={"epochs": "many"}')
    assert refused.returncode != 0
    assert "Validation failed for field 'config.epochs'" in " ".join((refused.stdout + refused.stderr).split())


def test_a_missing_deployment_is_named(server, tiny_model, conll_sample, tmp_path):
    failed = server.run(
        sys.executable,
        "-m",
        "flows.finetune",
        "--model",
        str(tiny_model),
        "--dataset",
        str(conll_sample),
        "--artifacts-dir",
        str(tmp_path),
        "--train-deployment",
        "train-evaluate/nowhere",
    )
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines()[-1] == (
        f"error: no deployment train-evaluate/nowhere on {server.api_url}: deploy it with deployments/deploy.sh, "
        "or leave train_deployment unset to train in this process"
    )
    assert (tmp_path / "tokenized").is_dir()  # what ran before the dispatch is kept


def test_a_season_of_retraining_ends_with_registry_cards_and_artifacts_in_agreement(
    server, tmp_path, tiny_model, sentences
):
    data, artifacts = tmp_path / "data", tmp_path / "artifacts"
    config = {
        "train_deployment": "train-evaluate/gpu",
        "model": str(tiny_model),
        "dataset": str(data),
        "artifacts_dir": str(artifacts),
        "max_train_samples": None,
        "batch_size": 8,
        "learning_rate": 1e-3,
        "epochs": 4,
    }
    for pool in ("cpu", "gpu"):
        server.start_worker(pool, f"worker-{pool}")
    finetune = Deployed(server, config)
    finetune.use_as_defaults()
    try:
        decisions = season(finetune, server, data, artifacts, sentences)
    finally:
        finetune.cancel_unfinished()
    a_sweep_through_the_deployments(server, config, tmp_path / "sweep-artifacts")
    assert_registry_cards_and_artifacts_agree(artifacts, decisions)
    predictions_of_the_published_model(server, artifacts, data / "test.txt")


def test_workers_that_share_only_a_bucket_run_publish_and_rerun_from_its_cache(
    server, tmp_path, tiny_model, sentences, bucket
):
    """The cpu and gpu workers as two machines would run them: each in a directory of its own, with its own
    staging directory and Prefect home (so its own local result storage); they share the bucket alone."""
    from tasks.scores.quality_gate import registry_published
    from tasks.storage.buckets import committed, listing

    data = tmp_path / "data"
    publish_data(data, sentences.train[:500], sentences.validation, sentences.first_test)
    config = {
        "train_deployment": "train-evaluate/gpu",
        "model": str(tiny_model),
        "dataset": str(data),
        "artifacts_dir": bucket,
        "max_train_samples": None,
        "batch_size": 8,
        "learning_rate": 1e-3,
        "epochs": 4,
    }
    machines = {pool: tmp_path / pool for pool in ("cpu", "gpu")}
    for worker in list(server.workers.values()):  # the season's, which share a disk
        server.processes.stop(worker)
    credentials = {name: value for name, value in os.environ.items() if name.startswith("AWS_")}  # the bucket's
    deployed = server.run("deployments/deploy.sh", env={"FINETUNE_ARTIFACTS_DIR": bucket, **credentials})
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    for pool, machine in machines.items():
        (machine / "home").mkdir(parents=True)
        env = {"FINETUNE_STAGING_DIR": str(machine / "staging"), "PREFECT_HOME": str(machine / "home"), **credentials}
        server.start_worker(pool, f"worker-bucket-{pool}", cwd=machine, env=env)
    finetune = Deployed(server, config)
    first = finetune.run()
    assert first.logged_decision == "Publishing: nothing is published yet"
    published = registry_published(bucket, f"{tiny_model.name}-finetuned-ner")
    assert committed(published.release_dir) and published.release_dir.startswith(f"{bucket}/release/")
    for machine in machines.values():
        shutil.rmtree(machine / "staging")  # a wiped (or new) machine
    again = finetune.run()
    assert again.reused == STEPS, "every step, on both workers, from the bucket's commit records"
    assert again.logged_decision == "Not publishing: this model is already the published one"
    results = listing(f"{bucket}/prefect-results")
    assert results, "the train-evaluate runs' results are in the bucket, where the cpu worker read them"
    for machine in machines.values():
        assert not (machine / "artifacts").exists() and not (machine / "home" / "storage").exists()


def a_sweep_through_the_deployments(server: PrefectServer, config: dict, artifacts: Path) -> None:
    """The sweep deployment on the cpu pool, its trials as train-evaluate runs on the gpu pool, the winner
    published through the gate. (Re-running a sweep from cache is test_sweep.py's.)"""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterStartTime

    base = {**config, "artifacts_dir": str(artifacts), "epochs": 1}
    sweep = {"base": base, "strategy": "grid", "parallel": 2, "search": {"learning_rate": [1e-3, 3e-3]}}
    ended = server.run_deployment("sweep/sweep", sweep, 300)
    with server.client() as client:
        report = read_json(next((artifacts / "sweeps").iterdir()) / "sweep.json")
        assert [(trial["state"], trial["cached"]) for trial in report["trials"]] == [("completed", False)] * 2
        trials = client.read_flow_runs(
            deployment_filter=_named("gpu"),
            flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=ended.start_time)),
        )
        assert len(trials) == 2 and {trial.work_pool_name for trial in trials} == {"gpu"}
    published, _ = registry_history(artifacts)
    assert [Path(published.release_dir)] == list((artifacts / "release").glob("[!.]*"))
    card = (Path(published.release_dir) / "README.md").read_text()
    assert "Chosen by a hyper-parameter sweep (grid): of its 2 trials" in card


def predictions_of_the_published_model(server: PrefectServer, artifacts: Path, test: Path) -> None:
    """The predict deployment on the gpu pool runs what the registry publishes over the last test split."""
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    config = {"model": "published", "input": str(test), "artifacts_dir": str(artifacts), "score": True}
    ended = server.run_deployment("predict/predict", config, 120)
    with server.client() as client:
        made = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[ended.id]))
        )
    assert ended.work_pool_name == "gpu" and {"predictions", "predicted-counts"} <= {a.key for a in made}
    published, _ = registry_history(artifacts)
    [output] = list((artifacts / "prediction").glob("[!.]*"))
    summary = read_json(output / "prediction_summary.json")
    assert summary["model"]["location"] == published.release_dir and summary["rows"] == len(
        conll_sentences(test, 10_000)
    )
    assert 0 <= summary["scores"]["f1"] <= 1


def season(
    finetune: Deployed, server: PrefectServer, data: Path, artifacts: Path, sentences: Sentences
) -> list[Decision]:
    """The runs, each checked as it ends; returns every completed run's decision in order."""
    train, validation = sentences.train, sentences.validation
    decisions = []

    publish_data(data, train[:500], validation, sentences.first_test)
    first_run = finetune.run()
    assert first_run.ui_artifacts == {
        "data-report",
        "ner-metrics",
        "model-card",
        "ner-training-curves",
        "ner-f1-per-type",
        "ner-confusion",
        "training-epochs",
        "ner-mistakes",
    }
    first = last_decision(artifacts, first_run)
    assert first.publish and first.reason == "nothing is published yet"
    decisions.append(first)

    publish_data(data, train[500:1000], validation, sentences.first_test)
    newer, again = two_runs_started_at_once(finetune, artifacts)
    assert newer.champion == first.challenger, "same test split: the published model's stated score is compared"
    decisions += [newer, again]

    publish_data(data, swap_person_and_location(train[500:1000]), validation, sentences.second_test)
    worse = last_decision(artifacts, finetune.run())
    assert not worse.publish
    assert worse.champion.fingerprint == worse.challenger.fingerprint != newer.challenger.fingerprint
    assert worse.champion.value > worse.challenger.value, "the published model, scored on the new split, is better"
    assert_gate_kept_its_rule(worse)
    decisions.append(worse)

    publish_data(data, train[:1000], validation, sentences.second_test)
    resumed = stopped_twice_then_resumed(finetune, server, artifacts)
    assert_gate_kept_its_rule(resumed)
    decisions.append(resumed)
    return decisions


def stopped_twice_then_resumed(finetune: Deployed, server: PrefectServer, artifacts: Path) -> Decision:
    """A run cancelled while it trains (``prefect flow-run cancel``, as the UI's Cancel does); the next, with
    resume, trains on from its checkpoint until the machine of the server and the gpu worker goes down; once
    both are back, deploy.sh's automation marks the lost run Crashed (no heartbeat), its parent, which waited
    for the server, fails naming resume, and a third run finishes the training from the last checkpoint."""
    models, checkpoints = complete_artifacts(artifacts / "model"), artifacts / "checkpoints"
    cancelled = finetune.start(epochs=8)  # eight epochs: time to stop each run between its checkpoints
    wait_for(lambda: saved_steps(checkpoints), 240, "a complete epoch checkpoint")
    running = set().union(*(descendants(worker.pid) for worker in server.workers.values()))
    asked = server.run(*PREFECT, "flow-run", "cancel", str(cancelled))
    assert asked.returncode == 0, asked.stdout + asked.stderr
    wait_for(lambda: not any(map(alive, running)), 30, "every process of the cancelled run to stop")
    ended = finetune.finish(cancelled, seconds=30)
    assert ended.states == ["CANCELLED", "CANCELLED"], "the run and its train-evaluate child"
    first_stop = max(saved_steps(checkpoints))

    lost = finetune.start(resume=True, epochs=8)
    wait_for(lambda: max(saved_steps(checkpoints)) > first_stop, 240, "a checkpoint after the resumed one")
    server.processes.kill(server.workers["gpu"])
    server.processes.kill(server.server)
    second_stop = max(saved_steps(checkpoints))
    assert complete_artifacts(artifacts / "model") == models, "lost before its model was saved"
    time.sleep(100)  # down longer than the Prefect client's own retries (62 to 75 s), as a reboot is
    server.start_server("server-restarted")
    server.start_worker("gpu", "worker-gpu-restarted")
    with server.client() as client:  # the parent may be marked Crashed first: its heartbeats were lost too
        wait_for(lambda: client.read_flow_run(lost).state.is_failed(), 300, "the end of the lost run's parent")
    parent = finetune.finish(lost, seconds=30)
    assert parent.states == ["FAILED", "CRASHED"] and "no heartbeat for 90 s" in parent.messages[1]
    assert "ended Crashed" in parent.messages[0] and "run again with resume" in parent.messages[0]
    waited = (server.processes.logs / "worker-cpu.log").read_text()
    assert "has not answered for" in waited and "The Prefect server answers again after" in waited, "the parent waited"

    resumed = finetune.run(resume=True, epochs=8)
    log = (server.processes.logs / "worker-gpu-restarted.log").read_text()
    assert re.search(rf"Resuming from \S+/checkpoint-{second_stop}\b", log), "from the lost run's last checkpoint"
    assert {"load", "tokenize"} <= resumed.reused and "train" not in resumed.reused
    return last_decision(artifacts, resumed)


def saved_steps(checkpoints: Path) -> list[int]:
    """The training steps of the complete epoch checkpoints under ``checkpoints``."""
    return [int(state.parent.name.split("-")[1]) for state in checkpoints.glob("*/checkpoint-*/trainer_state.json")]


def two_runs_started_at_once(finetune: Deployed, artifacts: Path) -> list[Decision]:
    """New data arrives as the weekly schedule fires: the dataset.updated trigger and the schedule's run
    start at once, the deployment's limit queues one behind the other, the first reloads and retrains,
    and the second finds every artifact the first built."""
    manual = finetune.start()
    triggered = finetune.triggered()
    runs = sorted((finetune.finish(run_id, seconds=400) for run_id in (manual, triggered)), key=lambda r: r.started)
    first, second = (completed(run) for run in runs)
    assert second.started >= first.ended, "the concurrency limit keeps the runs apart"
    assert first.reused == set(), "new data: reloaded and retrained"
    assert second.reused == STEPS
    _, history = registry_history(artifacts)
    earlier, later = history[-2].decision, history[-1].decision
    assert_gate_kept_its_rule(earlier)
    if earlier.publish:
        assert later.already_published
    else:
        assert later.reason == earlier.reason and not later.publish
    assert (first.logged_decision, second.logged_decision) == tuple(
        ("Publishing: " if d.publish else "Not publishing: ") + d.reason for d in (earlier, later)
    )
    return [earlier, later]


def assert_registry_cards_and_artifacts_agree(artifacts: Path, decisions: list[Decision]) -> None:
    published, history = registry_history(artifacts)
    assert [release.decision for release in history] == decisions  # one entry per completed run, none lost
    assert published == [release for release in history if release.decision.publish][-1]
    for release in history:
        folder = Path(release.release_dir)
        assert is_complete(folder) and weights_sha256(folder) == release.weights_sha256
        card = (folder / "README.md").read_text()
        assert card_weights_sha256(card) == release.weights_sha256
        if release.decision.already_published:  # the published release, whose card tells how it was published
            assert "Published by the quality gate" in card
        else:
            verdict = (
                "Published by the quality gate" if release.decision.publish else "Not published by the quality gate"
            )
            assert verdict in card and release.decision.reason in card
    leftovers = [path for path in artifacts.rglob(".*") if LEFTOVER.fullmatch(path.name)]
    assert leftovers == [] and not (artifacts / "checkpoints").exists()
    for step in STEPS:
        folder = artifacts / FOLDERS[step]
        assert complete_artifacts(folder) == sorted(path for path in folder.iterdir() if not path.name.startswith("."))


def complete_artifacts(folder: Path) -> list[Path]:
    """A step folder's complete artifacts (hidden entries beside them are locks and partials)."""
    return sorted(path for path in folder.iterdir() if not path.name.startswith(".") and is_complete(path))
