"""TEMPORARY stand-in (lead's branch only, replaced by the real PackedTrainer at merge)."""

from __future__ import annotations

import torch

from mtlstudy.training._history import summarize_history
from mtlstudy.training._trainer import Trainer

__all__ = ["PackedTrainer", "auto_pack_size"]


def auto_pack_size(device) -> int:
    return 1


class PackedTrainer:
    def __init__(self, configs, train, test):
        self.configs = tuple(configs)
        self._trainers = [Trainer(c, train, test) for c in configs]
        self.members = tuple(range(len(configs)))

    @property
    def histories(self):
        return [t.history for t in self._trainers]

    @property
    def epoch(self):
        return self._trainers[self.members[0]].epoch if self.members else 0

    def train_epoch(self):
        return {k: self._trainers[k].train_epoch() for k in self.members}

    def drop(self, member):
        self.members = tuple(k for k in self.members if k != member)

    def summary(self, member):
        return summarize_history(self.histories[member])

    def save(self, path):
        torch.save({"members": list(self.members), "trainers": [t.state_dict() for t in self._trainers]}, path)

    def load(self, path):
        state = torch.load(path, weights_only=False)
        self.members = tuple(state["members"])
        for t, s in zip(self._trainers, state["trainers"]):
            t.load_state_dict(s)
