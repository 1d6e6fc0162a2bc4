package serve

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"unicode/utf8"
	"unsafe"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	lrspv1 "github.com/lrsp/lrsp/api/gen/lrsp/v1"
)

// batchRequest is a PredictBatchRequest as the binary API's handler
// receives it: the items' user IDs, and the features of all items in one
// slice, item i's being feats[ends[i-1]:ends[i]] (from 0 for item 0).
// Its slices come from a pool of the server (see Server.batches) and go
// back to it once the handler is done.
type batchRequest struct {
	users []string
	ends  []int
	feats []float64
	// finite[i] reports whether item i's features are all finite, found
	// while they are in the CPU's cache from decoding.
	finite []bool
	// userBytes and userEnds hold the bytes of the user IDs and where each
	// ends while decoding.
	userBytes []byte
	userEnds  []int
}

// len returns the number of items.
func (r *batchRequest) len() int { return len(r.users) }

// features returns the features of item i.
func (r *batchRequest) features(i int) []float64 {
	from := 0
	if i > 0 {
		from = r.ends[i-1]
	}
	return r.feats[from:r.ends[i]:r.ends[i]]
}

// maxPooledFeatures and maxPooledItems bound the features and items of a
// batchRequest that goes back to the pool, so that one large request does
// not stay in memory.
const (
	maxPooledFeatures = 1 << 20
	maxPooledItems    = 1 << 16
)

// getBatch returns a batchRequest from the pool, or nil for a new one.
func getBatch(pool *sync.Pool) *batchRequest {
	if pool == nil {
		return nil
	}
	r, _ := pool.Get().(*batchRequest)
	return r
}

// putBatch returns r's slices to the pool; r must not be used afterwards.
func putBatch(pool *sync.Pool, r *batchRequest) {
	if pool == nil || r == nil || cap(r.feats) > maxPooledFeatures || cap(r.users) > maxPooledItems || cap(r.userBytes) > 64*maxPooledItems {
		return
	}
	p := &batchRequest{users: r.users[:0], ends: r.ends[:0], feats: r.feats[:0], finite: r.finite[:0],
		userBytes: r.userBytes[:0], userEnds: r.userEnds[:0]}
	*r = batchRequest{}
	pool.Put(p)
}

// fromProto sets r to the items of m, reporting the first missing item.
func (r *batchRequest) fromProto(m *lrspv1.PredictBatchRequest) error {
	*r = batchRequest{users: make([]string, len(m.Items)), ends: make([]int, len(m.Items)), finite: make([]bool, len(m.Items))}
	for i, it := range m.Items {
		if it == nil {
			return fmt.Errorf("items[%d]: missing", i)
		}
		r.users[i] = it.User
		r.feats = append(r.feats, it.Features...)
		r.ends[i] = len(r.feats)
		r.finite[i] = allFinite(it.Features)
	}
	return nil
}

// rpcCodec is the binary protobuf codec of the binary API (connect's
// codec named "proto"), with a decoder of its own for the requests of
// PredictBatch, batchRequest: protobuf's generic one allocates an item, a
// string and a growing slice of features for every item, which costs more
// than the prediction itself. decodeBatch decodes in one pass into slices
// reused from request to request (pool) and one string of all user IDs,
// and accepts exactly the inputs that proto.Unmarshal accepts, with the
// same result (FuzzDecodeBatch checks both); unknown fields are skipped
// rather than kept, which the server never looks at. It refuses a batch of
// more than maxItems items without holding more than maxItems of them.
// Other messages go to package proto.
type rpcCodec struct {
	maxItems int
	pool     *sync.Pool // of *batchRequest; nil allocates each
}

// Name returns "proto", so that the codec replaces connect's own.
func (rpcCodec) Name() string { return "proto" }

// IsBinary reports that the codec is binary.
func (rpcCodec) IsBinary() bool { return true }

// Marshal encodes a protobuf message.
func (rpcCodec) Marshal(msg any) ([]byte, error) {
	m, ok := msg.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("serve: %T is not a protobuf message", msg)
	}
	return proto.Marshal(m)
}

