#!/usr/bin/env python3
"""Time statsmodels' MixedLM (random intercept per user, REML, its default
fit) on one of docs/realdata's CSV files, for the fit-time ratio of
docs/results.md. Usage: mixedlm-time.py FILE.csv (columns user, features,
y; the feature "bias" is the intercept)."""
import sys, time
import numpy as np
import pandas as pd
import statsmodels.api as sm

df = pd.read_csv(sys.argv[1])
feats = [c for c in df.columns if c not in ("user", "y")]
X = df[feats].to_numpy(float)
# Drop columns that are linear combinations of earlier ones (dummy groups
# beside the bias), which MixedLM cannot fit.
keep = []
for j in range(X.shape[1]):
    if np.linalg.matrix_rank(X[:, keep + [j]]) == len(keep) + 1:
        keep.append(j)
start = time.perf_counter()
res = sm.MixedLM(df["y"].to_numpy(float), X[:, keep], groups=df["user"].astype(str)).fit(reml=True)
took = time.perf_counter() - start
print(f"{sys.argv[1]}: {len(df)} rows, {df['user'].nunique()} users, {len(keep)} of {len(feats)} features: "
      f"MixedLM REML fit {took:.2f} s (converged {res.converged}, llf {res.llf:.4f})")
