package model

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/internal/fit"
)

// testModels returns small models covering every part of the format: a
// low-rank + sparse model with a privacy ledger and awkward floats, a
// model with theta_0 and dense users (nnz == d, indices omitted), a global
// model with no users, and a rank-0 model.
func testModels() map[string]*Model {
	lrs := &Model{
		Method: MethodLRS, Dim: 6, Rank: 2, Sparsity: 3,
		Features: []string{"a", "b", "c", "d", "e", `f "quoted" é`},
		U: []float64{0.5, -0.5, 0.5, 0.5, -0.5, 0.5, 0.5, -0.5, math.Copysign(0, -1), 5e-324,
			math.MaxFloat64, -1.0 / 3},
		Users: []User{
			{ID: "u0", W: []float64{1, 2}, Index: []int32{0, 3, 5}, Value: []float64{0.25, -1e-300, 7}},
			{ID: "", W: []float64{-3, math.Pi}, Index: []int32{}, Value: []float64{}},
			{ID: "ünï\x00\xff", W: []float64{0, 0}, Index: []int32{2}, Value: []float64{math.SmallestNonzeroFloat64}},
			{ID: strings.Repeat("x", 300), W: []float64{1e300, -1e-300}, Index: []int32{1, 4}, Value: []float64{1, -1}},
		},
		Config: Config{Version: ConfigVersion, Rounds: 12, Init: "moments", Pursuit: fit.PursuitHTP,
			Unpenalized: []int{0, 4}, DP: &DPConfig{Clip: 1.5, Init: "private"}, Extra: map[string]string{"note": "a\nb"}},
		Privacy: &Ledger{Mechanism: "gaussian", Clip: 1.5, NoiseMultiplier: 0.8, Rounds: 12, SampleRate: 0.01,
			Epsilon: 2.5, Delta: 1e-6, Accountant: "rdp", Init: "random"},
	}
	dense := &Model{
		Method: MethodFinetune, Dim: 3, Rank: 0, Sparsity: 3, Features: []string{"x0", "x1", "x2"},
		U: []float64{}, Theta0: []float64{0.1, -0.2, 0.3},
		Users: []User{
			{ID: "dense", W: []float64{}, Index: []int32{0, 1, 2}, Value: []float64{1, 2, 3}},
			{ID: "sparse", W: []float64{}, Index: []int32{1}, Value: []float64{-4}},
			{ID: "zero", W: []float64{}, Index: []int32{}, Value: []float64{}},
		},
		Loss: LossLogistic,
	}
	global := &Model{Method: MethodGlobal, Dim: 2, Features: []string{"p", "q"}, U: []float64{}, Theta0: []float64{1, 2}}
	lowrank := &Model{
		Method: MethodLowRank, Dim: 2, Rank: 2, Features: []string{"p", "q"}, U: []float64{1, 0, 0, 1},
		Users: []User{{ID: "a", W: []float64{3, 4}, Index: []int32{}, Value: []float64{}}},
	}
	return map[string]*Model{"lrs": lrs, "dense": dense, "global": global, "lowrank": lowrank}
}

func encode(t testing.TB, m *Model) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Encode(&buf, m); err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return buf.Bytes()
}

// withCRC returns body followed by its CRC-32C, a well-sealed model file.
func withCRC(body []byte) []byte {
	out := slices.Clip(slices.Clone(body))
	return binary.LittleEndian.AppendUint32(out, crc32.Checksum(body, castagnoli))
}

func sameFloats(a, b []float64) bool {
	return len(a) == len(b) && (a == nil) == (b == nil) && slices.EqualFunc(a, b, func(x, y float64) bool {
		return math.Float64bits(x) == math.Float64bits(y)
	})
}

