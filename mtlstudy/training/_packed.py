"""K trials of one architecture trained as one fused model: :class:`PackedTrainer`."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import torch

from mtlstudy._errors import ConfigError
from mtlstudy._files import atomic_path
from mtlstudy._history import summarize_history
from mtlstudy.data import Interactions
from mtlstudy.models import PackedJointGradient, PackedMultiTaskNet
from mtlstudy.training._config import TrainConfig
from mtlstudy.training._trainer import (
    evaluation_metrics,
    evaluation_rows,
    initial_net,
    on_device,
    training_relevant,
    load_checkpoint,
    resolve_device,
)

__all__ = ["PACK_MEMBER_FIELDS", "PackedTrainer", "auto_pack_size", "load_pack_checkpoint"]

#: What a member may choose on its own; every other TrainConfig field is the pack's.
PACK_MEMBER_FIELDS = ("lambda_f", "lambda_r", "seed")

# Evaluation ranks at most this many score elements (members x users x items) at once:
# a pack of 64 on ML-100K ranks 21 members at a time, in ~0.25 GB of scores and
# buffers rather than 1.6 GB.
_EVAL_ELEMENTS = 1 << 25

_STATE_KEYS = frozenset({"configs", "members", "epoch", "model", "optimizer", "generators", "histories"})

#: The best pack size per device type, measured by benchmarks/bench_packing.py on ML-100K
#: (benchmarks/results/packing/h200-cpu and h200-cuda; README, "Packed training").
_MEASURED_PACK_SIZE = {"cpu": 16, "cuda": 256}


def auto_pack_size(device: str | torch.device) -> int:
    """The pack size K that ``--pack auto`` uses on ``device``.

    It is the K with the most trial-epochs per second in ``benchmarks/bench_packing.py``.
    That benchmark times K = 1, 2, 4, ... against one :class:`Trainer` per trial in the
    same run, on one CPU thread and on one GPU. A device type where no pack beat the
    lone trainer would get 1. Rerun the benchmark on new hardware and update
    ``_MEASURED_PACK_SIZE``; a test checks that it agrees with the committed results.
    """
    return _MEASURED_PACK_SIZE[torch.device(device).type]


def _check_pack(configs: Sequence[TrainConfig]) -> tuple[TrainConfig, ...]:
    configs = tuple(configs)
    if not configs:
        raise ConfigError("a pack needs at least one member configuration, got none")
    first = configs[0].to_dict()
    for member, config in enumerate(configs[1:], start=1):
        for name, value in config.to_dict().items():
            if name not in PACK_MEMBER_FIELDS and value != first[name]:
                raise ConfigError(
                    f"members of a pack must agree on {name}: member 0 has {first[name]!r}, "
                    f"member {member} has {value!r} (members may differ only in {', '.join(PACK_MEMBER_FIELDS)})"
                )
    return configs


class PackedTrainer:
    """Trains K :class:`Trainer` trials of one architecture as one stacked model.

    Member ``k`` is the trial ``Trainer(configs[k], train, test)`` would run: it starts
    from the same initial weights and draws the same permutations and negatives from
    a generator seeded like the lone trainer's, so its losses and metrics equal the
    lone trial's up to float rounding. Each step computes every member's gradient in
    one pass (:class:`~mtlstudy.models.PackedJointGradient`) and one fused Adam steps
    the stacked tensors; Adam is elementwise, so this is exactly per-member Adam.
    Evaluation ranks all members' score matrices together.

    Members may leave (:meth:`drop`), after which the stacks and the Adam state shrink
    and an epoch gets cheaper. ``state_dict`` captures the whole pack, including who
    left, so a restored pack continues bit for bit.

    Parameters
    ----------
    configs : sequence of TrainConfig
        One per member. They may differ only in ``lambda_f``, ``lambda_r`` and
        ``seed``; otherwise :class:`~mtlstudy.ConfigError` names the field.
    train, test : Interactions
        The split every member trains and is evaluated on (less the validation rows
        that every member holds out alike, as its lone :class:`Trainer` would).

    Attributes
    ----------
    configs : tuple of TrainConfig
        Member ``k``'s configuration at position ``k``.
    members : tuple of int
        Positions of the members still training, ascending.
    histories : list of list of dict
        Per member (all K), rows like ``Trainer.history``'s. A member's
        ``train_time_s`` and ``eval_time_s`` are its share of the pack's: the pack's
        time divided by the number of members that trained that epoch.
    epoch : int
        Epochs trained by the members still training.
    """

    def __init__(self, configs: Sequence[TrainConfig], train: Interactions, test: Interactions) -> None:
        self.configs = _check_pack(configs)
        self.device = resolve_device(self.configs[0].device)
        self.net = PackedMultiTaskNet([initial_net(member, train) for member in self.configs]).to(self.device)
        self.generators = [torch.Generator(device=self.device).manual_seed(member.seed) for member in self.configs]
        self.members = tuple(range(len(self.configs)))
        self.histories: list[list[dict[str, float]]] = [[] for _ in self.configs]
        self.epoch = 0
        self.num_items = train.num_items
        fit, self._evaluation = evaluation_rows(self.configs[0], train, test, self.device)
        self._train = on_device(fit, self.device)
        self._build_step()

    def _build_step(self, optimizer_state: dict[str, Any] | None = None) -> None:
        """Gradient, Adam and task weights for the current members (after a start, drop or load)."""
        self._gradient = PackedJointGradient(self.net)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=self.configs[0].lr, fused=True)
        if optimizer_state is not None:
            self.optimizer.load_state_dict(optimizer_state)
        lambdas = [[self.configs[member].lambda_f, self.configs[member].lambda_r] for member in self.members]
        self._lambdas = torch.tensor(lambdas, dtype=torch.float32, device=self.device).view(-1, 2, 1)

    def train_epoch(self) -> dict[int, dict[str, float]]:
        """Train every member one epoch, evaluate, append to :attr:`histories`.

        Returns
        -------
        dict
            Member position -> the row appended to its history (the keys of
            ``Trainer.train_epoch()``'s row).
        """
        if not self.members:
            raise ConfigError("every member has left the pack: there is nothing left to train")
        started = time.perf_counter()
        losses = self._fit_one_epoch()
        trained = time.perf_counter()
        metrics = self.evaluate()
        evaluated = time.perf_counter()
        self.epoch += 1
        rows = {}
        for member, member_losses, member_metrics in zip(self.members, losses, metrics):
            rows[member] = {
                "epoch": self.epoch,
                **member_losses,
                **member_metrics,
                "train_time_s": (trained - started) / len(self.members),
                "eval_time_s": (evaluated - trained) / len(self.members),
            }
            self.histories[member].append(rows[member])
        return rows

    def _fit_one_epoch(self) -> list[dict[str, float]]:
        users, items, ratings = self._train
        count = len(users)
        orders, negatives = [], []
        for member in self.members:  # each member's two draws, in lone Trainer's order
            generator = self.generators[member]
            orders.append(torch.randperm(count, generator=generator, device=self.device))
            negatives.append(torch.randint(0, self.num_items, (count,), generator=generator, device=self.device))
        order = torch.stack(orders)
        user_rows = self._gradient.rows(users[order], self.net.num_users)
        pair_rows = self._gradient.rows(torch.stack((items[order], torch.stack(negatives)), dim=2), self.num_items)
        ratings = ratings[order]
        lambda_f, lambda_r = self._lambdas[:, 0], self._lambdas[:, 1]
        totals = torch.zeros(len(self.members), 2, device=self.device)
        batch_size = self.configs[0].batch_size
        for start in range(0, count, batch_size):
            batch = slice(start, start + batch_size)
            totals += self._gradient(user_rows[:, batch], pair_rows[:, batch], ratings[:, batch], lambda_f, lambda_r)
            self.optimizer.step()
        means = (totals / -(-count // batch_size)).tolist()
        return [
            {
                "train_factorization_loss": loss_f,
                "train_mse": loss_r,
                # The joint loss is linear in the task losses, so its epoch mean follows from theirs.
                "train_joint_loss": self.configs[member].lambda_f * loss_f + self.configs[member].lambda_r * loss_r,
            }
            for member, (loss_f, loss_r) in zip(self.members, means)
        ]

    @torch.no_grad()
    def evaluate(self) -> list[dict[str, float]]:
        """Each training member's test MSE and MRR, hit rate and NDCG at k (and the same on the
        validation rows, as ``val_*``, for a pack with them), in :attr:`members` order."""
        per_chunk = max(1, _EVAL_ELEMENTS // (self.net.num_users * self.num_items))
        metrics: list[dict[str, float]] = [{} for _ in self.members]
        rankings: dict[str, list[dict[str, float]]] = {prefix: [] for prefix in self._evaluation}
        for start in range(0, len(self.members), per_chunk):
            scores = self.net.score_all(slice(start, start + per_chunk))
            for prefix, rows in self._evaluation.items():
                rankings[prefix] += rows.evaluator.stacked_scores(scores, k=self.configs[0].k)
        for prefix, rows in self._evaluation.items():
            mse = ((self.net.predict_ratings(rows.users, rows.items) - rows.ratings) ** 2).mean(1).tolist()
            for member, error, ranking in zip(metrics, mse, rankings[prefix]):
                member |= evaluation_metrics(prefix, error, ranking)
        return metrics

    def drop(self, member: int) -> None:
        """Member ``member`` (a position in :attr:`configs`) stops training; its history stays."""
        if member not in self.members:
            raise ConfigError(f"member {member!r} is not training in this pack; training: {list(self.members)}")
        keep = [position for position, kept in enumerate(self.members) if kept != member]
        optimizer_state = self.optimizer.state_dict()
        index = torch.tensor(keep, dtype=torch.long, device=self.device)
        for state in optimizer_state["state"].values():
            for name in ("exp_avg", "exp_avg_sq"):
                state[name] = state[name][index]
        self.net.keep(keep)
        self.members = tuple(self.members[position] for position in keep)
        self._build_step(optimizer_state)

    def summary(self, member: int) -> dict[str, float]:
        """Final and best-epoch value of every metric of one member (see ``summarize_history``)."""
        return summarize_history(self.histories[member])

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training bit for bit: only tensors and plain values."""
        return {
            "configs": [config.to_dict() for config in self.configs],
            "members": list(self.members),
            "epoch": self.epoch,
            "model": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generators": [generator.get_state() for generator in self.generators],
            "histories": [list(history) for history in self.histories],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` of a pack with these configurations, members who left included."""
        saved = [training_relevant(TrainConfig.from_mapping(config)) for config in state["configs"]]
        if saved != [training_relevant(config) for config in self.configs]:
            raise ConfigError("the checkpoint was written for a pack of different training configurations")
        members = tuple(state["members"])
        missing = sorted(set(members) - set(self.members))
        if missing:
            raise ConfigError(f"the checkpoint trains members {missing}, which have already left this pack")
        self.net.keep([self.members.index(member) for member in members])
        self.net.load_state_dict(state["model"])
        self.members = members
        self._build_step(state["optimizer"])
        for generator, generator_state in zip(self.generators, state["generators"]):
            generator.set_state(generator_state.cpu())
        self.histories = [list(history) for history in state["histories"]]
        self.epoch = state["epoch"]

    def save(self, path: str | os.PathLike) -> None:
        """Write :meth:`state_dict` to ``path`` atomically."""
        with atomic_path(path) as temporary:
            torch.save(self.state_dict(), temporary)

    def load(self, path: str | os.PathLike) -> None:
        """Restore the state :meth:`save` wrote to ``path`` (see :func:`~mtlstudy.training.load_checkpoint`)."""
        self.load_state_dict(load_pack_checkpoint(path, self.device))


def load_pack_checkpoint(path: str | os.PathLike, device: torch.device | str = "cpu") -> dict[str, Any]:
    """The :meth:`PackedTrainer.state_dict` that :meth:`PackedTrainer.save` wrote to ``path``.

    Read like :func:`~mtlstudy.training.load_checkpoint` (weights only; a
    :class:`~mtlstudy.CheckpointError` names a file that cannot be read).
    """
    return load_checkpoint(path, device, keys=_STATE_KEYS)
