"""Dataset loaders and the split protocol."""

import hashlib
from importlib import resources

import numpy as np
import pytest

from jaxkd import data


def test_boston_is_shipped_with_provenance():
    raw = resources.files("jaxkd.data").joinpath("boston_house_prices.csv").read_bytes()
    assert hashlib.md5(raw).hexdigest() == "e64b5c2c7cd63a8e834fd6b4a0f4cbaa"
    assert "racial" in resources.files("jaxkd.data").joinpath("BOSTON.md").read_text()
    ds = data.load_dataset("boston")
    assert ds.X.shape == (506, 13) and ds.task == "regression"
    assert ds.feature_names[11] == "B"
    assert ds.y[0] == 24.0 and ds.X[0, 0] == pytest.approx(0.00632)
    dropped = data.load_dataset("boston", drop_b=True)
    assert dropped.X.shape == (506, 12) and "B" not in dropped.feature_names


@pytest.mark.parametrize("name, shape, classes", [
    ("diabetes", (442, 10), 0), ("digits", (1797, 64), 10), ("wine", (178, 13), 3),
    ("breast-cancer", (569, 30), 2),
])
def test_sklearn_bundled(name, shape, classes):
    ds = data.load_dataset(name)
    assert ds.X.shape == shape and ds.num_classes == classes
    assert data.availability(name) == (True, "bundled")


def test_regression_split_is_standardized_and_seeded():
    ds = data.load_dataset("boston")
    a, b = data.split(ds, seed=3), data.split(ds, seed=3)
    assert a.X_train.shape == (404, 13) and a.X_test.shape == (102, 13)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_allclose(a.X_train.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(a.X_train.std(0), 1, atol=1e-12)
    assert a.y_train.mean() == pytest.approx(0, abs=1e-12) and a.y_train.std() == pytest.approx(1)
    original = a.y_test * a.y_scale + a.y_mean  # back in $1000s: every value is a real label
    assert np.abs(original[:, None] - ds.y[None, :]).min(axis=1).max() < 1e-9
    assert not np.array_equal(data.split(ds, seed=4).X_train, a.X_train)


def test_classification_split_is_stratified():
    sp = data.split(data.load_dataset("wine"), seed=0)
    full = np.bincount(data.load_dataset("wine").y) / 178
    np.testing.assert_allclose(np.bincount(sp.y_train) / sp.y_train.size, full, atol=0.02)
    assert sp.y_train.dtype == np.int64 and sp.y_scale == 1.0


@pytest.mark.parametrize("name, fragment", [("mnist", "openml"), ("covertype", "covertype")])
def test_cached_datasets_fail_clearly_without_cache(tmp_path, name, fragment):
    ok, where = data.availability(name, tmp_path)
    assert not ok and str(tmp_path) in where
    with pytest.raises(ValueError, match=f"not cached: looked for {tmp_path}.*{fragment}"):
        data.load_dataset(name, data_home=tmp_path)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset 'iris'; choose one of boston"):
        data.load_dataset("iris")


def test_csv_loader_and_bad_csv(tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("a,b,y\n1,2,3\n4,5,6\n7,8,10\n")
    ds = data.load_csv(good)
    assert ds.X.shape == (3, 2) and list(ds.y) == [3, 6, 10]
    assert data.load_csv(good, target="a").feature_names == ("b", "y")
    nan = tmp_path / "nan.csv"
    nan.write_text("a,y\n1,2\n,3\n")
    with pytest.raises(ValueError, match="NaN"):
        data.load_dataset(str(nan))
    with pytest.raises(ValueError, match="does not exist"):
        data.load_dataset(str(tmp_path / "missing.csv"))
    with pytest.raises(ValueError, match="target column 'z'"):
        data.load_csv(good, target="z")


def test_dataset_validation():
    with pytest.raises(ValueError, match="rows"):
        data.Dataset("x", np.ones((3, 2)), np.ones(4), ("a", "b"), "regression")
    with pytest.raises(ValueError, match="unknown task"):
        data.Dataset("x", np.ones((3, 2)), np.ones(3), ("a", "b"), "ranking")
