package client

import (
	"context"
	"encoding/binary"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	lrspv1 "github.com/lrsp/lrsp/api/gen/lrsp/v1"
	"github.com/lrsp/lrsp/serve"
)

// responseSeeds are encodings of PredictBatchResponse: packed and unpacked
// predictions, repeated and unknown fields, and malformed ones.
func responseSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, m := range []*lrspv1.PredictBatchResponse{
		{}, {Predictions: []float64{1, math.NaN(), -2}}, {Predictions: []float64{0.5}, Probability: true},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	unpacked := protowire.AppendFixed64(protowire.AppendTag(nil, 1, protowire.Fixed64Type), math.Float64bits(3))
	packed := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), binary.LittleEndian.AppendUint64(nil, math.Float64bits(4)))
	boolean := protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 7)
	unknown := protowire.AppendVarint(protowire.AppendTag(nil, 9, protowire.VarintType), 1)
	return append(seeds,
		append(append(append(append([]byte{}, unpacked...), packed...), boolean...), unknown...),
		protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte{1, 2, 3}),
		protowire.AppendTag(nil, 2, protowire.BytesType),
		[]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f},
		protowire.AppendTag(nil, 0, protowire.VarintType),
	)
}

// sameResponse reports whether a and b hold the same predictions, bit for
// bit, and kind.
func sameResponse(a, b *lrspv1.PredictBatchResponse) bool {
	return a.Probability == b.Probability && slices.EqualFunc(a.Predictions, b.Predictions,
		func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) })
}

// FuzzDecodeResponse checks decodeResponse against proto.Unmarshal: what
// proto.Unmarshal refuses, decodeResponse refuses; what it accepts,
// decodeResponse decodes to the same message when told the number of
// predictions, and refuses when told one fewer.
func FuzzDecodeResponse(f *testing.F) {
	for _, b := range responseSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want lrspv1.PredictBatchResponse
		if err := proto.Unmarshal(b, &want); err != nil {
			if got, err := decodeResponse(b, len(b)); err == nil {
				t.Fatalf("%x: proto.Unmarshal refuses (%v), decodeResponse gives %v", b, err, got)
			}
			return
		}
		got, err := decodeResponse(b, len(want.Predictions))
		if err != nil {
			t.Fatalf("%x: decodeResponse: %v; proto.Unmarshal: %v", b, err, &want)
		}
		if !sameResponse(got, &want) {
			t.Fatalf("%x: decodeResponse %v, proto.Unmarshal %v", b, got, &want)
		}
		if n := len(want.Predictions); n > 0 {
			if _, err := decodeResponse(b, n-1); err == nil {
				t.Fatalf("%x: %d predictions accepted for %d items", b, n, n-1)
			}
		}
	})
}

// TestDecodeResponseSeeds runs the seeds of FuzzDecodeResponse.
func TestDecodeResponseSeeds(t *testing.T) {
	for _, b := range responseSeeds(t) {
		var want lrspv1.PredictBatchResponse
		werr := proto.Unmarshal(b, &want)
		got, gerr := decodeResponse(b, len(want.Predictions))
		if (werr == nil) != (gerr == nil) || werr == nil && !sameResponse(got, &want) {
			t.Errorf("%x: proto.Unmarshal %v, %v; decodeResponse %v, %v", b, &want, werr, got, gerr)
		}
	}
}

