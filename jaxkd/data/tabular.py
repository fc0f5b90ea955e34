"""Tabular datasets and the study's train/test split protocol.

Offline by construction: Boston Housing ships inside the package, Diabetes, Digits, Wine and
Breast Cancer ship with scikit-learn, and MNIST and Covertype are read from a local
scikit-learn ``data_home`` cache (never downloaded at run time).
"""

from __future__ import annotations

import csv
import dataclasses
import os
from importlib import resources
from pathlib import Path
from typing import Callable

import numpy as np

from jaxkd import _validation as v

COVERTYPE_ROWS = 50_000
_MNIST_OPENML_ID = 554


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A loaded dataset.

    Attributes:
      name: registry name or file path.
      X: features, (n, d) float64.
      y: targets, (n,) float64 for regression, int64 class labels for classification.
      feature_names: d names.
      task: "regression" or "classification".
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    task: str

    def __post_init__(self):
        X = v.as_float_array(f"features of dataset {self.name!r}", self.X, ndim=2)
        y = v.as_float_array(f"targets of dataset {self.name!r}", self.y, ndim=1)
        v.check_same_rows("features", X, "targets", y)
        v.check_choice("task", self.task, ("regression", "classification"))
        if self.task == "classification":
            if not np.all(y == np.round(y)):
                raise ValueError(f"classification targets of {self.name!r} must be integers.")
            y = y.astype(np.int64)
        if len(self.feature_names) != X.shape[1]:
            raise ValueError("feature_names must name every column of X.")
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)

    @property
    def num_classes(self) -> int:
        return int(self.y.max()) + 1 if self.task == "classification" else 0


@dataclasses.dataclass(frozen=True)
class Split:
    """Standardized 80/20 split (features, and the target for regression, scaled on train).

    Attributes:
      X_train (n, d), X_test (m, d), y_train (n,), y_test (m,);
      y_mean, y_scale: the target's train mean and standard deviation (1 and 0 for classes),
      so original units are ``y * y_scale + y_mean``.
    """

    name: str
    task: str
    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    feature_names: tuple[str, ...]
    y_mean: float = 0.0
    y_scale: float = 1.0
    seed: int = 0

    @property
    def num_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1 if self.task == "classification" else 0


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    name: str
    task: str
    description: str
    loader: Callable[..., Dataset]
    cache: Callable[[Path], Path | None]  # path that must exist when cached, None when shipped


def _load_boston(*, drop_b: bool = False, **_) -> Dataset:
    """Boston Housing, shipped with jaxkd (provenance in ``jaxkd/data/BOSTON.md``).

    Feature ``B`` encodes a racial statistic (``1000 (Bk - 0.63)^2``), the reason scikit-learn
    removed this dataset; it is kept because the study's reference results use it, and
    ``drop_b=True`` removes it.
    """
    text = resources.files("jaxkd.data").joinpath("boston_house_prices.csv").read_text()
    rows = list(csv.reader(text.splitlines()))
    header, body = rows[0], np.array(rows[1:], dtype=np.float64)
    names = tuple(header[:-1])
    X, y = body[:, :-1], body[:, -1]
    if drop_b:
        keep = [i for i, n in enumerate(names) if n != "B"]
        X, names = X[:, keep], tuple(names[i] for i in keep)
    return Dataset("boston", X, y, names, "regression")


def _sklearn_loader(name: str, task: str, fn: str):
    def load(**_) -> Dataset:
        import sklearn.datasets as skd

        bunch = getattr(skd, fn)()
        names = tuple(str(n) for n in getattr(bunch, "feature_names", range(bunch.data.shape[1])))
        return Dataset(name, bunch.data, bunch.target, names, task)

    load.__doc__ = f"scikit-learn's bundled ``{fn}`` (offline)."
    return load


def _mnist_cache(home: Path) -> Path:
    return home / "openml" / "openml.org" / "api" / "v1" / "json" / "data" / f"{_MNIST_OPENML_ID}.gz"


