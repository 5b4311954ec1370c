"""MultiTaskNet follows SPEC.md: shapes, initialisation, shared vs separate embeddings."""

from __future__ import annotations

import pytest
import torch

from mtlstudy import ConfigError
from mtlstudy.losses import factorization_loss, regression_loss
from mtlstudy.models import MultiTaskNet


def _batch(num_users=20, num_items=30, size=8):
    generator = torch.Generator().manual_seed(0)
    return (
        torch.randint(0, num_users, (size,), generator=generator),
        torch.randint(0, num_items, (size,), generator=generator),
        torch.randint(0, num_items, (size,), generator=generator),
    )


def test_forward_shapes_and_heads_match_their_formulas():
    torch.manual_seed(0)
    net = MultiTaskNet(20, 30, embedding_dim=4, layer_sizes=(12, 5))
    users, items, negatives = _batch()
    with torch.no_grad():
        net.item_bias.weight.normal_()
        outputs = net(users, items, negatives)
        u, q, b = net.factorization.users.weight, net.factorization.items.weight, net.item_bias.weight
        expected = (u[users] * q[items]).sum(1) + b[items, 0]
        assert outputs.positive_scores.shape == (8,)
        torch.testing.assert_close(outputs.positive_scores, expected)
        torch.testing.assert_close(outputs.negative_scores, (u[users] * q[negatives]).sum(1) + b[negatives, 0])
        mlp_input = torch.cat((u[users], q[items], u[users] * q[items]), dim=1)
        torch.testing.assert_close(outputs.predicted_ratings, net.mlp(mlp_input).squeeze(1))
        torch.testing.assert_close(net.score_all()[users, items], expected)
    assert [type(layer).__name__ for layer in net.mlp] == ["Linear", "ReLU", "Linear"]
    assert (net.mlp[0].in_features, net.mlp[0].out_features, net.mlp[2].out_features) == (12, 5, 1)


def test_initialisation_follows_spec():
    torch.manual_seed(0)
    net = MultiTaskNet(500, 800, embedding_dim=32)
    assert net.factorization.items.weight.std().item() == pytest.approx(1 / 32, rel=0.05)
    assert net.factorization.users.weight.mean().item() == pytest.approx(0.0, abs=1e-3)
    assert torch.count_nonzero(net.item_bias.weight) == 0


def _gradient_owners(net, loss_fn):
    net.zero_grad()
    users, items, negatives = _batch()
    loss_fn(net(users, items, negatives), torch.full((8,), 3.0)).backward()
    return {name for name, p in net.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}


def test_shared_embeddings_feed_both_heads():
    net = MultiTaskNet(20, 30, embedding_dim=4, layer_sizes=(12, 5), shared=True)
    assert net.regression is None
    assert {"factorization.users.weight", "factorization.items.weight"} <= _gradient_owners(net, regression_loss)


def test_separate_embeddings_share_no_parameter_between_tasks():
    net = MultiTaskNet(20, 30, embedding_dim=4, layer_sizes=(12, 5), shared=False)
    ranking = _gradient_owners(net, factorization_loss)
    rating = _gradient_owners(net, regression_loss)
    assert ranking == {"factorization.users.weight", "factorization.items.weight", "item_bias.weight"}
    assert ranking.isdisjoint(rating)
    assert {"regression.users.weight", "regression.items.weight"} <= rating


def test_user_bias_shifts_scores_but_cancels_in_the_pairwise_loss():
    assert MultiTaskNet(20, 30, embedding_dim=4, layer_sizes=(12, 5)).user_bias is None
    net = MultiTaskNet(20, 30, embedding_dim=4, layer_sizes=(12, 5), user_bias=True)
    with torch.no_grad():
        before = net.score_all().clone()
        net.user_bias.weight.fill_(2.0)
        torch.testing.assert_close(net.score_all(), before + 2.0)
    # a_i appears in p_ui and p_uj alike, so 1 - sigmoid(p_ui - p_uj) never moves it.
    assert "user_bias.weight" not in _gradient_owners(net, factorization_loss)


@pytest.mark.parametrize("kwargs", [{"layer_sizes": (10, 5)}, {"embedding_dim": 0}, {"layer_sizes": ()}])
def test_bad_architecture_is_a_config_error(kwargs):
    with pytest.raises(ConfigError):
        MultiTaskNet(20, 30, **{"embedding_dim": 4, **kwargs})
