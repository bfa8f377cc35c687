"""The retention flow, and its command line: ``python -m flows.prune --keep N [--apply]``.

It lists what an artifacts directory no longer needs (`tasks.storage.retention`) with the bytes it would free, and
with ``--apply`` removes it: a dry run by default.
"""

import sys
from pathlib import Path

from prefect import flow, get_run_logger, runtime
from pydantic import BaseModel, Field

from tasks.config.command_line import options_parser, parse_options
from tasks.config.sections import ConfigSection
from tasks.errors import PipelineError
from tasks.storage.bucket_retention import apply_bucket_plan, plan_bucket_removal
from tasks.storage.buckets import ArtifactsLocation, is_remote
from tasks.storage.retention import Plan, apply_plan, plan_removal


class PruneConfig(ConfigSection):
    artifacts_dir: ArtifactsLocation = Field(
        Path("artifacts"),
        description="The artifacts directory to prune: on disk, or a bucket's URL (with this "
        "machine's staged copies of it).",
    )
    keep: int = Field(
        5,
        ge=0,
        description="Releases to keep per model name besides the published one, the latest first, with "
        "the step artifacts each was made from.",
    )
    min_age_hours: float = Field(
        24,
        ge=0,
        description="Never remove what was made or reused within this many hours: a run in progress may be using it.",
    )
    apply: bool = Field(False, description="Remove what is listed; without it, only list it and the bytes it holds.")


class PruneSummary(BaseModel):
    flow_run_id: str
    plan: Plan
    removed: list[str]
    seconds: float

    def describe(self, applied: bool) -> str:
        plan = self.plan
        lines = [
            f"{'Removed' if applied else 'Would remove'} {len(plan.remove)} directories, "
            f"{plan.freed_bytes / 1e6:.1f} MB; kept {len(plan.kept_releases)} releases and what they were made from"
        ]
        lines += [f"  {removal.path}: {removal.why}" for removal in plan.remove[:50]]
        lines += [f"  ... and {len(plan.remove) - 50} more"] if len(plan.remove) > 50 else []
        lines += [
            f"Left: {len(plan.held)} in use by a running flow, {len(plan.young)} made or reused within min_age_hours"
        ]
        lines += [] if applied else ["Nothing was removed: pass --apply to remove it."]
        return "\n".join(lines)


@flow(name="prune")
def prune(config: PruneConfig = PruneConfig()) -> PruneSummary:
    """Remove (with ``apply``) what the artifacts directory no longer needs: releases beyond the last ``keep``
    per model name and the published one, the step artifacts no kept release was made from, old checkpoints,
    Hub downloads and partial directories."""
    import time

    started = time.perf_counter()
    root, plan = _plan(config)
    logger = get_run_logger()
    logger.info(
        f"Prune {root}: {len(plan.remove)} to remove ({plan.freed_bytes / 1e6:.1f} MB), "
        f"{len(plan.kept_releases)} releases kept, {len(plan.held)} in use, {len(plan.young)} too young."
    )
    removed = (apply_bucket_plan if is_remote(root) else apply_plan)(root, plan) if config.apply else []
    if config.apply:
        logger.info(f"Removed {len(removed)} directories.")
    return PruneSummary(
        flow_run_id=str(runtime.flow_run.id),
        plan=plan,
        removed=removed,
        seconds=round(time.perf_counter() - started, 2),
    )


def _plan(config: PruneConfig) -> tuple[Path | str, Plan]:
    """The artifacts directory, resolved, and what to remove from it."""
    min_age_seconds = config.min_age_hours * 3600
    if is_remote(config.artifacts_dir):
        return config.artifacts_dir, plan_bucket_removal(config.artifacts_dir, config.keep, min_age_seconds)
    if not config.artifacts_dir.is_dir():
        raise PipelineError(f"no artifacts directory at {config.artifacts_dir}")
    root = config.artifacts_dir.resolve()
    return root, plan_removal(root, config.keep, min_age_seconds)


def parse_command_line(argv: list[str] | None = None) -> tuple[PruneConfig, Path | None]:
    parser = options_parser(
        "python -m flows.prune",
        "List what an artifacts directory no longer needs and the bytes it holds; with --apply, remove it.",
        {"prune": PruneConfig},
    )
    return parse_options(argv, parser, PruneConfig)


def main(argv: list[str] | None = None, server=None) -> int:
    from flows.cli import run_command_line

    return run_command_line(
        argv, server, parse_command_line, prune, lambda config, summary: summary.describe(config.apply)
    )


if __name__ == "__main__":
    sys.exit(main())