def _covertype_cache(home: Path) -> Path:
    return home / "covertype" / "samples"


def _require_cache(name: str, path: Path, how: str) -> None:
    if not path.exists():
        raise ValueError(
            f"dataset {name!r} is not cached: looked for {path}; populate it once on a machine "
            f"with network access with {how} (jaxkd never downloads at run time)."
        )


def _load_mnist(*, data_home: Path, **_) -> Dataset:
    """MNIST (70,000 x 784) from scikit-learn's OpenML cache under ``data_home``."""
    _require_cache(
        "mnist", _mnist_cache(data_home),
        f"`sklearn.datasets.fetch_openml(data_id={_MNIST_OPENML_ID}, data_home='{data_home}')`",
    )
    from sklearn.datasets import fetch_openml

    bunch = fetch_openml(data_id=_MNIST_OPENML_ID, data_home=str(data_home), as_frame=False,
                         parser="liac-arff", n_retries=0)
    X = np.asarray(bunch.data, dtype=np.float64) / 255.0
    y = np.asarray(bunch.target).astype(np.int64)
    return Dataset("mnist", X, y, tuple(f"pixel{i}" for i in range(X.shape[1])), "classification")


def _load_covertype(*, data_home: Path, seed: int = 0, **_) -> Dataset:
    """Covertype, a stratified 50,000-row subsample (seeded) of scikit-learn's cached copy."""
    _require_cache(
        "covertype", _covertype_cache(data_home),
        f"`sklearn.datasets.fetch_covtype(data_home='{data_home}')`",
    )
    from sklearn.datasets import fetch_covtype
    from sklearn.model_selection import train_test_split

    bunch = fetch_covtype(data_home=str(data_home), download_if_missing=False)
    X, y = bunch.data, bunch.target.astype(np.int64) - 1  # classes 1..7 -> 0..6
    X, _, y, _ = train_test_split(X, y, train_size=COVERTYPE_ROWS, stratify=y, random_state=seed)
    return Dataset("covertype", X, y, tuple(bunch.feature_names), "classification")


DATASETS: dict[str, DatasetSpec] = {
    "boston": DatasetSpec("boston", "regression", "Boston Housing, 506 x 13 (shipped)",
                          _load_boston, lambda home: None),
    "diabetes": DatasetSpec("diabetes", "regression", "Diabetes, 442 x 10 (scikit-learn)",
                            _sklearn_loader("diabetes", "regression", "load_diabetes"), lambda h: None),
    "digits": DatasetSpec("digits", "classification", "Digits, 1797 x 64, 10 classes (scikit-learn)",
                          _sklearn_loader("digits", "classification", "load_digits"), lambda h: None),
    "wine": DatasetSpec("wine", "classification", "Wine, 178 x 13, 3 classes (scikit-learn)",
                        _sklearn_loader("wine", "classification", "load_wine"), lambda h: None),
    "breast-cancer": DatasetSpec(
        "breast-cancer", "classification", "Breast Cancer, 569 x 30, 2 classes (scikit-learn)",
        _sklearn_loader("breast-cancer", "classification", "load_breast_cancer"), lambda h: None),
    "mnist": DatasetSpec("mnist", "classification", "MNIST, 70000 x 784, 10 classes (cached OpenML)",
                         _load_mnist, _mnist_cache),
    "covertype": DatasetSpec(
        "covertype", "classification",
        f"Covertype, {COVERTYPE_ROWS} x 54 subsample, 7 classes (cached)", _load_covertype,
        _covertype_cache),
}


def _data_home(data_home) -> Path:
    if data_home is not None:
        return Path(data_home)
    return Path(os.environ.get("SCIKIT_LEARN_DATA", Path.home() / "scikit_learn_data"))


def availability(name: str, data_home=None) -> tuple[bool, str]:
    """Whether dataset ``name`` can be loaded offline now, and where it comes from."""
    spec = DATASETS[v.check_choice("dataset", name, list(DATASETS))]
    path = spec.cache(_data_home(data_home))
    if path is None:
        return True, "bundled"
    return (True, f"cached at {path}") if path.exists() else (False, f"missing: {path}")


