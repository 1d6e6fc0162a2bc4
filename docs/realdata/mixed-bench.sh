#!/usr/bin/env bash
# The few-shot comparison of docs/results.md ("Mixed models on real data"):
# every shared real data set, 8 training samples per user, 20% of the users
# held out as new users, seeds 1-5; one JSON file per (set, seed, run) in
# OUT. Usage: docs/realdata/mixed-bench.sh /work/shared/data OUT
set -euo pipefail
in=${1:?shared data directory}
out=${2:?output directory}
mkdir -p "$out/data"
go run ./docs/realdata --in "$in" --out "$out/data" >/dev/null
go build -o "$out/lrsp" ./cmd/lrsp
declare -A slope=([lenk]=attr_13 [school]=vr_band_0 [movielens]=year [landmine]=f1)
for set in lenk school movielens landmine; do
	for seed in 1 2 3 4 5; do
		args=(--data "$out/data/$set-train.csv" --test "$out/data/$set-test.csv" --shots 8 --new-users 0.2 --seed "$seed" --json)
		# Baselines, lrs tuned as "--rank auto --sparsity auto" (plus ridge and
		# centring), the mixed-model LRS with its rank and sparsity chosen by
		# cross-validation, and lrsp train's default (auto); then the classic
		# mixed model with a random intercept, and with one random slope.
		[ -s "$out/$set-$seed.json" ] || "$out/lrsp" compare "${args[@]}" \
			--methods global,local,finetune,lrs,mixed-lrs,auto >"$out/$set-$seed.json" 2>"$out/$set-$seed.log"
		[ -s "$out/$set-$seed-ri.json" ] || "$out/lrsp" compare "${args[@]}" \
			--methods mixed --random-effects intercept >"$out/$set-$seed-ri.json" 2>/dev/null
		[ -s "$out/$set-$seed-slope.json" ] || "$out/lrsp" compare "${args[@]}" \
			--methods mixed --random-effects "intercept,${slope[$set]}" >"$out/$set-$seed-slope.json" 2>/dev/null
	done
done
