package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lrsp/lrsp/internal/exactsum"
	"github.com/lrsp/lrsp/model"
)

// networkModel returns randomModel's users over the h features of a random
// network with the given input count and hidden widths (the last is h).
func networkModel(users, inputs int, hidden []int, r, k int, seed uint64) *model.Model {
	h := hidden[len(hidden)-1]
	m := randomModel(users, h, r, k, false, seed)
	m.Method = model.MethodNeuralLRS
	rng := rand.New(rand.NewPCG(seed, 2))
	n := &model.Network{Inputs: make([]string, inputs), Sizes: append([]int{inputs}, hidden...), Activation: model.ActivationTanh}
	for q := range n.Inputs {
		n.Inputs[q] = "in" + strconv.Itoa(q)
	}
	for l := 1; l < len(n.Sizes); l++ {
		w := make([]float64, n.LayerLen(l))
		for i := range w {
			w[i] = rng.NormFloat64() / 2
		}
		n.Layers = append(n.Layers, w)
	}
	m.Network = n
	return m
}

// mutateMeta changes the meta bucket of the store file at path.
func mutateMeta(t *testing.T, path string, fn func(meta *bolt.Bucket) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { return fn(tx.Bucket(bucketMeta)) }); err != nil {
		t.Fatal(err)
	}
}

