package fit

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
)

// Workers returns the number of goroutines ForEach uses for n items when
// asked for workers: runtime.GOMAXPROCS(0) when workers <= 0, and never more
// than n. It returns 0 only when n <= 0. Callers use it to size per-worker
// scratch buffers, which ForEach indexes by its worker argument.
func Workers(workers, n int) int {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	return max(0, min(workers, n))
}

// ForEach calls fn(worker, i) for every i in [0, n), handing out the items
// in increasing order to Workers(workers, n) goroutines, and returns when
// every call has returned. The worker argument, in [0, Workers(workers, n)),
// identifies the goroutine making the call, so that fn may keep per-worker
// scratch buffers; calls with the same worker never run concurrently.
//
// ForEach stops handing out items at the first error returned by fn and
// returns that error unchanged; it also stops when ctx is done before every
// item has been handed out, and then returns ctx.Err() unwrapped (so that
// err == context.Canceled holds), leaving the wrapping to the caller. Calls
// already running finish either way, and no goroutine outlives ForEach. A
// panic in fn stops the other workers in the same way and is then re-raised
// with the same value on the goroutine that called ForEach. With n <= 0,
// ForEach calls nothing and returns nil.
func ForEach(ctx context.Context, n, workers int, fn func(worker, i int) error) error {
	w := Workers(workers, n)
	if w == 0 {
		return nil
	}
	var (
		next     atomic.Int64
		stop     atomic.Bool
		mu       sync.Mutex
		first    error
		panicked bool
		value    any
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
		stop.Store(true)
	}
	run := func(k int) {
		defer func() {
			if p := recover(); p != nil {
				mu.Lock()
				if !panicked {
					panicked, value = true, p
				}
				mu.Unlock()
				stop.Store(true)
			}
		}()
		for !stop.Load() {
			if err := ctx.Err(); err != nil {
				fail(err)
				return
			}
			i := next.Add(1) - 1
			if i >= int64(n) {
				return
			}
			if err := fn(k, int(i)); err != nil {
				fail(err)
				return
			}
		}
	}
	var wg sync.WaitGroup
	for k := 1; k < w; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(k)
		}()
	}
	run(0)
	wg.Wait()
	if panicked {
		panic(value)
	}
	return first
}

// Slots returns the number of slots ForEachOrdered uses for n items when
// asked for workers: twice Workers(workers, n), but never more than n.
// Callers size their per-slot accumulators with it.
func Slots(workers, n int) int {
	return min(2*Workers(workers, n), max(n, 0))
}

// ForEachOrdered is ForEach for reductions: fn(worker, slot, i) computes
// item i's contribution into the accumulators of slot, and merge(slot, i)
// then adds it to the caller's total, for i = 0, 1, ..., n-1 in that order,
// so that a sum over items does not depend on the number of workers or on
// scheduling. fn must reset the slot's accumulators before using them.
//
// The slot, in [0, Slots(workers, n)), is i modulo Slots(workers, n): an
// item starts only once every item at least that many places before it has
// been merged, so the slot is free. merge calls never run concurrently with
// each other; each runs on some worker's goroutine after fn(_, slot, i)
// has returned nil and every earlier item has been merged. Memory is thus
// bounded by the number of slots, not by n, at the price of a worker
// waiting when it gets that far ahead of the slowest item.
//
// Errors, cancellation and panics behave as in ForEach: after an error no
// further item is merged.
func ForEachOrdered(ctx context.Context, n, workers int, fn func(worker, slot, i int) error, merge func(slot, i int)) error {
	c := Slots(workers, n)
	if c == 0 {
		return nil
	}
	var (
		mu     sync.Mutex
		moved  = sync.NewCond(&mu)
		done   = make([]bool, c) // the slot's item is computed, not merged
		turn   int               // the next item to merge
		failed bool              // an item failed: stop merging and waiting
	)
	// commit marks item i computed (ok) or failed and merges every
	// computed item in order from turn on.
	commit := func(slot, i int, ok bool) {
		mu.Lock()
		defer mu.Unlock()
		defer moved.Broadcast()
		if !ok || failed {
			failed = true
			return
		}
		done[slot] = true
		merged := false
		defer func() {
			if !merged { // merge panicked
				failed = true
			}
		}()
		for done[turn%c] {
			done[turn%c] = false
			merge(turn%c, turn)
			turn++
		}
		merged = true
	}
	return ForEach(ctx, n, workers, func(k, i int) error {
		mu.Lock()
		for i >= turn+c && !failed {
			moved.Wait()
		}
		stopped := failed
		mu.Unlock()
		if stopped {
			// Another item failed; ForEach returns its error (or re-raises
			// its panic), so this item need not run.
			return nil
		}
		slot := i % c
		ok := false
		defer func() { commit(slot, i, ok) }()
		if err := fn(k, slot, i); err != nil {
			return err
		}
		ok = true
		return nil
	})
}
