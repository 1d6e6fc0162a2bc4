// Package synth generates data from the paper's realizable model:
// x ~ N(0, I_d), theta_i = U* w_i* + b_i*, y = <x, theta_i> + N(0, sigma^2),
// with U* a random d x r orthonormal basis, w_i* ~ N(0, I_r) and b_i* with k
// random non-zeros drawn from N(0, 1).
package synth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"

	"gonum.org/v1/gonum/mat"

	"github.com/lrsp/lrsp/dataset"
)

// Options sizes the generated data. Every field must be set except Noise,
// NewUsers and Seed, whose zero values mean noiseless, none and seed 0.
type Options struct {
	Users    int     // t, the number of training users
	Samples  int     // m, samples per user
	Dim      int     // d
	Rank     int     // r
	Sparsity int     // k
	Noise    float64 // sigma, the standard deviation of the target noise
	NewUsers int     // further users drawn from the same U*
	// TestSamples is the number of held-out samples drawn per user (training
	// and new users alike) into Data.Test; 0 means none. They come from a
	// random stream of their own, so that the training and new users'
	// samples are the same for a seed whatever TestSamples is.
	TestSamples int
	Seed        uint64
}

// Data is what Generate draws.
type Data struct {
	// Train holds Samples samples for each of the Users training users.
	Train *dataset.Dataset
	// New holds Samples samples for each new user, or is nil.
	New *dataset.Dataset
	// Test holds TestSamples further samples for every user, or is nil.
	Test *dataset.Dataset
	// Truth holds the generating parameters of all users.
	Truth *Truth
}

// Truth holds the parameters that generated the data, in the layout of
// truth.json.
type Truth struct {
	D     int                  `json:"d"`
	R     int                  `json:"r"`
	K     int                  `json:"k"`
	U     [][]float64          `json:"U"`
	Users map[string]UserTruth `json:"users"`
}

// UserTruth holds one user's true parameters; B maps the decimal index of
// each non-zero of b to its value.
type UserTruth struct {
	W []float64          `json:"w"`
	B map[string]float64 `json:"b"`
}

// Theta returns the user's full parameter vector U* w + b.
func (t *Truth) Theta(id string) ([]float64, error) {
	u, ok := t.Users[id]
	if !ok {
		return nil, fmt.Errorf("truth has no user %q", id)
	}
	th := make([]float64, t.D)
	for j := 0; j < t.D; j++ {
		for c := 0; c < t.R; c++ {
			th[j] += t.U[j][c] * u.W[c]
		}
	}
	for s, v := range u.B {
		j, err := strconv.Atoi(s)
		if err != nil || j < 0 || j >= t.D {
			return nil, fmt.Errorf("truth user %q: bad index %q", id, s)
		}
		th[j] += v
	}
	return th, nil
}

// Validate checks the truth's sizes.
func (t *Truth) Validate() error {
	if t.D <= 0 || t.R < 0 || t.R > t.D || len(t.U) != t.D {
		return fmt.Errorf("truth: bad sizes d=%d r=%d with %d rows of U", t.D, t.R, len(t.U))
	}
	for j, row := range t.U {
		if len(row) != t.R {
			return fmt.Errorf("truth: row %d of U has %d entries, want %d", j, len(row), t.R)
		}
	}
	for id, u := range t.Users {
		if len(u.W) != t.R {
			return fmt.Errorf("truth: user %q: w has %d entries, want %d", id, len(u.W), t.R)
		}
	}
	return nil
}

// truthLayout describes the truth file for error messages.
const truthLayout = `want the truth JSON that lrsp synth --truth writes, {"d":..,"r":..,"k":..,"U":[[..],..],"users":{..}}`

// ReadTruth reads a truth.json file. A file that is not such JSON (a CSV
// file given by mistake, say) is an error naming the file and the layout
// expected.
func ReadTruth(path string) (*Truth, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("synth: read truth: %w", err)
	}
	if trimmed := bytes.TrimLeft(b, " \t\r\n\ufeff"); len(trimmed) == 0 || trimmed[0] != '{' {
		first, _, _ := bytes.Cut(trimmed, []byte("\n"))
		return nil, fmt.Errorf("synth: read truth %s: not a JSON object (it starts with %s); %s",
			path, dataset.Quote(string(first)), truthLayout)
	}
	var t Truth
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("synth: read truth %s: %v; %s", path, err, truthLayout)
	}
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("synth: read truth %s: %w; %s", path, err, truthLayout)
	}
	return &t, nil
}

// Part names the data set a generated user's samples belong to.
type Part int

const (
	// PartTrain is the training samples of training users.
	PartTrain Part = iota
	// PartNew is the samples of new users.
	PartNew
	// PartTest is the held-out samples of any user.
	PartTest
)

