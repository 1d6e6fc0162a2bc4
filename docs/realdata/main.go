// Command realdata turns the real data sets of ../shared/data into lrsp's
// per-user CSV format (columns user, features..., y), as train and test
// files, for "lrsp compare". It is reproducible: the same inputs and -seed
// give byte-identical outputs.
//
// Usage:
//
//	go run ./docs/realdata --in /work/shared/data --out /tmp/realdata
//
// It writes, for each data set present under --in:
//
//   - lenk-train.csv, lenk-test.csv: the computer survey (Lenk et al. 1996)
//     with its standard split (column "split": 16 training and 4 test
//     profiles per person); features bias, attr_1..attr_13; y = rating 0..10.
//   - school-train.csv, school-test.csv: ILEA schools, a random 75%/25%
//     split of each school's students (as Argyriou et al. 2008); the 28
//     columns of X with the two school percentages divided by 100 so that
//     every feature is on a 0..1 scale; y = exam score.
//   - movielens-train.csv, movielens-test.csv: MovieLens latest-small as
//     per-user regression of the rating (0.5..5) on the movie's features:
//     bias, 20 genre indicators (the genre list of README.txt, including
//     "(no genres listed)") and (year - 1995)/10 from the title, where the 13
//     movies without a year in their title get 0 (the centre) and a 1 in the
//     feature "year_missing"; a random 80%/20% split of each user's ratings.
//   - landmine-train.csv, landmine-test.csv: the 29 landmine fields as users,
//     y = label (1 landmine, 0 clutter) read as a regression target, features
//     bias, f1..f9; a random 50%/50% split of each field's samples.
//
// Every split is drawn per user with a PCG generator seeded by -seed and the
// data set's name, so it does not depend on map order or the machine.
package main

import (
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/lrsp/lrsp/internal/atomicfile"
)

func main() {
	in := flag.String("in", "/work/shared/data", "directory holding the data sets' folders")
	out := flag.String("out", "realdata", "directory to write the CSV files to")
	seed := flag.Uint64("seed", 1, "seed of the random train/test splits")
	flag.Parse()
	if err := run(*in, *out, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "realdata:", err)
		os.Exit(1)
	}
}

// table is a converted data set: rows of (user, features, y) and a test flag.
type table struct {
	features []string
	users    []string
	x        [][]float64
	y        []float64
	test     []bool
}

func (t *table) add(user string, x []float64, y float64) {
	t.users = append(t.users, user)
	t.x = append(t.x, x)
	t.y = append(t.y, y)
	t.test = append(t.test, false)
}

// splitRandom marks about frac of every user's rows as test rows, at least
// one training row per user, reproducibly from seed and name.
func (t *table) splitRandom(frac float64, seed uint64, name string) {
	rng := rand.New(rand.NewPCG(seed, hash(name)))
	rows := map[string][]int{}
	var order []string
	for i, u := range t.users {
		if _, ok := rows[u]; !ok {
			order = append(order, u)
		}
		rows[u] = append(rows[u], i)
	}
	for _, u := range order {
		r := rows[u]
		n := min(int(frac*float64(len(r))+0.5), len(r)-1)
		for _, p := range rng.Perm(len(r))[:n] {
			t.test[r[p]] = true
		}
	}
}

func hash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

func (t *table) write(dir, name string) error {
	for _, part := range []struct {
		suffix string
		test   bool
	}{{"-train.csv", false}, {"-test.csv", true}} {
		path := filepath.Join(dir, name+part.suffix)
		n := 0
		err := atomicfile.Write(path, func(w io.Writer) error {
			cw := csv.NewWriter(w)
			if err := cw.Write(append(append([]string{"user"}, t.features...), "y")); err != nil {
				return err
			}
			rec := make([]string, len(t.features)+2)
			for i := range t.users {
				if t.test[i] != part.test {
					continue
				}
				rec[0] = t.users[i]
				for j, v := range t.x[i] {
					rec[j+1] = strconv.FormatFloat(v, 'g', -1, 64)
				}
				rec[len(rec)-1] = strconv.FormatFloat(t.y[i], 'g', -1, 64)
				if err := cw.Write(rec); err != nil {
					return err
				}
				n++
			}
			cw.Flush()
			return cw.Error()
		})
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		fmt.Printf("wrote %s (%d rows)\n", path, n)
	}
	return nil
}

