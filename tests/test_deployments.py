"""The deployments of deployments/prefect.yaml on a real local Prefect server, with a worker per pool:
the finetune run trains on the gpu pool and finishes with the child's result; the schedule, the
event trigger, the concurrency limit and the parameter form are what the server holds."""

import json
import re
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from prefect_server import PREFECT, PrefectServer
from tasks.artifacts import is_complete
from tasks.config import FinetuneConfig

pytestmark = pytest.mark.slow


def start_worker(server: PrefectServer, pool: str, log_name: str):
    return server.processes.start(log_name, *PREFECT, "worker", "start", "--pool", pool, "--name", f"{pool}-worker")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with PrefectServer(tmp_path_factory.mktemp("prefect-server")) as server:
        deployed = server.run("deployments/deploy.sh")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        server.workers.update({pool: start_worker(server, pool, f"worker-{pool}") for pool in ("cpu", "gpu")})
        yield server


@contextmanager
def client_for(server: PrefectServer):
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: server.api_url}), get_client(sync_client=True) as client:
        yield client


def run_parameters(tiny_model: Path, conll_sample: Path, artifacts: Path, **changes) -> dict:
    """What a user changes in the UI form: a tiny model and data, the rest as deployed."""
    return {
        "config": {
            "train_deployment": "train-evaluate/gpu", "model": str(tiny_model), "dataset": str(conll_sample),
            "artifacts_dir": str(artifacts), "max_train_samples": None, "batch_size": 8, "learning_rate": 1e-3,
            **changes,
        }
    }  # fmt: skip


def run_finetune(server: PrefectServer, parameters: dict, watch: bool = True):
    watching = ("--watch", "--watch-interval", "1", "--watch-timeout", "150") if watch else ()
    started = server.run(*PREFECT, "deployment", "run", "finetune/finetune", "--params", json.dumps(parameters),
                         *watching, timeout=180)  # fmt: skip
    assert started.returncode == 0, started.stdout + started.stderr


def test_finetune_trains_on_the_gpu_pool_and_gets_the_childs_result(server, tiny_model, conll_sample, tmp_path):
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterParentFlowRunId

    run_finetune(server, run_parameters(tiny_model, conll_sample, tmp_path / "artifacts"))
    with client_for(server) as client:
        [parent] = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["finetune"])),
            flow_run_filter=FlowRunFilter(state={"type": {"any_": ["COMPLETED"]}}),
        )
        [child] = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent.id]))
        )
        artifacts = {a.key for a in client.read_artifacts() if a.flow_run_id == parent.id and a.key}
        child_flow = client.read_flow(child.flow_id)
    assert (parent.work_pool_name, child.work_pool_name) == ("cpu", "gpu")
    assert child_flow.name == "train-evaluate" and child.state.is_completed()
    assert parent.parameters["config"]["model"] == str(tiny_model)
    assert artifacts == {"ner-metrics", "model-card"}
    root = tmp_path / "artifacts"
    for step in ("dataset", "tokenized", "model", "evaluation", "check", "release"):
        [built] = [path for path in (root / step).iterdir() if not path.name.startswith(".")]
        assert is_complete(built), step
    [release] = [path for path in (root / "release").iterdir() if not path.name.startswith(".")]
    metrics = json.loads((release / "metrics.json").read_text())
    assert metrics["test"]["num_sentences"] == 16
    assert "## Release history" in (release / "README.md").read_text()


def test_server_holds_the_schedule_limit_and_the_configs_form(server):
    with client_for(server) as client:
        finetune = client.read_deployment_by_name("finetune/finetune")
        gpu = client.read_deployment_by_name("train-evaluate/gpu")
        pool = client.read_work_pool("gpu")
    assert [schedule.schedule.cron for schedule in finetune.schedules] == ["0 3 * * 1"]
    assert finetune.work_pool_name == "cpu" and gpu.work_pool_name == "gpu"
    assert gpu.global_concurrency_limit.limit == 1 and pool.concurrency_limit == 1
    assert finetune.global_concurrency_limit.limit == 1
    assert finetune.concurrency_options.collision_strategy == "ENQUEUE"
    assert finetune.parameters == {"config": {"train_deployment": "train-evaluate/gpu"}}
    schema = finetune.parameter_openapi_schema
    fields = schema["definitions"]["FinetuneConfig"]["properties"]
    assert set(fields) == set(FinetuneConfig.model_fields)
    for name in ("epochs", "learning_rate", "train_deployment", "hub_model_id"):
        assert fields[name]["description"] == FinetuneConfig.model_fields[name].description
    assert fields["epochs"]["default"] == 1.0 and fields["batch_size"]["default"] == 16


