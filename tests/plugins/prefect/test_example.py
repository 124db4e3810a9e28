"""The runnable example of plugins/prefect (python -m threadline.prefect.example_flow)."""

import threadline as tl
from threadline.prefect import example_flow


def test_example_flow_runs_and_is_recorded(tracked, capsys):
    run = example_flow.main(["--samples", "S1", "S2", "--reads", "20"])

    assert run.transform.key == "example-qc" and run.status == "completed"
    assert sorted(r.transform.key for r in run.children) == [
        "example-qc/simulate",
        "example-qc/simulate",
        "example-qc/summarize",
    ]
    summary = tl.Artifact.get(key="results/summary.tsv")
    assert sorted(a.key for a in summary.run.inputs) == ["data/S1.tsv", "data/S2.tsv"]
    assert run.uid in capsys.readouterr().out

    example_flow.main(["--samples", "S1", "S2", "--reads", "20"])  # same data again
    assert [a.version for a in summary.versions] == [1]