// sameModel describes the first difference between a and b, comparing
// floats bit for bit, or returns "".
func sameModel(a, b *Model) string {
	loss := func(m *Model) string {
		if m.Loss == "" {
			return LossSquared
		}
		return m.Loss
	}
	switch {
	case a.Method != b.Method || a.Dim != b.Dim || a.Rank != b.Rank || a.Sparsity != b.Sparsity:
		return fmt.Sprintf("sizes %s %d %d %d vs %s %d %d %d", a.Method, a.Dim, a.Rank, a.Sparsity, b.Method, b.Dim, b.Rank, b.Sparsity)
	case !slices.Equal(a.Features, b.Features):
		return fmt.Sprintf("features %q vs %q", a.Features, b.Features)
	case !sameFloats(a.U, b.U) && !(len(a.U) == 0 && len(b.U) == 0):
		return fmt.Sprintf("U %v vs %v", a.U, b.U)
	case !sameFloats(a.Theta0, b.Theta0):
		return fmt.Sprintf("theta0 %v vs %v", a.Theta0, b.Theta0)
	case !reflect.DeepEqual(a.Config, b.Config) && !(a.Config.Version == 0 && b.Config.Version == ConfigVersion):
		return fmt.Sprintf("config %v vs %v", a.Config, b.Config)
	case loss(a) != loss(b):
		return fmt.Sprintf("loss %q vs %q", a.Loss, b.Loss)
	case (a.Privacy == nil) != (b.Privacy == nil) || (a.Privacy != nil && *a.Privacy != *b.Privacy):
		return fmt.Sprintf("privacy %+v vs %+v", a.Privacy, b.Privacy)
	case len(a.Users) != len(b.Users):
		return fmt.Sprintf("%d vs %d users", len(a.Users), len(b.Users))
	}
	for i := range a.Users {
		u, v := &a.Users[i], &b.Users[i]
		if u.ID != v.ID || !slices.Equal(u.Index, v.Index) ||
			!(sameFloats(u.W, v.W) || len(u.W)+len(v.W) == 0) || !(sameFloats(u.Value, v.Value) || len(u.Value)+len(v.Value) == 0) {
			return fmt.Sprintf("user %d: %+v vs %+v", i, *u, *v)
		}
	}
	return ""
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for name, m := range testModels() {
		t.Run(name, func(t *testing.T) {
			data := encode(t, m)
			back, err := Decode(data)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := sameModel(m, back); diff != "" {
				t.Fatal(diff)
			}
			if again := encode(t, back); !bytes.Equal(again, data) {
				t.Fatal("re-encoding the decoded model gives different bytes")
			}
		})
	}
}

// TestEncodeLayout checks the documented layout byte by byte on a tiny model.
func TestEncodeLayout(t *testing.T) {
	m := &Model{Method: MethodLRS, Dim: 2, Rank: 1, Sparsity: 2, Features: []string{"a", "b"}, U: []float64{1, 0},
		Users: []User{
			{ID: "s", W: []float64{2}, Index: []int32{1}, Value: []float64{3}},
			{ID: "dd", W: []float64{4}, Index: []int32{0, 1}, Value: []float64{5, 6}},
		}}
	data := encode(t, m)
	hj := `{"method":"lrs","d":2,"r":1,"k":2,"features":["a","b"],"theta0":false,"users":2}`
	var want []byte
	want = append(want, "LRSPMODL"...)
	want = binary.LittleEndian.AppendUint32(want, 2)
	want = binary.LittleEndian.AppendUint32(want, uint32(len(hj)))
	want = append(want, hj...)
	f := func(v float64) { want = binary.LittleEndian.AppendUint64(want, math.Float64bits(v)) }
	f(1)
	f(0)
	want = append(want, 1, 's')
	f(2)
	want = append(want, 1)                           // nnz
	want = binary.LittleEndian.AppendUint32(want, 1) // index
	f(3)                                             // value
	want = append(want, 2, 'd', 'd')                 // ID of the dense user
	f(4)                                             // w
	want = append(want, 2)                           // nnz == d: no indices follow
	f(5)
	f(6)
	want = binary.LittleEndian.AppendUint32(want, crc32.Checksum(want, crc32.MakeTable(crc32.Castagnoli)))
	if !bytes.Equal(data, want) {
		t.Fatalf("encoding\n%q\nwant\n%q", data, want)
	}
}

