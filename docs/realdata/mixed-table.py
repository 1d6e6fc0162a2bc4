#!/usr/bin/env python3
"""Summarise docs/realdata/mixed-bench.sh's JSON files as the Markdown table
of docs/results.md: per data set and method, the mean and standard
deviation over seeds of the test RMSE of training users and of new users,
the fit seconds, and each method's ratio to the best mean.
Usage: mixed-table.py OUT (the directory mixed-bench.sh wrote)."""
import glob, json, os, statistics, sys

out = sys.argv[1]
for name in ["lenk", "school", "movielens", "landmine"]:
    rows = {}
    for f in sorted(glob.glob(os.path.join(out, name + "-*.json"))):
        if os.path.getsize(f) == 0:
            continue
        suffix = {"-slope.json": " (random intercept + slope)", "-ri.json": " (random intercept)"}
        label = next((v for k, v in suffix.items() if f.endswith(k)), "")
        for m in json.load(open(f))["methods"]:
            key = m["method"] + label
            if m["method"] == "auto":
                key = "auto (lrsp train default)"
            r = rows.setdefault(key, {"test": [], "new": [], "sec": []})
            r["test"].append(m["test"]["rmse"])
            r["new"].append(m["new_users"]["rmse"])
            r["sec"].append(m["train_seconds"] + m["tune_seconds"])
    if not rows:
        continue
    best_t = min(statistics.mean(r["test"]) for r in rows.values())
    best_n = min(statistics.mean(r["new"]) for r in rows.values())
    seeds = len(next(iter(rows.values()))["test"])
    print(f"\n#### {name} ({seeds} seeds)\n")
    print("| method | test RMSE (training users) | vs best | new-user RMSE | vs best | fit + selection s |")
    print("|---|--:|--:|--:|--:|--:|")
    for key, r in rows.items():
        mt, mn = statistics.mean(r["test"]), statistics.mean(r["new"])
        st = statistics.stdev(r["test"]) if len(r["test"]) > 1 else 0
        sn = statistics.stdev(r["new"]) if len(r["new"]) > 1 else 0
        print(f"| {key} | {mt:.4f} ± {st:.4f} | {mt / best_t:.3f} | {mn:.4f} ± {sn:.4f} | {mn / best_n:.3f} | {statistics.mean(r['sec']):.1f} |")
