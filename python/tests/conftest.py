import os
import subprocess
import sys

import numpy as np
import pytest

# The package under test is the one beside the tests, installed or not.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from lrsp import find_binary  # noqa: E402


@pytest.fixture(scope="session")
def lrsp_bin():
    """The lrsp binary the package finds (LRSP_BIN, then PATH)."""
    return find_binary()


def cli(*args):
    """Runs the lrsp binary and returns its standard output."""
    return subprocess.run([find_binary(), *args], check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE).stdout.decode()


def lrs_data(users=30, samples=12, d=6, rank=2, k=1, noise=0.05, seed=0, logistic=False):
    """Rows of users whose coefficients are U w_i + b_i, interleaved (row t
    belongs to user t mod users), as X, y, groups."""
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.standard_normal((d, rank)))[0]
    theta = rng.standard_normal((users, rank)) @ U.T * 2
    for i in range(users):
        theta[i, rng.choice(d, k, replace=False)] += rng.standard_normal(k)
    n = users * samples
    groups = np.array([f"u{t % users}" for t in range(n)])
    X = rng.standard_normal((n, d))
    lin = np.einsum("nd,nd->n", X, theta[np.arange(n) % users])
    if logistic:
        y = (rng.random(n) < 1 / (1 + np.exp(-lin))).astype(float)
    else:
        y = lin + noise * rng.standard_normal(n)
    return X, y, groups


def write_csv(path, X, y, groups, names=None):
    """Writes rows as lrsp's CSV, numbers in the shortest exact form."""
    d = X.shape[1]
    names = names or [f"x{j}" for j in range(d)]
    with open(path, "w") as f:
        f.write(",".join(["user", *names] + (["y"] if y is not None else [])) + "\n")
        for t in range(X.shape[0]):
            vals = [repr(float(v)) for v in X[t]] + ([repr(float(y[t]))] if y is not None else [])
            f.write(",".join([str(groups[t]), *vals]) + "\n")


def read_predictions(path):
    with open(path) as f:
        next(f)
        return np.array([float(line.split(",")[1]) for line in f])


def tmpfile(tmp_path, name):
    return os.fspath(tmp_path / name)
