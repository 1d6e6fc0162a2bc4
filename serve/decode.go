package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// UserIDRule describes the user IDs that the HTTP API accepts.
const UserIDRule = "1 to 128 characters from A-Z, a-z, 0-9 and . _ - : @ +"

// maxUserID bounds the length of a user ID in the HTTP API.
const maxUserID = 128

// CheckUserID reports whether id is a valid user ID for the HTTP API (see
// UserIDRule), with an error that says what is wrong.
func CheckUserID(id string) error {
	if len(id) == 0 || len(id) > maxUserID {
		return fmt.Errorf("user ID of %d characters, want %s", len(id), UserIDRule)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '.' || c == '_' || c == '-' || c == ':' || c == '@' || c == '+') {
			return fmt.Errorf("user ID %q has character %q at byte %d, want %s", trim(id), c, i, UserIDRule)
		}
	}
	return nil
}

func trim(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// Features holds a feature vector as given in a request: either a JSON
// array of d numbers in the model's feature order, or a JSON object from
// feature name to number.
type Features struct {
	// Values holds the array form.
	Values []float64
	// Named holds the object form as (name, value) pairs in input order.
	Named []NamedValue
	// Set reports whether the field was present.
	Set bool
	// IsNamed reports whether the object form was used.
	IsNamed bool
}

// NamedValue is one entry of a feature object.
type NamedValue struct {
	Name  string
	Value float64
}

// UnmarshalJSON accepts an array of numbers or an object of numbers,
// rejecting null, other types and repeated names.
func (f *Features) UnmarshalJSON(b []byte) error {
	b = bytes.TrimLeft(b, " \t\r\n")
	f.Set = true
	f.Values, f.Named, f.IsNamed = f.Values[:0], f.Named[:0], false
	if len(b) == 0 {
		return errors.New("features: empty")
	}
	switch b[0] {
	case '[':
		if err := json.Unmarshal(b, &f.Values); err != nil {
			return fmt.Errorf("features: want an array of finite numbers: %v", plainJSON(err))
		}
		return nil
	case '{':
		f.IsNamed = true
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.Token() // '{'
		for dec.More() {
			t, err := dec.Token()
			if err != nil {
				return fmt.Errorf("features: %w", err)
			}
			name := t.(string)
			var v float64
			if err := dec.Decode(&v); err != nil {
				return fmt.Errorf("features: %q: want a finite number: %v", trim(name), plainJSON(err))
			}
			f.Named = append(f.Named, NamedValue{Name: name, Value: v})
		}
		return nil
	}
	return fmt.Errorf("features must be an array of numbers or an object of name: number, not %s", trim(string(b)))
}

// PredictItem is one prediction request.
type PredictItem struct {
	User     string   `json:"user"`
	Features Features `json:"features"`
}

// PredictRequest is the body of POST /v1/predict: either one item (User and
// Features) or a batch (Requests).
type PredictRequest struct {
	User     string        `json:"user"`
	Features Features      `json:"features"`
	Requests []PredictItem `json:"requests"`
	// batch records whether "requests" was present (and not null).
	batch bool
}

// predictJSON is the form in which decodePredictStrict decodes a predict
// body: "requests" counts its items as it reads them.
type predictJSON struct {
	User     string        `json:"user"`
	Features Features      `json:"features"`
	Requests *boundedItems `json:"requests"`
}

// boundedItems decodes a JSON array of predict items, refusing more than
// max of them before decoding the next.
type boundedItems struct {
	items []PredictItem
	max   int
	seen  bool // the body has "requests" (not null)
}

// UnmarshalJSON decodes the array b (which encoding/json has checked to be
// one well-formed JSON value) item by item.
func (bi *boundedItems) UnmarshalJSON(b []byte) error {
	if b = bytes.TrimLeft(b, " \t\r\n"); len(b) == 0 || b[0] != '[' {
		return fmt.Errorf("requests: want an array, not %s", trim(string(b)))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	dec.Token() // '['
	bi.items, bi.seen = []PredictItem{}, true
	for dec.More() {
		n := len(bi.items)
		if n >= bi.max {
			return fmt.Errorf("requests: more than %d items exceed the batch limit of %d", bi.max, bi.max)
		}
		bi.items = append(bi.items, PredictItem{})
		if err := dec.Decode(&bi.items[n]); err != nil {
			return fmt.Errorf("requests[%d]: %w", n, unwrapJSON(err))
		}
	}
	return nil
}

// decodePredictStrict decodes a predict body into req as decodeStrict
// does, with at most maxItems items in "requests".
func decodePredictStrict(body []byte, req *PredictRequest, maxItems int) error {
	p := predictJSON{Requests: &boundedItems{max: maxItems}}
	if err := decodeStrict(body, &p); err != nil {
		return err
	}
	*req = PredictRequest{User: p.User, Features: p.Features}
	if p.Requests != nil && p.Requests.seen {
		req.Requests, req.batch = p.Requests.items, true
	}
	return nil
}

// Sample is one training sample of PUT /v1/users/{id}.
type Sample struct {
	Features Features `json:"features"`
	Y        *float64 `json:"y"`
}

// PersonalizeRequest is the body of PUT /v1/users/{id}.
type PersonalizeRequest struct {
	Samples []Sample `json:"samples"`
}

// decodeStrict decodes exactly one JSON value from body into v, rejecting
// unknown fields and trailing data.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty body: want a JSON object")
		}
		return fmt.Errorf("invalid JSON body: %w", unwrapJSON(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("invalid JSON body: more than one JSON value")
	}
	return nil
}

// unwrapJSON makes encoding/json's messages say "field" rather than Go
// type names where it can.
func unwrapJSON(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		where := te.Field
		if where == "" {
			where = "body"
		}
		return fmt.Errorf("%s: got JSON %s, want %s", where, te.Value, jsonKind(te.Type.Kind().String()))
	}
	return err
}

