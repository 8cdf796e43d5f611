"""The stacked MLP against plain nn.Sequential models: same weights and masks, same outputs and grads."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from dropviz.model import StackedMLP, to_sequential

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


def keep_masks(mult: torch.Tensor) -> torch.Tensor:
    """0/1 keep masks from dropout multipliers (0 = dropped)."""
    return (mult > 0).float()


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
    assert model.n_params == n_params and model.flat.numel() >= 3 * n_params  # flat is padded per model


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
    torch.manual_seed(0)  # the "torch" variant draws from the global generator
    mult = model.sample_multipliers(12, gens([1, 2, 3]))
    out = model(x, mult=mult)
    for m, p in enumerate((0.0, 0.5, 0.3)):
        p = float(model.p[m])
        scale = 1 / (1 - p) if variant != "vanilla" else 1.0
        masks = keep_masks(mult)[m]  # (depth, N, H)
        seq = with_factors(to_sequential(model, m).train(), [masks[l] * scale for l in range(depth)])
        torch.testing.assert_close(out[m], seq(x[m]), rtol=RTOL, atol=ATOL)


def test_training_mode_differs_from_eval_mode_only_with_dropout():
    model = make(ps=(0.0, 0.5)).train()
    x = inputs()
    train_out = model(x, generators=gens([1, 2]))
    eval_out = model.eval()(x)
    torch.testing.assert_close(train_out[0], eval_out[0])  # p = 0: dropout changes nothing
    assert not torch.allclose(train_out[1], eval_out[1])


# --- forward_backward: the hand-written backward against autograd ----------------------------------------

@pytest.mark.parametrize("variant", ["inverted", "vanilla"])
@pytest.mark.parametrize("depth", [1, 2, 4])
def test_forward_backward_equals_autograd(variant, depth):
    ps, seeds = (0.0, 0.5, 0.2, 0.8), (1, 1, 2, 3)
    fast = make(ps, depth=depth, seeds=seeds, variant=variant).train()
    ref = make(ps, depth=depth, seeds=seeds, variant=variant).train()
    x, y = inputs(m=4, seed=1), inputs(m=4, seed=2)
    mult = fast.sample_multipliers(12, gens([5, 6, 7, 8]))

    losses = fast.forward_backward(x, y, mult)

    ref.flat.grad = None
    ref_losses = ((ref(x, mult=mult) - y) ** 2).mean(dim=(1, 2))
    ref_losses.sum().backward()
    assert losses.shape == (4,)
    torch.testing.assert_close(losses, ref_losses.detach(), rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(fast.flat.grad, ref.flat.grad, rtol=1e-4, atol=1e-6)
    assert fast.flat.grad.abs().sum() > 0
    assert torch.equal(fast.last_mult, mult)


def test_forward_backward_grads_equal_sequential_autograd():
    """Model m's slice of flat.grad is exactly what nn.Sequential + MSELoss + backward() gives."""
    model = make((0.0, 0.5), depth=3, seeds=(4, 4)).train()
    x, y = inputs(m=2, seed=3), inputs(m=2, seed=4)
    mult = model.sample_multipliers(12, gens([1, 2]))
    losses = model.forward_backward(x, y, mult)
    grads = model.params(model.flat.grad)
    for m in range(2):
        p = float(model.p[m])
        seq = with_factors(to_sequential(model, m), [keep_masks(mult)[m, l] / (1 - p) for l in range(3)])
        loss = nn.MSELoss()(seq(x[m]), y[m])
        loss.backward()
        torch.testing.assert_close(losses[m], loss.detach(), rtol=RTOL, atol=ATOL)
        linears = [l for l in seq if isinstance(l, nn.Linear)]
        for l, linear in enumerate(linears):
            torch.testing.assert_close(grads[2 * l][m], linear.weight.grad.T, rtol=1e-4, atol=1e-6)
            torch.testing.assert_close(grads[2 * l + 1][m, 0], linear.bias.grad, rtol=1e-4, atol=1e-6)


def test_forward_backward_overwrites_old_gradients():
    model = make().train()
    x, y = inputs(m=3), inputs(m=3, seed=9)
    mult = model.sample_multipliers(12, gens([1, 2, 3]))
    model.forward_backward(x, y, mult)
    first = model.flat.grad.clone()
    model.forward_backward(x, y, mult)
    torch.testing.assert_close(model.flat.grad, first)  # not accumulated: no zero_grad needed
    model.flat.grad = None  # what optimizer.zero_grad() does by default
    model.forward_backward(x, y, mult)
    torch.testing.assert_close(model.flat.grad, first)  # written into the new buffer, not a stale one


# --- masks ------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["inverted", "vanilla", "torch"])
def test_masks_are_captured_per_layer_with_rate_near_p(variant):
    ps, width, depth, n = (0.0, 0.5, 0.2), 200, 3, 50
    model = make(ps, width=width, depth=depth, variant=variant).train()
    model(inputs(n), generators=gens([1, 2, 3]))
    mult = model.last_mult
    assert mult.shape == (3, depth, n, width)
    keep = keep_masks(mult)
    units = n * width
    for m, p in enumerate(ps):
        rates = 1 - keep[m].mean(dim=(1, 2))  # per layer
        assert rates.shape == (depth,)
        assert (rates - p).abs().max() <= 5 * math.sqrt(p * (1 - p) / units)
        kept_values = mult[m][keep[m] > 0].unique()
        expected = 1.0 if (variant == "vanilla" or p == 0) else 1 / (1 - float(model.p[m]))
        torch.testing.assert_close(kept_values, torch.tensor([expected]))


def test_layers_get_different_masks():
    model = make((0.5,), width=64, depth=3, seeds=(1,)).train()
    mult = model.sample_multipliers(20, gens([1]))
    assert not torch.equal(mult[0, 0], mult[0, 1]) and not torch.equal(mult[0, 1], mult[0, 2])


def test_p_zero_model_never_drops():
    model = make((0.0, 0.9), width=32).train()
    g = gens([1, 2])
    for _ in range(20):
        mult = model.sample_multipliers(10, g)
        assert torch.equal(mult[0], torch.ones_like(mult[0]))
        assert (mult[1] == 0).any()


def test_masks_do_not_depend_on_the_models_beside_them():
    pair = make((0.0, 0.5), width=16, seeds=(3, 3)).sample_multipliers(10, gens([3, 3]))
    alone = make((0.5,), width=16, seeds=(3,)).sample_multipliers(10, gens([3]))
    assert torch.equal(pair[1], alone[0])


def test_masks_are_reproducible_from_the_generators():
    model = make()
    assert torch.equal(model.sample_multipliers(10, gens([1, 2, 3])), model.sample_multipliers(10, gens([1, 2, 3])))
    assert not torch.equal(model.sample_multipliers(10, gens([1, 2, 3])), model.sample_multipliers(10, gens([1, 2, 4])))


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