def test_a_wrong_parameter_type_is_refused_naming_the_field(server):
    refused = server.run(*PREFECT, "deployment", "run", "finetune/finetune", "--param", 'config={"epochs": "many"}')
    assert refused.returncode != 0
    assert "Validation failed for field 'config.epochs'" in " ".join((refused.stdout + refused.stderr).split())


def test_a_dataset_updated_event_starts_a_retraining_run(server):
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName, FlowRunFilter

    paused = server.run(*PREFECT, "work-pool", "pause", "cpu")  # the run is only looked at, not run
    assert paused.returncode == 0, paused.stderr
    try:
        emitted = server.run(
            *PREFECT, "event", "emit", "dataset.updated", "--resource-id", "finetune.dataset.conll2003"
        )
        assert emitted.returncode == 0, emitted.stderr
        with client_for(server) as client:

            def automation_runs():
                runs = client.read_flow_runs(
                    deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["finetune"])),
                    flow_run_filter=FlowRunFilter(state={"type": {"any_": ["SCHEDULED"]}}),
                )
                return [run for run in runs if run.created_by and run.created_by.type == "AUTOMATION"]

            wait_for(automation_runs, 60, "a run started by the dataset.updated trigger")
            triggered = automation_runs()
            assert len(triggered) == 1
            assert triggered[0].parameters == {"config": {"train_deployment": "train-evaluate/gpu"}}
            client.delete_flow_run(triggered[0].id)
    finally:
        server.run(*PREFECT, "work-pool", "resume", "cpu")


def test_a_missing_deployment_is_named(server, tiny_model, conll_sample, tmp_path):
    failed = server.run(
        sys.executable, "-m", "flows.finetune", "--model", str(tiny_model), "--dataset", str(conll_sample),
        "--artifacts-dir", str(tmp_path), "--train-deployment", "train-evaluate/nowhere",
    )  # fmt: skip
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines()[-1] == (
        f"error: no deployment train-evaluate/nowhere on {server.api_url}: deploy it with deployments/deploy.sh, "
        "or leave train_deployment unset to train in this process"
    )
    assert (tmp_path / "tokenized").is_dir()  # what ran before the dispatch is kept


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {seconds} s"
        time.sleep(0.2)


def crash_orphaned_child(server: PrefectServer):
    """Mark the killed worker's run Crashed, as an operator or Prefect's zombie detection does (which frees
    its deployment concurrency slot), and return its parent once the parent has ended."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName, FlowRunFilter
    from prefect.states import Crashed

    with client_for(server) as client:
        [orphan] = client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["gpu"])),
            flow_run_filter=FlowRunFilter(state={"type": {"any_": ["RUNNING"]}}),
        )
        client.set_flow_run_state(orphan.id, Crashed(message="worker killed"), force=True)
        parent_id = client.read_task_run(orphan.parent_task_run_id).flow_run_id
        wait_for(lambda: client.read_flow_run(parent_id).state.is_final(), 30, "the parent run's end")
        return client.read_flow_run(parent_id)


def test_a_worker_killed_while_training_leaves_the_run_resumable(server, tiny_model, conll_sample, tmp_path):
    artifacts = tmp_path / "artifacts"
    parameters = run_parameters(tiny_model, conll_sample, artifacts, engine="accelerate", epochs=40)
    run_finetune(server, parameters, watch=False)
    checkpoints = artifacts / "checkpoints"
    wait_for(lambda: any(checkpoints.glob("*/epoch-*/progress.json")), 150, "a complete epoch checkpoint")
    server.processes.kill(server.workers["gpu"])
    done = max(int(path.parent.name.split("-")[1]) for path in checkpoints.glob("*/epoch-*/progress.json"))
    assert done < 40 and not any(is_complete(path) for path in (artifacts / "model").iterdir())
    parent = crash_orphaned_child(server)
    assert parent.state.is_failed()
    assert "ended Crashed" in parent.state.message and "run again with resume" in parent.state.message
    server.workers["gpu"] = start_worker(server, "gpu", "worker-gpu-restarted")
    run_finetune(server, {"config": {**parameters["config"], "resume": True}})
    log = (server.processes.logs / "worker-gpu-restarted.log").read_text()
    assert re.search(r"Resuming from \S+/epoch-(\d+)", log).group(1) == str(done)
    [model] = [path for path in (artifacts / "model").iterdir() if is_complete(path)]
    assert not checkpoints.exists()
    history = json.loads((model / "training_history.json").read_text())
    assert [entry["epoch"] for entry in history if "eval_f1" in entry] == [float(epoch) for epoch in range(1, 41)]