def check_available(name: str, data_home=None) -> str:
    """Raise ``ValueError`` unless ``name`` is a known dataset loadable offline now, or an
    existing ``.csv`` file; return ``name``. Cheap: loads nothing."""
    if name.endswith(".csv"):
        if not Path(name).is_file():
            raise ValueError(f"data file {name} does not exist.")
        return name
    if name not in DATASETS:
        raise ValueError(
            f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}, or give a .csv path."
        )
    ok, where = availability(name, data_home)
    if not ok:
        spec = DATASETS[name]
        spec.loader(data_home=_data_home(data_home))  # raises the message naming the cache
    return name


def load_csv(path, *, target: str | None = None, task: str = "regression") -> Dataset:
    """Load a user's CSV with a header row; ``target`` names the target column (default: last)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"data file {path} does not exist.")
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    if len(rows) < 2:
        raise ValueError(f"data file {path} needs a header row and at least one data row.")
    header = [h.strip() for h in rows[0]]
    col = len(header) - 1 if target is None else (header.index(target) if target in header else -1)
    if col < 0:
        raise ValueError(f"target column {target!r} is not in {path}; columns: {', '.join(header)}.")
    try:
        body = np.array([[float(x) if x.strip() else np.nan for x in r] for r in rows[1:]])
    except ValueError as exc:
        raise ValueError(f"data file {path} has a non-numeric value ({exc}).") from None
    if body.ndim != 2 or body.shape[1] != len(header):
        raise ValueError(f"data file {path} has rows of different lengths.")
    X = np.delete(body, col, axis=1)
    names = tuple(h for i, h in enumerate(header) if i != col)
    return Dataset(str(path), X, body[:, col], names, task)


def load_dataset(name: str, *, data_home=None, drop_b: bool = False, seed: int = 0) -> Dataset:
    """Load a dataset by registry name (see :data:`DATASETS`) or from a CSV file path.

    Args:
      name: one of ``DATASETS`` or a path ending in ``.csv`` (target = last column).
      data_home: scikit-learn cache folder for MNIST/Covertype (default: scikit-learn's).
      drop_b: drop Boston's feature ``B``.
      seed: seed of Covertype's 50,000-row subsample.

    Raises:
      ValueError: unknown name, missing cache or file, or invalid contents.
    """
    if name.endswith(".csv"):
        return load_csv(name)
    spec = DATASETS.get(name)
    if spec is None:
        raise ValueError(
            f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}, or give a .csv path."
        )
    return spec.loader(data_home=_data_home(data_home), drop_b=drop_b, seed=seed)


def split(dataset: Dataset, *, test_size: float = 0.2, seed: int = 0) -> Split:
    """The study's split: 80/20 (stratified for classification), seeded, standardized on train.

    Uses scikit-learn's ``train_test_split`` and ``StandardScaler``. Constant training
    features are left unscaled (scale 1) rather than divided by zero.
    """
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must lie strictly between 0 and 1, got {test_size}.")
    strat = dataset.y if dataset.task == "classification" else None
    X_tr, X_te, y_tr, y_te = train_test_split(
        dataset.X, dataset.y, test_size=test_size, random_state=seed, stratify=strat
    )
    scaler = StandardScaler().fit(X_tr)
    X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
    y_mean, y_scale = 0.0, 1.0
    if dataset.task == "regression":
        y_mean, y_scale = float(y_tr.mean()), float(y_tr.std())
        if y_scale == 0.0:
            raise ValueError(f"the target of {dataset.name!r} is constant on the training split.")
        y_tr, y_te = (y_tr - y_mean) / y_scale, (y_te - y_mean) / y_scale
    return Split(dataset.name, dataset.task, X_tr, X_te, y_tr, y_te, dataset.feature_names,
                 y_mean, y_scale, seed)
