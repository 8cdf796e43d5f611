"""The stacked MLP against plain nn.Sequential models: same weights and masks, same outputs and grads."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from dropviz.model import ReferenceStep, StackedMLP, to_sequential

ATOL, RTOL = 1e-5, 1e-5


def gens(seeds):
    return [torch.Generator().manual_seed(s) for s in seeds]


def make(ps=(0.0, 0.5, 0.3), width=16, depth=3, seeds=None, variant="inverted"):
    seeds = list(seeds) if seeds is not None else list(range(1, len(ps) + 1))
    return StackedMLP(list(ps), width, depth, seeds, variant)


def inputs(n=12, m=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = (n, 1) if m is None else (m, n, 1)
    return torch.rand(shape, generator=g) * 2 - 1


class Multiply(nn.Module):
    """Stands in for nn.Dropout in a Sequential: multiplies by a fixed tensor (a mask and its scale)."""

    def __init__(self, factor: torch.Tensor):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


def with_factors(seq: nn.Sequential, factors) -> nn.Sequential:
    """A copy of `seq` whose l-th nn.Dropout is replaced by Multiply(factors[l])."""
    layers, i = [], 0
    for layer in seq:
        if isinstance(layer, nn.Dropout):
            layers.append(Multiply(factors[i]))
            i += 1
        else:
            layers.append(layer)
    assert i == len(factors)
    return nn.Sequential(*layers)




# --- structure and initialisation -----------------------------------------------------------------

@pytest.mark.parametrize("depth", [1, 2, 4])
def test_sequential_has_the_documented_layers(depth):
    model = make(width=8, depth=depth)
    seq = to_sequential(model, 1)
    assert [type(l).__name__ for l in seq] == ["Linear", "ReLU", "Dropout"] * depth + ["Linear"]
    dropouts = [l for l in seq if isinstance(l, nn.Dropout)]
    assert all(d.p == pytest.approx(0.5) for d in dropouts)
    assert all(d.p == 0 for d in to_sequential(model, 0) if isinstance(d, nn.Dropout))
    n_params = 1 * 8 + 8 + (depth - 1) * (8 * 8 + 8) + 8 + 1
    assert sum(p.numel() for p in seq.parameters()) == n_params
    assert model.n_params == n_params
    assert sum(p.numel() for p in model.parameters()) == 3 * n_params  # three models, nothing else


def test_same_seed_same_initial_weights():
    model = make(ps=(0.0, 0.5), seeds=(7, 7))
    for w in model.params():
        assert torch.equal(w[0], w[1])
    other = make(ps=(0.0, 0.5), seeds=(7, 8))
    assert not torch.equal(other.params()[0][0], other.params()[0][1])
    # A model's weights do not depend on the models trained beside it.
    alone = make(ps=(0.5,), seeds=(8,))
    for a, b in zip(alone.params(), other.params()):
        assert torch.equal(a[0], b[1])


def test_init_follows_nn_linear_bounds():
    model = make(width=50, depth=2)
    for w, b in zip(model.params()[::2], model.params()[1::2]):
        bound = 1 / math.sqrt(w.shape[1])
        assert w.abs().max() <= bound and b.abs().max() <= bound
        assert w.abs().max() > 0.5 * bound  # not all tiny: really spread over the range


# --- forward: stacked vs nn.Sequential ---------------------------------------------------------------

@pytest.mark.parametrize("variant", ["inverted", "torch"])
@pytest.mark.parametrize("depth", [1, 3])
def test_eval_mode_matches_sequential(variant, depth):
    model = make(depth=depth, variant=variant).eval()
    x = inputs()
    with torch.no_grad():
        out = model(x)
    assert out.shape == (3, 12, 1)
    for m in range(3):
        seq = to_sequential(model, m).eval()
        with torch.no_grad():
            torch.testing.assert_close(out[m], seq(x), rtol=RTOL, atol=ATOL)


def test_eval_mode_vanilla_scales_by_keep_probability():
    model = make(variant="vanilla").eval()
    x = inputs()
    with torch.no_grad():
        out = model(x)
        for m, p in enumerate((0.0, 0.5, 0.3)):
            keep = torch.tensor(1 - p, dtype=torch.float32)
            seq = with_factors(to_sequential(model, m), [keep] * model.depth)
            torch.testing.assert_close(out[m], seq(x), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("variant", ["inverted", "vanilla", "torch"])
@pytest.mark.parametrize("depth", [1, 3])
def test_training_mode_matches_sequential_with_the_same_masks(variant, depth):
    model = make(depth=depth, variant=variant).train()
    x = inputs(m=3)  # different points per model
    masks = model.sample_masks(12, gens([1, 2, 3]))
    out = model(x, masks)
    assert torch.equal(model.last_masks, masks)
    for m, p in enumerate((0.0, 0.5, 0.3)):
        p = float(model.p[m])
        scale = 1 / (1 - p) if variant != "vanilla" else 1.0
        seq = with_factors(to_sequential(model, m).train(), [masks[m, l] * scale for l in range(depth)])
        torch.testing.assert_close(out[m], seq(x[m]), rtol=RTOL, atol=ATOL)


def test_training_mode_differs_from_eval_mode_only_with_dropout():
    model = make(ps=(0.0, 0.5)).train()
    x = inputs()
    train_out = model(x, generators=gens([1, 2]))
    eval_out = model.eval()(x)
    torch.testing.assert_close(train_out[0], eval_out[0])  # p = 0: dropout changes nothing
    assert not torch.allclose(train_out[1], eval_out[1])


# --- the reference step: the standard loop, as nn.Sequential + torch.optim would train each model ---------

@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("variant", ["inverted", "vanilla", "torch"])
def test_reference_step_trains_each_model_as_its_own_sequential(optimizer, variant):
    """ReferenceStep on M stacked models = M nn.Sequential models, each with its own torch.optim
    optimizer, MSELoss and backward(), given the same masks: the models share nothing."""
    ps, seeds, depth = (0.0, 0.5, 0.3), (1, 1, 2), 2
    model = make(ps, depth=depth, seeds=seeds, variant=variant)
    x, y = inputs(m=3, seed=1), inputs(m=3, seed=2)
    seqs = [to_sequential(model, m) for m in range(3)]
    ref_opt = {"sgd": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.01),
               "adam": lambda p: torch.optim.Adam(p, lr=0.05, weight_decay=0.01)}[optimizer]
    opts = [ref_opt(seq.parameters()) for seq in seqs]
    step = ReferenceStep(model, optimizer, lr=0.05, weight_decay=0.01)
    generators = gens(seeds)
    for _ in range(5):
        losses = step.step(x, y, generators)
        masks = model.last_masks  # (M, depth, N, H)
        for m, (seq, opt) in enumerate(zip(seqs, opts)):
            scale = 1.0 if variant == "vanilla" else 1 / (1 - float(model.p[m]))
            opt.zero_grad()
            loss = nn.MSELoss()(with_factors(seq, [masks[m, l] * scale for l in range(depth)])(x[m]), y[m])
            loss.backward()
            opt.step()
            torch.testing.assert_close(losses[m], loss.detach(), rtol=RTOL, atol=ATOL)
    for m, seq in enumerate(seqs):
        linears = [l for l in seq if isinstance(l, nn.Linear)]
        for l, linear in enumerate(linears):
            torch.testing.assert_close(model.weights[l][m], linear.weight.detach().T, rtol=1e-4, atol=1e-6)
            torch.testing.assert_close(model.biases[l][m, 0], linear.bias.detach(), rtol=1e-4, atol=1e-6)
    assert not torch.equal(model.weights[1], make(ps, depth=depth, seeds=seeds).weights[1])  # it trained


def test_reference_step_returns_the_loss_before_the_update():
    model = make((0.0, 0.5)).eval()
    x, y = inputs(m=2), inputs(m=2, seed=5)
    step = ReferenceStep(model, "sgd", lr=0.01)
    losses = step.step(x, y, gens([1, 1]))
    assert losses.shape == (2,) and not losses.requires_grad
    with torch.no_grad():  # model 0 has p = 0: its training loss is its eval loss before the step
        start = make((0.0, 0.5)).eval()
        torch.testing.assert_close(losses[0], ((start(x) - y) ** 2).mean(dim=(1, 2))[0])


# --- masks ------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["inverted", "vanilla", "torch"])
def test_masks_are_captured_per_layer_with_rate_near_p(variant):
    ps, width, depth, n = (0.0, 0.5, 0.2), 200, 3, 50
    model = make(ps, width=width, depth=depth, variant=variant).train()
    model(inputs(n), generators=gens([1, 2, 3]))
    keep = model.last_masks
    assert keep.shape == (3, depth, n, width) and set(keep.unique().tolist()) <= {0.0, 1.0}
    units = n * width
    for m, p in enumerate(ps):
        rates = 1 - keep[m].mean(dim=(1, 2))  # per layer
        assert rates.shape == (depth,)
        assert (rates - p).abs().max() <= 5 * math.sqrt(p * (1 - p) / units)


def test_layers_get_different_masks():
    model = make((0.5,), width=64, depth=3, seeds=(1,)).train()
    masks = model.sample_masks(20, gens([1]))
    assert not torch.equal(masks[0, 0], masks[0, 1]) and not torch.equal(masks[0, 1], masks[0, 2])


def test_p_zero_model_never_drops():
    model = make((0.0, 0.9), width=32).train()
    g = gens([1, 2])
    for _ in range(20):
        masks = model.sample_masks(10, g)
        assert torch.equal(masks[0], torch.ones_like(masks[0]))
        assert (masks[1] == 0).any()


@pytest.mark.parametrize("variant", ["inverted", "torch"])
def test_masks_do_not_depend_on_the_models_beside_them(variant):
    pair = make((0.0, 0.5), width=16, seeds=(3, 3), variant=variant).sample_masks(10, gens([3, 3]))
    alone = make((0.5,), width=16, seeds=(3,), variant=variant).sample_masks(10, gens([3]))
    assert torch.equal(pair[1], alone[0])


def test_masks_are_reproducible_from_the_generators():
    model = make()
    assert torch.equal(model.sample_masks(10, gens([1, 2, 3])), model.sample_masks(10, gens([1, 2, 3])))
    assert not torch.equal(model.sample_masks(10, gens([1, 2, 3])), model.sample_masks(10, gens([1, 2, 4])))


def test_models_sharing_a_generator_share_its_draw():
    """One generator object for several models: drawn once per step, and each model's masks are
    those it would get from its own generator seeded alike (as train.py's per-seed generators)."""
    ps, seeds = (0.0, 0.2, 0.5, 0.0, 0.2, 0.5), (1, 1, 1, 2, 2, 2)
    model = make(ps, width=16, depth=2, seeds=seeds)
    by_seed = {s: torch.Generator().manual_seed(s) for s in (1, 2)}
    shared, separate = [by_seed[s] for s in seeds], gens(seeds)
    for step in range(3):
        got, want = model.sample_masks(10, shared), model.sample_masks(10, separate)
        assert torch.equal(got, want), step
        assert not torch.equal(got[1], got[4])  # the two seeds' masks differ
        assert torch.all(got[2] <= got[1])  # one draw: a unit kept at p = 0.5 is kept at p = 0.2
    assert all(torch.equal(by_seed[s].get_state(), separate[1 + 3 * i].get_state()) for i, s in enumerate((1, 2)))


def test_p_zero_models_draw_nothing_from_their_generator():
    model = make((0.0, 0.0), width=8, depth=2)
    g = gens([1, 2])
    states = [x.get_state() for x in g]
    masks = model.sample_masks(10, g)
    assert torch.equal(masks, torch.ones_like(masks))
    assert all(torch.equal(x.get_state(), s) for x, s in zip(g, states))


def test_torch_variant_masks_are_the_ones_f_dropout_draws():
    """nn.Dropout in model m's nn.Sequential, run with torch's global generator seeded as model
    m's generator, drops exactly the units the stacked model drops (on the CPU)."""
    model = make((0.0, 0.5, 0.3), width=16, depth=1, variant="torch").train()
    masks = model.sample_masks(12, gens([1, 2, 3]))
    for m in (1, 2):
        with torch.random.fork_rng(devices=[]):  # a test may use the global generator; the lab never does
            torch.manual_seed(m + 1)
            dropped = nn.Dropout(float(model.p[m]))(torch.ones(1, 12, 16)) == 0
        assert torch.equal(masks[m] == 0, dropped)


# --- weight norms -------------------------------------------------------------------------------------

@pytest.mark.parametrize("depth", [1, 3])
def test_weight_norms_shape_and_values(depth):
    model = make(depth=depth)
    norms = model.weight_norms()
    assert norms.shape == (depth + 1, 3)
    for m in range(3):
        linears = [l for l in to_sequential(model, m) if isinstance(l, nn.Linear)]
        expected = torch.stack([l.weight.detach().norm() for l in linears])
        torch.testing.assert_close(norms[:, m], expected)
