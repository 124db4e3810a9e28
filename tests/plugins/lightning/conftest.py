import pytest


@pytest.fixture(autouse=True)
def strict(monkeypatch: pytest.MonkeyPatch) -> None:
    """Adapter failures re-raise in these tests instead of being logged."""
    monkeypatch.setenv("THREADLINE_STRICT", "1")
