package client

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protowire"

	lrspv1 "github.com/lrsp/lrsp/api/gen/lrsp/v1"
)

// grpcCaller sends prepared requests over gRPC with net/http directly:
// the request body is the prepared gRPC message as it is (connect would
// copy it into an envelope and through a pipe first), and the response is
// read into a reused buffer and decoded by decodeResponse. It checks what
// connect's client checks of a unary gRPC response: the HTTP status, the
// content type, one uncompressed message and the grpc-status trailer.
type grpcCaller struct {
	hc    *http.Client
	url   string // of the PredictBatch procedure
	token string
	bufs  sync.Pool // *[]byte for responses
}

// grpcFrame returns the gRPC message of the protobuf encoding b: a zero
// byte (uncompressed), b's length in 4 bytes big-endian, then b.
func grpcFrame(b []byte) ([]byte, error) {
	if len(b) > math.MaxUint32 {
		return nil, fmt.Errorf("client: prepare: a request of %d bytes is too large for gRPC", len(b))
	}
	f := make([]byte, 5, 5+len(b))
	binary.BigEndian.PutUint32(f[1:], uint32(len(b)))
	return append(f, b...), nil
}

// maxResponseBytes bounds the response of a prepared request of n items:
// n predictions, packed, and a few bytes more.
func maxResponseBytes(n int) int { return 8*n + 64 }

// call sends p's gRPC message and returns the response, which holds one
// prediction per item of p.
func (g *grpcCaller) call(ctx context.Context, p *Prepared) (*lrspv1.PredictBatchResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.url, bytes.NewReader(p.frame))
	if err != nil {
		return nil, fmt.Errorf("client: predict batch: %w", err)
	}
	req.ContentLength = int64(len(p.frame))
	req.Header["Content-Type"] = []string{"application/grpc"}
	req.Header["Te"] = []string{"trailers"}
	if g.token != "" {
		req.Header["Authorization"] = []string{"Bearer " + g.token}
	}
	if deadline, ok := ctx.Deadline(); ok {
		d := time.Until(deadline)
		if d <= 0 {
			return nil, fmt.Errorf("client: predict batch: %w", connect.NewError(connect.CodeDeadlineExceeded, context.DeadlineExceeded))
		}
		req.Header["Grpc-Timeout"] = []string{grpcTimeout(d)}
	}
	resp, err := g.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: predict batch: %w", connect.NewError(transportCode(ctx), err))
	}
	defer resp.Body.Close()
	out, err := g.read(resp, p.n)
	if err != nil {
		if ctx.Err() != nil && connect.CodeOf(err) == connect.CodeUnavailable {
			err = connect.NewError(transportCode(ctx), err)
		}
		return nil, fmt.Errorf("client: predict batch: %w", err)
	}
	return out, nil
}

// grpcTimeout encodes d as a grpc-timeout header: at most 8 digits and a
// unit, the finest unit that holds d, rounded up.
func grpcTimeout(d time.Duration) string {
	for _, u := range []struct {
		unit string
		size time.Duration
	}{{"n", time.Nanosecond}, {"u", time.Microsecond}, {"m", time.Millisecond}, {"S", time.Second}, {"M", time.Minute}} {
		if n := ceilDiv(d, u.size); n < 1e8 {
			return strconv.FormatInt(int64(n), 10) + u.unit
		}
	}
	return strconv.FormatInt(int64(min(ceilDiv(d, time.Hour), 1e8-1)), 10) + "H"
}

// ceilDiv returns d / unit rounded up, for d > 0.
func ceilDiv(d, unit time.Duration) time.Duration {
	n := d / unit
	if d%unit != 0 {
		n++
	}
	return n
}

// transportCode is the code of a failed call: Canceled or
// DeadlineExceeded when ctx ended, Unavailable otherwise, as connect's
// client answers.
func transportCode(ctx context.Context) connect.Code {
	switch ctx.Err() {
	case context.Canceled:
		return connect.CodeCanceled
	case context.DeadlineExceeded:
		return connect.CodeDeadlineExceeded
	}
	return connect.CodeUnavailable
}

