#!/usr/bin/env bash
# The synthetic factor-analytic comparison of docs/results.md: users whose
# slopes on all 30 features vary in a rank-3 subspace (theta_i = U* w_i,
# no sparse part), noise 0.5, 8 training samples per user, a constant
# feature "bias" added for the intercept models; 500 training users and 100
# new users, 20 held-out samples each. Usage: factor-bench.sh OUT
set -euo pipefail
out=${1:?output directory}
mkdir -p "$out"
go build -o "$out/lrsp" ./cmd/lrsp
cd "$out"
./lrsp synth --users 600 --samples 28 --dim 30 --rank 3 --sparsity 0 --noise 0.5 --seed 7 --out raw.csv >/dev/null
# A bias column, then 8 samples per user for training and the rest for testing
# (compare --shots keeps 8 and --new-users holds out a fifth of the users).
awk -F, 'BEGIN{OFS=","} NR==1{$NF="bias," $NF; print; next} {$NF="1," $NF; print}' raw.csv >all.csv
awk -F, 'NR==1{print > "train.csv"; print > "test.csv"; next} {n[$1]++; print > (n[$1] <= 8 ? "train.csv" : "test.csv")}' all.csv
args=(--data train.csv --test test.csv --new-users 0.2 --seed 1 --json)
./lrsp compare "${args[@]}" --methods global,finetune,lrs,mixed-lrs,auto >main.json
./lrsp compare "${args[@]}" --methods mixed --random-effects intercept >ri.json
./lrsp compare "${args[@]}" --methods mixed --random-effects intercept,x0,x1 >slopes.json
