from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

# Lightning 2.6 warns about its own use of a torch API that torch 2.13 deprecated
# (lightning/pytorch/utilities/_pytree.py); it is not ours to fix, and
# filterwarnings=error would turn it into a failure of every fit.
LIGHTNING_NOISE = "ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.filterwarnings(LIGHTNING_NOISE))


@pytest.fixture(autouse=True)
def strict(monkeypatch: pytest.MonkeyPatch) -> None:
    """Adapter failures re-raise in these tests instead of being logged."""
    monkeypatch.setenv("THREADLINE_STRICT", "1")
