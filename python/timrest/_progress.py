"""Progress display for ``Client.delete_many`` (called from the native batch on the calling thread)."""

from __future__ import annotations

import sys
from typing import Any, Callable, NamedTuple, Optional, Protocol, Union, cast


class Progress(NamedTuple):
    """Where a batch stands: items finished, succeeded, failed, and the total when known."""

    done: int
    ok: int
    failed: int
    total: Optional[int]


# What `help(timrest.Progress)` and Jupyter show for each field (NamedTuple's own say "Alias for field number 0").
Progress.done.__doc__ = "Items finished so far, succeeded or failed."
Progress.ok.__doc__ = "Items whose deletion succeeded."
Progress.failed.__doc__ = "Items that failed (each with its typed exception in the final report)."
Progress.total.__doc__ = "Items in the input when it has a len(), else None."


ProgressArg = Union[bool, None, Callable[[Progress], Any], Callable[[int, Optional[int]], Any]]


class Reporter(Protocol):
    def update(self, done: int, ok: int, failed: int, total: Optional[int]) -> None: ...
    def close(self) -> None: ...


class _Callback:
    """Calls ``f(Progress(done, ok, failed, total))``."""

    def __init__(self, callback: Callable[[Progress], Any]) -> None:
        self._callback = callback

    def update(self, done: int, ok: int, failed: int, total: Optional[int]) -> None:
        self._callback(Progress(done, ok, failed, total))

    def close(self) -> None:
        pass


class _DoneTotalCallback:
    """Calls ``f(done, total)``."""

    def __init__(self, callback: Callable[[int, Optional[int]], Any]) -> None:
        self._callback = callback

    def update(self, done: int, ok: int, failed: int, total: Optional[int]) -> None:
        self._callback(done, total)

    def close(self) -> None:
        pass


def _takes_two_positional(callback: Callable[..., Any]) -> bool:
    """Whether ``callback(done, total)`` fits its signature (False when it cannot be inspected)."""
    import inspect  # here, not at the top: it is most of `import timrest`'s time otherwise

    try:
        inspect.signature(callback).bind(0, None)
    except (TypeError, ValueError):
        return False
    return True


class _Counter:
    """A one-line counter on stderr, rewritten in place."""

    def __init__(self) -> None:
        self._shown = False

    def update(self, done: int, ok: int, failed: int, total: Optional[int]) -> None:
        of = f"/{total}" if total is not None else ""
        sys.stderr.write(f"\rtimrest: {done}{of} done ({ok} ok, {failed} failed)")
        sys.stderr.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


class _Bar:
    """A tqdm bar (the notebook widget in Jupyter, through tqdm.auto)."""

    def __init__(self, tqdm: Any) -> None:
        self._tqdm = tqdm
        self._bar: Any = None
        self._done = 0

    def update(self, done: int, ok: int, failed: int, total: Optional[int]) -> None:
        if self._bar is None:
            self._bar = self._tqdm(total=total, unit="item", desc="delete_many")
        self._bar.update(done - self._done)
        self._done = done
        self._bar.set_postfix(ok=ok, failed=failed, refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def reporter(progress: ProgressArg) -> Optional[Reporter]:
    """What shows progress for ``progress``: False/None, nothing; True, a tqdm bar when tqdm is
    installed (``tqdm.auto``: the widget in Jupyter), else a counter on stderr; a callable taking two
    positional arguments, ``f(done, total)``; any other callable, ``f(Progress(...))``."""
    if progress is None or progress is False:
        return None
    if progress is True:
        try:
            from tqdm.auto import tqdm  # type: ignore[import-untyped,import-not-found,unused-ignore]
        except ImportError:
            return _Counter()
        return _Bar(tqdm)
    if callable(progress):
        if _takes_two_positional(progress):
            return _DoneTotalCallback(cast(Callable[[int, Optional[int]], Any], progress))
        return _Callback(cast(Callable[[Progress], Any], progress))
    raise TypeError("progress must be True, False, None, a callable f(done, total) or f(progress: timrest.Progress)")
