"""A stand-in for the ``nextflow`` executable, for tests of ``threadline nextflow run``.

It does what Nextflow 23.04.2 does for the two-process hello pipeline of the real weblog
capture: reads the ``-c`` config threadline wrote, writes the task work dirs (staged inputs
as symlinks, ``.command.run``, ``.exitcode``, outputs), appends to ``.nextflow/history``,
writes the trace file with the configured fields in raw format, and posts the captured
weblog events (re-rooted to this launch dir and renamed) with the configured basic auth.
``FAKE_NEXTFLOW_EXIT`` sets its exit status, ``FAKE_NEXTFLOW_CAPTURE`` the capture file.
"""

import base64
import json
import os
import re
import sys
import urllib.request
from pathlib import Path

CAPTURE = Path(
    os.environ.get("FAKE_NEXTFLOW_CAPTURE")
    or (
        Path(__file__).resolve().parent
        / "fixtures"
        / "weblog"
        / "nf-executor_nf23.04.2_mock_hello_full_run.json"
    )
)


def setting(config: str, name: str) -> str | None:
    match = re.search(rf"\b{name} = '([^']*)'", config)
    return match[1] if match else None


def rerooted(event: dict, name: str, launch: Path) -> dict:
    event = json.loads(json.dumps(event))
    event["runName"] = name
    trace = event.get("trace")
    if trace and trace.get("workdir"):
        trace["workdir"] = str(launch / "work" / trace["workdir"].split("/work/")[1])
    return event


def work_dirs(completed: list[dict]) -> None:
    split = next(t for t in completed if t["process"] == "SPLITLETTERS")
    split_dir = Path(split["workdir"])
    split_dir.mkdir(parents=True, exist_ok=True)
    for chunk, text in (("chunk_aa", "Hello "), ("chunk_ab", "world!")):
        (split_dir / chunk).write_text(text)
    (split_dir / ".exitcode").write_text("0")
    uppers = [t for t in completed if t["process"] == "CONVERTTOUPPER"]
    for trace, chunk in zip(uppers, ("chunk_aa", "chunk_ab"), strict=True):
        folder = Path(trace["workdir"])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / chunk).symlink_to(split_dir / chunk)
        (folder / ".command.run").write_text(
            f"#!/bin/bash\n# NEXTFLOW TASK: {trace['name']}\nnxf_stage() {{\n"
            f"    true\n    rm -f {chunk}\n    ln -s {split_dir / chunk} {chunk}\n}}\n"
        )
        (folder / ".exitcode").write_text("0")
        (folder / f"upper_{chunk}").write_text((split_dir / chunk).read_text().upper())


def write_trace(path: str, fields: list[str], completed: list[dict]) -> None:
    rows = ["\t".join(fields)]
    for trace in completed:
        cells = [trace.get(f) for f in fields]
        rows.append("\t".join("-" if c is None or c == [] else str(c) for c in cells))
    Path(path).write_text("\n".join(rows) + "\n")


def post(url: str, token: str | None, event: dict) -> None:
    headers = {"Content-Type": "application/json", "User-Agent": "Nextflow/23.04.2"}
    if token:
        headers["Authorization"] = "Basic " + base64.b64encode(token.encode()).decode()
    body = json.dumps(event, ensure_ascii=False).encode("latin-1", errors="replace")
    urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=10).close()


def main(args: list[str]) -> int:
    if args == ["-version"]:
        print("\n      N E X T F L O W\n      version 23.04.2 build 5870\n")
        return 0
    config = Path(args[args.index("-c") + 1]).read_text()
    name = args[args.index("-name") + 1] if "-name" in args else "fake_name"
    launch = Path.cwd()
    events = [rerooted(e, name, launch) for e in json.loads(CAPTURE.read_text())]
    completed = [e["trace"] for e in events if e["event"] == "process_completed"]
    work_dirs(completed)
    (launch / ".nextflow").mkdir(exist_ok=True)
    with open(launch / ".nextflow" / "history", "a") as history:
        history.write(
            f"2023-06-22 18:25:52\t1.7s\t{name}\tOK\t6952659b41c8949cc330bf873454905a"
            f"\t{events[0]['runId']}\tnextflow {' '.join(args)}\n"
        )
    write_trace(setting(config, "file"), setting(config, "fields").split(","), completed)
    for event in events:
        post(setting(config, "url"), setting(config, "basicToken"), event)
    return int(os.environ.get("FAKE_NEXTFLOW_EXIT", "0"))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
