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
// per user (training and new users alike), neural LRS (k = 1 and k = 0),
// the dense head, the global network and linear LRS.
//
//	LRSP_DENSE_TABLE=20,40,80 go test ./neural -run TestDenseTable -v -timeout 3h
func TestDenseTable(t *testing.T) {
	env := os.Getenv("LRSP_DENSE_TABLE")
	if env == "" {
		t.Skip("set LRSP_DENSE_TABLE to a list of samples per user to print the table (an hour)")
	}
	fmt.Println("| m | method | test RMSE, training users | test RMSE, new users | seconds |")
	fmt.Println("|---|---|---|---|---|")
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
		low, dense, global := base, base, base
		low.Sparsity = 0
		dense.Dense = true
		global.Global = true
		rows := compareVariants(t, data, []Options{base, low, dense, global}, []amht.Options{{Rank: 3, Sparsity: 1, Tolerance: 1e-6}})
		for _, c := range rows {
			fmt.Printf("| %d | %s | %.4f | %.4f | %.1f |\n", m, c.name, c.trainRMSE, c.newRMSE, c.seconds)
		}
	}
}