func TestDecodeTruncated(t *testing.T) {
	for name, m := range testModels() {
		data := encode(t, m)
		for n := 0; n < len(data); n++ {
			if _, err := Decode(data[:n]); err == nil {
				t.Fatalf("%s: Decode of the first %d of %d bytes succeeded", name, n, len(data))
			}
		}
	}
}

func TestDecodeBitFlips(t *testing.T) {
	for name, m := range testModels() {
		data := encode(t, m)
		for i := range data {
			for bit := 0; bit < 8; bit++ {
				c := slices.Clone(data)
				c[i] ^= 1 << bit
				if _, err := Decode(c); err == nil {
					t.Fatalf("%s: Decode accepted a flip of bit %d of byte %d of %d", name, bit, i, len(data))
				}
			}
		}
	}
}

// TestDecodeErrors checks the message of each kind of bad file, including
// inconsistent files that carry a valid checksum.
func TestDecodeErrors(t *testing.T) {
	good := encode(t, testModels()["lrs"])
	hlen := int(binary.LittleEndian.Uint32(good[12:]))
	body := good[:len(good)-4]
	// reheader replaces the JSON header and reseals the file.
	reheader := func(hj string) []byte {
		b := append([]byte(nil), good[:12]...)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(hj)))
		b = append(b, hj...)
		b = append(b, body[16+hlen:]...)
		return withCRC(b)
	}
	header := string(good[16 : 16+hlen])
	version := func(v uint32) []byte {
		b := slices.Clone(body)
		binary.LittleEndian.PutUint32(b[8:], v)
		return withCRC(b)
	}
	tiny := &Model{Method: MethodLRS, Dim: 2, Rank: 1, Sparsity: 1, Features: []string{"a", "b"}, U: []float64{1, 0},
		Users: []User{{ID: "s", W: []float64{2}, Index: []int32{1}, Value: []float64{3}}}}
	tb := encode(t, tiny)
	tbody := tb[:len(tb)-4]
	tlen := int(binary.LittleEndian.Uint32(tb[12:]))
	users := 16 + tlen + 16 // start of the first user: after U (2 floats)
	patch := func(at int, repl ...byte) []byte {
		b := slices.Clone(tbody)
		copy(b[at:], repl)
		return withCRC(b)
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "bad magic"},
		{"not a model", []byte("user,x,y\na,1,2\nb,3,4\n"), "bad magic"},
		{"wrong magic", append([]byte("LRSPMODX"), good[8:]...), "bad magic"},
		{"magic only", []byte("LRSPMODL"), "truncated"},
		{"version 3", version(3), "version 3, this lrsp reads versions 1 to 2"},
		{"version 0", version(0), "version 0, this lrsp reads versions 1 to 2"},
		{"trailing bytes after checksum", append(slices.Clone(good), 0), "checksum"},
		{"trailing bytes before checksum", withCRC(append(slices.Clone(body), 1, 2, 3)), "3 unexpected trailing bytes"},
		{"bad checksum", append(slices.Clone(body), 0, 0, 0, 0), "checksum"},
		{"header length too long", func() []byte {
			b := slices.Clone(body)
			binary.LittleEndian.PutUint32(b[12:], 1<<30)
			return withCRC(b)
		}(), "header of 1073741824 bytes is too long"},
		{"header not JSON", reheader(strings.Replace(header, "{", "[", 1)), "model: header"},
		{"header d = 0", reheader(strings.Replace(header, `"d":6`, `"d":0`, 1)), "bad sizes d=0"},
		{"header r > d", reheader(strings.Replace(header, `"r":2`, `"r":7`, 1)), "bad sizes"},
		{"header negative users", reheader(strings.Replace(header, `"users":4`, `"users":-1`, 1)), "bad sizes"},
		{"header claims too many users", reheader(strings.Replace(header, `"users":4`, `"users":99999999`, 1)), "claims 99999999 users"},
		{"header claims one user more", reheader(strings.Replace(header, `"users":4`, `"users":5`, 1)), "truncated"},
		{"header claims one user fewer", reheader(strings.Replace(header, `"users":4`, `"users":3`, 1)), "trailing bytes"},
		{"header claims theta0", reheader(strings.Replace(header, `"theta0":false`, `"theta0":true`, 1)), ""},
		{"feature count", reheader(strings.Replace(header, `"a",`, ``, 1)), "5 feature names for dimension 6"},
		{"unknown loss", reheader(strings.Replace(header, `"users":4`, `"users":4,"loss":"hinge"`, 1)), `unknown loss "hinge"`},
		{"NaN in U", patch(16+tlen, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f), "non-finite"},
		{"Inf in w", patch(users+2, 0, 0, 0, 0, 0, 0, 0xf0, 0x7f), `user "s" has a non-finite value`},
		{"nnz > k", reheader(strings.Replace(header, `"k":3`, `"k":2`, 1)), `user "u0": b has 3 indices, 3 values, sparsity 2`},
		{"index out of range", patch(users+11, 2), "out of order or range"},
		{"index above int32", patch(users+11, 0, 0, 0, 0x80), "out of range"},
		{"id longer than the file", patch(users, 0x7f), "truncated"},
		{"id length over the bound", patch(users, 0x81, 0x40), "exceeds 4096"},
		{"nnz varint unterminated", withCRC(append(slices.Clone(tbody[:users+10]), 0x80)), "truncated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Decode(tc.data)
			if err == nil {
				t.Fatalf("Decode succeeded: %+v", m)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
	if _, err := Decode(append(slices.Clone(body), 0, 0, 0, 0)); !errors.Is(err, ErrChecksum) {
		t.Errorf("bad checksum gave %v, want ErrChecksum", err)
	}
}

func TestValidate(t *testing.T) {
	base := func() *Model { return testModels()["lrs"] }
	tests := []struct {
		name   string
		change func(m *Model)
		want   string // "" for valid
	}{
		{"valid", func(m *Model) {}, ""},
		{"no users", func(m *Model) { m.Users = nil }, ""},
		{"theta0", func(m *Model) { m.Theta0 = make([]float64, 6) }, ""},
		{"logistic", func(m *Model) { m.Loss = LossLogistic }, ""},
		{"d = 0", func(m *Model) { m.Dim = 0 }, "dimension 0"},
		{"negative rank", func(m *Model) { m.Rank = -1 }, "rank -1"},
		{"rank > d", func(m *Model) { m.Rank = 7 }, "rank 7"},
		{"sparsity > d", func(m *Model) { m.Sparsity = 7 }, "sparsity 7"},
		{"negative sparsity", func(m *Model) { m.Sparsity = -1 }, "sparsity -1"},
		{"features", func(m *Model) { m.Features = m.Features[:5] }, "5 feature names"},
		{"U size", func(m *Model) { m.U = m.U[:11] }, "U has 11 entries"},
		{"theta0 size", func(m *Model) { m.Theta0 = []float64{1} }, "theta_0 has 1 entries"},
		{"NaN in U", func(m *Model) { m.U[3] = math.NaN() }, "non-finite"},
		{"Inf in theta0", func(m *Model) { m.Theta0 = []float64{0, 0, math.Inf(-1), 0, 0, 0} }, "non-finite"},
		{"w size", func(m *Model) { m.Users[2].W = []float64{1} }, `user "ünï\x00\xff": w has 1 entries`},
		{"index/value lengths", func(m *Model) { m.Users[0].Value = m.Users[0].Value[:2] }, `user "u0": b has 3 indices, 2 values`},
		{"too many non-zeros", func(m *Model) { m.Sparsity = 2 }, "sparsity 2"},
		{"unsorted indices", func(m *Model) { m.Users[0].Index = []int32{3, 0, 5} }, "out of order"},
		{"repeated index", func(m *Model) { m.Users[0].Index = []int32{0, 3, 3} }, "out of order"},
		{"negative index", func(m *Model) { m.Users[0].Index = []int32{-1, 3, 5} }, "out of order or range"},
		{"index = d", func(m *Model) { m.Users[0].Index = []int32{0, 3, 6} }, "out of order or range"},
		{"NaN in b", func(m *Model) { m.Users[3].Value[1] = math.NaN() }, "non-finite"},
		{"Inf in w", func(m *Model) { m.Users[1].W[0] = math.Inf(1) }, `user "" has a non-finite value`},
		{"unknown loss", func(m *Model) { m.Loss = "hinge" }, "unknown loss"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := base()
			tc.change(m)
			err := m.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("Validate accepted the model, want an error containing %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
			// Encode refuses what Validate refuses.
			if encErr := Encode(io.Discard, m); (encErr == nil) != (err == nil) {
				t.Fatalf("Encode error %v, Validate error %v", encErr, err)
			}
		})
	}
}

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.lrsp")
	m := testModels()["lrs"]
	if err := Save(path, m); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := sameModel(m, back); diff != "" {
		t.Fatal(diff)
	}
	assertOnly(t, dir, "m.lrsp")

	// Overwriting replaces the content.
	other := testModels()["dense"]
	if err := Save(path, other); err != nil {
		t.Fatal(err)
	}
	if back, err = Load(path); err != nil || sameModel(other, back) != "" {
		t.Fatalf("after overwrite: %v %s", err, sameModel(other, back))
	}
	assertOnly(t, dir, "m.lrsp")

	// Load names the file in its errors.
	raw, _ := os.ReadFile(path)
	raw[len(raw)/2] ^= 1
	bad := filepath.Join(dir, "bad.lrsp")
	if err := os.WriteFile(bad, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), bad) || !errors.Is(err, ErrChecksum) {
		t.Errorf("Load of a corrupted file: %v", err)
	} else if want := "model: load " + bad + ": checksum mismatch"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Load of a corrupted file: error %q, want it to start with %q", err, want)
	}
	if _, err := Load(filepath.Join(dir, "none.lrsp")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file: %v", err)
	}
	if err := Save(filepath.Join(dir, "no", "such", "dir", "m.lrsp"), m); err == nil {
		t.Error("Save into a missing directory succeeded")
	}
}

