"""The writer's turn: a lock that knows which thread holds it (``Writer.holds_turn``)."""

import threading


class Turn:
    """A lock that knows which thread holds it (``Writer.holds_turn``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.holder: int | None = None

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        taken = self._lock.acquire(blocking, timeout)
        if taken:
            self.holder = threading.get_ident()
        return taken

    def release(self) -> None:
        self.holder = None
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
