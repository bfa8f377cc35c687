"""deploy.sh's automation, saved on a Prefect test server and read back: what marks a lost run Crashed.
(The soak's season shows it at work: a run whose worker and server were killed is marked Crashed.)"""

from datetime import timedelta

from flows.result_storage import DEPLOYMENT_TAG
from flows.unresponsive_runs import AUTOMATION_NAME, save, unresponsive_runs_automation


def test_saving_again_replaces_the_automation_with_the_new_heartbeat(prefect_server):
    from prefect import get_client

    assert save(unresponsive_runs_automation(heartbeat=30)) == "created"
    assert save(unresponsive_runs_automation(heartbeat=60)) == "replaced"
    with get_client(sync_client=True) as client:
        [stored] = client.read_automations_by_name(AUTOMATION_NAME)
    trigger, [action] = stored.trigger, stored.actions
    assert trigger.posture == "Proactive" and trigger.within == timedelta(seconds=180)
    assert trigger.after == {"prefect.flow-run.heartbeat"}
    assert {"prefect.flow-run.heartbeat", "prefect.flow-run.Completed", "prefect.flow-run.Crashed"} <= trigger.expect
    assert trigger.match_related.model_dump() == {"prefect.resource.id": f"prefect.tag.{DEPLOYMENT_TAG}"}
    assert trigger.for_each == {"prefect.resource.id"}, "each run on its own"
    assert action.state == "CRASHED" and action.message.startswith("no heartbeat for 180 s")
