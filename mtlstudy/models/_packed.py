"""K multi-task networks stacked into one, and their joint gradient in one pass.

:class:`PackedMultiTaskNet` holds the parameters of K :class:`MultiTaskNet` members
of one architecture as stacked tensors: embedding tables ``[K, N, d]``, MLP weights
``[K, out, in]``. A row of member ``k`` in a table of ``N`` rows is row
``k * N + id`` of the table viewed as ``[K * N, d]``, so one gather serves every
member, and the MLP runs as batched matrix products (``baddbmm``/``bmm``).

:class:`PackedJointGradient` is :class:`~mtlstudy.models.JointGradient` with a
leading member dimension: the same formulas, each member with its own ``lambda_f``
and ``lambda_r``. Tests compare every member's losses and metrics with a lone
trainer's.

Why hand-derived rather than ``torch.func`` (``stack_module_state`` + ``vmap`` over
``grad`` of the lone model's forward and losses): one gradient pass for K members on
ML-100K (shared, batches of 256), one CPU thread of this project's shared 2-core
machine, wall time, mean of 30 passes:

====  ============  ==========
K     this class    torch.func
====  ============  ==========
1     0.47 ms       4.9 ms
8     3.4 ms        10.7 ms
64    49 ms         79 ms
====  ============  ==========

torch.func stays slower at every K: it adds autograd's and the functional call's
per-operation overhead to the same arithmetic, and at K = 1 it is 10x slower.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mtlstudy.models._net import MultiTaskNet

__all__ = ["PackedJointGradient", "PackedMultiTaskNet"]


def _stacked(tensors: Sequence[torch.Tensor], trailing: tuple[int, ...] | None = None) -> nn.Parameter:
    """One parameter of the members' copies stacked along a new first dimension (each reshaped to ``trailing``)."""
    stacked = torch.stack([tensor.detach() for tensor in tensors])
    return nn.Parameter(stacked if trailing is None else stacked.view(len(tensors), *trailing))


