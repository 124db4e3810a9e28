"""submit/map, subflows, async flows and a Dask cluster of worker processes."""

import asyncio
import os

import threadline as tl

from tests.plugins.prefect import flows_more
from tests.plugins.prefect.sockets import leaves_prefects_socket_open


def test_submit_and_map_with_20_tasks(tracked):
    assert flows_more.fan_out(20) == (2470, 2470)

    flow_run = tl.Run.get(transform__key="fan-out")
    squares = [r for r in flow_run.children if r.transform.key == "fan-out/square"]
    assert len(squares) == 40 and all(r.status == "completed" for r in squares)
    assert sorted(r.params["x"] for r in squares) == sorted(list(range(20)) * 2)
    add_ups = [r for r in flow_run.children if r.transform.key == "fan-out/add_up"]
    assert sorted(len(r.upstream_runs) for r in add_ups) == [20, 20]
    squares_of = sorted(i * i for i in range(20))
    assert all(sorted(r.params["values"]) == squares_of for r in add_ups)  # futures resolved


def test_subflow_runs_under_the_parent_flow_run(tracked):
    assert flows_more.parent(["a", "b"]) == ["A", "B"]

    parent = tl.Run.get(transform__key="parent")
    children = parent.children
    assert sorted(r.transform.key for r in children) == ["child", "child"]
    assert sorted(r.params["name"] for r in children) == ["a", "b"]
    for child in children:
        assert [r.transform.key for r in child.children] == ["child/label"]
        assert child.status == "completed" and child.reference


@leaves_prefects_socket_open  # Prefect's own, see sockets.py
def test_async_flow_and_tasks(tracked):
    assert asyncio.run(flows_more.async_flow(["S1", "S2", "S3"])) == ["s1", "s2", "s3"]

    flow_run = tl.Run.get(transform__key="async-flow")
    assert flow_run.status == "completed"
    assert sorted(r.params["sample"] for r in flow_run.children) == ["S1", "S2", "S3"]


def test_dask_local_cluster_with_two_worker_processes(tracked):
    from tests.plugins.prefect import flows_dask

    pids = flows_dask.on_dask(4)

    assert pids and os.getpid() not in pids  # the tasks ran in worker processes
    flow_run = tl.Run.get(transform__key="on-dask")
    assert flow_run.status == "completed"
    keys = sorted(r.transform.key for r in flow_run.children)
    assert keys == ["on-dask/gather_parts"] + ["on-dask/save_part"] * 2 + ["on-dask/where"] * 4
    assert all(r.status == "completed" for r in flow_run.children)
    saved = tl.Artifact.filter(key__startswith="parts/").order_by("key").all()
    assert [a.run.transform.key for a in saved] == ["on-dask/save_part"] * 2
    assert all(a.run.parent.uid == flow_run.uid for a in saved)
    gather = tl.Run.get(transform__key="on-dask/gather_parts")
    assert len(gather.upstream_runs) == 4
