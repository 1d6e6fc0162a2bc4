#!/usr/bin/python3
"""Reference fits for package mixed, from statsmodels' MixedLM.

Writes one JSON fixture per case into this directory (the directory of this
script), with the REML and the ML fit of each case, so that the Go tests need
no Python. Run from anywhere:

    /usr/bin/python3 mixed/testdata/reference.py [path/to/school.csv]

With --time as the first argument it only times statsmodels' fits on the
school data (see timing), for comparison with BenchmarkFitLMMSchool.

Cases:
  school_ri     the ILEA school data (user = school, y = exam_score), fixed
                effects on a full-rank subset of the columns (one dummy of each
                one-hot group dropped), random intercept;
  school_slope  the same with a random intercept and a random slope on
                vr_band_0;
  synthetic     data generated here with a fixed seed (100 groups, 5-10 rows
                each, features x1..x3 and a bias column, random intercept and
                random slopes on x1 and x2), written to synthetic.csv.

The school data are research-only and are not committed; the school fixtures
hold only fitted values. Their cases are skipped when the CSV is missing.

Each fit is run with BFGS at a tight gradient tolerance (gtol 1e-10; L-BFGS
ran off to a singular covariance with an infinite llf on the school data in
statsmodels 0.13.5), then restarted from its own optimum until the
log-likelihood stops changing; the fixture records the final score norm.
Tested with Debian python3-statsmodels 0.13.5, numpy 1.24, pandas 1.5.3.
"""

import json
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd
import statsmodels
from statsmodels.regression.mixed_linear_model import MixedLM

HERE = os.path.dirname(os.path.abspath(__file__))
SCHOOL = "/work/shared/data/school-ilea/school.csv"

# Fixed effects for the school cases: every column except one reference dummy
# of each one-hot group (year_1985, gender_0, vr_band_2, ethnic_0,
# school_gender_0, denomination_0), with the bias column as the intercept.
SCHOOL_FE = [
    "year_1986", "year_1987", "school_fsm_pct", "school_vr1_pct",
    "gender_1", "vr_band_0", "vr_band_1",
    "ethnic_1", "ethnic_2", "ethnic_3", "ethnic_4", "ethnic_5",
    "ethnic_6", "ethnic_7", "ethnic_8", "ethnic_9", "ethnic_10",
    "school_gender_1", "school_gender_2", "denomination_1", "denomination_2",
    "bias",
]


def fit(endog, exog, groups, exog_re, reml):
    """Fits MixedLM tightly and returns (result, gradient inf-norm)."""
    model = MixedLM(endog, exog, groups, exog_re=exog_re)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.fit(reml=reml, method=["bfgs"], maxiter=10000, gtol=1e-10)
        for _ in range(5):
            prev = res.llf
            res = model.fit(reml=reml, method=["bfgs"], maxiter=10000,
                            gtol=1e-10, start_params=res.params_object)
            if abs(res.llf - prev) <= 1e-12 * abs(prev):
                break
    grad = model.score(res.params_object, profile_fe=True)
    return res, float(np.max(np.abs(grad)))


def record(res, gnorm, fe_names, re_names):
    return {
        "fe_params": dict(zip(fe_names, map(float, res.fe_params))),
        "cov_re": np.asarray(res.cov_re, dtype=float).tolist(),
        "re_names": re_names,
        "scale": float(res.scale),
        "llf": float(res.llf),
        "converged": bool(res.converged),
        "score_inf_norm": gnorm,
    }