class PackedMultiTaskNet(nn.Module):
    """The parameters of K :class:`MultiTaskNet` members, stacked along a first dimension.

    Parameters
    ----------
    nets : sequence of MultiTaskNet
        The members, in order; they must share every size and the ``shared`` and
        ``user_bias`` flags. Their parameters are copied.

    Attributes
    ----------
    users, items : nn.Parameter
        Factorization embeddings, ``[K, num_users, d]`` and ``[K, num_items, d]``.
    rating_users, rating_items : nn.Parameter or None
        The regression head's own embeddings when the members are not shared.
    item_bias : nn.Parameter
        ``[K, num_items]``.
    user_bias : nn.Parameter or None
        ``[K, num_users]``.
    weights, biases : nn.ParameterList
        The MLP's layers, ``[K, out, in]`` and ``[K, out]``.
    """

    def __init__(self, nets: Sequence[MultiTaskNet]) -> None:
        super().__init__()
        first = nets[0]
        self.shared = first.regression is None
        self.users = _stacked([net.factorization.users.weight for net in nets])
        self.items = _stacked([net.factorization.items.weight for net in nets])
        if self.shared:
            self.rating_users = self.rating_items = None
        else:
            self.rating_users = _stacked([net.regression.users.weight for net in nets])
            self.rating_items = _stacked([net.regression.items.weight for net in nets])
        self.item_bias = _stacked([net.item_bias.weight for net in nets], (-1,))
        self.user_bias = None if first.user_bias is None else _stacked([net.user_bias.weight for net in nets], (-1,))
        # layers[i][k] is layer i of member k.
        layers = list(zip(*[[layer for layer in net.mlp if isinstance(layer, nn.Linear)] for net in nets]))
        self.weights = nn.ParameterList(_stacked([linear.weight for linear in layer]) for layer in layers)
        self.biases = nn.ParameterList(_stacked([linear.bias for linear in layer]) for layer in layers)

    @property
    def size(self) -> int:
        """Number of members K."""
        return self.users.shape[0]

    @property
    def num_users(self) -> int:
        """Rows of each member's user tables."""
        return self.users.shape[1]

    @property
    def num_items(self) -> int:
        """Rows of each member's item tables."""
        return self.items.shape[1]

    def keep(self, positions: Sequence[int]) -> None:
        """Keep only the members at ``positions`` (in that order); every stack shrinks."""
        index = torch.as_tensor(list(positions), dtype=torch.long, device=self.users.device)
        for name, parameter in list(self.named_parameters()):
            owner, _, attribute = name.rpartition(".")
            setattr(self.get_submodule(owner), attribute, nn.Parameter(parameter.detach()[index]))

    def rate(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Predicted ratings from embeddings ``[K, n, d]`` of aligned users and items, ``[K, n]``."""
        hidden = torch.cat((users, items, users * items), dim=2)
        layers = list(zip(self.weights, self.biases))
        for weight, bias in layers[:-1]:
            hidden = torch.relu(torch.baddbmm(bias.unsqueeze(1), hidden, weight.transpose(1, 2)))
        weight, bias = layers[-1]
        return torch.baddbmm(bias.unsqueeze(1), hidden, weight.transpose(1, 2)).squeeze(2)

    def predict_ratings(self, user_ids: torch.Tensor, item_ids: torch.Tensor) -> torch.Tensor:
        """Every member's predicted ratings of the same ``(user, item)`` pairs, ``[K, n]``."""
        users = self.users if self.shared else self.rating_users
        items = self.items if self.shared else self.rating_items
        return self.rate(users[:, user_ids], items[:, item_ids])

    def score_all(self, members: slice = slice(None)) -> torch.Tensor:
        """Factorization scores of every user for every item, ``[members, users, items]``."""
        scores = torch.baddbmm(
            self.item_bias[members].unsqueeze(1), self.users[members], self.items[members].transpose(1, 2)
        )
        if self.user_bias is not None:
            scores = scores + self.user_bias[members].unsqueeze(2)
        return scores


class PackedJointGradient:
    """Every member's batch losses and the gradient of its ``lambda_f * L_F + lambda_r * L_R``.

    The batch of member ``k`` is its own: ids come as ``[K, B]`` rows of the stacked
    tables (see :meth:`rows`), so each member walks its own permutation and negatives.

    Parameters
    ----------
    net : PackedMultiTaskNet
        The pack whose parameters' ``.grad`` tensors this object owns from now on:
        each call overwrites them. Build a new one after :meth:`PackedMultiTaskNet.keep`.
    """

    def __init__(self, net: PackedMultiTaskNet) -> None:
        self.net = net
        for parameter in net.parameters():
            parameter.grad = torch.zeros_like(parameter)

    def rows(self, ids: torch.Tensor, table_rows: int) -> torch.Tensor:
        """Rows ``k * table_rows + ids[k]`` of a stacked table viewed as ``[K * table_rows, ...]``."""
        offsets = torch.arange(0, self.net.size * table_rows, table_rows, device=ids.device)
        return ids + offsets.view(-1, *([1] * (ids.dim() - 1)))

    @torch.no_grad()
    def __call__(
        self,
        user_rows: torch.Tensor,
        pair_rows: torch.Tensor,
        ratings: torch.Tensor,
        lambda_f: torch.Tensor,
        lambda_r: torch.Tensor,
    ) -> torch.Tensor:
        """Set every ``.grad`` and return ``[K, 2]``: each member's ``L_F`` and ``L_R``.

        Parameters
        ----------
        user_rows : Tensor
            ``[K, B]`` user rows (:meth:`rows` of the user ids over ``num_users``).
        pair_rows : Tensor
            ``[K, B, 2]`` item rows of the positive and the negative item.
        ratings : Tensor
            ``[K, B]`` ratings of the positives.
        lambda_f, lambda_r : Tensor
            ``[K, 1]`` task weights of each member.
        """
        net = self.net
        batch = user_rows.shape[1]
        dim = net.users.shape[2]
        users = net.users.view(-1, dim)[user_rows]
        items = net.items.view(-1, dim)[pair_rows]
        scores = (items * users.unsqueeze(2)).sum(3) + net.item_bias.view(-1)[pair_rows]
        probability = torch.sigmoid(scores[:, :, 0] - scores[:, :, 1])

        item_rows = pair_rows[:, :, 0]
        rating_users = users if net.shared else net.rating_users.view(-1, dim)[user_rows]
        rating_items = items[:, :, 0] if net.shared else net.rating_items.view(-1, dim)[item_rows]
        activations = [torch.cat((rating_users, rating_items, rating_users * rating_items), dim=2)]
        layers = list(zip(net.weights, net.biases))
        for weight, bias in layers[:-1]:
            hidden = torch.baddbmm(bias.unsqueeze(1), activations[-1], weight.transpose(1, 2))
            activations.append(torch.relu(hidden))
        weight, bias = layers[-1]
        errors = torch.baddbmm(bias.unsqueeze(1), activations[-1], weight.transpose(1, 2)).squeeze(2) - ratings

        # Regression head: d(mean squared error)/d(prediction), back through the MLP.
        grad = (errors * (lambda_r * (2.0 / batch))).unsqueeze(2)
        for index in range(len(layers) - 1, -1, -1):
            (weight, bias), inputs = layers[index], activations[index]
            torch.bmm(grad.transpose(1, 2), inputs, out=weight.grad)
            torch.sum(grad, 1, out=bias.grad)
            grad = torch.bmm(grad, weight)
            if index:  # these inputs are a ReLU's outputs
                grad = grad * (inputs > 0)
        grad_users_r = grad[:, :, :dim] + grad[:, :, 2 * dim :] * rating_items
        grad_items_r = grad[:, :, dim : 2 * dim] + grad[:, :, 2 * dim :] * rating_users

        # Factorization head: d(1 - sigmoid(d))/dd = -sigmoid(d) (1 - sigmoid(d)), d = p_ui - p_uj.
        grad_difference = probability * (1.0 - probability) * (lambda_f * (-1.0 / batch))
        signed = torch.stack((grad_difference, -grad_difference), dim=2)
        grad_users_f = grad_difference.unsqueeze(2) * (items[:, :, 0] - items[:, :, 1])
        grad_items_f = signed.unsqueeze(3) * users.unsqueeze(2)
        if net.shared:
            grad_users_f += grad_users_r
            grad_items_f[:, :, 0] += grad_items_r
        else:
            _set_rows(net.rating_users, user_rows.reshape(-1), grad_users_r.reshape(-1, dim))
            _set_rows(net.rating_items, item_rows.reshape(-1), grad_items_r.reshape(-1, dim))
        flat_pairs = pair_rows.reshape(-1)
        _set_rows(net.users, user_rows.reshape(-1), grad_users_f.reshape(-1, dim))
        _set_rows(net.items, flat_pairs, grad_items_f.reshape(-1, dim))
        _set_rows(net.item_bias, flat_pairs, signed.reshape(-1))
        return torch.stack(((1.0 - probability).mean(1), (errors * errors).mean(1)), dim=1)


def _set_rows(table: nn.Parameter, rows: torch.Tensor, values: torch.Tensor) -> None:
    """Make ``table.grad`` the dense gradient of the stacked table's ``rows`` given their gradient."""
    table.grad.zero_().view(-1, *values.shape[1:]).index_add_(0, rows, values)
