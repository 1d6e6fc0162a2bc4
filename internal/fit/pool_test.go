package fit

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestWorkers(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	for _, c := range []struct{ workers, n, want int }{
		{1, 10, 1}, {3, 10, 3}, {10, 3, 3}, {0, 1 << 20, procs}, {-1, 1 << 20, procs},
		{0, 1, 1}, {4, 0, 0}, {4, -2, 0},
	} {
		if got := Workers(c.workers, c.n); got != c.want {
			t.Errorf("Workers(%d, %d) = %d, want %d", c.workers, c.n, got, c.want)
		}
	}
}

func TestSlots(t *testing.T) {
	for _, c := range []struct{ workers, n, want int }{
		{1, 10, 2}, {3, 10, 6}, {10, 3, 3}, {4, 0, 0}, {2, 1, 1},
	} {
		if got := Slots(c.workers, c.n); got != c.want {
			t.Errorf("Slots(%d, %d) = %d, want %d", c.workers, c.n, got, c.want)
		}
	}
}

// noLeak fails t when goroutines started during the test are still
// running shortly after it.
func noLeak(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		for range 100 {
			if runtime.NumGoroutine() <= before {
				return
			}
			time.Sleep(time.Millisecond)
		}
		t.Errorf("%d goroutines before, %d after", before, runtime.NumGoroutine())
	})
}