// readCSV reads a CSV file with a header and returns the header's column
// positions and the records.
func readCSV(path string) (map[string]int, [][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(recs) < 2 {
		return nil, nil, fmt.Errorf("read %s: no data rows", path)
	}
	pos := map[string]int{}
	for i, h := range recs[0] {
		pos[strings.TrimPrefix(h, "\ufeff")] = i
	}
	return pos, recs[1:], nil
}

// columns returns the positions of names in pos, or an error naming the
// first missing one.
func columns(path string, pos map[string]int, names ...string) ([]int, error) {
	out := make([]int, len(names))
	for i, n := range names {
		p, ok := pos[n]
		if !ok {
			return nil, fmt.Errorf("%s: no column %q", path, n)
		}
		out[i] = p
	}
	return out, nil
}

func parse(path string, line int, col, v string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return 0, fmt.Errorf("%s:%d: column %s: %w", path, line, col, err)
	}
	return f, nil
}

func run(in, out string, seed uint64) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	convs := []struct {
		name string
		path string
		conv func(path string, seed uint64) (*table, error)
	}{
		{"lenk", "computer-survey-lenk/lenk.csv", lenk},
		{"school", "school-ilea/school.csv", school},
		{"movielens", "movielens-latest-small", movielens},
		{"landmine", "landmine/landmine.csv", landmine},
	}
	done := 0
	for _, c := range convs {
		p := filepath.Join(in, c.path)
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			fmt.Printf("skip %s: %s is absent\n", c.name, p)
			continue
		}
		t, err := c.conv(p, seed)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		if err := t.write(out, c.name); err != nil {
			return err
		}
		done++
	}
	if done == 0 {
		return fmt.Errorf("no data set found under %s", in)
	}
	return nil
}

func lenk(path string, _ uint64) (*table, error) {
	pos, recs, err := readCSV(path)
	if err != nil {
		return nil, err
	}
	names := []string{"bias"}
	for j := 1; j <= 13; j++ {
		names = append(names, "attr_"+strconv.Itoa(j))
	}
	cols, err := columns(path, pos, append(names, "user", "split", "rating")...)
	if err != nil {
		return nil, err
	}
	fc, uc, sc, yc := cols[:len(names)], cols[len(names)], cols[len(names)+1], cols[len(names)+2]
	t := &table{features: names}
	for i, r := range recs {
		x := make([]float64, len(names))
		for j, c := range fc {
			if x[j], err = parse(path, i+2, names[j], r[c]); err != nil {
				return nil, err
			}
		}
		y, err := parse(path, i+2, "rating", r[yc])
		if err != nil {
			return nil, err
		}
		t.add(r[uc], x, y)
		switch r[sc] {
		case "train":
		case "test":
			t.test[len(t.test)-1] = true
		default:
			return nil, fmt.Errorf("%s:%d: split %q is neither train nor test", path, i+2, r[sc])
		}
	}
	return t, nil
}

