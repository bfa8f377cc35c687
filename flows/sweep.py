"""The sweep flow, and its command line: ``python -m flows.sweep --config sweep.yaml``.

Load and tokenize once; run each trial as a train-evaluate run (a subflow here, or a run of the train
deployment on the GPU pool), ``parallel`` at once, asking Optuna for each trial's values; write the
report; then the winner by the validation metric (the base's --metric) goes through check, card, gate and push
as any run does.
Trials are cached like any step, so a re-run, or a widened sweep, re-uses the trials already done.
"""
# The command line is checked before the imports that take seconds, hence imports below code.

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m flows.sweep",
        description="Search hyper-parameters: run trials of the finetune pipeline (cached like any run), pick the "
        "best by the validation metric (the base options' metric), and publish it through check, card and quality "
        "gate as a run would.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        required=True,
        help="Sweep file (YAML): base (finetune options, as in a run's --config), strategy (grid, random, tpe), "
        "search (option: [values] or {low, high, log}), trials, parallel, seed.",
    )
    parser.add_argument(
        "--summary-json", type=Path, help="Also write the sweep's summary (trials, winner) to this file."
    )
    return parser


def parse_command_line(argv: list[str] | None):
    from tasks.sweep import load_sweep_file

    options = build_parser().parse_args(argv)
    return load_sweep_file(options.config), options.summary_json


if __name__ == "__main__":
    from tasks.errors import PipelineError

    try:
        parse_command_line(sys.argv[1:])
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    from flows.temporary_server import TemporaryServer, without_telemetry

    without_telemetry()
    TEMPORARY_SERVER = TemporaryServer.start_unless_configured()

import time
from typing import Any

from prefect import flow, get_run_logger, runtime, task
from prefect.artifacts import create_image_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import BaseModel

from flows.after_training import RunSummary, after_training
from flows.cli import format_summary, run_command_line
from flows.finetune import run_train_evaluate
from flows.prepare import Prepared, prepare, train_evaluate_request
from flows.temporary_server import TemporaryServer
from flows.train import TrainEvaluateResult
from tasks.config.sections import TokenizationConfig
from tasks.errors import PipelineError, first_line
from tasks.profiles import profile_of
from tasks.reports.model_card import Selection
from tasks.reports.plots import data_url, sweep_scatter
from tasks.scores.run_metric import metric_title, metric_value, scored_names
from tasks.steps.tokenize import tokenize
from tasks.storage.artifacts import location, read_artifact_json
from tasks.storage.buckets import is_remote, put_files
from tasks.storage.catalog import METRICS, SWEEP_PLOT, SWEEP_REPORT, SWEEPS
from tasks.storage.files import replace_json
from tasks.storage.step import StepReport
from tasks.sweep import (
    SweepConfig,
    TrialResult,
    most_influential,
    new_study,
    report_rows,
    suggest,
    trial_config,
    winner,
)


class TrialRun(BaseModel):
    """A trial's result, and the steps behind it (for the winner's run summary)."""

    result: TrialResult
    tokenized: StepReport | None = None
    trained: TrainEvaluateResult | None = None


class SweepSummary(BaseModel):
    flow_run_id: str
    report_dir: str
    seconds: float
    trials: list[TrialResult]
    winner: TrialResult | None
    most_influential: str | None
    run: RunSummary | None  # the winner's check, gate, card and push


@task(name="trial", cache_policy=NO_CACHE)
def run_trial(number: int, params: dict[str, Any], config: SweepConfig, prepared: Prepared) -> TrialRun:
    """One trial: tokenize (cached unless it varies a tokenization option), train and evaluate."""
    started = time.perf_counter()
    trial = trial_config(config.base, params)
    # Trials at once in this process must each train in a process of their own (see TrainEvaluateRequest).
    isolated = config.parallel > 1 and not trial.train_deployment
    try:
        tokenized = tokenize(
            prepared.loaded.path, prepared.model, trial.section(TokenizationConfig), trial.task, store=prepared.store
        )
        request = train_evaluate_request(trial, prepared, tokenized.path).model_copy(update={"isolated": isolated})
        trained = run_train_evaluate(trial, request)
    except Exception as error:  # a failed trial is recorded, and the sweep goes on
        get_run_logger().warning(f"Trial {number} {params} failed: {first_line(error)}")
        seconds = round(time.perf_counter() - started, 1)
        return TrialRun(
            result=TrialResult(number=number, params=params, state="failed", seconds=seconds, error=first_line(error))
        )
    metrics, names = (
        read_artifact_json(trained.evaluation_dir, METRICS),
        scored_names(profile_of(trial.task).metrics, trial.metric),
    )
    result = TrialResult(
        number=number,
        params=params,
        state="completed",
        metric=trial.metric,
        validation={name: metric_value(metrics["validation"], name) for name in names},
        test={name: metric_value(metrics["test"], name) for name in names} if "test" in metrics else None,
        seconds=round(time.perf_counter() - started, 1),
        cached=all(step.cached for step in [tokenized, *trained.steps]),
        model_dir=trained.model_dir,
        evaluation_dir=trained.evaluation_dir,
    )
    get_run_logger().info(
        f"Trial {number} {params}: validation {metric_title(trial.metric)} {result.objective:.4f}"
        + (" (cached)" if result.cached else "")
    )
    return TrialRun(result=result, tokenized=tokenized, trained=trained)


