package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/lrsp/lrsp/model"
)

// randomModel returns a valid model with random parameters; U is not
// orthonormal, which the store does not need.
func randomModel(users, d, r, k int, theta0 bool, seed uint64) *model.Model {
	rng := rand.New(rand.NewPCG(seed, 1))
	m := &model.Model{Method: model.MethodLRS, Dim: d, Rank: r, Sparsity: k,
		Features: make([]string, d), U: make([]float64, d*r),
		Config: model.Config{Version: model.ConfigVersion, Seed: seed}}
	for j := range m.Features {
		m.Features[j] = "f" + strconv.Itoa(j)
	}
	for i := range m.U {
		m.U[i] = rng.NormFloat64()
	}
	if theta0 {
		m.Theta0 = make([]float64, d)
		for j := range m.Theta0 {
			m.Theta0[j] = rng.NormFloat64()
		}
	}
	for i := 0; i < users; i++ {
		u := model.User{ID: "user" + strconv.Itoa(i), W: make([]float64, r)}
		for c := range u.W {
			u.W[c] = rng.NormFloat64()
		}
		nnz := rng.IntN(k + 1)
		perm := rng.Perm(d)[:nnz]
		for j := 0; j < d; j++ {
			for _, p := range perm {
				if p == j {
					u.Index = append(u.Index, int32(j))
					u.Value = append(u.Value, rng.NormFloat64())
				}
			}
		}
		m.Users = append(m.Users, u)
	}
	return m
}

func importTemp(t *testing.T, m *model.Model) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users.db")
	if err := Import(context.Background(), path, m, ImportOptions{BatchSize: 7}); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

// norm returns u with nil slices made empty, so that reflect.DeepEqual
// compares contents only.
func norm(u model.User) model.User {
	return model.User{ID: u.ID, W: append([]float64{}, u.W...), Index: append([]int32{}, u.Index...),
		Value: append([]float64{}, u.Value...)}
}

// sortedUsers returns m's users in ID order, with nil slices made empty to
// compare with what the store returns.
func sortedUsers(m *model.Model) []model.User {
	out := make([]model.User, len(m.Users))
	for i, u := range m.Users {
		out[i] = norm(u)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].ID < out[j-1].ID; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func TestImportExportRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name           string
		users, d, r, k int
		theta0         bool
		method         string
		loss           string
	}{
		{"lrs", 50, 12, 3, 4, false, model.MethodLRS, ""},
		{"lrs+theta0", 20, 5, 2, 5, true, model.MethodLRS, model.LossLogistic},
		{"global-sparse", 10, 6, 0, 2, true, model.MethodGlobalSparse, ""},
		{"empty", 0, 4, 2, 1, false, model.MethodLowRank, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := randomModel(tc.users, tc.d, tc.r, tc.k, tc.theta0, 7)
			m.Method = tc.method
			m.Privacy = &model.Ledger{Mechanism: "gaussian", Epsilon: 1.5, Delta: 1e-6}
			m.Loss = tc.loss
			s, _ := importTemp(t, m)
			if s.Len() != tc.users {
				t.Fatalf("Len = %d, want %d", s.Len(), tc.users)
			}
			got, err := s.Export(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := *m
			want.Users = sortedUsers(m)
			for i := range got.Users {
				got.Users[i] = norm(got.Users[i])
			}
			if !reflect.DeepEqual(got, &want) {
				t.Fatalf("export differs from the imported model:\n got %+v\nwant %+v", got, &want)
			}
			if fb, want := s.Fallback(), m.Fallback(); !reflect.DeepEqual(fb.W, want.W) {
				t.Fatalf("Fallback = %v, model.Fallback = %v", fb.W, want.W)
			}
			for _, u := range m.Users {
				g, err := s.Get(u.ID)
				if err != nil {
					t.Fatal(err)
				}
				th, want := make([]float64, m.Dim), make([]float64, m.Dim)
				if !reflect.DeepEqual(m.Theta(&g, th), m.Theta(&u, want)) {
					t.Fatalf("user %s: theta differs", u.ID)
				}
			}
		})
	}
}

