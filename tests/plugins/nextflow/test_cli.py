"""``threadline nextflow ingest | config`` and how the core loads the group."""

import json
import subprocess
import sys
from pathlib import Path

import click
import threadline as tl
from click.testing import CliRunner
from threadline.cli import main, plugin_groups
from threadline.nextflow.cli import group

ROOT = Path(__file__).resolve().parents[3]


def invoke(*args: str) -> object:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_ingest_command(local_instance, launchdir):
    result = invoke("nextflow", "ingest", str(launchdir), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["run_name"], data["tasks"], data["created"]) == ("nostalgic_shockley", 2, True)
    again = invoke("nextflow", "ingest", str(launchdir), "--run", "nostalgic_shockley")
    assert again.stdout.startswith("already recorded: run nostalgic_shockley")
    assert "0 new tasks (0 cached), 2 known" in again.stdout


def test_ingest_errors_are_one_line(local_instance, tmp_path):
    result = CliRunner().invoke(main, ["nextflow", "ingest", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no Nextflow run found in ")
    assert result.stderr.count("\n") == 1
    assert tl.Run.filter().count() == 0


def test_config_command():
    result = invoke("nextflow", "config", "--port", "9999", "--token", "nf:pw")
    assert "url = 'http://127.0.0.1:9999/'" in result.stdout
    assert "basicToken = 'nf:pw'" in result.stdout and "raw = true" in result.stdout
    assert "lineage {" in result.stdout
    bare = invoke("nextflow", "config", "--no-weblog", "--no-lineage").stdout
    assert "weblog" not in bare and "lineage {" not in bare and "trace {" in bare


def test_group_is_loaded_lazily():
    code = (
        "import sys, threadline.cli as c; assert 'threadline.nextflow' not in sys.modules;"
        "c.main.get_command(None, 'nextflow'); assert 'threadline.nextflow' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert plugin_groups()["nextflow"].value == "threadline.nextflow.cli:group"
    assert "nextflow" in invoke("--help").stdout


def test_every_nextflow_command_is_documented():
    text = (ROOT / "docs" / "cli.md").read_text()
    for name, command in group.commands.items():
        assert command.help and f"## `threadline nextflow {name}`" in text
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"nextflow {name} {param.opts[0]} has no help"
    assert set(group.commands) == {"ingest", "config", "serve", "run"}