// plainJSON describes a decoding error without Go type names.
func plainJSON(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "got JSON " + te.Value
	}
	return err.Error()
}

func jsonKind(k string) string {
	switch {
	case strings.HasPrefix(k, "float"), strings.HasPrefix(k, "int"):
		return "a finite number"
	case k == "string":
		return "a string"
	case k == "slice":
		return "an array"
	case k == "struct", k == "map":
		return "an object"
	}
	return k
}

// featureSpace maps features to positions and checks vectors.
type featureSpace struct {
	names []string
	index map[string]int
}

func newFeatureSpace(names []string) featureSpace {
	idx := make(map[string]int, len(names))
	for j, n := range names {
		idx[n] = j
	}
	return featureSpace{names: names, index: idx}
}

// check reports whether values is a feature vector of the model's
// dimension holding finite numbers only, naming where in its error.
// allFinite reports whether every value of v is finite: its exponent bits
// are not all ones (as they are for infinities and NaNs). It is
// featureSpace.check's test without the error.
//
// It is branch-free: x's exponent bits plus one in the exponent's lowest
// bit carry into the sign bit exactly when they are all ones, and four
// accumulators of those sums keep four values in flight.
func allFinite(v []float64) bool {
	const exp, one = 0x7ff0000000000000, 1 << 52
	var a0, a1, a2, a3 uint64
	for ; len(v) >= 4; v = v[4:] {
		a0 |= math.Float64bits(v[0])&exp + one
		a1 |= math.Float64bits(v[1])&exp + one
		a2 |= math.Float64bits(v[2])&exp + one
		a3 |= math.Float64bits(v[3])&exp + one
	}
	for _, x := range v {
		a0 |= math.Float64bits(x)&exp + one
	}
	return (a0|a1|a2|a3)>>63 == 0
}

func (fs featureSpace) check(values []float64, where string) error {
	if len(values) != len(fs.names) {
		return fmt.Errorf("%s: %d features, the model has %d", where, len(values), len(fs.names))
	}
	for j, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%s: feature %d (%s) is not finite", where, j, fs.names[j])
		}
	}
	return nil
}

// vector writes f's values in model order into dst (length d), checking
// the dimension, finiteness and names. where names the item for errors.
func (fs featureSpace) vector(f *Features, dst []float64, where string) error {
	d := len(fs.names)
	if !f.Set {
		return fmt.Errorf("%s: features missing", where)
	}
	if !f.IsNamed {
		if err := fs.check(f.Values, where); err != nil {
			return err
		}
		copy(dst, f.Values)
		return nil
	}
	if len(f.Named) > d {
		return fmt.Errorf("%s: %d named features, the model has %d", where, len(f.Named), d)
	}
	for j := range dst[:d] {
		dst[j] = math.NaN() // marks unset
	}
	for _, nv := range f.Named {
		j, ok := fs.index[nv.Name]
		if !ok {
			return fmt.Errorf("%s: unknown feature %q", where, trim(nv.Name))
		}
		if !math.IsNaN(dst[j]) {
			return fmt.Errorf("%s: feature %q given twice", where, nv.Name)
		}
		if math.IsNaN(nv.Value) || math.IsInf(nv.Value, 0) {
			return fmt.Errorf("%s: feature %q is not finite", where, nv.Name)
		}
		dst[j] = nv.Value
	}
	for j := range dst[:d] {
		if math.IsNaN(dst[j]) {
			return fmt.Errorf("%s: feature %q missing (%d of %d given)", where, fs.names[j], len(f.Named), d)
		}
	}
	return nil
}
