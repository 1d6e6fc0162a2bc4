"""Times the Python wrapper against the lrsp command line on the same data.

    LRSP_BIN=/path/to/lrsp PYTHONPATH=python python3 python/bench/overhead.py [rows] [repeats]

Both train with the same settings and predict the same held-out rows:
the CLI from CSV files (what a user of the CLI has) and from packed files
written beforehand, the wrapper from numpy arrays (it writes the packed
file itself, then reads the predictions back). The three are run in
turn, repeats times; prints the median and best time of each and the
ratios.
"""

import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from conftest import lrs_data, write_csv  # noqa: E402

from lrsp import LowRankSparseRegressor, find_binary, write_packed  # noqa: E402


def main():
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    users, d = rows // 20, 20
    X, y, g = lrs_data(users=users, samples=20, d=d, rank=4, k=2, seed=0)
    Xt, _, gt = lrs_data(users=users, samples=20, d=d, rank=4, k=2, seed=1)
    lrsp = find_binary()
    flags = ["--rank", "4", "--sparsity", "2", "--center", "true", "--rounds", "10"]
    names = [f"x{j}" for j in range(d)]
    with tempfile.TemporaryDirectory() as tmp:
        p = {k: os.path.join(tmp, k) for k in ("train.csv", "test.csv", "train.lrspd", "test.lrspd", "m.lrsp", "p.csv")}
        write_csv(p["train.csv"], X, y, g)
        write_csv(p["test.csv"], Xt, None, gt)
        write_packed(p["train.lrspd"], X, y, g, names)
        write_packed(p["test.lrspd"], Xt, None, gt, names)

        def cli(train, test):
            def run():
                subprocess.run([lrsp, "train", "--data", p[train], "--out", p["m.lrsp"], *flags],
                               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                subprocess.run([lrsp, "predict", "--model", p["m.lrsp"], "--data", p[test], "--out", p["p.csv"]],
                               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return run

        def wrapper():
            est = LowRankSparseRegressor(rank=4, sparsity=2, rounds=10).fit(X, y, groups=g)
            est.predict(Xt, groups=gt)

        # Interleaved, so that load from other processes falls on all three alike.
        runs = {"CLI, CSV files": cli("train.csv", "test.csv"), "CLI, packed files": cli("train.lrspd", "test.lrspd"),
                "Python wrapper": wrapper}
        times = {k: [] for k in runs}
        for _ in range(repeats):
            for k, fn in runs.items():
                t = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t)
    print(f"{rows} training rows + {rows} predicted rows, d={d}, {users} users, {repeats} interleaved repeats:")
    med = {k: float(np.median(v)) for k, v in times.items()}
    for k, v in times.items():
        print(f"  {k:18s} median {med[k]:.3f} s, best {min(v):.3f} s")
    py = med["Python wrapper"]
    print(f"  wrapper / CLI on CSV: {py / med['CLI, CSV files']:.2f}x (medians), "
          f"{min(times['Python wrapper']) / min(times['CLI, CSV files']):.2f}x (bests)")
    print(f"  wrapper / CLI on packed: {py / med['CLI, packed files']:.2f}x (medians), "
          f"{min(times['Python wrapper']) / min(times['CLI, packed files']):.2f}x (bests)")


if __name__ == "__main__":
    main()