func TestPutGetDelete(t *testing.T) {
	m := randomModel(5, 8, 2, 3, true, 1)
	s, _ := importTemp(t, m)
	nu := model.User{ID: "new", W: []float64{1, 2}, Index: []int32{0, 7}, Value: []float64{3, 4}}
	created, err := s.Put(nu)
	if err != nil || !created {
		t.Fatalf("Put new = %v, %v", created, err)
	}
	got, err := s.Get("new")
	if err != nil || !reflect.DeepEqual(norm(got), norm(nu)) {
		t.Fatalf("Get = %+v, %v; want %+v", got, err, nu)
	}
	nu.W = []float64{-1, 0.5}
	nu.Index, nu.Value = []int32{}, []float64{}
	if created, err := s.Put(nu); err != nil || created {
		t.Fatalf("Put again = %v, %v", created, err)
	}
	if got, _ := s.Get("new"); !reflect.DeepEqual(norm(got), norm(nu)) {
		t.Fatalf("after replace Get = %+v, want %+v", got, nu)
	}
	if s.Len() != 6 {
		t.Fatalf("Len = %d, want 6", s.Len())
	}
	// The fallback tracks the mean of w over the stored users.
	all := *m
	all.Users = append(append([]model.User{}, m.Users...), nu)
	if fb, want := s.Fallback().W, all.Fallback().W; math.Abs(fb[0]-want[0]) > 1e-12 || math.Abs(fb[1]-want[1]) > 1e-12 {
		t.Fatalf("Fallback = %v, want %v", fb, want)
	}
	if ok, err := s.Delete("new"); !ok || err != nil {
		t.Fatalf("Delete = %v, %v", ok, err)
	}
	if ok, err := s.Delete("new"); ok || err != nil {
		t.Fatalf("second Delete = %v, %v", ok, err)
	}
	if _, err := s.Get("new"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
	}
	if s.Len() != 5 {
		t.Fatalf("Len = %d, want 5", s.Len())
	}
	// Counters survive reopening.
	path := s.Path()
	s.Close()
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.Len() != 5 {
		t.Fatalf("Len after reopen = %d, want 5", s2.Len())
	}
}

