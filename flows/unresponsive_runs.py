"""Mark runs that stopped answering as Crashed: ``python -m flows.unresponsive_runs`` (deployments/deploy.sh runs it).

A deployed run whose process died without a word (its worker's machine lost, the server down while it
trained) stays Running on the server, and a Running finetune run holds the deployment's one slot: the
next scheduled run would wait behind it for ever. Every deployed run sends a heartbeat event every
PREFECT_FLOWS_HEARTBEAT_FREQUENCY seconds (Prefect's default: 180); this saves an automation on the
server that marks a run of a ``finetune`` deployment Crashed when three heartbeats in a row do not come,
which frees its slot. The next run then takes every finished step from the artifacts and, with
``resume``, trains on from the last complete checkpoint.
"""

import sys
from datetime import timedelta

from flows.result_storage import DEPLOYMENT_TAG

AUTOMATION_NAME = "finetune: crash unresponsive runs"
MISSED_HEARTBEATS = 3
ENDED = ("Completed", "Failed", "Cancelled", "Crashed")


def heartbeat_seconds() -> int:
    """How often the runs send heartbeats, as the workers' environment sets it (this one's, as deploy.sh runs)."""
    from prefect.settings import get_current_settings

    seconds = get_current_settings().flows.heartbeat_frequency
    if seconds is None:
        raise SystemExit("error: PREFECT_FLOWS_HEARTBEAT_FREQUENCY is unset: runs send no heartbeats to miss")
    return seconds


def unresponsive_runs_automation(heartbeat: int):
    """The automation: after a heartbeat of a run of a ``finetune`` deployment, expect another heartbeat or
    the run's end within ``MISSED_HEARTBEATS`` heartbeats; if neither comes, set the run Crashed."""
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    heartbeat_event = "prefect.flow-run.heartbeat"
    return Automation(
        name=AUTOMATION_NAME,
        description=f"A run of a {DEPLOYMENT_TAG} deployment that misses {MISSED_HEARTBEATS} heartbeats "
        "is marked Crashed, which frees its concurrency slot (flows/unresponsive_runs.py).",
        trigger=EventTrigger(
            after={heartbeat_event},
            expect={heartbeat_event, *(f"prefect.flow-run.{state}" for state in ENDED)},
            match=ResourceSpecification({"prefect.resource.id": "prefect.flow-run.*"}),
            match_related=ResourceSpecification({"prefect.resource.id": f"prefect.tag.{DEPLOYMENT_TAG}"}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=MISSED_HEARTBEATS * heartbeat),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=f"no heartbeat for {MISSED_HEARTBEATS * heartbeat} s: its process was lost "
                "(flows/unresponsive_runs.py)",
            )
        ],
    )


def save(automation) -> str:
    """Create the automation, replacing one of the same name (deploy.sh may run again); return 'created' or
    'replaced'."""
    from prefect.automations import Automation

    try:
        earlier = Automation.read(name=automation.name)
    except ValueError:  # Prefect's answer for no automation of that name
        automation.create()
        return "created"
    automation.id = earlier.id
    automation.update()
    return "replaced"


def main(argv: list[str]) -> int:
    if argv:
        print(__doc__.split("\n")[0], file=sys.stderr)
        return 2
    heartbeat = heartbeat_seconds()
    done = save(unresponsive_runs_automation(heartbeat))
    print(
        f"Automation {AUTOMATION_NAME!r} {done}: a run that sends no heartbeat for {MISSED_HEARTBEATS * heartbeat} s is marked Crashed."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
