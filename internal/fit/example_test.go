package fit_test

import (
	"context"
	"fmt"

	"github.com/lrsp/lrsp/internal/fit"
)

// A sum over users whose result does not depend on the number of workers:
// each block of users accumulates into its slot, and the blocks are added
// in block order.
func ExampleForEachOrdered() {
	values := make([]float64, 1000)
	for i := range values {
		values[i] = 1 / float64(i+1)
	}
	const block = 64 // fixed by the data, not by the number of workers
	blocks := (len(values) + block - 1) / block
	for _, workers := range []int{1, 3} {
		partial := make([]float64, fit.Slots(workers, blocks))
		total := 0.0
		err := fit.ForEachOrdered(context.Background(), blocks, workers, func(_, slot, b int) error {
			partial[slot] = 0
			for _, v := range values[b*block : min((b+1)*block, len(values))] {
				partial[slot] += v
			}
			return nil
		}, func(slot, _ int) {
			total += partial[slot]
		})
		if err != nil {
			panic(err)
		}
		fmt.Printf("%d workers: %.17g\n", workers, total)
	}
	// Output:
	// 1 workers: 7.4854708605503415
	// 3 workers: 7.4854708605503415
}