def run_case(name, df, user, target, fe, re, note):
    endog = df[target].to_numpy(dtype=float)
    exog = df[fe].to_numpy(dtype=float)
    exog_re = df[re].to_numpy(dtype=float)
    groups = df[user].to_numpy()
    if np.linalg.matrix_rank(exog) != exog.shape[1]:
        raise SystemExit(f"{name}: fixed-effect design is rank deficient")
    out = {
        "case": name,
        "note": note,
        "user": user,
        "target": target,
        "features": fe,
        "random": re,
        "rows": int(len(df)),
        "groups": int(df[user].nunique()),
        "statsmodels": statsmodels.__version__,
    }
    for crit, reml in (("reml", True), ("ml", False)):
        res, g = fit(endog, exog, groups, exog_re, reml)
        out[crit] = record(res, g, fe, re)
        print(f"{name} {crit}: llf={res.llf:.10f} scale={res.scale:.8g} "
              f"cov_re={np.asarray(res.cov_re).ravel()} |score|={g:.2e}")
    path = os.path.join(HERE, name + ".json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def synthetic():
    """Generates the synthetic case and writes synthetic.csv atomically."""
    rng = np.random.default_rng(20261201)
    sigma = np.array([[4.0, 0.6, -0.4], [0.6, 1.0, 0.2], [-0.4, 0.2, 0.5]])
    chol = np.linalg.cholesky(sigma)
    beta = np.array([1.5, -2.0, 0.7, 3.0])  # x1, x2, x3, bias
    rows = []
    for g in range(100):
        m = int(rng.integers(5, 11))
        u = chol @ rng.standard_normal(3)
        for _ in range(m):
            x = np.round(rng.standard_normal(3), 3)
            xb = np.append(x, 1.0)
            y = xb @ beta + u[0] + u[1] * x[0] + u[2] * x[1] + rng.normal(0, 1.0)
            rows.append((f"g{g:03d}", round(float(y), 4), *map(float, x), 1.0))
    df = pd.DataFrame(rows, columns=["user", "y", "x1", "x2", "x3", "bias"])
    path = os.path.join(HERE, "synthetic.csv")
    tmp = path + ".tmp"
    df.to_csv(tmp, index=False, float_format="%.4f")
    os.replace(tmp, path)
    return pd.read_csv(path, dtype={"user": str})


def timing(school):
    """Times MixedLM's REML fits on the school data (data loading excluded):
    statsmodels' default fit and the tight fit used for the fixtures, best
    of 5 runs each, for the random intercept and the random slope."""
    sd = pd.read_csv(school)
    endog = sd["exam_score"].to_numpy(dtype=float)
    exog = sd[SCHOOL_FE].to_numpy(dtype=float)
    groups = sd["school"].to_numpy()
    for name, re in (("school_ri", ["bias"]), ("school_slope", ["bias", "vr_band_0"])):
        exog_re = sd[re].to_numpy(dtype=float)
        for label, kw in (("default", {}),
                          ("tight", {"method": ["bfgs"], "maxiter": 10000, "gtol": 1e-10})):
            best = float("inf")
            for _ in range(5):
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    MixedLM(endog, exog, groups, exog_re=exog_re).fit(reml=True, **kw)
                best = min(best, time.perf_counter() - t0)
            print(f"{name} statsmodels MixedLM.fit(reml=True) {label}: best of 5 {best * 1e3:.1f} ms")


def main():
    args = sys.argv[1:]
    if args and args[0] == "--time":
        timing(args[1] if len(args) > 1 else SCHOOL)
        return
    school = args[0] if args else SCHOOL
    df = synthetic()
    run_case("synthetic", df, "user", "y", ["x1", "x2", "x3", "bias"],
             ["bias", "x1", "x2"],
             "generated by reference.py with seed 20261201; data in synthetic.csv")
    if os.path.exists(school):
        sd = pd.read_csv(school)
        run_case("school_ri", sd, "school", "exam_score", SCHOOL_FE, ["bias"],
                 "ILEA school data (not committed), random intercept")
        run_case("school_slope", sd, "school", "exam_score", SCHOOL_FE,
                 ["bias", "vr_band_0"],
                 "ILEA school data (not committed), random intercept + slope on vr_band_0")
    else:
        print(f"{school} not found: school fixtures not regenerated")


if __name__ == "__main__":
    main()