// TestPredictPreparedChecksResponses checks that the gRPC path of
// PredictPrepared refuses malformed responses of a server: a wrong status,
// content type, compressed or truncated message, two messages, a missing
// or non-zero grpc-status, and a wrong number of predictions.
func TestPredictPreparedChecksResponses(t *testing.T) {
	msg := func(preds ...float64) []byte {
		b, _ := proto.Marshal(&lrspv1.PredictBatchResponse{Predictions: preds})
		f, _ := grpcFrame(b)
		return f
	}
	for _, tc := range []struct {
		name   string
		status int
		ctype  string
		body   []byte
		trail  map[string]string
		code   connect.Code
		want   string
	}{
		{"ok", 200, "application/grpc", msg(1, 2), map[string]string{"Grpc-Status": "0"}, 0, ""},
		{"status", 503, "application/grpc", nil, nil, connect.CodeUnavailable, "HTTP status"},
		{"content type", 200, "application/json", msg(1, 2), map[string]string{"Grpc-Status": "0"}, connect.CodeInternal, "content type"},
		{"compressed", 200, "application/grpc", append([]byte{1}, msg(1, 2)[1:]...), map[string]string{"Grpc-Status": "0"}, connect.CodeInternal, "uncompressed"},
		{"truncated", 200, "application/grpc", msg(1, 2)[:9], map[string]string{"Grpc-Status": "0"}, connect.CodeUnavailable, "read response"},
		{"two messages", 200, "application/grpc", append(msg(1, 2), msg(1, 2)...), map[string]string{"Grpc-Status": "0"}, connect.CodeUnimplemented, "more than one message"},
		{"no trailer", 200, "application/grpc", msg(1, 2), nil, connect.CodeInternal, "grpc-status"},
		{"error trailer", 200, "application/grpc", nil, map[string]string{"Grpc-Status": "5", "Grpc-Message": "user %22x%22 is not in the store"}, connect.CodeNotFound, `user "x" is not in the store`},
		{"error after a message", 200, "application/grpc", msg(1, 2), map[string]string{"Grpc-Status": "13", "Grpc-Message": "boom"}, connect.CodeInternal, "boom"},
		{"count", 200, "application/grpc", msg(1), map[string]string{"Grpc-Status": "0"}, connect.CodeInternal, "1 predictions for 2 items"},
		{"too large", 200, "application/grpc", msg(make([]float64, 20)...), map[string]string{"Grpc-Status": "0"}, connect.CodeResourceExhausted, "for 2 items"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := grpcServer(t, func(w http.ResponseWriter, r *http.Request) {
				for k := range tc.trail {
					w.Header().Add("Trailer", k)
				}
				w.Header().Set("Content-Type", tc.ctype)
				w.WriteHeader(tc.status)
				w.Write(tc.body)
				for k, v := range tc.trail {
					w.Header().Set(k, v)
				}
			})
			c, err := New(ts.URL, Options{Protocol: GRPC})
			if err != nil {
				t.Fatal(err)
			}
			prep, err := c.Prepare(&lrspv1.PredictBatchRequest{Items: []*lrspv1.PredictItem{{User: "u1"}, {User: "u2"}}})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.PredictPrepared(context.Background(), prep)
			if tc.code == 0 {
				if err != nil || len(resp.Predictions) != 2 || resp.Predictions[1] != 2 {
					t.Fatalf("%v, %v; want [1 2]", resp, err)
				}
				return
			}
			if connect.CodeOf(err) != tc.code || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v (code %v), want code %v containing %q", err, connect.CodeOf(err), tc.code, tc.want)
			}
		})
	}
}

// TestGRPCTimeout checks the grpc-timeout encoding: the finest unit whose
// value has at most 8 digits, rounded up.
func TestGRPCTimeout(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{1, "1n"}, {99999999, "99999999n"}, {100000000, "100000u"}, {100000001, "100001u"},
		{time.Minute, "60000000u"}, {time.Hour, "3600000m"}, {1000 * time.Hour, "3600000S"},
		{1 << 62, "76861434M"}, {1<<63 - 1, "2562048H"},
	} {
		if got := grpcTimeout(tc.d); got != tc.want {
			t.Errorf("grpcTimeout(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

// TestPredictPreparedDeadline checks that a prepared call sends the
// context's deadline as grpc-timeout, and fails at once with
// DeadlineExceeded when it has passed.
func TestPredictPreparedDeadline(t *testing.T) {
	seen := make(chan string, 1)
	ts := grpcServer(t, func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Get("Grpc-Timeout")
		w.Header().Add("Trailer", "Grpc-Status")
		w.Header().Set("Content-Type", "application/grpc")
		b, _ := proto.Marshal(&lrspv1.PredictBatchResponse{Predictions: []float64{1}})
		f, _ := grpcFrame(b)
		w.Write(f)
		w.Header().Set("Grpc-Status", "0")
	})
	c, err := New(ts.URL, Options{Protocol: GRPC})
	if err != nil {
		t.Fatal(err)
	}
	prep, err := c.Prepare(&lrspv1.PredictBatchRequest{Items: []*lrspv1.PredictItem{{User: "u1"}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if _, err := c.PredictPrepared(ctx, prep); err != nil {
		t.Fatal(err)
	}
	if h := <-seen; !strings.HasSuffix(h, "m") || len(h) < 8 {
		t.Fatalf("grpc-timeout %q for an hour", h)
	}
	past, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	if _, err := c.PredictPrepared(past, prep); connect.CodeOf(err) != connect.CodeDeadlineExceeded {
		t.Fatalf("past deadline: %v, want deadline exceeded", err)
	}
}

// grpcServer starts a test server of h that speaks HTTP/2 without TLS, as
// lrsp serve does (serve.Protocols), for the client's gRPC calls; it is
// closed when the test ends.
func grpcServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	ts := httptest.NewUnstartedServer(h)
	ts.Config.Protocols = serve.Protocols()
	ts.Start()
	t.Cleanup(ts.Close)
	return ts
}
