#!/bin/sh
# recovery.sh re-runs the recovery and accuracy figures of docs/results.md
# ("Exact recovery", "Noise floor (m = 60, noise 0.1) and new users") with
# one lrsp binary, writing every output into a directory, so that two
# binaries can be compared file by file (diff -r OUT1 OUT2).
#
# Usage: docs/recovery.sh LRSP OUT
#
# It writes, in OUT: train*.txt and eval*.txt of the exact-recovery runs
# (1000 users, d = 100, r = k = 5, no noise, m = 40, 35, 30, 25, seed 1),
# trainn.txt, evaln.txt (against the truth) and evalnt.txt (held-out
# samples) of the noise-floor run (m = 60, noise 0.1), trainnv.txt of the
# same with --validation 0.2, and trainc.txt, pers.txt and evalc*.txt of
# the new-users run (m = 40, 200 new users personalized to the trained U).
# The data files are made once (lrsp synth is deterministic) and reused.
set -eu
L=$1
O=$2
mkdir -p "$O"
cd "$O"
for m in 40 35 30 25; do
	[ -f "d$m.csv" ] || "$L" synth --users 1000 --samples "$m" --dim 100 --rank 5 --sparsity 5 --noise 0 --seed 1 \
		--out "d$m.csv" --truth "t$m.json" >/dev/null
	"$L" train --data "d$m.csv" --rank 5 --sparsity 5 --out "m$m.lrsp" >"train$m.txt" 2>&1
	"$L" eval --model "m$m.lrsp" --truth "t$m.json" >"eval$m.txt" 2>&1
done
[ -f n.csv ] || "$L" synth --users 1000 --samples 60 --dim 100 --rank 5 --sparsity 5 --noise 0.1 --seed 1 \
	--out n.csv --truth nt.json --test-samples 20 >/dev/null
"$L" train --data n.csv --rank 5 --sparsity 5 --out n.lrsp >trainn.txt 2>&1
"$L" eval --model n.lrsp --truth nt.json >evaln.txt 2>&1
"$L" eval --model n.lrsp --data n-test.csv >evalnt.txt 2>&1
"$L" train --data n.csv --rank 5 --sparsity 5 --validation 0.2 --out nv.lrsp >trainnv.txt 2>&1
[ -f c.csv ] || "$L" synth --users 1000 --samples 40 --dim 100 --rank 5 --sparsity 5 --seed 3 \
	--out c.csv --truth ct.json --new-users 200 --test-samples 20 >/dev/null
"$L" train --data c.csv --rank 5 --sparsity 5 --out c.lrsp >trainc.txt 2>&1
"$L" personalize --model c.lrsp --data c-new.csv --out c2.lrsp >pers.txt 2>&1
"$L" eval --model c2.lrsp --truth ct.json >evalc.txt 2>&1
"$L" eval --model c2.lrsp --data c-test.csv >evalct.txt 2>&1
"$L" eval --model c2.lrsp --data c-new-test.csv >evalcnt.txt 2>&1
echo "recovery figures in $O"
