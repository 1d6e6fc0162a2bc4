package experiment

import (
	"context"
	"fmt"
	"runtime"
	"sync"
)

// Step reports the progress of an experiment: Done of Total training runs
// have finished, the last being described by What.
type Step struct {
	Done, Total int
	What        string
}

// job is one unit of work of an experiment; it returns a short description
// for progress reports.
type job func(ctx context.Context) (string, error)

// runJobs runs the jobs on parallel goroutines (0 means GOMAXPROCS), in
// order of submission, reporting each finished job to progress (which may
// be nil; calls are serialised). The first error cancels the remaining jobs
// and is returned; a cancelled ctx returns ctx's error.
func runJobs(ctx context.Context, parallel int, jobs []job, progress func(Step)) error {
	if parallel <= 0 {
		parallel = runtime.GOMAXPROCS(0)
	}
	parallel = max(1, min(parallel, len(jobs)))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	go func() {
		defer close(next)
		for i := range jobs {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	var (
		mu       sync.Mutex
		firstErr error
		done     int
		wg       sync.WaitGroup
	)
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				what, err := jobs[i](ctx)
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
						cancel()
					}
				} else {
					done++
					if progress != nil {
						progress(Step{Done: done, Total: len(jobs), What: what})
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if done < len(jobs) {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fmt.Errorf("only %d of %d runs finished", done, len(jobs))
	}
	return nil
}

// mixSeed derives a seed for one cell of an experiment from the
// experiment's seed and the cell's coordinates (SplitMix64 finalizer), so
// that cells draw independent data while staying reproducible.
func mixSeed(seed uint64, coords ...int) uint64 {
	z := seed
	for _, c := range coords {
		z += 0x9e3779b97f4a7c15 + uint64(c)
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
	}
	return z
}