// TestSaveFailureKeepsOldFile makes Encode fail after it has written more
// than its buffer to the temporary file, and checks that the old file is
// untouched and no temporary file is left.
func TestSaveFailureKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.lrsp")
	old := testModels()["lrs"]
	if err := Save(path, old); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)

	for name, bad := range map[string]*Model{
		"invalid model": {Method: MethodLRS, Dim: 0},
		"late failure":  bigModelWithBadLastUser(),
	} {
		t.Run(name, func(t *testing.T) {
			err := Save(path, bad)
			if err == nil {
				t.Fatal("Save succeeded")
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s", err, path)
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(before, after) {
				t.Fatal("a failed Save changed the existing file")
			}
			assertOnly(t, dir, "m.lrsp")
		})
	}
}

// bigModelWithBadLastUser returns a valid model whose encoding exceeds the
// encoder's 64 KiB buffer and whose last user ID is too long to encode.
func bigModelWithBadLastUser() *Model {
	const d, r = 20, 2
	m := &Model{Method: MethodLowRank, Dim: d, Rank: r, U: make([]float64, d*r)}
	for j := 0; j < d; j++ {
		m.Features = append(m.Features, fmt.Sprint("f", j))
	}
	for i := 0; i < 5000; i++ {
		m.Users = append(m.Users, User{ID: fmt.Sprint("user", i), W: []float64{1, 2}})
	}
	m.Users = append(m.Users, User{ID: strings.Repeat("x", maxID+1), W: []float64{1, 2}})
	return m
}