def run_trials(config: SweepConfig, prepared: Prepared):
    """Every trial, ``parallel`` at once: Optuna is asked for a batch of values, told their validation metric,
    asked again. Returns the runs in trial order and the study."""
    from optuna.trial import TrialState

    study = new_study(config)
    runs: list[TrialRun] = []
    planned = config.planned_trials()
    with ThreadPoolTaskRunner(max_workers=config.parallel) as runner:
        while len(runs) < planned:
            asked = [study.ask() for _ in range(min(config.parallel, planned - len(runs)))]
            futures = [
                runner.submit(
                    run_trial,
                    {
                        "number": trial.number,
                        "params": suggest(trial, config.search),
                        "config": config,
                        "prepared": prepared,
                    },
                )
                for trial in asked
            ]
            for trial, future in zip(asked, futures):
                run = future.result()
                completed = run.result.state == "completed"
                study.tell(
                    trial, run.result.objective if completed else None, state=None if completed else TrialState.FAIL
                )
                runs.append(run)
    return runs, study


def write_report(
    config: SweepConfig, report_dir: Path, trials: list[TrialResult], influential: str, seconds: float
) -> None:
    """sweep.json (the sweep, every trial, the winner) and sweep.png (the validation metric against the most
    influential option), each replaced whole."""
    best = winner(trials)
    report_dir.mkdir(parents=True, exist_ok=True)
    replace_json(
        report_dir / SWEEP_REPORT,
        {
            "strategy": config.strategy,
            "search": config.model_dump(mode="json")["search"],
            "seed": config.seed,
            "objective": f"validation {config.base.metric}",
            "seconds": seconds,
            "most_influential": influential,
            "trials": [trial.model_dump(mode="json") for trial in trials],
            "winner": best.model_dump(mode="json") if best else None,
        },
    )
    points = [(trial.params[influential], trial.objective) for trial in trials if trial.state == "completed"]
    space = config.search[influential]
    scale = "listed" if isinstance(space, list) else "log" if space.log else "linear"
    partial = report_dir / f".{SWEEP_PLOT}.partial.png"
    chosen = best and (best.params[influential], best.objective)
    sweep_scatter(points, chosen, influential, scale, partial, metric_title(config.base.metric))
    partial.replace(report_dir / SWEEP_PLOT)


def _publish_report(config: SweepConfig, trials: list[TrialResult], report_dir: Path) -> None:
    names = scored_names(profile_of(config.base.task).metrics, config.base.metric)
    create_table_artifact(key="sweep-trials", table=report_rows(trials, names), description="Every trial of the sweep")
    create_image_artifact(
        image_url=data_url((report_dir / SWEEP_PLOT).read_bytes()),
        key="sweep-plot",
        description=f"Validation {metric_title(config.base.metric)} of the trials against the most influential option",
    )


@flow(name="sweep")
def sweep(config: SweepConfig) -> SweepSummary:
    """Search hyper-parameters over cached trials; publish the best by the validation metric as a run would."""
    started = time.perf_counter()
    prepared = prepare(config.base)
    runs, study = run_trials(config, prepared)
    trials = [run.result for run in runs]
    influential = most_influential(study, config.search)
    report_dir = prepared.store.local_root() / SWEEPS / config.key()
    write_report(config, report_dir, trials, influential, round(time.perf_counter() - started, 1))
    _publish_report(config, trials, report_dir)
    shared_report = location(prepared.store.root, SWEEPS, config.key())
    if is_remote(shared_report):  # where the other machines and people look, beside the artifacts
        put_files(report_dir, shared_report, [SWEEP_REPORT, SWEEP_PLOT])
    best = winner(trials)
    if best is None:
        raise PipelineError(
            f"all {len(trials)} trials failed (the first: {trials[0].error}); report: {report_dir / SWEEP_REPORT}"
        )
    chosen = runs[trials.index(best)]
    get_run_logger().info(
        f"Trial {best.number} {best.params} has the best validation {metric_title(best.metric)}, {best.objective:.4f}."
    )
    selection = Selection(
        strategy=config.strategy,
        trials=len(trials),
        completed=sum(t.state == "completed" for t in trials),
        report_dir=str(report_dir),
        report_files=[SWEEP_REPORT, SWEEP_PLOT],
    )
    winning = trial_config(config.base, best.params)
    run = after_training(
        winning, prepared.model_copy(update={"tokenized": chosen.tokenized}), chosen.trained, selection
    )
    return SweepSummary(
        flow_run_id=str(runtime.flow_run.id),
        report_dir=str(shared_report),
        seconds=round(time.perf_counter() - started, 1),
        trials=trials,
        winner=best,
        most_influential=influential,
        run=run,
    )


def format_sweep(config: SweepConfig, summary: SweepSummary) -> str:
    lines = [
        f"Sweep:    {config.strategy}, {len(summary.trials)} trials, {summary.seconds:.1f} s; report {summary.report_dir}"
    ]
    for trial in summary.trials:
        how = "failed: " + (trial.error or "") if trial.state == "failed" else "cached" if trial.cached else "ran"
        score = f"validation {metric_title(trial.metric)} {trial.objective:.4f}" if trial.objective is not None else ""
        lines.append(f"  trial {trial.number:<3} {trial.params}  {score}  {trial.seconds:.1f} s  {how}")
    lines.append(f"Winner:   trial {summary.winner.number} {summary.winner.params}")
    return "\n".join(lines) + "\n" + format_summary(config.base.task, summary.run)


def main(argv: list[str] | None = None, server: TemporaryServer | None = None) -> int:
    """The command line of the sweep flow (see `flows.cli.run_command_line`)."""
    return run_command_line(argv, server, parse_command_line, sweep, format_sweep)


if __name__ == "__main__":
    sys.exit(main(server=TEMPORARY_SERVER))
