"""The sweep flow, and its command line: ``python -m flows.sweep --config sweep.yaml``.

Its body: preflight, load once; run each trial (tokenize, then train and evaluate as a subflow here, or a run of
the train deployment on the GPU pool), ``parallel`` at once, asking Optuna for each trial's values; write the
report; then the finetune flow runs with the winner's settings (by the validation metric, the base's --metric):
it reuses the winning trial's artifacts and goes on through check, gate, card and push as any run does.
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

from flows.cli import format_summary, run_command_line
from flows.finetune import finetune
from flows.preflight import Run, check_metric_labels, preflight, train_evaluate_request
from flows.publish import RunSummary
from flows.temporary_server import TemporaryServer
from flows.train import TrainEvaluateResult, run_train_evaluate
from tasks.config.sections import DataConfig, TokenizationConfig
from tasks.errors import PipelineError, first_line
from tasks.profiles import profile_of
from tasks.reports.card_facts import Selection
from tasks.reports.plots import data_url, sweep_scatter
from tasks.scores.run_metric import metric_title, metric_value, scored_names
from tasks.steps.load import load
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
    """A trial's result, and the steps behind it."""

    result: TrialResult
    tokenized: StepReport | None = None
    trained: TrainEvaluateResult | None = None


class Start(BaseModel):
    """What every trial starts from: the run's store and model, and the loaded data."""

    run: Run
    loaded: StepReport


class SweepSummary(BaseModel):
    flow_run_id: str
    report_dir: str
    seconds: float
    trials: list[TrialResult]
    winner: TrialResult | None
    most_influential: str | None
    run: RunSummary | None  # the winner's check, gate, card and push


@task(name="trial", cache_policy=NO_CACHE)
def run_trial(number: int, params: dict[str, Any], config: SweepConfig, start: Start) -> TrialRun:
    """One trial: tokenize (cached unless it varies a tokenization option), train and evaluate."""
    started = time.perf_counter()
    trial = trial_config(config.base, params)
    # Trials at once in this process must each train in a process of their own (see TrainEvaluateRequest).
    isolated = config.parallel > 1 and not trial.train_deployment
    try:
        run, loaded = start.run, start.loaded
        tokenized = tokenize(loaded.path, run.model, trial.section(TokenizationConfig), trial.task, store=run.store)
        request = train_evaluate_request(trial, run, loaded, tokenized).model_copy(update={"isolated": isolated})
        trained = run_train_evaluate(trial.train_deployment, request)
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


def run_trials(config: SweepConfig, start: Start):
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
                    {"number": trial.number, "params": suggest(trial, config.search), "config": config, "start": start},
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


def report(config: SweepConfig, run: Run, trials: list[TrialResult], influential: str, seconds: float) -> Path:
    """Write the sweep's report on this machine, show it in the Prefect UI, and copy it beside the artifacts when
    they are in a bucket (where the other machines and people look); return its folder on this machine."""
    report_dir = run.store.local_root() / SWEEPS / config.key()
    write_report(config, report_dir, trials, influential, seconds)
    names = scored_names(profile_of(config.base.task).metrics, config.base.metric)
    create_table_artifact(key="sweep-trials", table=report_rows(trials, names), description="Every trial of the sweep")
    create_image_artifact(
        image_url=data_url((report_dir / SWEEP_PLOT).read_bytes()),
        key="sweep-plot",
        description=f"Validation {metric_title(config.base.metric)} of the trials against the most influential option",
    )
    if is_remote(run.store.root):
        put_files(report_dir, location(run.store.root, SWEEPS, config.key()), [SWEEP_REPORT, SWEEP_PLOT])
    return report_dir


def best_trial(trials: list[TrialResult], report_dir: Path) -> TrialResult:
    """The trial with the best validation metric; a user error when every trial failed."""
    best = winner(trials)
    if best is None:
        raise PipelineError(
            f"all {len(trials)} trials failed (the first: {trials[0].error}); report: {report_dir / SWEEP_REPORT}"
        )
    get_run_logger().info(
        f"Trial {best.number} {best.params} has the best validation {metric_title(best.metric)}, {best.objective:.4f}."
    )
    return best


def selection_of(config: SweepConfig, trials: list[TrialResult], report_dir: Path) -> Selection:
    """How the winner was chosen, for its card (which ships the report)."""
    return Selection(
        strategy=config.strategy,
        trials=len(trials),
        completed=sum(trial.state == "completed" for trial in trials),
        report_dir=str(report_dir),
        report_files=[SWEEP_REPORT, SWEEP_PLOT],
    )


@flow(name="sweep")
def sweep(config: SweepConfig) -> SweepSummary:
    """Search hyper-parameters over cached trials; publish the best by the validation metric as a run would: the
    finetune flow runs with the winner's settings, and reuses the winning trial's artifacts."""
    started, base = time.perf_counter(), config.base
    run = preflight(base)
    loaded = load(run.source, base.section(DataConfig), base.task, store=run.store)
    check_metric_labels(base, loaded)
    runs, study = run_trials(config, Start(run=run, loaded=loaded))
    trials, influential = [trial.result for trial in runs], most_influential(study, config.search)
    report_dir = report(config, run, trials, influential, round(time.perf_counter() - started, 1))
    best = best_trial(trials, report_dir)
    # The winning trial trained and evaluated already: the finetune flow reuses both steps here, in this process,
    # rather than holding a GPU worker for a run that only finds them.
    winning = trial_config(base, best.params).model_copy(update={"train_deployment": None})
    published = finetune(winning, selection_of(config, trials, report_dir))
    return SweepSummary(
        flow_run_id=str(runtime.flow_run.id),
        report_dir=str(location(run.store.root, SWEEPS, config.key())),
        seconds=round(time.perf_counter() - started, 1),
        trials=trials,
        winner=best,
        most_influential=influential,
        run=published,
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
