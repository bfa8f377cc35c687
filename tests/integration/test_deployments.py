"""The deployments of deployments/prefect.yaml on a real local Prefect server, with a worker per pool:
the schedule, the event trigger, the concurrency limit and the parameter form are what the server
holds. Deployed runs themselves, on both pools, are the retraining soak's (test_retraining_soak.py)."""

import sys

import pytest

from flows.prune import PruneConfig
from prefect_server import PREFECT, PrefectServer, wait_for
from tasks.config import FinetuneConfig
from tasks.prediction_config import PredictConfig
from tasks.sweep import SweepConfig

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with PrefectServer(tmp_path_factory.mktemp("prefect-server")) as server:
        deployed = server.run("deployments/deploy.sh")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        yield server  # no workers: the runs these tests start are only looked at


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


def test_a_dataset_updated_event_starts_a_retraining_run(server):
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName, FlowRunFilter

    emitted = server.run(*PREFECT, "event", "emit", "dataset.updated", "--resource-id", "finetune.dataset.conll2003")
    assert emitted.returncode == 0, emitted.stderr
    with server.client() as client:

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
