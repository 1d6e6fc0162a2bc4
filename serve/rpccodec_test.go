package serve

import (
	"encoding/binary"
	"math"
	"runtime"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	lrspv1 "github.com/lrsp/lrsp/api/gen/lrsp/v1"
)

// sameBatch reports whether a holds the items of b, comparing features
// bit for bit (NaNs included), and whether it marks the items with
// non-finite features.
func sameBatch(a *batchRequest, b *lrspv1.PredictBatchRequest) bool {
	if a.len() != len(b.Items) || len(a.ends) != len(b.Items) || len(a.finite) != len(b.Items) {
		return false
	}
	for i, y := range b.Items {
		x := a.features(i)
		if a.users[i] != y.GetUser() || len(x) != len(y.GetFeatures()) || a.finite[i] != allFinite(y.GetFeatures()) {
			return false
		}
		for j := range x {
			if math.Float64bits(x[j]) != math.Float64bits(y.Features[j]) {
				return false
			}
		}
	}
	return true
}

// batchSeeds returns encodings that cover what decodeBatch handles:
// packed and unpacked features, repeated and unknown fields, groups, wire
// type mismatches, bad UTF-8, truncations and bad lengths.
func batchSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, req := range []*lrspv1.PredictBatchRequest{
		{},
		{Items: []*lrspv1.PredictItem{{User: "u1", Features: []float64{1, 2, 3}}}},
		{Items: []*lrspv1.PredictItem{{User: "u1", Features: []float64{1, math.NaN(), math.Copysign(0, -1)}}, {User: "u22"}, {}}},
	} {
		b, err := proto.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	item := func(fields ...[]byte) []byte {
		var v []byte
		for _, f := range fields {
			v = append(v, f...)
		}
		return protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), v)
	}
	user := func(s string) []byte {
		return protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), s)
	}
	unpacked := func(x float64) []byte {
		return protowire.AppendFixed64(protowire.AppendTag(nil, 2, protowire.Fixed64Type), math.Float64bits(x))
	}
	packed := func(xs ...float64) []byte {
		var v []byte
		for _, x := range xs {
			v = protowire.AppendFixed64(v, math.Float64bits(x))
		}
		return protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), v)
	}
	varint := func(num protowire.Number, x uint64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), x)
	}
	group := func(num protowire.Number, inner []byte) []byte {
		b := append(protowire.AppendTag(nil, num, protowire.StartGroupType), inner...)
		return protowire.AppendTag(b, num, protowire.EndGroupType)
	}
	cat := func(bs ...[]byte) []byte {
		return []byte(strings.Join(func() []string {
			s := make([]string, len(bs))
			for i, b := range bs {
				s[i] = string(b)
			}
			return s
		}(), ""))
	}
	seeds = append(seeds,
		item(user("a"), unpacked(1), packed(2, 3), unpacked(4), user("b")),
		cat(item(user("a")), varint(1, 7), item(packed(1)), varint(9, 1), group(5, varint(1, 2))),
		item(user("a"), varint(2, 5), varint(1, 3), group(7, nil), packed()),
		item(user("\xff")),
		item(protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), []byte{1, 2, 3})),
		item(protowire.AppendTag(nil, 3, protowire.EndGroupType)),
		protowire.AppendTag(nil, 0, protowire.VarintType),
		protowire.AppendTag(nil, protowire.MaxValidNumber, protowire.VarintType),
		append(protowire.AppendTag(nil, protowire.MaxValidNumber, protowire.VarintType), 1),
		[]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f},
		[]byte{0x0a, 0x02, 0x11, 0x00},
		cat(item(user("a"), packed(1, 2)), item(user("b"), packed(3))[:5]),
	)
	return seeds
}

// FuzzDecodeBatch checks decodeBatch against proto.Unmarshal: both accept
// or both refuse every input, and accepted inputs give the same items.
func FuzzDecodeBatch(f *testing.F) {
	for _, b := range batchSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want lrspv1.PredictBatchRequest
		var got batchRequest
		werr := proto.Unmarshal(b, &want)
		gerr := decodeBatch(b, &got, math.MaxInt)
		switch {
		case (werr == nil) != (gerr == nil):
			t.Fatalf("%x: proto.Unmarshal: %v, decodeBatch: %v", b, werr, gerr)
		case werr == nil && !sameBatch(&got, &want):
			t.Fatalf("%x: decodeBatch gave %v, proto.Unmarshal %v", b, &got, &want)
		}
	})
}

// TestDecodeBatch runs the seeds of FuzzDecodeBatch, checks that the
// decoded batch does not alias its input and that the item bound is
// applied before allocating.
func TestDecodeBatch(t *testing.T) {
	// One batchRequest for all seeds: decodeBatch reuses its slices, as
	// it does those of the server's pool.
	var got batchRequest
	for _, b := range batchSeeds(t) {
		var want lrspv1.PredictBatchRequest
		werr := proto.Unmarshal(b, &want)
		gerr := decodeBatch(b, &got, math.MaxInt)
		if (werr == nil) != (gerr == nil) || werr == nil && !sameBatch(&got, &want) {
			t.Errorf("%x: proto.Unmarshal %v, %v; decodeBatch %+v, %v", b, &want, werr, got, gerr)
		}
	}
	req := &lrspv1.PredictBatchRequest{Items: []*lrspv1.PredictItem{{User: "u1", Features: []float64{1, 2}}, {User: "u2", Features: []float64{3}}}}
	b, _ := proto.Marshal(req)
	got = batchRequest{}
	if err := decodeBatch(b, &got, 2); err != nil || !sameBatch(&got, req) {
		t.Fatalf("decodeBatch = %+v, %v", got, err)
	}
	for i := range b {
		b[i] = 0
	}
	if !sameBatch(&got, req) {
		t.Fatalf("the decoded batch changed with its input: %+v", got)
	}
	b, _ = proto.Marshal(req)
	if err := decodeBatch(b, &got, 1); err == nil || !strings.Contains(err.Error(), "2 items exceed the batch limit of 1") {
		t.Fatalf("2 items with a bound of 1: %v", err)
	}
	many := make([]byte, 0, 2<<20)
	for len(many) < cap(many) {
		many = append(many, 0x0a, 0x00)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := decodeBatch(many, &got, 10)
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("1M items over a bound of 10 accepted")
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
		t.Fatalf("decodeBatch allocated %d bytes refusing 1M items over the bound", n)
	}
}

// TestPutLittleEndian checks the byte copy of packed features against
// decoding each float64 on its own, for every length up to 20.
func TestPutLittleEndian(t *testing.T) {
	for n := range 21 {
		v := make([]byte, 8*n)
		want := make([]float64, n)
		for i := range want {
			want[i] = math.Float64frombits(uint64(i+1)*0x9e3779b97f4a7c15 ^ uint64(n))
			binary.LittleEndian.PutUint64(v[8*i:], math.Float64bits(want[i]))
		}
		got := make([]float64, n)
		putLittleEndian(got, v)
		for i := range got {
			if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
				t.Fatalf("n = %d: element %d is %x, want %x", n, i, math.Float64bits(got[i]), math.Float64bits(want[i]))
			}
		}
	}
}
