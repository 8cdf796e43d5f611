"""The lesson experiments never use torch's global random generator.

The server runs them in worker threads beside students' runs and other lessons; torch's global
generator is one for the whole process, so a lesson that seeded it, or drew from it, would shift
their numbers and they its. Each lesson draws from its own torch.Generator, seeded from its
settings: its result is the same whatever another thread does with the global generator meanwhile
and whatever the global seed is, and the global generator is left exactly as it was.
"""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np
import pytest
import torch

from dropviz.config import LabConfig
from dropviz.lessons import costs, droppath, ensemble, scaling
from tests.waiting import meanwhile

SMALL = LabConfig(width=16, epochs=60, p=0.4, device="cpu")


def arrays(*values) -> list[np.ndarray]:
    """The numbers of a lesson's result, flattened into arrays to compare exactly."""
    out = []
    for value in values:
        if isinstance(value, torch.Tensor):
            out.append(value.detach().numpy())
        elif isinstance(value, (tuple, list)):
            out += arrays(*value)
        elif hasattr(value, "__dataclass_fields__"):
            out += arrays(*(getattr(value, f) for f in value.__dataclass_fields__))
        else:
            out.append(np.asarray(value))
    return out


def trained_net(variant: str, activation: str) -> list[np.ndarray]:
    net = ensemble.train(SMALL.with_(variant=variant), activation)
    return arrays(net.weights, net.biases)


LESSONS: dict[str, Callable[[], list[np.ndarray]]] = {
    "scaling": lambda: arrays(scaling.run(0.5, 300, "inverted", seed=1).train, scaling.run(0.3, 300, "vanilla", seed=2).train),
    "scaling, torch's nn.Dropout": lambda: arrays(scaling.torch_reference(0.5, 300, seed=1), scaling.torch_eval(0.5)),
    "droppath": lambda: arrays(droppath.run(0.3, seed=2, repeats=50)),
    "ensemble, inverted": lambda: trained_net("inverted", "relu"),
    "ensemble, torch variant": lambda: trained_net("torch", "relu"),
    "ensemble, linear": lambda: trained_net("vanilla", "linear"),
    "ensemble, sub-networks": lambda: arrays(ensemble.sample(ensemble.train(SMALL.with_(epochs=5)), SMALL, 40, seed=3).subnets),
    "costs, BatchNorm": lambda: arrays(costs.bn_variance(0.5, width=16, n=64, draws=5, seed=4)),
}


@functools.lru_cache(maxsize=None)
def alone(name: str) -> list[np.ndarray]:
    return LESSONS[name]()


def assert_same(ours: list[np.ndarray], expected: list[np.ndarray]) -> None:
    assert len(ours) == len(expected)
    for a, b in zip(ours, expected):
        np.testing.assert_array_equal(a, b)


def busy_global_generator():
    """Another thread reseeds and draws from torch's global generator until the block ends."""
    def step(seed: int, stop) -> None:
        torch.manual_seed(seed)
        torch.rand(256)
        torch.nn.functional.dropout(torch.ones(64), 0.5)
    return meanwhile(step, join_timeout=10)


@pytest.mark.parametrize("name", sorted(LESSONS))
def test_a_lesson_leaves_the_global_generator_alone(name, monkeypatch):
    """Neither seeds it, nor saves and restores it (which undoes another thread's draws), nor draws
    from it (its state would move)."""
    import torch._dynamo  # noqa: F401  torch.optim loads it, and it maps torch's functions once: before we patch them

    def refusing(what: str):
        def refuse(*args, **kwargs):
            raise AssertionError(f"{name} called {what}: torch's global generator")
        return refuse

    for module, attr in [(torch, "manual_seed"), (torch, "seed"), (torch, "set_rng_state"), (torch, "get_rng_state"),
                         (torch.random, "manual_seed"), (torch.random, "fork_rng"), (torch.random, "set_rng_state"),
                         (torch.random, "get_rng_state")]:
        monkeypatch.setattr(module, attr, refusing(f"{module.__name__}.{attr}"))
    before = torch.default_generator.get_state()
    LESSONS[name]()
    assert torch.equal(torch.default_generator.get_state(), before), f"{name} drew from torch's global generator"


@pytest.mark.parametrize("name", sorted(LESSONS))
def test_a_lessons_result_does_not_depend_on_the_global_generator(name):
    expected = alone(name)
    with busy_global_generator():
        assert_same(LESSONS[name](), expected)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(12345)
        assert_same(LESSONS[name](), expected)
