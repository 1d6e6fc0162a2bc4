package serve

import (
	"strconv"
)

// fastResult is the outcome of decodePredictFast.
type fastResult int

const (
	fastOK      fastResult = iota // req holds the request
	fastNo                        // not handled: decode with decodePredictStrict
	fastTooMany                   // "requests" has more than maxItems items
)

// decodePredictFast parses the common form of a predict body into req,
// reusing req's slices. It handles exactly: one JSON object with the keys
// "user", "features" and "requests", each at most once; strings without
// escapes or non-ASCII bytes; features as an array of numbers or an object
// of such strings to numbers. It reports fastNo for anything else
// (including every malformed body), and the caller then decodes with
// decodePredictStrict, whose result or error is authoritative. When it
// reports fastOK, req equals what decodePredictStrict would produce
// (FuzzPredictDecoders checks this). It stops with fastTooMany at item
// maxItems+1 of "requests", so that a body of millions of tiny items
// allocates no more than maxItems items.
//
// encoding/json spends most of a batch request's time in reflection and
// in validating the body twice; this path is about four times faster.
func decodePredictFast(body []byte, req *PredictRequest, maxItems int) fastResult {
	s := scanner{b: body, maxItems: maxItems}
	req.User = ""
	req.Features.reset()
	req.Requests = req.Requests[:0]
	req.batch = false
	batch := false
	if !s.object(func(key string) bool {
		switch key {
		case "user":
			if req.User != "" {
				return false
			}
			var ok bool
			req.User, ok = s.str()
			return ok && req.User != ""
		case "features":
			return !req.Features.Set && s.features(&req.Features)
		case "requests":
			if batch {
				return false
			}
			batch = true
			return s.items(req)
		}
		return false
	}) {
		if s.tooMany {
			return fastTooMany
		}
		return fastNo
	}
	s.ws()
	if s.i != len(s.b) {
		return fastNo
	}
	req.batch = batch
	if !batch {
		req.Requests = req.Requests[:0]
	}
	return fastOK
}

// reset empties f, keeping its capacity.
func (f *Features) reset() {
	*f = Features{Values: f.Values[:0], Named: f.Named[:0]}
}

// scanner reads JSON from b at i.
type scanner struct {
	b        []byte
	i        int
	maxItems int  // the most items that items reads
	tooMany  bool // items stopped at maxItems
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// consume skips white space and then c, reporting whether c was there.
func (s *scanner) consume(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// object reads {"key": value, ...}, calling field for each key with the
// scanner at the value.
func (s *scanner) object(field func(key string) bool) bool {
	if !s.consume('{') {
		return false
	}
	if s.consume('}') {
		return true
	}
	for {
		key, ok := s.str()
		if !ok || !s.consume(':') || !field(key) {
			return false
		}
		if s.consume('}') {
			return true
		}
		if !s.consume(',') {
			return false
		}
	}
}

// str reads a string of printable ASCII without escapes.
func (s *scanner) str() (string, bool) {
	if !s.consume('"') {
		return "", false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := string(s.b[start:s.i])
			s.i++
			return v, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return "", false
		}
		s.i++
	}
	return "", false
}

// num reads a JSON number and converts it as encoding/json does
// (strconv.ParseFloat), in one pass over its bytes when decimalFloat can
// convert it.
func (s *scanner) num() (float64, bool) {
	s.ws()
	end, m, e, neg, fits, ok := scanNumber(s.b, s.i)
	if !ok {
		return 0, false
	}
	v, ok := 0.0, false
	if fits {
		v, ok = decimalFloat(m, e, neg)
	}
	if !ok {
		var err error
		if v, err = strconv.ParseFloat(string(s.b[s.i:end]), 64); err != nil {
			return 0, false
		}
	}
	s.i = end
	return v, true
}

// features reads an array of numbers or an object of numbers into f.
func (s *scanner) features(f *Features) bool {
	s.ws()
	if s.i >= len(s.b) {
		return false
	}
	f.Set = true
	switch s.b[s.i] {
	case '[':
		s.i++
		if s.consume(']') {
			return true
		}
		for {
			v, ok := s.num()
			if !ok {
				return false
			}
			f.Values = append(f.Values, v)
			if s.consume(']') {
				return true
			}
			if !s.consume(',') {
				return false
			}
		}
	case '{':
		f.IsNamed = true
		return s.object(func(name string) bool {
			v, ok := s.num()
			f.Named = append(f.Named, NamedValue{Name: name, Value: v})
			return ok
		})
	}
	return false
}

// items reads the "requests" array into req.Requests, reusing its
// elements' slices.
func (s *scanner) items(req *PredictRequest) bool {
	if !s.consume('[') {
		return false
	}
	if s.consume(']') {
		return true
	}
	for {
		n := len(req.Requests)
		if n >= s.maxItems {
			s.tooMany = true
			return false
		}
		if n < cap(req.Requests) {
			req.Requests = req.Requests[:n+1]
		} else {
			req.Requests = append(req.Requests, PredictItem{})
		}
		it := &req.Requests[n]
		it.User = ""
		it.Features.reset()
		if !s.object(func(key string) bool {
			switch key {
			case "user":
				if it.User != "" {
					return false
				}
				var ok bool
				it.User, ok = s.str()
				return ok && it.User != ""
			case "features":
				return !it.Features.Set && s.features(&it.Features)
			}
			return false
		}) {
			return false
		}
		if s.consume(']') {
			return true
		}
		if !s.consume(',') {
			return false
		}
	}
}
