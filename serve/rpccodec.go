package serve

import (
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	lrspv1 "github.com/lrsp/lrsp/api/gen/lrsp/v1"
)

// rpcCodec is the binary protobuf codec of the binary API (connect's
// codec named "proto"), with a decoder of its own for PredictBatchRequest:
// protobuf's generic one allocates an item, a string and a growing slice
// of features for every item, which costs more than the prediction
// itself. decodeBatch allocates one slice of items, one string of all user
// IDs and one slice of all features, and accepts exactly the inputs that
// proto.Unmarshal accepts, with the same result (FuzzDecodeBatch checks
// both); unknown fields are skipped rather than kept, which the server
// never looks at. It refuses a batch of more than maxItems items before
// allocating any. Other messages go to package proto.
type rpcCodec struct{ maxItems int }

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

// Unmarshal decodes data into msg, a PredictBatchRequest with
// decodeBatch, any other message with proto.Unmarshal.
func (c rpcCodec) Unmarshal(data []byte, msg any) error {
	switch m := msg.(type) {
	case *lrspv1.PredictBatchRequest:
		return decodeBatch(data, m, c.maxItems)
	case proto.Message:
		return proto.Unmarshal(data, m)
	}
	return fmt.Errorf("serve: %T is not a protobuf message", msg)
}

var (
	errBatchWire  = errors.New("serve: malformed protobuf message")
	errBatchUTF8  = errors.New("serve: items: user is not valid UTF-8")
	errBatchCount = errors.New("serve: items: packed features of a length not a multiple of 8")
)

// batchSizes are the counts that the first pass of decodeBatch finds.
type batchSizes struct {
	items, features, userBytes int
}

// decodeBatch decodes the protobuf encoding b of a PredictBatchRequest into
// req, replacing its contents, in two passes: the first checks the
// encoding and counts items, features and user bytes, the second fills
// slices of exactly those sizes. The result does not alias b. More than
// maxItems items are refused after the first pass.
func decodeBatch(b []byte, req *lrspv1.PredictBatchRequest, maxItems int) error {
	var n batchSizes
	if err := walkBatch(b, func(item []byte) error { return sizeItem(item, &n) }); err != nil {
		return err
	}
	if n.items > maxItems {
		return fmt.Errorf("items: %d items exceed the batch limit of %d", n.items, maxItems)
	}
	slab := make([]lrspv1.PredictItem, n.items)
	items := make([]*lrspv1.PredictItem, n.items)
	feats := make([]float64, n.features)
	users := make([]byte, 0, n.userBytes)
	type span struct{ from, to int }
	spans := make([]span, n.items)
	i := 0
	walkBatch(b, func(item []byte) error {
		it := &slab[i]
		items[i] = it
		user, k := fillItem(item, feats)
		it.Features = feats[:k:k]
		feats = feats[k:]
		spans[i] = span{len(users), len(users) + len(user)}
		users = append(users, user...)
		i++
		return nil
	})
	all := string(users)
	for i := range slab {
		slab[i].User = all[spans[i].from:spans[i].to]
		if len(slab[i].Features) == 0 {
			slab[i].Features = nil
		}
	}
	proto.Reset(req)
	req.Items = items
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

// sizeItem checks the encoding b of a PredictItem and adds its features
// and the length of its user ID (the last one given) to n.
func sizeItem(b []byte, n *batchSizes) error {
	user := 0
	for len(b) > 0 {
		num, typ, k := protowire.ConsumeTag(b)
		if k < 0 || num > protowire.MaxValidNumber {
			return errBatchWire
		}
		b = b[k:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, k := protowire.ConsumeBytes(b)
			if k < 0 {
				return errBatchWire
			}
			if !utf8.Valid(v) {
				return errBatchUTF8
			}
			user = len(v)
			b = b[k:]
			continue
		case num == 2 && typ == protowire.BytesType:
			v, k := protowire.ConsumeBytes(b)
			if k < 0 {
				return errBatchWire
			}
			if len(v)%8 != 0 {
				return errBatchCount
			}
			n.features += len(v) / 8
			b = b[k:]
			continue
		case num == 2 && typ == protowire.Fixed64Type:
			n.features++
		}
		k = protowire.ConsumeFieldValue(num, typ, b)
		if k < 0 {
			return errBatchWire
		}
		b = b[k:]
	}
	n.items++
	n.userBytes += user
	return nil
}

// fillItem decodes the features of the PredictItem encoded in b, which
// sizeItem has checked, into feats and returns its user ID (aliasing b)
// and the number of features.
func fillItem(b []byte, feats []float64) (user []byte, k int) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			user = v
			b = b[n:]
			continue
		case num == 2 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			dst := feats[k : k+len(v)/8]
			for i := range dst {
				dst[i] = math.Float64frombits(le64(v[8*i:]))
			}
			k += len(dst)
			b = b[n:]
			continue
		case num == 2 && typ == protowire.Fixed64Type:
			v, n := protowire.ConsumeFixed64(b)
			feats[k] = math.Float64frombits(v)
			k++
			b = b[n:]
			continue
		}
		b = b[protowire.ConsumeFieldValue(num, typ, b):]
	}
	return user, k
}

// le64 reads a little-endian uint64 from the first 8 bytes of b.
func le64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}
