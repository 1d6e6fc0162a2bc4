"""scikit-learn estimators that train and predict with the lrsp binary."""

import csv
import json
import numbers
import os
import tempfile

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ._cli import LrspError, run
from ._packed import write_packed

# The ID that predict gives rows when no groups are passed: rows of no
# known user, predicted by the unknown-user policy.
NEW_USER = "__lrsp_new_user__"

# Methods with a shared theta_0 that --center fits (lrs and lowrank).
_CENTERED = ("lrs", "lowrank")


def _default_names(d):
    return [f"x{j}" for j in range(d)]


class _Base(BaseEstimator):
    """What the regressor and the classifier share; see
    LowRankSparseRegressor for the parameters."""

    _loss = "squared"

    def __init__(self, rank=None, sparsity=None, ridge=None, method="lrs", center=None, rounds=None,
                 tolerance=None, pursuit=None, init=None, unknown="global", random_state=None, n_jobs=None):
        self.rank = rank
        self.sparsity = sparsity
        self.ridge = ridge
        self.method = method
        self.center = center
        self.rounds = rounds
        self.tolerance = tolerance
        self.pursuit = pursuit
        self.init = init
        self.unknown = unknown
        self.random_state = random_state
        self.n_jobs = n_jobs

    # -- running the binary -------------------------------------------

    def _train_args(self, n_features):
        args = ["--method", str(self.method), "--loss", self._loss]
        center = self.center
        if center is None and self.method in _CENTERED:
            center = True
        if center is not None:
            args += ["--center", "true" if center else "false"]
        rank, sparsity = self.rank, self.sparsity
        if self.method in _CENTERED + ("global-sparse",):
            # None: the binary's default 5, at most the number of features.
            rank = min(5, n_features) if rank is None and self.method != "global-sparse" else rank
            sparsity = min(5, n_features) if sparsity is None and self.method != "lowrank" else sparsity
        for flag, v in (("rank", rank), ("sparsity", sparsity), ("ridge", self.ridge),
                        ("rounds", self.rounds), ("tolerance", self.tolerance), ("pursuit", self.pursuit),
                        ("init", self.init)):
            if v is not None:
                args += ["--" + flag, repr(v) if isinstance(v, float) else str(v)]
        if self.method in _CENTERED and isinstance(rank, numbers.Integral) and rank > n_features:
            raise ValueError(f"rank={rank} is more than the number of features: X has {n_features} feature(s)")
        if self.random_state is not None:
            seed = self.random_state
            if not isinstance(seed, numbers.Integral):
                seed = check_random_state(seed).randint(2**31 - 1)
            if seed < 0:
                raise ValueError(f"random_state={seed} must not be negative")
            args += ["--seed", str(int(seed))]
        if self.n_jobs is not None and self.n_jobs > 0:
            args += ["--workers", str(int(self.n_jobs))]
        if self.unknown not in ("error", "global"):
            raise ValueError(f"unknown={self.unknown!r}: want 'error' or 'global'")
        return args

    def _features(self, d):
        names = getattr(self, "feature_names_in_", None)
        return [str(f) for f in names] if names is not None else _default_names(d)

    @staticmethod
    def _ids(groups, n, default):
        if groups is None:
            return default
        g = np.asarray(groups)
        if g.ndim != 1 or len(g) != n:
            raise ValueError(f"groups has shape {g.shape}; want one user ID per row ({n} rows)")
        return g.astype(str)

    def _fit(self, X, y, groups):
        X, y = self._validate_data(X, y, dtype=np.float64, y_numeric=True)
        n, d = X.shape
        args = self._train_args(d)
        ids = self._ids(groups, n, np.array([f"row{i}" for i in range(n)]))
        with tempfile.TemporaryDirectory(prefix="lrsp-") as tmp:
            data, out = os.path.join(tmp, "train.lrspd"), os.path.join(tmp, "model.lrsp")
            write_packed(data, X, y, ids, self._features(d))
            run(["train", "--data", data, "--out", out, *args], "lrsp train")
            with open(out, "rb") as f:
                self.model_ = f.read()
        self._dump = None
        return self

    def _predict_raw(self, X, groups):
        check_is_fitted(self, "model_")
        X = self._validate_data(X, dtype=np.float64, reset=False)
        n, d = X.shape
        if groups is None and self.unknown == "error":
            raise ValueError("predict without groups treats every row as a new user, which unknown='error' "
                             "refuses: pass groups, or set unknown='global'")
        ids = self._ids(groups, n, np.full(n, NEW_USER))
        with tempfile.TemporaryDirectory(prefix="lrsp-") as tmp:
            data, mpath, out = (os.path.join(tmp, f) for f in ("x.lrspd", "model.lrsp", "pred.csv"))
            write_packed(data, X, None, ids, self._features(d))
            with open(mpath, "wb") as f:
                f.write(self.model_)
            run(["predict", "--model", mpath, "--data", data, "--out", out, "--unknown", self.unknown],
                "lrsp predict")
            with open(out, newline="") as f:
                r = csv.reader(f)
                next(r)
                pred = np.fromiter((float(row[1]) for row in r), dtype=np.float64, count=n)
        return pred

    # -- personalization and files ------------------------------------

    def personalize(self, X, y, groups):
        """Fits the users of groups from the rows X, y with everything
        shared (U, theta_0) fixed, as `lrsp personalize` does: new users are
        added and known ones refitted; every other user is kept. Returns
        self."""
        check_is_fitted(self, "model_")
        X, y = self._validate_data(X, y, dtype=np.float64, y_numeric=self._loss == "squared", reset=False)
        y = self._encode_y(y, fitting=False)
        ids = self._ids(groups, X.shape[0], None)
        if ids is None:
            raise ValueError("personalize needs groups: the user ID of each row")
        with tempfile.TemporaryDirectory(prefix="lrsp-") as tmp:
            data, mpath = os.path.join(tmp, "new.lrspd"), os.path.join(tmp, "model.lrsp")
            write_packed(data, X, y, ids, self._features(X.shape[1]))
            with open(mpath, "wb") as f:
                f.write(self.model_)
            run(["personalize", "--model", mpath, "--data", data, "--out", mpath], "lrsp personalize")
            with open(mpath, "rb") as f:
                self.model_ = f.read()
        self._dump = None
        return self

    def save(self, path):
        """Writes the fitted model as an lrsp model file at path (atomically),
        which `lrsp predict` and `lrsp serve` read."""
        check_is_fitted(self, "model_")
        d = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(dir=d, prefix="." + os.path.basename(path) + ".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(self.model_)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise

    @classmethod
    def load(cls, path, **params):
        """Returns an estimator fitted with the lrsp model file at path
        (written by `lrsp train`, `lrsp personalize`, `lrsp store export` or
        save). Its parameters are those the file records; params (unknown,
        for instance) override them. feature_names_in_ is set from the
        file's feature names unless they are x0, x1, ... as save writes
        for data without names."""
        with open(path, "rb") as f:
            raw = f.read()
        dump = _inspect(raw)
        cfg = dump.get("config") or {}
        loss = cfg.get("loss") or "squared"
        if loss != cls._loss:
            raise ValueError(f"{path}: a model of the {loss} loss; use "
                             f"{'LowRankSparseClassifier' if loss == 'logistic' else 'LowRankSparseRegressor'}")
        kw = {"method": cfg.get("method") or dump.get("method") or "lrs"}
        for k in ("rank", "sparsity", "ridge", "rounds", "tolerance", "init"):
            if cfg.get(k):
                kw[k] = cfg[k]
        if cfg.get("pursuit") and kw["method"] in _CENTERED + ("global-sparse",):
            kw["pursuit"] = cfg["pursuit"]
        if kw["method"] in _CENTERED:
            kw["center"] = bool(cfg.get("center"))
        if cfg.get("seed"):
            kw["random_state"] = cfg["seed"]
        kw.update(params)
        est = cls(**{k: v for k, v in kw.items() if k in cls._get_param_names()})
        est.model_ = raw
        est._dump = dump
        est.n_features_in_ = dump["d"]
        if dump["features"] != _default_names(dump["d"]):
            est.feature_names_in_ = np.asarray(dump["features"], dtype=object)
        if loss == "logistic":
            est.classes_ = np.array([0, 1])
        return est

    # -- fitted parameters --------------------------------------------

    def _params(self):
        check_is_fitted(self, "model_")
        if getattr(self, "_dump", None) is None:
            self._dump = _inspect(self.model_)
        return self._dump

    @property
    def components_(self):
        """U, the shared basis: an array of n_features_in_ rows and rank
        columns (no columns for methods without one)."""
        p = self._params()
        return np.array(p["U"], dtype=np.float64).reshape(p["d"], p["r"])

    @property
    def theta0_(self):
        """theta_0, the shared part of every user's coefficients (zeros when
        the model has none)."""
        p = self._params()
        return np.array(p.get("theta0") or np.zeros(p["d"]), dtype=np.float64)

    @property
    def users_(self):
        """The IDs of the users the model knows, as strings."""
        return list(self._params()["users"])

    @property
    def coef_(self):
        """Every user's coefficients theta_i = theta_0 + U w_i + b_i, as a
        dict from user ID to an array of n_features_in_ numbers."""
        return {u: self.user_coef(u) for u in self.users_}

    def user_coef(self, user):
        """The coefficients theta_i = theta_0 + U w_i + b_i of one user,
        an array of n_features_in_ numbers; KeyError for an unknown user."""
        p = self._params()
        u = p["users"][str(user)]
        theta = self.theta0_ + self.components_ @ np.asarray(u["w"] or np.zeros(p["r"]), dtype=np.float64)
        for j, v in (u.get("b") or {}).items():
            theta[int(j)] += v
        return theta

    def _encode_y(self, y, fitting):
        return y


def _inspect(raw):
    """The JSON dump (lrsp inspect --json) of the model file bytes raw."""
    with tempfile.TemporaryDirectory(prefix="lrsp-") as tmp:
        path = os.path.join(tmp, "model.lrsp")
        with open(path, "wb") as f:
            f.write(raw)
        return json.loads(run(["inspect", "--model", path, "--json"], "lrsp inspect"))


class LowRankSparseRegressor(RegressorMixin, _Base):
    """Low-rank + sparse personalized linear regression, trained by the
    lrsp binary (AMHT-LRS by default).

    Every user i gets coefficients theta_i = theta_0 + U w_i + b_i: U
    (n_features x rank) is shared by all users, w_i holds rank numbers and
    b_i at most `sparsity` non-zeros. The user of each row is given by
    ``groups`` (any hashable IDs; they are compared as strings).

    Without groups, fit treats every row as a user of its own (one sample
    each: the shared parts are learned from all rows, the per-user parts
    fit one row each), and predict treats every row as a new user, which
    the ``unknown`` policy predicts (by default with theta_0 + U mean(w),
    the average user). This is also what happens inside GridSearchCV with
    GroupKFold, whose test users are never in the training folds; pass
    groups to predict users the model knows.

    Parameters are passed to `lrsp train` as the flags of the same name;
    None means the binary's default (see `lrsp train --help`).

    rank, sparsity : int or None. None means the binary's default, 5, or
        the number of features when that is smaller
    ridge : float or None, the per-user ridge penalty (default 0)
    method : str, one of lrs, lowrank, global, local, global-sparse,
        finetune (neural-* methods are not offered here)
    center : bool or None. Fit a shared theta_0 first. None means True for
        the methods that have the option (lrs, lowrank), where theta_0 is
        what new users are predicted from; the binary's default is false.
    rounds, tolerance, pursuit, init : training schedule and options
    unknown : 'global' (default) or 'error'. Users predict does not know:
        the average user theta_0 + U mean(w_i), or an error, as
        `lrsp predict --unknown`. The binary's default is 'error'; here
        'global' is the default because predict without groups, scoring
        and cross-validation by groups predict new users.
    random_state : int, RandomState or None. The seed of training (None:
        the binary's default seed 1; training is deterministic either
        way).
    n_jobs : int or None, parallel workers (the model does not depend on
        it).

    Attributes
    ----------
    model_ : bytes, the lrsp model file
    components_ : U, (n_features_in_, rank)
    theta0_ : theta_0, (n_features_in_,)
    coef_ : dict, user ID -> theta_i; user_coef(id) gives one
    users_ : the users' IDs
    n_features_in_, feature_names_in_ : as scikit-learn defines them
    """

    def fit(self, X, y, groups=None):
        """Trains on the rows X (n_samples x n_features), targets y and the
        user ID of each row, groups (None: every row its own user). Returns
        self."""
        return self._fit(X, y, groups)

    def predict(self, X, groups=None):
        """Predicts every row of X for the user groups names (None: every
        row a new user; see unknown)."""
        return self._predict_raw(X, groups)

    def score(self, X, y, groups=None, sample_weight=None):
        """R^2 of predict(X, groups) against y."""
        return r2_score(y, self.predict(X, groups), sample_weight=sample_weight)


class LowRankSparseClassifier(ClassifierMixin, _Base):
    """Low-rank + sparse personalized logistic regression for two classes,
    trained by the lrsp binary with the logistic loss: P(y = classes_[1])
    = sigmoid(<x, theta_i>), theta_i = theta_0 + U w_i + b_i.

    The parameters, groups and the unknown-user policy are those of
    LowRankSparseRegressor (the pursuit option does not apply to the
    logistic loss). y may hold any two labels; classes_ lists them sorted,
    and the second is the positive class.
    """

    _loss = "logistic"

    def _more_tags(self):
        # The logistic loss is for 0/1 targets: two classes only.
        return {"binary_only": True}

    def __sklearn_tags__(self):
        # The same for scikit-learn 1.6 and later, which read tags here
        # (scikit-learn 1.2, which Debian ships, reads _more_tags).
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def _encode_y(self, y, fitting):
        if fitting:
            check_classification_targets(y)
            self.classes_ = np.unique(y)
            if len(self.classes_) != 2:
                raise ValueError(f"LowRankSparseClassifier needs two classes in y; got {len(self.classes_)} class(es)")
        elif not np.isin(y, self.classes_).all():
            raise ValueError(f"y holds labels other than the classes {list(self.classes_)}")
        return (y == self.classes_[1]).astype(np.float64)

    def fit(self, X, y, groups=None):
        """Trains on the rows X, labels y (two classes) and the user ID of
        each row, groups (None: every row its own user). Returns self."""
        X, y = self._validate_data(X, y, dtype=np.float64)
        return self._fit(X, self._encode_y(y, fitting=True), groups)

    def predict_proba(self, X, groups=None):
        """The probabilities of classes_[0] and classes_[1] of each row."""
        p = self._predict_raw(X, groups)
        return np.column_stack([1 - p, p])

    def predict(self, X, groups=None):
        """The more probable class of each row (classes_[1] from 0.5 up)."""
        p = self.predict_proba(X, groups)[:, 1]
        return self.classes_[(p >= 0.5).astype(int)]

    def score(self, X, y, groups=None, sample_weight=None):
        """Accuracy of predict(X, groups) against y."""
        return accuracy_score(y, self.predict(X, groups), sample_weight=sample_weight)