// MarshalAppend appends the encoding of a protobuf message to dst.
func (rpcCodec) MarshalAppend(dst []byte, msg any) ([]byte, error) {
	m, ok := msg.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("serve: %T is not a protobuf message", msg)
	}
	return proto.MarshalOptions{}.MarshalAppend(dst, m)
}

// MarshalStable encodes a protobuf message deterministically.
func (rpcCodec) MarshalStable(msg any) ([]byte, error) {
	m, ok := msg.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("serve: %T is not a protobuf message", msg)
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(m)
}

// Unmarshal decodes data into msg, a batchRequest with decodeBatch, any
// other message with proto.Unmarshal.
func (c rpcCodec) Unmarshal(data []byte, msg any) error {
	switch m := msg.(type) {
	case *batchRequest:
		if r := getBatch(c.pool); r != nil {
			*m = *r
		}
		return decodeBatch(data, m, c.maxItems)
	case proto.Message:
		return proto.Unmarshal(data, m)
	}
	return fmt.Errorf("serve: %T is not a protobuf message", msg)
}

// rpcJSONCodec is connect's protobuf JSON codec (the Connect protocol's
// application/json, and gRPC's +json) with the same options and errors,
// decoding PredictBatch requests into a batchRequest.
type rpcJSONCodec struct{ name string }

// Name returns the codec's name: "json" or "json; charset=utf-8".
func (c rpcJSONCodec) Name() string { return c.name }

// IsBinary reports that the codec is not binary.
func (rpcJSONCodec) IsBinary() bool { return false }

// Marshal encodes a protobuf message in JSON.
func (rpcJSONCodec) Marshal(msg any) ([]byte, error) {
	m, ok := msg.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("serve: %T is not a protobuf message", msg)
	}
	return protojson.MarshalOptions{}.Marshal(m)
}

// MarshalAppend appends the JSON encoding of a protobuf message to dst.
func (rpcJSONCodec) MarshalAppend(dst []byte, msg any) ([]byte, error) {
	m, ok := msg.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("serve: %T is not a protobuf message", msg)
	}
	return protojson.MarshalOptions{}.MarshalAppend(dst, m)
}

// MarshalStable encodes a protobuf message in compact JSON.
func (c rpcJSONCodec) MarshalStable(msg any) ([]byte, error) {
	b, err := c.Marshal(msg)
	if err != nil {
		return nil, err
	}
	out := bytes.NewBuffer(b[:0])
	if err := json.Compact(out, b); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// Unmarshal decodes the JSON data into msg, discarding unknown fields.
func (rpcJSONCodec) Unmarshal(data []byte, msg any) error {
	if len(data) == 0 {
		return errors.New("zero-length payload is not a valid JSON object")
	}
	opt := protojson.UnmarshalOptions{DiscardUnknown: true}
	switch m := msg.(type) {
	case *batchRequest:
		var pm lrspv1.PredictBatchRequest
		if err := opt.Unmarshal(data, &pm); err != nil {
			return fmt.Errorf("unmarshal into %T: %w", &pm, err)
		}
		return m.fromProto(&pm)
	case proto.Message:
		if err := opt.Unmarshal(data, m); err != nil {
			return fmt.Errorf("unmarshal into %T: %w", m, err)
		}
		return nil
	}
	return fmt.Errorf("serve: %T is not a protobuf message", msg)
}

var (
	errBatchWire  = errors.New("serve: malformed protobuf message")
	errBatchUTF8  = errors.New("serve: items: user is not valid UTF-8")
	errBatchCount = errors.New("serve: items: packed features of a length not a multiple of 8")
)

// decodeBatch decodes the protobuf encoding b of a PredictBatchRequest into
// req, replacing its contents and reusing its slices, in one pass. The
// result does not alias b. More than maxItems items are refused, after
// checking the whole encoding (as proto.Unmarshal would), without holding
// more than maxItems items.
func decodeBatch(b []byte, req *batchRequest, maxItems int) error {
	// Each item takes 2 bytes of b at least; the features and user IDs
	// grow as needed (once, for slices from the pool).
	users := slices.Grow(req.users[:0], min(len(b)/2, maxItems))
	ends := slices.Grow(req.ends[:0], min(len(b)/2, maxItems))
	uends := slices.Grow(req.userEnds[:0], min(len(b)/2, maxItems))
	finite := slices.Grow(req.finite[:0], min(len(b)/2, maxItems))
	feats, ub := req.feats[:0], req.userBytes[:0]
	n := 0
	err := walkBatch(b, func(item []byte) error {
		n++
		if n > maxItems {
			return checkItem(item)
		}
		from := len(feats)
		user, f, err := decodeItem(item, feats)
		if err != nil {
			return err
		}
		feats = f
		ends = append(ends, len(feats))
		finite = append(finite, allFinite(feats[from:]))
		ub = append(ub, user...)
		uends = append(uends, len(ub))
		return nil
	})
	req.ends, req.feats, req.userBytes, req.userEnds = ends[:0], feats[:0], ub[:0], uends[:0]
	req.users, req.finite = users[:0], finite[:0]
	if err != nil {
		return err
	}
	if n > maxItems {
		return fmt.Errorf("items: %d items exceed the batch limit of %d", n, maxItems)
	}
	all := string(ub)
	from := 0
	for _, to := range uends {
		users = append(users, all[from:to])
		from = to
	}
	req.users, req.ends, req.feats, req.finite = users, ends, feats, finite
	return nil
}

// walkBatch calls item with the encoding of each item of the
// PredictBatchRequest encoded in b, in order, after checking b's fields.
func walkBatch(b []byte, item func([]byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num > protowire.MaxValidNumber {
			return errBatchWire
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return errBatchWire
			}
			if err := item(v); err != nil {
				return err
			}
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return errBatchWire
		}
		b = b[n:]
	}
	return nil
}