// Generate draws training users "u0".."u{t-1}" and new users
// "n0".."n{T2-1}" from the model. It is deterministic in o.Seed.
func Generate(o Options) (*Data, error) {
	var features []string
	var train, newUsers, test *dataset.Builder
	rows := [3]int{}
	truth, err := Stream(o, true, func(part Part, id string, x, y []float64) error {
		if features == nil {
			features = FeatureNames(o.Dim)
			train = dataset.NewBuilder(features, true)
			newUsers = dataset.NewBuilder(features, true)
			test = dataset.NewBuilder(features, true)
		}
		b := [...]*dataset.Builder{train, newUsers, test}[part]
		for s := range y {
			b.Add(id, x[s*o.Dim:(s+1)*o.Dim], y[s], rows[part])
			rows[part]++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	data := &Data{Truth: truth, Train: train.Dataset()}
	if o.NewUsers > 0 {
		data.New = newUsers.Dataset()
	}
	if o.TestSamples > 0 {
		data.Test = test.Dataset()
	}
	return data, nil
}

// FeatureNames returns the names of generated features: "x0".."x{d-1}".
func FeatureNames(d int) []string {
	f := make([]string, d)
	for j := range f {
		f[j] = "x" + strconv.Itoa(j)
	}
	return f
}

// Stream draws the same data as Generate but hands each user's samples to
// emit as soon as they are drawn (x row-major), so that data larger than
// memory can be written out. For every user it emits the part (PartTrain
// or PartNew), then, with TestSamples, PartTest. With keepUsers false the
// returned truth holds U* but no users. An error from emit stops Stream.
// The held-out samples are drawn from a random stream of their own: the
// other draws of a seed do not depend on TestSamples.
func Stream(o Options, keepUsers bool, emit func(part Part, id string, x, y []float64) error) (*Truth, error) {
	if o.Users <= 0 || o.Samples <= 0 || o.Dim <= 0 || o.Rank < 0 || o.Rank > o.Dim || o.Sparsity < 0 ||
		o.Sparsity > o.Dim || !(o.Noise >= 0) || o.NewUsers < 0 || o.TestSamples < 0 || math.IsInf(o.Noise, 0) {
		return nil, fmt.Errorf("synth: invalid sizes %+v", o)
	}
	// The held-out samples come from a stream of their own, so that
	// asking for them (or for more of them) leaves every other draw, the
	// training samples included, as it is for the same seed.
	rng := rand.New(rand.NewPCG(o.Seed, 0x73796e74))
	testRNG := rand.New(rand.NewPCG(o.Seed, 0x74657374))
	d, r := o.Dim, o.Rank
	g := mat.NewDense(d, max(r, 1), nil)
	for j := 0; j < d; j++ {
		for c := 0; c < r; c++ {
			g.Set(j, c, rng.NormFloat64())
		}
	}
	truth := &Truth{D: d, R: r, K: o.Sparsity, U: make([][]float64, d), Users: map[string]UserTruth{}}
	var qr mat.QR
	var q mat.Dense
	if r > 0 {
		qr.Factorize(g)
		qr.QTo(&q)
	}
	for j := 0; j < d; j++ {
		truth.U[j] = make([]float64, r)
		for c := 0; c < r; c++ {
			truth.U[j][c] = q.At(j, c)
		}
	}
	m := max(o.Samples, o.TestSamples)
	x := make([]float64, m*d)
	y := make([]float64, m)
	theta := make([]float64, d)
	draw := func(rng *rand.Rand, part Part, id string, n int) error {
		for s := 0; s < n; s++ {
			xs := x[s*d : (s+1)*d]
			v := 0.0
			for j := range xs {
				xs[j] = rng.NormFloat64()
				v += xs[j] * theta[j]
			}
			y[s] = v + o.Noise*rng.NormFloat64()
		}
		return emit(part, id, x[:n*d], y[:n])
	}
	gen := func(part Part, prefix string, n int) error {
		for i := 0; i < n; i++ {
			id := prefix + strconv.Itoa(i)
			ut := UserTruth{W: make([]float64, r), B: map[string]float64{}}
			for c := range ut.W {
				ut.W[c] = rng.NormFloat64()
			}
			for _, j := range rng.Perm(d)[:o.Sparsity] {
				ut.B[strconv.Itoa(j)] = rng.NormFloat64()
			}
			truth.Users[id] = ut
			th, _ := truth.Theta(id)
			copy(theta, th)
			if !keepUsers {
				delete(truth.Users, id)
			}
			if err := draw(rng, part, id, o.Samples); err != nil {
				return err
			}
			if o.TestSamples > 0 {
				if err := draw(testRNG, PartTest, id, o.TestSamples); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := gen(PartTrain, "u", o.Users); err != nil {
		return nil, err
	}
	if err := gen(PartNew, "n", o.NewUsers); err != nil {
		return nil, err
	}
	return truth, nil
}