func school(path string, seed uint64) (*table, error) {
	pos, recs, err := readCSV(path)
	if err != nil {
		return nil, err
	}
	header := make([]string, len(pos))
	for n, p := range pos {
		header[p] = n
	}
	var names []string
	for _, h := range header {
		if h != "school" && h != "exam_score" {
			names = append(names, h)
		}
	}
	cols, err := columns(path, pos, append(slices.Clone(names), "school", "exam_score")...)
	if err != nil {
		return nil, err
	}
	fc, uc, yc := cols[:len(names)], cols[len(names)], cols[len(names)+1]
	t := &table{features: names}
	for i, r := range recs {
		x := make([]float64, len(names))
		for j, c := range fc {
			if x[j], err = parse(path, i+2, names[j], r[c]); err != nil {
				return nil, err
			}
			if strings.HasSuffix(names[j], "_pct") {
				x[j] /= 100
			}
		}
		y, err := parse(path, i+2, "exam_score", r[yc])
		if err != nil {
			return nil, err
		}
		t.add(r[uc], x, y)
	}
	t.splitRandom(0.25, seed, "school")
	return t, nil
}

// movieGenres is the genre list of MovieLens latest-small's README.txt.
var movieGenres = []string{"Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary",
	"Drama", "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
	"War", "Western", "(no genres listed)"}

var yearPattern = regexp.MustCompile(`\((\d{4})\)\s*$`)

func movielens(dir string, seed uint64) (*table, error) {
	mpath := filepath.Join(dir, "movies.csv")
	pos, recs, err := readCSV(mpath)
	if err != nil {
		return nil, err
	}
	mc, err := columns(mpath, pos, "movieId", "title", "genres")
	if err != nil {
		return nil, err
	}
	gpos := map[string]int{}
	for j, g := range movieGenres {
		gpos[g] = j
	}
	d := 3 + len(movieGenres)
	movies := map[string][]float64{}
	for i, r := range recs {
		x := make([]float64, d)
		x[0] = 1
		for _, g := range strings.Split(r[mc[2]], "|") {
			j, ok := gpos[g]
			if !ok {
				return nil, fmt.Errorf("%s:%d: unknown genre %q", mpath, i+2, g)
			}
			x[1+j] = 1
		}
		if m := yearPattern.FindStringSubmatch(strings.TrimSpace(r[mc[1]])); m != nil {
			year, _ := strconv.Atoi(m[1])
			x[d-2] = float64(year-1995) / 10
		} else {
			x[d-1] = 1
		}
		movies[r[mc[0]]] = x
	}
	features := []string{"bias"}
	for _, g := range movieGenres {
		features = append(features, "genre_"+strings.NewReplacer("(", "", ")", "", " ", "_", "-", "_").Replace(g))
	}
	features = append(features, "year", "year_missing")
	rpath := filepath.Join(dir, "ratings.csv")
	pos, recs, err = readCSV(rpath)
	if err != nil {
		return nil, err
	}
	rc, err := columns(rpath, pos, "userId", "movieId", "rating")
	if err != nil {
		return nil, err
	}
	t := &table{features: features}
	for i, r := range recs {
		x, ok := movies[r[rc[1]]]
		if !ok {
			return nil, fmt.Errorf("%s:%d: movie %s is not in movies.csv", rpath, i+2, r[rc[1]])
		}
		y, err := parse(rpath, i+2, "rating", r[rc[2]])
		if err != nil {
			return nil, err
		}
		t.add(r[rc[0]], x, y)
	}
	t.splitRandom(0.2, seed, "movielens")
	return t, nil
}

func landmine(path string, seed uint64) (*table, error) {
	pos, recs, err := readCSV(path)
	if err != nil {
		return nil, err
	}
	names := []string{"f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9"}
	cols, err := columns(path, pos, append(slices.Clone(names), "task", "label")...)
	if err != nil {
		return nil, err
	}
	t := &table{features: append([]string{"bias"}, names...)}
	for i, r := range recs {
		x := make([]float64, len(names)+1)
		x[0] = 1
		for j, c := range cols[:len(names)] {
			if x[j+1], err = parse(path, i+2, names[j], r[c]); err != nil {
				return nil, err
			}
		}
		y, err := parse(path, i+2, "label", r[cols[len(names)+1]])
		if err != nil {
			return nil, err
		}
		t.add(r[cols[len(names)]], x, y)
	}
	t.splitRandom(0.5, seed, "landmine")
	return t, nil
}