// checkItem checks the encoding b of a PredictItem as decodeItem does,
// without keeping anything.
func checkItem(b []byte) error {
	_, _, err := walkItem(b, nil, false)
	return err
}

// decodeItem checks the encoding b of a PredictItem, appends its features
// to feats and returns its user ID (the last one given; aliasing b) and
// feats.
func decodeItem(b []byte, feats []float64) (user []byte, _ []float64, err error) {
	return walkItem(b, feats, true)
}

// walkItem is decodeItem, appending features only with keep set.
func walkItem(b []byte, feats []float64, keep bool) (user []byte, _ []float64, err error) {
	for len(b) > 0 {
		num, typ, k := protowire.ConsumeTag(b)
		if k < 0 || num > protowire.MaxValidNumber {
			return nil, feats, errBatchWire
		}
		b = b[k:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, k := protowire.ConsumeBytes(b)
			if k < 0 {
				return nil, feats, errBatchWire
			}
			if !utf8.Valid(v) {
				return nil, feats, errBatchUTF8
			}
			user = v
			b = b[k:]
			continue
		case num == 2 && typ == protowire.BytesType:
			v, k := protowire.ConsumeBytes(b)
			if k < 0 {
				return nil, feats, errBatchWire
			}
			if len(v)%8 != 0 {
				return nil, feats, errBatchCount
			}
			if keep {
				from := len(feats)
				feats = slices.Grow(feats, len(v)/8)[:from+len(v)/8]
				putLittleEndian(feats[from:], v)
			}
			b = b[k:]
			continue
		case num == 2 && typ == protowire.Fixed64Type:
			v, k := protowire.ConsumeFixed64(b)
			if k < 0 {
				return nil, feats, errBatchWire
			}
			if keep {
				feats = append(feats, math.Float64frombits(v))
			}
			b = b[k:]
			continue
		}
		k = protowire.ConsumeFieldValue(num, typ, b)
		if k < 0 {
			return nil, feats, errBatchWire
		}
		b = b[k:]
	}
	return user, feats, nil
}

// putLittleEndian sets dst to the little-endian float64s of v, which holds
// 8 bytes for each of them.
func putLittleEndian(dst []float64, v []byte) {
	if nativeLittleEndian && len(dst) > 0 {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(dst))), 8*len(dst)), v)
		return
	}
	for i := range dst {
		dst[i] = math.Float64frombits(binary.LittleEndian.Uint64(v[8*i:]))
	}
}
