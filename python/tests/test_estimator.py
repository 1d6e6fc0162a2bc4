"""The estimators against the lrsp command line and scikit-learn's checks."""

import os
import pickle

import numpy as np
import pytest
import sklearn
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

import lrsp
from lrsp import LowRankSparseClassifier, LowRankSparseRegressor

from conftest import cli, lrs_data, read_predictions, write_csv


@pytest.mark.parametrize("est", [LowRankSparseRegressor(), LowRankSparseClassifier()],
                         ids=["regressor", "classifier"])
def test_check_estimator(est):
    check_estimator(est)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_cli_parity(tmp_path, loss):
    # The same rows and settings give the CLI's predictions exactly: the
    # wrapper's packed data hold the bits the CSV does.
    X, y, g = lrs_data(logistic=loss == "logistic")
    Xt, _, gt = lrs_data(seed=1)
    csv, test = os.fspath(tmp_path / "train.csv"), os.fspath(tmp_path / "test.csv")
    write_csv(csv, X, y, g)
    write_csv(test, Xt, None, gt)
    model, out = os.fspath(tmp_path / "m.lrsp"), os.fspath(tmp_path / "p.csv")
    cli("train", "--data", csv, "--out", model, "--loss", loss, "--rank", "2", "--sparsity", "1",
        "--ridge", "0.01", "--center", "true", "--seed", "7")
    cli("predict", "--model", model, "--data", test, "--out", out)
    want = read_predictions(out)
    if loss == "squared":
        est = LowRankSparseRegressor(rank=2, sparsity=1, ridge=0.01, random_state=7)
        got = est.fit(X, y, groups=g).predict(Xt, groups=gt)
    else:
        est = LowRankSparseClassifier(rank=2, sparsity=1, ridge=0.01, random_state=7)
        got = est.fit(X, y, groups=g).predict_proba(Xt, groups=gt)[:, 1]
    assert np.max(np.abs(got - want)) == 0
    with open(model, "rb") as f:
        assert f.read() == est.model_


def test_fitted_attributes_reproduce_predictions():
    X, y, g = lrs_data()
    est = LowRankSparseRegressor(rank=2, sparsity=1).fit(X, y, groups=g)
    U = est.components_
    assert U.shape == (6, 2)
    np.testing.assert_allclose(U.T @ U, np.eye(2), atol=1e-10)
    assert est.n_features_in_ == 6 and len(est.coef_) == 30
    # Each row's prediction is <x, theta_i> for its user's theta_i.
    theta = np.array([est.user_coef(u) for u in g])
    np.testing.assert_allclose(est.predict(X, groups=g), np.einsum("nd,nd->n", X, theta), rtol=1e-12, atol=1e-12)
    assert est.score(X, y, groups=g) > 0.99  # the personal fits explain the data
    with pytest.raises(KeyError):
        est.user_coef("nobody")


def test_unknown_users():
    X, y, g = lrs_data()
    est = LowRankSparseRegressor(rank=2, sparsity=1).fit(X, y, groups=g)
    new = np.array(["someone"] * 3)
    # global: theta_0 + U mean(w), the same for every new user.
    avg = est.theta0_ + est.components_ @ np.mean([est._params()["users"][u]["w"] for u in est.users_], axis=0)
    np.testing.assert_allclose(est.predict(X[:3], groups=new), X[:3] @ avg, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(est.predict(X[:3]), est.predict(X[:3], groups=new))
    est.set_params(unknown="error")
    with pytest.raises(lrsp.LrspError, match="someone"):
        est.predict(X[:3], groups=new)
    with pytest.raises(ValueError, match="unknown='global'"):
        est.predict(X[:3])


def test_personalize_matches_cli(tmp_path):
    X, y, g = lrs_data()
    Xn, yn, gn = lrs_data(users=5, seed=3)
    gn = np.array(["new-" + u for u in gn])
    est = LowRankSparseRegressor(rank=2, sparsity=1).fit(X, y, groups=g)
    model, model2, csv = (os.fspath(tmp_path / f) for f in ("m.lrsp", "m2.lrsp", "new.csv"))
    est.save(model)
    write_csv(csv, Xn, yn, gn)
    cli("personalize", "--model", model, "--data", csv, "--out", model2)
    before = est.user_coef("u0")
    est.personalize(Xn, yn, groups=gn)
    with open(model2, "rb") as f:
        assert f.read() == est.model_
    assert len(est.users_) == 35
    np.testing.assert_array_equal(est.user_coef("u0"), before)  # other users are kept
    assert est.score(Xn, yn, groups=gn) > 0.9


def test_save_load_and_cli_predict(tmp_path):
    X, y, g = lrs_data()
    est = LowRankSparseRegressor(rank=2, sparsity=1, ridge=0.5).fit(X, y, groups=g)
    path = os.fspath(tmp_path / "m.lrsp")
    est.save(path)
    assert os.listdir(tmp_path) == ["m.lrsp"]
    back = LowRankSparseRegressor.load(path)
    assert back.get_params()["rank"] == 2 and back.get_params()["ridge"] == 0.5
    np.testing.assert_array_equal(back.predict(X, groups=g), est.predict(X, groups=g))
    # The CLI predicts the Python model, and Python a CLI model, alike.
    csv, out = os.fspath(tmp_path / "d.csv"), os.fspath(tmp_path / "p.csv")
    write_csv(csv, X, y, g, names=["a", "b", "c", "d", "e", "f"])
    with pytest.raises(subprocess_error()):
        cli("predict", "--model", path, "--data", csv)  # other feature names: refused
    write_csv(csv, X, y, g)
    cli("predict", "--model", path, "--data", csv, "--out", out)
    np.testing.assert_array_equal(read_predictions(out), est.predict(X, groups=g))
    cli("train", "--data", csv, "--out", path, "--rank", "3")
    cli_model = LowRankSparseRegressor.load(path)
    assert cli_model.components_.shape == (6, 3)
    cli("predict", "--model", path, "--data", csv, "--out", out)
    np.testing.assert_array_equal(read_predictions(out), cli_model.predict(X, groups=g))
    with pytest.raises(ValueError, match="LowRankSparseRegressor"):
        LowRankSparseClassifier.load(path)
    # A model from Python goes into a user store (what lrsp serve reads) and
    # back unchanged in its predictions.
    db, back_path = os.fspath(tmp_path / "users.db"), os.fspath(tmp_path / "back.lrsp")
    est.save(path)
    cli("store", "import", "--model", path, "--store", db)
    cli("store", "export", "--store", db, "--out", back_path)
    np.testing.assert_array_equal(LowRankSparseRegressor.load(back_path).predict(X, groups=g), est.predict(X, groups=g))
    # Pickling keeps the model.
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).predict(X, groups=g), est.predict(X, groups=g))