func TestPutRejectsBadUsers(t *testing.T) {
	m := randomModel(2, 6, 2, 2, false, 3)
	s, _ := importTemp(t, m)
	for _, tc := range []struct {
		name string
		u    model.User
		want string
	}{
		{"empty id", model.User{W: []float64{1, 2}}, "ID of 0 bytes"},
		{"long id", model.User{ID: strings.Repeat("a", MaxIDLen+1), W: []float64{1, 2}}, "ID of"},
		{"short w", model.User{ID: "a", W: []float64{1}}, "w has 1 entries"},
		{"nan", model.User{ID: "a", W: []float64{math.NaN(), 1}}, "non-finite"},
		{"inf b", model.User{ID: "a", W: []float64{1, 1}, Index: []int32{1}, Value: []float64{math.Inf(1)}}, "non-finite"},
		{"too many", model.User{ID: "a", W: []float64{1, 1}, Index: []int32{0, 1, 2}, Value: []float64{1, 1, 1}}, "sparsity"},
		{"out of range", model.User{ID: "a", W: []float64{1, 1}, Index: []int32{6}, Value: []float64{1}}, "out of order or range"},
		{"unsorted", model.User{ID: "a", W: []float64{1, 1}, Index: []int32{3, 1}, Value: []float64{1, 1}}, "out of order or range"},
		{"mismatch", model.User{ID: "a", W: []float64{1, 1}, Index: []int32{3}, Value: []float64{1, 1}}, "indices"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Put(tc.u)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Put error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if s.Len() != 2 {
		t.Fatalf("Len = %d after rejected puts, want 2", s.Len())
	}
}

func TestImportRejects(t *testing.T) {
	dir := t.TempDir()
	dup := randomModel(3, 4, 1, 1, false, 1)
	dup.Users[2].ID = dup.Users[0].ID
	bad := randomModel(3, 4, 1, 1, false, 1)
	bad.Users[1].W = nil
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		m    *model.Model
		want string
	}{
		{"duplicate", context.Background(), dup, "appears twice"},
		{"invalid", context.Background(), bad, "w has 0 entries"},
		{"cancelled", ctx, randomModel(3, 4, 1, 1, false, 1), "context canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".db")
			os.WriteFile(path, []byte("old"), 0o600)
			err := Import(tc.ctx, path, tc.m, ImportOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Import error %v, want one containing %q", err, tc.want)
			}
			if b, _ := os.ReadFile(path); string(b) != "old" {
				t.Fatalf("failed import changed %s", path)
			}
		})
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 3 {
		t.Fatalf("temporary files left behind: %v", ents)
	}
}

func TestOpenRejects(t *testing.T) {
	dir := t.TempDir()
	notStore := filepath.Join(dir, "x.db")
	os.WriteFile(notStore, bytes.Repeat([]byte("x"), 8192), 0o600)
	if _, err := Open(notStore, Options{}); err == nil {
		t.Fatal("Open of a non-bbolt file succeeded")
	}
	if _, err := Open(filepath.Join(dir, "missing", "y.db"), Options{}); err == nil {
		t.Fatal("Open of a missing path succeeded")
	}
	if _, err := Open(filepath.Join(dir, "typo.db"), Options{}); err == nil {
		t.Fatal("Open of a missing file succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "typo.db")); err == nil {
		t.Fatal("Open of a missing file created it")
	}
	// A second read-write open of the same store fails on the lock.
	_, path := importTemp(t, randomModel(1, 3, 1, 1, false, 1))
	_, err := Open(path, Options{LockTimeout: 50e6})
	if err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("second Open: %v, want a lock error", err)
	}
}

func TestCompactRemovesDeletedBytes(t *testing.T) {
	m := randomModel(300, 10, 3, 2, false, 5)
	// A distinctive value that appears nowhere else.
	const marker = 1234.5678901234567
	m.Users[17].W[1] = marker
	victim := m.Users[17].ID
	path := filepath.Join(t.TempDir(), "users.db")
	if err := Import(context.Background(), path, m, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	pattern := binary.LittleEndian.AppendUint64(nil, math.Float64bits(marker))
	contains := func() bool {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Contains(b, pattern)
	}
	if !contains() {
		t.Fatal("marker not found in the fresh store: the test cannot detect deletion")
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Delete(victim); !ok || err != nil {
		t.Fatalf("Delete = %v, %v", ok, err)
	}
	if _, _, err := Compact(path); err == nil {
		t.Fatal("Compact of an open store succeeded")
	}
	s.Close()
	before, after, err := Compact(path)
	if err != nil {
		t.Fatal(err)
	}
	if after <= 0 || before <= 0 {
		t.Fatalf("sizes %d -> %d", before, after)
	}
	if contains() {
		t.Fatal("deleted user's parameters still in the file after Compact")
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Len() != 299 {
		t.Fatalf("Len after compact = %d, want 299", s.Len())
	}
	if _, err := s.Get(m.Users[18].ID); err != nil {
		t.Fatal(err)
	}
	want := *m
	want.Users = append(append([]model.User{}, m.Users[:17]...), m.Users[18:]...)
	if got, w := s.Fallback().W, want.Fallback().W; !reflect.DeepEqual(got, w) {
		t.Fatalf("fallback after compact %v, want %v", got, w)
	}
	s.Close()
	if rep, err := Check(context.Background(), path); err != nil || len(rep.Problems) > 0 {
		t.Fatalf("Check after compact: %v %q", err, rep.Problems)
	}
}

func TestConcurrentReadWrite(t *testing.T) {
	m := randomModel(100, 8, 2, 2, false, 9)
	s, _ := importTemp(t, m)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			var u model.User
			for i := 0; i < 200; i++ {
				id := m.Users[(g*31+i)%len(m.Users)].ID
				switch i % 4 {
				case 0:
					if _, err := s.Put(model.User{ID: fmt.Sprint("w", g, i%7), W: []float64{float64(i), 1}}); err != nil {
						t.Error(err)
					}
				case 1:
					s.Delete(fmt.Sprint("w", g, (i+3)%7))
				default:
					if err := s.View(func(r Reader) error { _, err := r.Get(id, &u); return err }); err != nil {
						t.Error(err)
					}
					_ = s.Fallback()
				}
			}
		}(g)
	}
	wg.Wait()
	n := 0
	s.Users(context.Background(), func(*model.User) error { n++; return nil })
	if n != s.Len() {
		t.Fatalf("Len = %d but %d users iterated", s.Len(), n)
	}
}
