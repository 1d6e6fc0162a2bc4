package neural

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/amht"
)

// TestDenseTable prints the per-user dense head comparison of
// docs/results.md: on the data of TestNeuralTable with m training samples
// per user (training and new users alike), neural LRS (k = 1 without a
// ridge, with ridges 0.01 and 0.1, and the one of the three with the best
// validation MSE; k = 0), the dense head, the global network and linear
// LRS.
//
//	LRSP_DENSE_TABLE=10,20,40,80 go test ./neural -run TestDenseTable -v -timeout 3h
func TestDenseTable(t *testing.T) {
	env := os.Getenv("LRSP_DENSE_TABLE")
	if env == "" {
		t.Skip("set LRSP_DENSE_TABLE to a list of samples per user to print the table (ten minutes)")
	}
	fmt.Println("| m | method | validation MSE | test RMSE, training users | test RMSE, new users | seconds |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, f := range strings.Split(env, ",") {
		m, err := strconv.Atoi(f)
		if err != nil || m < 2 {
			t.Fatalf("LRSP_DENSE_TABLE %q: want samples per user of at least 2", env)
		}
		data, err := Generate(SynthOptions{Users: 300, Samples: m, Dim: 10, Latent: 8, Rank: 3, Sparsity: 1,
			Noise: 0.1, NewUsers: 100, NewSamples: m, TestSamples: 50, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		base := Options{Hidden: []int{64, 32}, Rank: 3, Sparsity: 1, Rounds: 200, Seed: 1}
		r1, r2, low, dense, global := base, base, base, base, base
		r1.Ridge, r2.Ridge = 0.01, 0.1
		low.Sparsity = 0
		dense.Dense = true
		global.Global = true
		rows := compareVariants(t, data, []Options{base, r1, r2, low, dense, global}, []amht.Options{{Rank: 3, Sparsity: 1, Tolerance: 1e-6}})
		pick := 0
		for i := range 3 {
			if rows[i].validation < rows[pick].validation {
				pick = i
			}
		}
		for i, c := range rows {
			if i == 3 {
				p := rows[pick]
				fmt.Printf("| %d | **neural-lrs, ridge by validation** (%s) | %.4f | %.4f | %.4f | |\n", m, p.name, p.validation, p.trainRMSE, p.newRMSE)
			}
			fmt.Printf("| %d | %s | %.4f | %.4f | %.4f | %.1f |\n", m, c.name, c.validation, c.trainRMSE, c.newRMSE, c.seconds)
		}
	}
}