func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	for _, n := range got {
		if !slices.Contains(names, n) {
			t.Errorf("unexpected file %q left in the directory (have %q)", n, got)
		}
	}
}

// TestDecodeHostileSizes feeds correctly sealed files whose header claims
// huge sizes. Decode must fail without panicking and without allocating
// much more than the file's size.
func TestDecodeHostileSizes(t *testing.T) {
	feats := func(n int) string {
		names := make([]string, n)
		for i := range names {
			names[i] = fmt.Sprintf("%q", fmt.Sprint(i))
		}
		return "[" + strings.Join(names, ",") + "]"
	}
	file := func(hj string, rest ...byte) []byte {
		b := append([]byte(Magic), 1, 0, 0, 0)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(hj)))
		b = append(b, hj...)
		return withCRC(append(b, rest...))
	}
	huge := uvarint(1 << 31)
	tests := []struct {
		name string
		data []byte
	}{
		// d*r*8 overflows int to 0.
		{"U size overflows", file(`{"method":"lrs","d":2147483648,"r":1073741824,"k":0,"features":[],"theta0":false,"users":0}`)},
		{"huge d, theta0", file(`{"method":"lrs","d":1000000000000,"r":0,"k":0,"features":[],"theta0":true,"users":0}`)},
		// A dense user (nnz == d) of a huge d, in a few bytes.
		{"huge dense user", file(`{"method":"local","d":2147483648,"r":0,"k":2147483648,"features":[],"theta0":false,"users":1}`,
			append([]byte{1, 'a'}, huge...)...)},
		{"dense user, few features", file(`{"method":"local","d":50000000,"r":0,"k":50000000,"features":`+feats(3)+`,"theta0":false,"users":1}`,
			append([]byte{1, 'a'}, uvarint(50000000)...)...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			m, err := Decode(tc.data)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatalf("Decode succeeded: d=%d", m.Dim)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
				t.Errorf("Decode of %d bytes allocated %d bytes before failing (%v)", len(tc.data), grew, err)
			}
		})
	}
}