// read checks the gRPC response resp to a request of n items and decodes
// its message.
func (g *grpcCaller) read(resp *http.Response, n int) (*lrspv1.PredictBatchResponse, error) {
	if resp.StatusCode != http.StatusOK {
		return nil, connect.NewError(httpCode(resp.StatusCode), fmt.Errorf("HTTP status %s", resp.Status))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/grpc" && ct != "application/grpc+proto" {
		return nil, connect.NewError(connect.CodeInternal, fmt.Errorf("response content type %q, want application/grpc", ct))
	}
	if err := grpcStatus(resp.Header); err != nil {
		return nil, err // trailers-only: an error without a message
	}
	bp, _ := g.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer g.bufs.Put(bp)
	var head [5]byte
	got, err := io.ReadFull(resp.Body, head[:])
	switch {
	case got == 0 && err == io.EOF:
		// No message: the trailers say why.
		if err := grpcStatus(resp.Trailer); err != nil {
			return nil, err
		}
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("unary response has zero messages"))
	case err != nil:
		return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("read response: %w", err))
	case head[0] != 0:
		return nil, connect.NewError(connect.CodeInternal, fmt.Errorf("response message flags %#x: want an uncompressed message", head[0]))
	}
	size := binary.BigEndian.Uint32(head[1:])
	if int64(size) > int64(maxResponseBytes(n)) {
		return nil, connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("response message of %d bytes for %d items", size, n))
	}
	if cap(*bp) < int(size) {
		*bp = make([]byte, size)
	}
	msg := (*bp)[:size]
	if _, err := io.ReadFull(resp.Body, msg); err != nil {
		return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("read response: %w", err))
	}
	var extra [1]byte
	switch k, err := io.ReadFull(resp.Body, extra[:]); {
	case k > 0:
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("unary response has more than one message"))
	case err != io.EOF:
		return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("read response: %w", err))
	}
	if resp.Trailer.Get("Grpc-Status") == "" {
		return nil, connect.NewError(connect.CodeInternal, errors.New("response has no grpc-status trailer"))
	}
	if err := grpcStatus(resp.Trailer); err != nil {
		return nil, err
	}
	out, err := decodeResponse(msg, n)
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	return out, nil
}

// grpcStatus returns the error that the grpc-status and grpc-message
// fields of h carry, or nil for none or status 0.
func grpcStatus(h http.Header) error {
	st := h.Get("Grpc-Status")
	if st == "" || st == "0" {
		return nil
	}
	code, err := strconv.ParseUint(st, 10, 32)
	if err != nil {
		return connect.NewError(connect.CodeInternal, fmt.Errorf("bad grpc-status %q", st))
	}
	return connect.NewError(connect.Code(code), errors.New(percentDecode(h.Get("Grpc-Message"))))
}

// percentDecode decodes gRPC's percent-encoding of grpc-message, leaving
// malformed escapes as they are.
func percentDecode(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// httpCode maps the HTTP status of a gRPC response other than 200 to a
// code, as the gRPC specification does.
func httpCode(status int) connect.Code {
	switch status {
	case http.StatusBadRequest:
		return connect.CodeInternal
	case http.StatusUnauthorized:
		return connect.CodeUnauthenticated
	case http.StatusForbidden:
		return connect.CodePermissionDenied
	case http.StatusNotFound:
		return connect.CodeUnimplemented
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return connect.CodeUnavailable
	}
	return connect.CodeUnknown
}

var errResponseWire = errors.New("client: malformed protobuf response")

// decodeResponse decodes the protobuf encoding b of a
// PredictBatchResponse, which must hold n predictions, accepting what
// proto.Unmarshal accepts (FuzzDecodeResponse checks both) and refusing
// more than n predictions before decoding them.
func decodeResponse(b []byte, n int) (*lrspv1.PredictBatchResponse, error) {
	out := &lrspv1.PredictBatchResponse{Predictions: make([]float64, 0, min(n, len(b)/8))}
	for len(b) > 0 {
		num, typ, k := protowire.ConsumeTag(b)
		if k < 0 || num > protowire.MaxValidNumber {
			return nil, errResponseWire
		}
		b = b[k:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, k := protowire.ConsumeBytes(b)
			if k < 0 || len(v)%8 != 0 {
				return nil, errResponseWire
			}
			if len(out.Predictions)+len(v)/8 > n {
				return nil, fmt.Errorf("client: more than %d predictions for %d items", n, n)
			}
			for ; len(v) > 0; v = v[8:] {
				out.Predictions = append(out.Predictions, math.Float64frombits(binary.LittleEndian.Uint64(v)))
			}
			b = b[k:]
		case num == 1 && typ == protowire.Fixed64Type:
			v, k := protowire.ConsumeFixed64(b)
			if k < 0 {
				return nil, errResponseWire
			}
			if len(out.Predictions) == n {
				return nil, fmt.Errorf("client: more than %d predictions for %d items", n, n)
			}
			out.Predictions = append(out.Predictions, math.Float64frombits(v))
			b = b[k:]
		case num == 2 && typ == protowire.VarintType:
			v, k := protowire.ConsumeVarint(b)
			if k < 0 {
				return nil, errResponseWire
			}
			out.Probability = protowire.DecodeBool(v)
			b = b[k:]
		default:
			k = protowire.ConsumeFieldValue(num, typ, b)
			if k < 0 {
				return nil, errResponseWire
			}
			b = b[k:]
		}
	}
	if len(out.Predictions) != n {
		return nil, fmt.Errorf("client: %d predictions for %d items", len(out.Predictions), n)
	}
	return out, nil
}