def subprocess_error():
    import subprocess
    return subprocess.CalledProcessError


def test_pandas_feature_names(tmp_path):
    pd = pytest.importorskip("pandas")
    X, y, g = lrs_data()
    df = pd.DataFrame(X, columns=["age", "income", "a", "b", "c", "d"])
    est = LowRankSparseRegressor(rank=2, sparsity=1).fit(df, y, groups=g)
    assert list(est.feature_names_in_) == ["age", "income", "a", "b", "c", "d"]
    path = os.fspath(tmp_path / "m.lrsp")
    est.save(path)
    assert "income" in cli("inspect", "--model", path)
    assert list(LowRankSparseRegressor.load(path).feature_names_in_) == list(df.columns)
    with pytest.raises(ValueError, match="feature names"):
        est.predict(df[list(reversed(df.columns))], groups=g)


def test_classifier_labels():
    X, y, g = lrs_data(logistic=True)
    labels = np.where(y == 1, "yes", "no")
    est = LowRankSparseClassifier(rank=2, sparsity=1).fit(X, labels, groups=g)
    assert list(est.classes_) == ["no", "yes"]
    proba = est.predict_proba(X, groups=g)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    assert set(est.predict(X, groups=g)) <= {"no", "yes"}
    assert est.score(X, labels, groups=g) > 0.7
    with pytest.raises(ValueError, match="two classes"):
        LowRankSparseClassifier().fit(X, np.where(y == 1, "a", "b")[:1].repeat(len(y)), groups=g)


def test_binary_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("LRSP_BIN", os.fspath(tmp_path / "nothing"))
    with pytest.raises(lrsp.LrspNotFoundError, match="LRSP_BIN"):
        LowRankSparseRegressor().fit(np.eye(3), [1.0, 2.0, 3.0])
    monkeypatch.delenv("LRSP_BIN")
    monkeypatch.setenv("PATH", os.fspath(tmp_path))
    with pytest.raises(lrsp.LrspNotFoundError, match="LRSP_BIN is not set and no lrsp is on PATH"):
        LowRankSparseRegressor().fit(np.eye(3), [1.0, 2.0, 3.0])


def test_pipeline_grid_search_group_kfold():
    # groups go to GroupKFold through GridSearchCV and to the estimator
    # through the pipeline's fit parameters; held-out users are new users.
    X, y, g = lrs_data(users=20)
    pipe = Pipeline([("scale", StandardScaler()), ("lrsp", LowRankSparseRegressor(sparsity=1))])
    search = GridSearchCV(pipe, {"lrsp__rank": [1, 2]}, cv=GroupKFold(n_splits=3))
    search.fit(X, y, groups=g, lrsp__groups=g)
    assert search.best_params_["lrsp__rank"] in (1, 2)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.predict(X[:5]).shape == (5,)
    assert sklearn.__version__


def test_readme_example(tmp_path, monkeypatch):
    # The Python example of the repository's README runs as written.
    readme = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")
    with open(readme) as f:
        text = f.read()
    start = text.index("```python\n", text.index("## From Python")) + len("```python\n")
    code = text[start:text.index("```", start)]
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    assert LowRankSparseRegressor.load("model.lrsp").components_.shape == (8, 2)


def test_classifier_personalize_and_cli_parity(tmp_path):
    # Labels other than 0/1 are mapped to 0/1 for the binary; personalizing
    # new users gives the model lrsp personalize writes from the 0/1 data.
    X, y, g = lrs_data(logistic=True)
    Xn, yn, gn = lrs_data(users=4, seed=5, logistic=True)
    gn = np.array(["new-" + u for u in gn])
    labels = np.where(y == 1, "yes", "no")
    est = LowRankSparseClassifier(rank=2, sparsity=1).fit(X, labels, groups=g)
    model, model2, csv = (os.fspath(tmp_path / f) for f in ("m.lrsp", "m2.lrsp", "new.csv"))
    est.save(model)
    write_csv(csv, Xn, yn, gn)
    cli("personalize", "--model", model, "--data", csv, "--out", model2)
    est.personalize(Xn, np.where(yn == 1, "yes", "no"), groups=gn)
    with open(model2, "rb") as f:
        assert f.read() == est.model_
    with pytest.raises(ValueError, match="labels other than"):
        est.personalize(Xn, np.where(yn == 1, "yes", "maybe"), groups=gn)