func uvarint(x uint64) []byte { return binary.AppendUvarint(nil, x) }

func TestFileVersion(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.lrsp")
	if err := Save(path, testModels()["lrs"]); err != nil {
		t.Fatal(err)
	}
	if v, err := FileVersion(path); err != nil || v != Version {
		t.Fatalf("FileVersion = %d, %v; want %d", v, err, Version)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("LRSP"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := FileVersion(bad); err == nil {
		t.Fatal("FileVersion accepted a truncated file")
	}
}

// TestDecodeRejectsDuplicateUserID guards against a model file that lists
// a user twice under a valid checksum: predict used to take the last copy
// silently.
func TestDecodeRejectsDuplicateUserID(t *testing.T) {
	m := &Model{
		Method: MethodLRS, Dim: 2, Rank: 1, Sparsity: 1, Features: []string{"p", "q"}, U: []float64{1, 0},
		Users: []User{
			{ID: "alice", W: []float64{1}, Index: []int32{0}, Value: []float64{2}},
			{ID: "bobby", W: []float64{3}, Index: []int32{1}, Value: []float64{4}},
		},
	}
	var buf bytes.Buffer
	if err := Encode(&buf, m); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	// Rename the second user to the first one's ID and fix the checksum.
	at := bytes.LastIndex(data, []byte("bobby"))
	copy(data[at:], "alice")
	body := data[:len(data)-4]
	binary.LittleEndian.PutUint32(data[len(data)-4:], crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
	_, err := Decode(data)
	if err == nil || !strings.Contains(err.Error(), `"alice"`) || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("Decode: err %v, want a duplicate-user error naming \"alice\"", err)
	}
	// Load names the file as well; Encode refuses such a model too.
	path := filepath.Join(t.TempDir(), "dup.lrsp")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `"alice"`) {
		t.Errorf("Load: err %v, want it to name the file and the user", err)
	}
	m.Users[1].ID = "alice"
	if err := Encode(io.Discard, m); err == nil {
		t.Error("Encode accepted a duplicated user")
	}
}
