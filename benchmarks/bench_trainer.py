"""Trainer speed: mtlstudy's trainer against the original pipeline, on one CPU thread.

The baseline is the original pipeline as described in the core issue: minibatches cut
in Python from numpy arrays, negatives drawn per batch with numpy, the network's full
forward pass (both heads, as the original ``forward(user_ids, item_ids)`` returned them)
run once for the positives and once for the negatives, one ``.item()`` per loss per
batch, and MRR computed user by user (a forward pass over all items, then
``scipy.stats.rankdata``).
Both train the same :class:`MultiTaskNet` with the same configuration; the script
prints per-epoch training and evaluation time, their ratios, and the metrics of both.

    python benchmarks/bench_trainer.py --epochs 200
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse
import scipy.stats
import torch

from mtlstudy.data import load_dataset, random_train_test_split
from mtlstudy.training import TrainConfig, Trainer


class OriginalPipeline:
    """The per-batch, per-user training and evaluation the original write-up used."""

    def __init__(self, config: TrainConfig, train, test) -> None:
        self.config, self.train, self.test = config, train, test
        self.net = Trainer(config, train, test).net  # same architecture and initialisation
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.lr)
        self.random = np.random.RandomState(config.seed)

    def _forward(self, users, items):
        """The original network's forward: factorization scores and predicted ratings."""
        tower = self.net.factorization
        scores = (tower.users(users) * tower.items(items)).sum(1) + self.net.item_bias(items).squeeze(1)
        return scores, self.net.predict_ratings(users, items)

    def train_epoch(self) -> dict[str, float]:
        """Train and evaluate one epoch; the row has the keys and timings Trainer.train_epoch gives."""
        started = time.perf_counter()
        row = self._fit_one_epoch()
        trained = time.perf_counter()
        row |= self.evaluate()
        return row | {"train_time_s": trained - started, "eval_time_s": time.perf_counter() - trained}

    def _fit_one_epoch(self) -> dict[str, float]:
        self.net.train()
        order = self.random.permutation(len(self.train))
        users, items = self.train.user_ids[order], self.train.item_ids[order]
        ratings = self.train.ratings[order]
        totals, batches = np.zeros(3), 0
        for start in range(0, len(order), self.config.batch_size):
            stop = start + self.config.batch_size
            user = torch.from_numpy(users[start:stop])
            item = torch.from_numpy(items[start:stop])
            rating = torch.from_numpy(ratings[start:stop])
            negative = torch.from_numpy(self.random.randint(0, self.train.num_items, len(user)))
            positive_scores, predicted = self._forward(user, item)
            negative_scores, _ = self._forward(user, negative)
            loss_f = (1.0 - torch.sigmoid(positive_scores - negative_scores)).mean()
            loss_r = ((predicted - rating) ** 2).mean()
            joint = self.config.lambda_f * loss_f + self.config.lambda_r * loss_r
            self.optimizer.zero_grad()
            joint.backward()
            self.optimizer.step()
            totals += (loss_f.item(), loss_r.item(), joint.item())
            batches += 1
        return dict(zip(("train_factorization_loss", "train_mse", "train_joint_loss"), totals / batches))

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        self.net.eval()
        test, train = self.test, self.train
        predicted = self.net.predict_ratings(torch.from_numpy(test.user_ids), torch.from_numpy(test.item_ids))
        mse = float(((predicted.numpy() - test.ratings) ** 2).mean())
        # Per-user item lists from CSR matrices, as the original's mrr_score took them.
        train_rows, test_rows = (_csr(data) for data in (train, test))
        all_items = torch.arange(train.num_items)
        reciprocal_ranks = []
        for user in np.flatnonzero(np.diff(test_rows.indptr)):
            user_column = torch.full_like(all_items, int(user))
            scores = self._forward(user_column, all_items)[0].numpy().copy()
            scores[train_rows[user].indices] = -np.inf
            ranks = scipy.stats.rankdata(-scores)
            reciprocal_ranks.append(np.mean(1.0 / ranks[test_rows[user].indices]))
        return {"test_mse": mse, "test_mrr": float(np.mean(reciprocal_ranks))}


def _csr(data) -> scipy.sparse.csr_matrix:
    return scipy.sparse.csr_matrix(
        (data.ratings, (data.user_ids, data.item_ids)), shape=(data.num_users, data.num_items)
    )


def _time_run(model: OriginalPipeline | Trainer, epochs: int) -> tuple[float, float, dict[str, float]]:
    train_s = eval_s = 0.0
    for _ in range(epochs):
        row = model.train_epoch()
        train_s += row["train_time_s"]
        eval_s += row["eval_time_s"]
    return train_s / epochs, eval_s / epochs, row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--shared", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    train, test = random_train_test_split(load_dataset(args.dataset, progress=True).interactions)
    config = TrainConfig(epochs=args.epochs, shared=args.shared, seed=args.seed, device="cpu")

    results = {
        "original": _time_run(OriginalPipeline(config, train, test), args.epochs),
        "mtlstudy": _time_run(Trainer(config, train, test), args.epochs),
    }
    (base_train, base_eval, base_row), (ours_train, ours_eval, ours_row) = results.values()
    print(f"{args.epochs} epochs, shared={args.shared}, 1 CPU thread, torch {torch.__version__}")
    print(f"{'':22}{'original':>12}{'mtlstudy':>12}{'ratio':>9}")
    for label, base, ours in (
        ("train s/epoch", base_train, ours_train),
        ("eval s/epoch", base_eval, ours_eval),
        ("trial s (total)", (base_train + base_eval) * args.epochs, (ours_train + ours_eval) * args.epochs),
    ):
        print(f"{label:22}{base:12.4f}{ours:12.4f}{base / ours:8.1f}x")
    print("final metrics (different random streams, same model and schedule):")
    for metric in ("train_factorization_loss", "train_mse", "train_joint_loss", "test_mse", "test_mrr"):
        print(f"  {metric:26}{base_row[metric]:10.4f}{ours_row[metric]:10.4f}")


if __name__ == "__main__":
    main()