func TestForEach(t *testing.T) {
	for _, c := range []struct{ n, workers int }{
		{0, 3}, {1, 1}, {1, 8}, {5, 2}, {100, 3}, {100, 0}, {1000, 7}, {7, 100},
	} {
		t.Run(fmt.Sprintf("n=%d/workers=%d", c.n, c.workers), func(t *testing.T) {
			noLeak(t)
			w := Workers(c.workers, c.n)
			calls := make([]atomic.Int32, c.n)
			busy := make([]atomic.Int32, max(w, 1))
			err := ForEach(context.Background(), c.n, c.workers, func(k, i int) error {
				if k < 0 || k >= w {
					t.Errorf("worker %d outside [0, %d)", k, w)
					return nil
				}
				if busy[k].Add(1) != 1 {
					t.Errorf("two calls with worker %d at once", k)
				}
				calls[i].Add(1)
				busy[k].Add(-1)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for i := range calls {
				if n := calls[i].Load(); n != 1 {
					t.Errorf("item %d: %d calls, want 1", i, n)
				}
			}
		})
	}
}

func TestForEachStops(t *testing.T) {
	boom := errors.New("boom")
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	const n = 1000
	for _, c := range []struct {
		name   string
		ctx    context.Context
		failAt int // fn fails for this item, or -1
		cancel int // fn cancels the context at this item, or -1
		want   error
	}{
		{"error", context.Background(), 10, -1, boom},
		{"first item fails", context.Background(), 0, -1, boom},
		{"cancelled before", canceled, -1, -1, context.Canceled},
		{"cancelled during", nil, -1, 20, context.Canceled},
		{"no error", context.Background(), -1, -1, nil},
	} {
		for _, workers := range []int{1, 4} {
			t.Run(fmt.Sprintf("%s/workers=%d", c.name, workers), func(t *testing.T) {
				noLeak(t)
				ctx, stop := c.ctx, context.CancelFunc(func() {})
				if ctx == nil {
					ctx, stop = context.WithCancel(context.Background())
				}
				defer stop()
				last := n - 1 // the item that stops ForEach
				switch {
				case c.ctx == canceled:
					last = -1
				case c.failAt >= 0:
					last = c.failAt
				case c.cancel >= 0:
					last = c.cancel
				}
				// Later items wait until a while after that item has
				// returned, so that the other workers cannot run ahead of it
				// and have seen the stop when they go on.
				released := make(chan struct{})
				var calls atomic.Int32
				err := ForEach(ctx, n, workers, func(_, i int) error {
					calls.Add(1)
					if i > last {
						<-released
					}
					if i == c.cancel {
						stop()
					}
					if i == last {
						time.AfterFunc(10*time.Millisecond, func() { close(released) })
					}
					if i == c.failAt {
						return boom
					}
					return nil
				})
				if err != c.want {
					t.Errorf("err = %v, want %v", err, c.want)
				}
				// Items are handed out in order: with one worker exactly
				// those up to the stopping one run; with more, the others
				// may each start a few more, but not all the rest.
				got := int(calls.Load())
				ok := got == last+1
				if workers > 1 && last < n-1 {
					ok = got >= last+1 && got <= (n+last)/2
				}
				if !ok {
					t.Errorf("%d calls, want %d (or a few more with several workers)", got, last+1)
				}
			})
		}
	}
}

func TestForEachPanics(t *testing.T) {
	for _, workers := range []int{1, 2, 5} {
		t.Run(fmt.Sprint("workers=", workers), func(t *testing.T) {
			noLeak(t)
			defer func() {
				if p := recover(); p != "boom" {
					t.Errorf("recovered %v, want boom", p)
				}
			}()
			ForEach(context.Background(), 100, workers, func(_, i int) error {
				if i == 37 {
					panic("boom")
				}
				return nil
			})
			t.Error("ForEach returned after a panic")
		})
	}
}

func TestForEachOrdered(t *testing.T) {
	for _, c := range []struct{ n, workers int }{
		{0, 2}, {1, 4}, {2, 1}, {10, 3}, {500, 2}, {500, 7}, {64, 0},
	} {
		t.Run(fmt.Sprintf("n=%d/workers=%d", c.n, c.workers), func(t *testing.T) {
			noLeak(t)
			slots := Slots(c.workers, c.n)
			acc := make([]float64, slots)
			owner := make([]atomic.Int64, slots) // the item using a slot, +1
			var merged []int
			sum := 0.0
			err := ForEachOrdered(context.Background(), c.n, c.workers, func(_, slot, i int) error {
				if slot != i%slots {
					t.Errorf("item %d in slot %d, want %d", i, slot, i%slots)
				}
				if o := owner[slot].Swap(int64(i) + 1); o != 0 {
					t.Errorf("item %d in slot %d still held by item %d", i, slot, o-1)
				}
				if i%5 == 0 {
					time.Sleep(50 * time.Microsecond) // uneven items
				}
				acc[slot] = 1 / float64(i+1)
				return nil
			}, func(slot, i int) {
				owner[slot].Store(0)
				merged = append(merged, i)
				sum += acc[slot]
			})
			if err != nil {
				t.Fatal(err)
			}
			want := 0.0
			for i := range c.n {
				want += 1 / float64(i+1)
				if i >= len(merged) || merged[i] != i {
					t.Fatalf("merge order %v, want 0..%d", merged, c.n-1)
				}
			}
			if sum != want || len(merged) != c.n {
				t.Errorf("sum %v over %d merges, want %v over %d", sum, len(merged), want, c.n)
			}
		})
	}
}

func TestForEachOrderedStops(t *testing.T) {
	boom := errors.New("boom")
	for _, c := range []struct {
		name   string
		failAt int
		panics bool
	}{
		{"error", 40, false}, {"error at first item", 0, false}, {"panic", 40, true},
	} {
		for _, workers := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/workers=%d", c.name, workers), func(t *testing.T) {
				noLeak(t)
				var mu sync.Mutex
				last := -1
				defer func() {
					p := recover()
					if c.panics != (p != nil) {
						t.Errorf("recovered %v", p)
					}
					if last >= c.failAt {
						t.Errorf("merged item %d after item %d failed", last, c.failAt)
					}
				}()
				err := ForEachOrdered(context.Background(), 200, workers, func(_, _, i int) error {
					if i == c.failAt {
						if c.panics {
							panic(boom)
						}
						return boom
					}
					return nil
				}, func(_, i int) {
					mu.Lock()
					last = i
					mu.Unlock()
				})
				if err != boom {
					t.Errorf("err = %v, want %v", err, boom)
				}
			})
		}
	}
}