// writeLegacy writes m as a store of the earlier format version 1 or 2:
// records without checksums, float64 sums, no completeness mark.
func writeLegacy(t *testing.T, path string, m *model.Model, version uint32) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	wsum := make([]float64, m.Rank)
	for _, u := range m.Users {
		for c, w := range u.W {
			wsum[c] += w
		}
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := writeShared(tx, m, int64(len(m.Users)), make([]exactsum.Sum, m.Rank)); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		meta.Delete(keyWSumX)
		meta.Put(keyWSum, putFloats(nil, wsum))
		meta.Put(keyFormat, binary.LittleEndian.AppendUint32(nil, version))
		for i := range m.Users {
			u := &m.Users[i]
			rec := encodeUser(nil, []byte(u.ID), u)
			if err := tx.Bucket(bucketUsers).Put([]byte(u.ID), rec[:len(rec)-4]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// formatOf returns the format version of the open store s.
func formatOf(t *testing.T, s *Store) uint32 {
	t.Helper()
	var v uint32
	if err := s.db.View(func(tx *bolt.Tx) error {
		v = binary.LittleEndian.Uint32(tx.Bucket(bucketMeta).Get(keyFormat))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestNetworkRoundTrip imports models with a network, checks what Open
// reads back, and that export -> model file -> Load gives the same model
// as the original's file does.
func TestNetworkRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name          string
		inputs        int
		hidden        []int
		users, r, k   int
		method, loss  string
		theta0, fixed bool
	}{
		{"neural-lrs", 4, []int{6, 5}, 30, 2, 2, model.MethodNeuralLRS, "", false, false},
		{"one layer", 3, []int{7}, 5, 3, 0, model.MethodNeuralLRS, "", false, false},
		{"neural-global", 5, []int{4, 3}, 4, 0, 0, model.MethodGlobal, "", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := networkModel(tc.users, tc.inputs, tc.hidden, tc.r, tc.k, 3)
			m.Method, m.Loss = tc.method, tc.loss
			if tc.theta0 {
				m.Theta0 = make([]float64, m.Dim)
				for j := range m.Theta0 {
					m.Theta0[j] = float64(j) - 1.5
				}
			}
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
			s, _ := importTemp(t, m)
			if v := formatOf(t, s); v != FormatVersion {
				t.Fatalf("store with a network written as format %d, want %d", v, FormatVersion)
			}
			if !reflect.DeepEqual(s.Model().Network, m.Network) {
				t.Fatalf("network read back differs:\n got %+v\nwant %+v", s.Model().Network, m.Network)
			}
			got, err := s.Export(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			// Export must not share the network with the store.
			w0 := got.Network.Layers[0][0]
			got.Network.Layers[0][0] = w0 + 1
			if s.Model().Network.Layers[0][0] == got.Network.Layers[0][0] {
				t.Fatal("Export shares the network's weights with the store")
			}
			got.Network.Layers[0][0] = w0

			dir := t.TempDir()
			want := *m
			want.Users = sortedUsers(m)
			var loaded [2]*model.Model
			for i, mm := range []*model.Model{got, &want} {
				p := filepath.Join(dir, strconv.Itoa(i)+".lrsp")
				if err := model.Save(p, mm); err != nil {
					t.Fatal(err)
				}
				if loaded[i], err = model.Load(p); err != nil {
					t.Fatal(err)
				}
			}
			if !reflect.DeepEqual(loaded[0], loaded[1]) {
				t.Fatalf("exported model file differs from the original's:\n got %+v\nwant %+v", loaded[0], loaded[1])
			}
			if !reflect.DeepEqual(loaded[0].Network, m.Network) {
				t.Fatal("network changed on the way store -> export -> file -> Load")
			}
		})
	}
}

// TestFormatVersions checks that every new store gets FormatVersion, that
// stores of the earlier versions 1 and 2 still open read-only (and are
// refused for writing with an error that says how to convert them), and
// that inconsistent or hostile headers are refused with an error (no
// panic, no allocation from unchecked sizes).
func TestFormatVersions(t *testing.T) {
	lin, _ := importTemp(t, randomModel(5, 6, 2, 2, false, 1))
	if v := formatOf(t, lin); v != FormatVersion {
		t.Fatalf("linear store written as format %d, want %d", v, FormatVersion)
	}
	for _, tc := range []struct {
		m       *model.Model
		version uint32
	}{
		{randomModel(5, 6, 2, 2, true, 1), formatLinear},
		{networkModel(4, 3, []int{4}, 2, 1, 5), formatNetwork},
	} {
		path := filepath.Join(t.TempDir(), "legacy.db")
		writeLegacy(t, path, tc.m, tc.version)
		if _, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), "opens read-only only") {
			t.Fatalf("read-write Open of a version %d store: %v, want a refusal", tc.version, err)
		}
		s, err := Open(path, Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("read-only Open of a version %d store: %v", tc.version, err)
		}
		got, err := s.Export(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(sortedUsers(got), sortedUsers(tc.m)) {
			t.Fatalf("version %d store: users read back differ", tc.version)
		}
		if _, err := s.Put(tc.m.Users[0]); err == nil {
			t.Fatalf("Put into a version %d store succeeded", tc.version)
		}
		s.Close()
	}

	good := networkModel(3, 3, []int{4}, 2, 1, 5)
	editHeader := func(edit func(h *header)) func(meta *bolt.Bucket) error {
		return func(meta *bolt.Bucket) error {
			var h header
			if err := json.Unmarshal(meta.Get(keyHeader), &h); err != nil {
				return err
			}
			edit(&h)
			b, _ := json.Marshal(h)
			return meta.Put(keyHeader, b)
		}
	}
	put := func(k []byte, v []byte) func(meta *bolt.Bucket) error {
		return func(meta *bolt.Bucket) error {
			if v == nil {
				return meta.Delete(k)
			}
			return meta.Put(k, v)
		}
	}
	version := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	multi := func(fns ...func(meta *bolt.Bucket) error) func(meta *bolt.Bucket) error {
		return func(meta *bolt.Bucket) error {
			for _, fn := range fns {
				if err := fn(meta); err != nil {
					return err
				}
			}
			return nil
		}
	}
	nan := putFloats(nil, []float64{math.NaN()})
	for _, tc := range []struct {
		name   string
		m      *model.Model
		mutate func(meta *bolt.Bucket) error
		want   string
	}{
		{"network as version 1", good, put(keyFormat, version(1)), "holds a network"},
		{"version 1 with network key", randomModel(2, 4, 1, 1, false, 1), multi(put(keyFormat, version(1)), put(keyNetwork, []byte{1})), "holds a network"},
		{"network key without header", randomModel(2, 4, 1, 1, false, 1), put(keyNetwork, []byte{1}), "header has no network"},
		{"version 2 without network", randomModel(2, 4, 1, 1, false, 1), put(keyFormat, version(2)), "without a network"},
		{"future version", good, put(keyFormat, version(4)), "format version 4"},
		{"incomplete", good, put(keyComplete, nil), "incomplete"},
		{"bad sums", good, put(keyWSumX, []byte{7}), "wsumx"},
		{"short format key", good, put(keyFormat, []byte{2}), "format key of 1 bytes"},
		{"missing weights", good, put(keyNetwork, nil), "network has 0 bytes"},
		{"short weights", good, put(keyNetwork, bytes.Repeat([]byte{0}, 8)), "network has 8 bytes"},
		{"NaN weight", good, func(meta *bolt.Bucket) error {
			b := append([]byte(nil), meta.Get(keyNetwork)...)
			copy(b, nan)
			return meta.Put(keyNetwork, b)
		}, "non-finite"},
		{"huge width", good, editHeader(func(h *header) { h.Network.Sizes[0] = 1 << 40 }), "width 1099511627776"},
		{"negative width", good, editHeader(func(h *header) { h.Network.Sizes[0] = -3 }), "width -3"},
		{"too many weights", good, editHeader(func(h *header) { h.Network.Sizes = []int{1 << 20, 1 << 20, 4} }), "more than 67108864 weights"},
		{"one size", good, editHeader(func(h *header) { h.Network.Sizes = []int{4} }), "1 layer sizes"},
		{"last width not d", good, editHeader(func(h *header) { h.Network.Sizes[1] = 5 }), "do not fit"},
		{"input names", good, editHeader(func(h *header) { h.Network.Inputs = h.Network.Inputs[:2] }), "do not fit"},
		{"activation", good, editHeader(func(h *header) { h.Network.Activation = "relu" }), "activation"},
		{"huge d", good, editHeader(func(h *header) { h.Dim = 1 << 62 }), "out of range"},
		{"bad header", good, put(keyHeader, []byte(`{"network":7}`)), "store header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "users.db")
			if err := Import(context.Background(), path, tc.m, ImportOptions{}); err != nil {
				t.Fatal(err)
			}
			mutateMeta(t, path, tc.mutate)
			s, err := Open(path, Options{})
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open error %q, want one containing %q", err, tc.want)
			}
		})
	}
}

// FuzzDecodeShared feeds arbitrary headers and network weights to the
// decoder of a store's shared parts: it must return a valid model or an
// error, never panic.
func FuzzDecodeShared(f *testing.F) {
	m := networkModel(0, 2, []int{3}, 1, 1, 1)
	hj, _ := json.Marshal(header{Method: m.Method, Dim: m.Dim, Rank: m.Rank, Sparsity: m.Sparsity, Features: m.Features,
		Network: &networkHeader{Inputs: m.Network.Inputs, Sizes: m.Network.Sizes, Activation: m.Network.Activation}})
	f.Add(uint32(FormatVersion), hj, encodeNetwork(nil, m.Network), putFloats(nil, m.U))
	f.Add(uint32(formatLinear), []byte(`{"method":"lrs","d":1,"r":1,"k":0,"features":["a"]}`), []byte(nil), putFloats(nil, []float64{1}))
	f.Add(uint32(FormatVersion), []byte(`{"d":3,"r":0,"features":["a","b","c"],"network":{"inputs":["x"],"sizes":[1,67108863,3],"activation":"tanh"}}`), []byte{0}, []byte(nil))
	f.Fuzz(func(t *testing.T, version uint32, hdr, network, u []byte) {
		vals := map[string][]byte{string(keyFormat): binary.LittleEndian.AppendUint32(nil, version),
			string(keyHeader): hdr, string(keyU): u}
		if network != nil {
			vals[string(keyNetwork)] = network
		}
		m, _, err := decodeShared(func(k []byte) []byte { return vals[string(k)] })
		if err == nil {
			if err := m.Validate(); err != nil {
				t.Fatalf("decodeShared returned an invalid model: %v", err)
			}
		}
	})
}
