"""``JointGradient`` gives autograd's losses and gradients on the reference model."""

from __future__ import annotations

import pytest
import torch

from mtlstudy.losses import factorization_loss, regression_loss
from mtlstudy.models import JointGradient, MultiTaskNet

VARIANTS = [
    {"shared": True},
    {"shared": False},
    {"shared": True, "user_bias": True},
    {"shared": False, "user_bias": True, "layer_sizes": (12, 7, 5)},
    {"shared": True, "layer_sizes": (12,)},
]


def _net_and_batch(**variant):
    torch.manual_seed(0)
    net = MultiTaskNet(9, 13, embedding_dim=4, **{"layer_sizes": (12, 6), **variant})
    with torch.no_grad():  # non-zero biases so every term of the gradient is exercised
        for parameter in net.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    generator = torch.Generator().manual_seed(1)
    batch = (
        torch.randint(0, 9, (16,), generator=generator),
        torch.randint(0, 13, (16,), generator=generator),
        torch.randint(0, 13, (16,), generator=generator),
        torch.randint(1, 6, (16,), generator=generator).float(),
    )
    return net, batch


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("weights", [(0.7, 0.3), (1.0, 0.0), (0.0, 2.0)])
def test_losses_and_gradients_match_autograd(variant, weights):
    net, batch = _net_and_batch(**variant)
    users, items, negatives, ratings = batch
    assert len(set(users.tolist())) < len(users)  # repeated rows accumulate their gradients
    outputs = net(users, items, negatives)
    reference = (factorization_loss(outputs, ratings), regression_loss(outputs, ratings))
    joint = weights[0] * reference[0] + weights[1] * reference[1]
    expected_grads = torch.autograd.grad(joint, list(net.parameters()))

    gradient = JointGradient(net)
    for _ in range(2):  # a second call overwrites, never accumulates
        losses = gradient(*batch, *weights)
    torch.testing.assert_close(losses, torch.stack(reference).detach())
    for (name, parameter), expected in zip(net.named_parameters(), expected_grads):
        torch.testing.assert_close(parameter.grad, expected, msg=name)
