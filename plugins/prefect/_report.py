"""A markdown artifact on the Prefect flow run: threadline's run and its outputs.

So that a user looking at a flow run in Prefect's UI can jump to threadline: the run
uid (``threadline describe``/``tl.Run.get(uid=...)``) and each output artifact of the
flow and of every task and subflow under it, with key, version and hash prefix.

The markdown is built when the flow run ends and sent by one thread per process, so the
flow call does not wait for the API's answer (20-25 ms of a flow run here), as Prefect
ships its own logs; what is queued is sent before the process exits (``wait``).
"""

import atexit
import contextlib
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
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


WHERE = "the threadline artifact of a Prefect flow run"


@GUARD(WHERE)
def publish(run: Any, flow: Any, flow_run: Any) -> None:
    """Queue the markdown for the flow run (built here: it reads the run's outputs); this
    process's sender thread attaches it."""
    from prefect.client.schemas.actions import ArtifactCreate
    from prefect.context import get_settings_context

    request = ArtifactCreate(
        type="markdown",
        key=artifact_key(flow.name),
        description=f"threadline run {run.uid}",
        flow_run_id=flow_run.id,
        data=markdown(run, outputs_of(run)),
    )
    # with the flow's Prefect settings (the API's address), not its other context
    _sender().submit(_send, request, get_settings_context().model_copy())


def wait() -> None:
    """Wait until every markdown queued so far in this process is sent (or its failure
    logged): the sender has one thread, so a job queued now runs after them."""
    sender = _senders.get(os.getpid())
    if sender is not None:
        sender.submit(lambda: None).result()


def _send(request: Any, settings: Any) -> None:
    """Through a client of our own that we close at exit (also from an async flow, where
    Prefect's sync helper would leave a socket open)."""
    with GUARD(WHERE), settings, _lock:
        client = _client()
        try:
            client.create_artifact(artifact=request)
        except BaseException:
            _close()  # a broken client is opened again for the next flow run
            raise


_senders: dict[int, ThreadPoolExecutor] = {}  # the process -> its sender (none in a fork)


def _sender() -> ThreadPoolExecutor:
    """This process's sender: one thread, whose queue the interpreter empties at exit
    before ``atexit`` closes the client."""
    pid = os.getpid()
    if pid not in _senders:
        _senders.clear()  # a forked child's copy of its parent's has no thread
        _senders[pid] = ThreadPoolExecutor(1, thread_name_prefix="threadline-prefect-report")
    return _senders[pid]


_lock = threading.Lock()
_open: dict[str, Any] = {}  # the API url and the process -> its client, kept open


def _client() -> Any:
    """A sync client of our own, opened once per process and API (making one costs more
    than the request: ~25 ms of CPU per flow run), closed at exit."""
    import prefect.settings
    from prefect.client.orchestration import get_client

    key = f"{os.getpid()} {prefect.settings.PREFECT_API_URL.value()}"
    if key not in _open:
        _close()
        client = get_client(sync_client=True)
        client.__enter__()
        _open[key] = client
    return _open[key]


def _close() -> None:
    """Close this process's client (a forked child only forgets its parent's)."""
    for key, client in _open.items():
        if key.startswith(f"{os.getpid()} "):
            with contextlib.suppress(Exception):
                client.__exit__(None, None, None)
    _open.clear()


atexit.register(_close)
