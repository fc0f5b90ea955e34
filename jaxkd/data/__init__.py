"""Datasets: tabular (shipped, scikit-learn, cached) and, later, QA corpora."""

from jaxkd.data.tabular import (
    DATASETS,
    Dataset,
    Split,
    availability,
    check_available,
    load_csv,
    load_dataset,
    split,
)

__all__ = ["DATASETS", "Dataset", "Split", "availability", "check_available", "load_csv", "load_dataset", "split"]
