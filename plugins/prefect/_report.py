"""A markdown artifact on the Prefect flow run: threadline's run and its outputs.

So that a user looking at a flow run in Prefect's UI can jump to threadline: the run
uid (``threadline describe``/``tl.Run.get(uid=...)``) and each output artifact of the
flow and of every task and subflow under it, with key, version and hash prefix.
"""

import re
from typing import Any

from threadline import adapters

from ._registry import GUARD

MAX_ROWS = 200


def outputs_of(run: Any) -> list[Any]:
    """The outputs of the flow run and every run under it, each with its run loaded in
    the same query (the table shows its uid)."""
    return adapters.outputs_of([run], limit=MAX_ROWS + 1, below=True)


def markdown(run: Any, outputs: list[Any]) -> str:
    lines = [
        "## threadline",
        "",
        f"Run `{run.uid}` of flow `{run.transform.key}` (transform version "
        f"{run.transform.version}), status **{run.status}**.",
        "",
        f'In Python: `tl.Run.get(uid="{run.uid}")`.',
        "",
    ]
    if not outputs:
        return "\n".join([*lines, "No output artifacts."])
    lines += ["| key | version | hash | run |", "|---|---|---|---|"]
    for artifact in outputs[:MAX_ROWS]:
        key = artifact.key or f"(no key, uid {artifact.uid})"
        lines.append(
            f"| `{key}` | {artifact.version} | `{artifact.hash[:12]}` | `{artifact.run.uid}` |"
        )
    if len(outputs) > MAX_ROWS:
        lines.append(f"\n(first {MAX_ROWS} outputs shown)")
    return "\n".join(lines)


def artifact_key(flow_name: str) -> str:
    """Prefect artifact keys are lowercase letters, digits and dashes."""
    slug = re.sub(r"[^a-z0-9]+", "-", flow_name.lower()).strip("-")
    return f"threadline-{slug or 'flow'}"


@GUARD("the threadline artifact of a Prefect flow run")
def publish(run: Any, flow: Any, flow_run: Any) -> None:
    """Attach the markdown to the flow run, through a client of our own that we close
    (also from an async flow, where Prefect's sync helper would leave a socket open)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import ArtifactCreate

    request = ArtifactCreate(
        type="markdown",
        key=artifact_key(flow.name),
        description=f"threadline run {run.uid}",
        flow_run_id=flow_run.id,
        data=markdown(run, outputs_of(run)),
    )
    with get_client(sync_client=True) as client:
        client.create_artifact(artifact=request)
