// Package fit holds the scaffolding that lrsp's trainers (amht, logistic,
// neural, dp, baseline) share, so that each keeps only its mathematics:
//
//   - a worker pool (ForEach) that runs per-user or per-chunk work on a
//     bounded number of goroutines, and an ordered variant (ForEachOrdered)
//     for sums whose result must not depend on the number of workers;
//   - the enumerations of their options, with one text form each (Pursuit,
//     Init, Update, Threshold);
//   - the schedule options with one resolution and validation (Schedule),
//     one stopping rule (Monitor), the reason a trainer stopped
//     (StopReason) and the statistics of one round (RoundStats, Record).
//
// Floating-point addition is not associative, so a sum computed as one
// partial sum per worker, added up in worker order, changes in the last bits
// with the number of workers and with scheduling. ForEachOrdered instead
// lets each item accumulate its own contribution and adds the items'
// contributions in item order: with items whose boundaries depend only on
// the data, the sum is bit-identical for any number of workers.
package fit
