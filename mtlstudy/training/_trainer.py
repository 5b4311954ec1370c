"""The SPEC.md training loop, kept on one device and free of per-batch synchronisation."""

from __future__ import annotations

import os
import pickle
import time
import zipfile
from typing import Any, NamedTuple

import torch

from mtlstudy._errors import CheckpointError, ConfigError
from mtlstudy._files import atomic_path
from mtlstudy._history import summarize_history
from mtlstudy.data import Interactions
from mtlstudy.metrics import RankingEvaluator
from mtlstudy.models import JointGradient, MultiTaskNet
from mtlstudy.training._config import TrainConfig
from mtlstudy.training._data import validation_split

__all__ = [
    "Trainer",
    "resolve_device",
    "load_checkpoint",
    "initial_net",
    "on_device",
    "training_relevant",
    "EvaluationRows",
    "evaluation_rows",
    "evaluation_metrics",
]

# The top-level keys of Trainer.state_dict.
_STATE_KEYS = frozenset({"config", "model", "optimizer", "generator", "history"})
# What torch.load raises on a missing, truncated or corrupt file, besides the unpickler refusing it.
_UNREADABLE = (OSError, EOFError, RuntimeError, ValueError, zipfile.BadZipFile)


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but torch sees no CUDA device")
    return torch.device(name)


def initial_net(config: TrainConfig, train: Interactions) -> MultiTaskNet:
    """The network a run of ``config`` starts from.

    It is built on the CPU under the run's seed, so initial weights match on every device.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return MultiTaskNet(
            train.num_users,
            train.num_items,
            embedding_dim=config.embedding_dim,
            layer_sizes=config.layer_sizes,
            shared=config.shared,
            user_bias=config.user_bias,
        )


def on_device(data: Interactions, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """User ids, item ids and ratings as tensors on ``device``."""
    return tuple(torch.as_tensor(array, device=device) for array in (data.user_ids, data.item_ids, data.ratings))


class EvaluationRows(NamedTuple):
    """Rows a model is evaluated on each epoch, on the device, and their ranking evaluator."""

    users: torch.Tensor
    items: torch.Tensor
    ratings: torch.Tensor
    evaluator: RankingEvaluator


def evaluation_rows(
    config: TrainConfig, train: Interactions, test: Interactions, device: torch.device
) -> tuple[Interactions, dict[str, EvaluationRows]]:
    """The rows a run of ``config`` fits, and its evaluation rows by metric prefix.

    ``"test"``: ``test``, ranked among the items none of ``train`` holds for the user (as
    without validation rows, so test metrics keep their meaning). ``"val"``, for a run
    with validation rows (:func:`~mtlstudy.training.validation_split`): those rows,
    ranked among the items the fitted rows leave to the user.
    """
    fit, validation = validation_split(config, train)
    rows = {"test": EvaluationRows(*on_device(test, device), RankingEvaluator(train, test, device))}
    if validation is not None:
        rows["val"] = EvaluationRows(*on_device(validation, device), RankingEvaluator(fit, validation, device))
    return fit, rows


def evaluation_metrics(prefix: str, mse: float, ranking: dict[str, float]) -> dict[str, float]:
    """One evaluation's MSE and ranking scores under their epoch metric names: ``test_mse``,
    ``test_mrr``, ``test_hit_rate``, ``test_ndcg`` (``val_*`` for ``prefix`` ``"val"``)."""
    return {
        f"{prefix}_mse": mse,
        f"{prefix}_mrr": ranking["mrr"],
        f"{prefix}_hit_rate": ranking["hit_rate"],
        f"{prefix}_ndcg": ranking["ndcg"],
    }


class Trainer:
    """Trains and evaluates one :class:`MultiTaskNet`, one epoch per call.

    All interactions live on the device; each epoch draws its permutation and one
    uniform negative per positive in two calls of a seeded generator, and the batch
    losses accumulate on the device, so the loop never waits on the device. Each
    step's gradient comes from :class:`~mtlstudy.models.JointGradient` (hand-derived,
    equal to autograd's) and a fused Adam applies it.
    ``state_dict`` captures model, optimizer, generator and history, so a restored
    trainer continues exactly where the saved one stopped.

    Parameters
    ----------
    config : TrainConfig
    train, test : Interactions
        The split to train on and to evaluate on. With ``config.validation_fraction``
        > 0 the trainer holds that share of ``train`` out (seeded by ``split_seed``, so a
        pack member holds out the same rows) and evaluates on it too, as ``val_*``
        metrics (:data:`~mtlstudy._schema.VALIDATION_METRICS`).
    """

    def __init__(self, config: TrainConfig, train: Interactions, test: Interactions) -> None:
        self.config = config
        self.device = resolve_device(config.device)
        self.net = initial_net(config, train).to(self.device)
        # The fused kernel updates all parameters in one call: ~20% faster epochs on CPU.
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.lr, fused=True)
        self._gradient = JointGradient(self.net)
        self.generator = torch.Generator(device=self.device).manual_seed(config.seed)
        self.num_items = train.num_items
        self.history: list[dict[str, float]] = []
        fit, self._evaluation = evaluation_rows(config, train, test, self.device)
        self._train = on_device(fit, self.device)

    @property
    def epoch(self) -> int:
        """Number of epochs trained so far."""
        return len(self.history)

    def train_epoch(self) -> dict[str, float]:
        """Train one epoch, evaluate, append to :attr:`history` and return that row."""
        started = time.perf_counter()
        losses = self._fit_one_epoch()
        trained = time.perf_counter()
        row = {"epoch": self.epoch + 1, **losses, **self.evaluate()}
        row["train_time_s"] = trained - started
        row["eval_time_s"] = time.perf_counter() - trained
        self.history.append(row)
        return row

    def _fit_one_epoch(self) -> dict[str, float]:
        self.net.train()
        users, items, ratings = self._train
        count = len(users)
        order = torch.randperm(count, generator=self.generator, device=self.device)
        negatives = torch.randint(
            0, self.num_items, (count,), generator=self.generator, device=self.device
        )
        users, items, ratings = users[order], items[order], ratings[order]
        lambda_f, lambda_r = self.config.lambda_f, self.config.lambda_r
        totals = torch.zeros(2, device=self.device)
        batch_size = self.config.batch_size
        for start in range(0, count, batch_size):
            batch = slice(start, start + batch_size)
            totals += self._gradient(users[batch], items[batch], negatives[batch], ratings[batch], lambda_f, lambda_r)
            self.optimizer.step()
        loss_f, loss_r = (totals / -(-count // batch_size)).tolist()
        # The joint loss is linear in the task losses, so its epoch mean follows from theirs.
        return {
            "train_factorization_loss": loss_f,
            "train_mse": loss_r,
            "train_joint_loss": lambda_f * loss_f + lambda_r * loss_r,
        }

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Test MSE of the rating head and MRR, hit rate and NDCG at k of the ranking head;
        the same on the validation rows, as ``val_*``, for a run with them."""
        self.net.eval()
        scores = self.net.score_all()
        metrics = {}
        for prefix, rows in self._evaluation.items():
            mse = ((self.net.predict_ratings(rows.users, rows.items) - rows.ratings) ** 2).mean()
            metrics |= evaluation_metrics(prefix, float(mse), rows.evaluator.scores(scores, k=self.config.k))
        return metrics

    def summary(self) -> dict[str, float]:
        """Final and best-epoch value of every metric so far (see ``summarize_history``)."""
        return summarize_history(self.history)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training bit for bit."""
        return {
            "config": self.config.to_dict(),
            "model": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "history": list(self.history),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; the configuration must match this trainer's."""
        saved = TrainConfig.from_mapping(state["config"])
        if training_relevant(saved) != training_relevant(self.config):
            raise ConfigError("the checkpoint was written for a different training configuration")
        self.net.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"].cpu())
        self.history = list(state["history"])

    def save(self, path: str | os.PathLike) -> None:
        """Write :meth:`state_dict` to ``path`` atomically."""
        with atomic_path(path) as temporary:
            torch.save(self.state_dict(), temporary)

    def load(self, path: str | os.PathLike) -> None:
        """Restore the state :meth:`save` wrote to ``path`` (see :func:`load_checkpoint`)."""
        self.load_state_dict(load_checkpoint(path, self.device))


