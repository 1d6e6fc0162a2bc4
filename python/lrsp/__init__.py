"""lrsp: low-rank + sparse personalized linear models as scikit-learn
estimators.

Each user i gets coefficients theta_i = theta_0 + U w_i + b_i, with U shared
by every user, w_i of `rank` numbers and b_i of at most `sparsity`
non-zeros. Training, prediction and personalization run the lrsp binary
(found through the LRSP_BIN environment variable, then PATH), which reads
the data in lrsp's packed binary format (docs/pack-format.md), written here
with numpy.

    from lrsp import LowRankSparseRegressor
    est = LowRankSparseRegressor(rank=5, sparsity=5).fit(X, y, groups=users)
    est.predict(X_test, groups=test_users)
"""

from ._cli import LrspError, LrspNotFoundError, find_binary
from ._packed import write_packed
from .estimator import LowRankSparseClassifier, LowRankSparseRegressor

__all__ = ["LowRankSparseRegressor", "LowRankSparseClassifier", "LrspError", "LrspNotFoundError",
           "find_binary", "write_packed"]
__version__ = "0.1.0"
