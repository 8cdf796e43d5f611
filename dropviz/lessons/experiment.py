"""A lesson's computation as a job of the server's scheduler, not work in a page's script thread.

The ensemble, scaling and DropPath pages compute one result from their settings. Wrapped in an
`Experiment` (a frozen, hashable runner key, like the sweep's and L2's specs) it is run by the
same scheduler, within the same CPU, memory and queue limits as every lab run; viewers with the
same settings share one run, and a finished result is cached like a finished lab run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ..control import Control


@dataclass(eq=False)
class Result:
    """What an Experiment yields once: its value, with the fields the runner reads of a snapshot."""

    value: Any
    iteration: int = 1
    total: int = 1
    status: str = "done"
    message: str = ""

    @property
    def finished(self) -> bool:
        return True


@dataclass(frozen=True)
class Experiment:
    """`compute(*args)`, run once by the scheduler. `args` must be hashable (settings, not tensors)."""

    compute: Callable[..., Any]
    args: tuple

    def snapshots(self, control: Control) -> Iterator[Result]:
        if not control.cancelled:
            yield Result(self.compute(*self.args))