def load_checkpoint(
    path: str | os.PathLike, device: torch.device | str = "cpu", keys: frozenset[str] = _STATE_KEYS
) -> dict[str, Any]:
    """The :meth:`Trainer.state_dict` that :meth:`Trainer.save` wrote to ``path``.

    ``keys`` are the keys the state must have (a packed trainer's state has others).

    Read with ``torch.load(weights_only=True)``: a file that holds anything but
    tensors and plain containers is refused before any of it runs, because study
    directories are shared and a pickle could run arbitrary code.

    Raises
    ------
    CheckpointError
        If the file is missing, truncated or corrupt, holds other objects, or is not
        a trainer state; the message names the file.
    """
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"refused checkpoint {str(path)!r}: it holds something other than tensors and plain data "
            "(a corrupt file, or objects that could run code when loaded)"
        ) from None
    except _UNREADABLE as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"cannot read checkpoint {str(path)!r}: {reason}") from None
    if not isinstance(state, dict) or set(state) != keys:
        raise CheckpointError(f"checkpoint {str(path)!r} is not a trainer state (expected keys {sorted(keys)})")
    return state


def training_relevant(config: TrainConfig) -> dict[str, Any]:
    # Epochs may grow and the device may change between a save and a restore.
    values = config.to_dict()
    for key in ("epochs", "device"):
        values.pop(key)
    return values


