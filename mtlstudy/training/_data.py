"""The train/test split a configuration asks for, and the validation rows it holds out of the training rows."""

from __future__ import annotations

from mtlstudy.data import Dataset, Interactions, load_dataset, random_train_test_split, random_validation_split
from mtlstudy.training._config import TrainConfig

__all__ = ["load_split", "validation_split"]


def load_split(config: TrainConfig, progress: bool = False) -> tuple[Interactions, Interactions, Dataset]:
    """Load ``config``'s data set (fetching it on first use) and split it as SPEC.md says."""
    dataset = load_dataset(
        config.dataset,
        config.data_path,
        verify=config.verify_data,
        progress=progress,
        **config.dataset_options,
    )
    train, test = random_train_test_split(dataset.interactions, config.test_fraction, config.split_seed)
    return train, test, dataset


def validation_split(config: TrainConfig, train: Interactions) -> tuple[Interactions, Interactions | None]:
    """The rows a run of ``config`` fits and its validation rows (None when ``validation_fraction`` is 0).

    The validation rows are ``validation_fraction`` of the training rows ``train``, drawn
    with ``split_seed`` (:func:`~mtlstudy.data.random_validation_split`).
    """
    if not config.validation_fraction:
        return train, None
    return random_validation_split(train, config.validation_fraction, config.split_seed)
