package model

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"strings"

	"github.com/lrsp/lrsp/internal/atomicfile"
)

// Magic starts every model file.
const Magic = "LRSPMODL"

// Version is the model file format version that Encode writes. Decode
// reads it and version 1, whose header stored the configuration as a map
// of strings (see Config.UnmarshalJSON); versions 1 and 2 differ in
// nothing else.
const Version = 2

// MaxHeader bounds the JSON header of a model file.
const MaxHeader = 16 << 20

// maxID bounds the length of a user ID in a model file.
const maxID = 4096

// ErrChecksum reports a model file whose checksum does not match its content:
// it was truncated or corrupted.
var ErrChecksum = errors.New("model: checksum mismatch: the file is truncated or corrupted")

// header is the JSON part of the file.
type header struct {
	Method   string   `json:"method"`
	Dim      int      `json:"d"`
	Rank     int      `json:"r"`
	Sparsity int      `json:"k"`
	Features []string `json:"features"`
	Theta0   bool     `json:"theta0"`
	Users    int      `json:"users"`
	Config   *Config  `json:"config,omitempty"`
	Privacy  *Ledger  `json:"privacy,omitempty"`
	// Loss is absent for squared error, so that such files are unchanged.
	Loss string `json:"loss,omitempty"`
	// Network is absent for linear models, so that such files are
	// unchanged; its weights follow the users.
	Network *networkHeader `json:"network,omitempty"`
	// Prior is absent for models that are not mixed models.
	Prior *Prior `json:"prior,omitempty"`
	// UserCov says that every user's posterior covariance follows its
	// values (see User.Cov); absent when no user has one.
	UserCov bool `json:"user_cov,omitempty"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Encode writes m in the lrsp model format, version 2, all integers and
// floats little-endian:
//
//	magic    8 bytes  "LRSPMODL"
//	version  uint32   2 (Decode also reads 1)
//	hlen     uint32   length of the JSON header
//	header   hlen bytes of JSON: method, d, r, k, features, theta0 (bool),
//	         users (count), config, privacy, and loss (optional: absent
//	         means squared error; "logistic" means predictions are
//	         sigmoid(score); older readers ignore it), and prior (optional:
//	         a mixed model's fitted distribution of w_i, b_i and the
//	         noise, see Prior), and user_cov (optional, see users)
//	U        d*r float64, row-major
//	theta0   d float64, present when header.theta0
//	users    per user: uvarint id length, id bytes, r float64 (w),
//	         uvarint nnz, then nnz uint32 indices (omitted when nnz == d),
//	         nnz float64 values, then, when the header has "user_cov":
//	         true, n(n+1)/2 float64 (n = r + nnz): the lower triangle of
//	         the user's posterior covariance (see User.Cov)
//	network  present when the header has a "network" key (inputs, sizes,
//	         activation): for each layer l = 1..L, sizes[l] x sizes[l-1]
//	         float64 weights (row-major) then sizes[l] float64 biases.
//	         Readers that predate it reject the file (trailing bytes)
//	         rather than ignore the network.
//	crc      uint32   CRC-32C (Castagnoli) of every byte before it
func Encode(w io.Writer, m *Model) error {
	if err := m.Validate(); err != nil {
		return err
	}
	h := header{Method: m.Method, Dim: m.Dim, Rank: m.Rank, Sparsity: m.Sparsity, Features: m.Features,
		Theta0: m.Theta0 != nil, Users: len(m.Users), Privacy: m.Privacy, Prior: m.Prior, UserCov: len(m.Users) > 0}
	for i := range m.Users {
		// Covariances are written for all users or none.
		h.UserCov = h.UserCov && m.Users[i].Cov != nil
	}
	if !m.Config.IsZero() {
		// A model without a recorded configuration writes none.
		h.Config = &m.Config
	}
	if m.Loss != LossSquared {
		h.Loss = m.Loss
	}
	if n := m.Network; n != nil {
		h.Network = &networkHeader{Inputs: n.Inputs, Sizes: n.Sizes, Activation: n.Activation}
	}
	hj, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("model: encode: header: %w", err)
	}
	crc := crc32.New(castagnoli)
	bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 1<<16)
	var buf [binary.MaxVarintLen64]byte
	bw.WriteString(Magic)
	binary.Write(bw, binary.LittleEndian, uint32(Version))
	binary.Write(bw, binary.LittleEndian, uint32(len(hj)))
	bw.Write(hj)
	putFloats(bw, m.U)
	putFloats(bw, m.Theta0)
	for i := range m.Users {
		u := &m.Users[i]
		if len(u.ID) > maxID {
			return fmt.Errorf("model: encode: user ID of %d bytes exceeds %d", len(u.ID), maxID)
		}
		bw.Write(buf[:binary.PutUvarint(buf[:], uint64(len(u.ID)))])
		bw.WriteString(u.ID)
		putFloats(bw, u.W)
		bw.Write(buf[:binary.PutUvarint(buf[:], uint64(len(u.Index)))])
		if len(u.Index) != m.Dim {
			for _, j := range u.Index {
				binary.Write(bw, binary.LittleEndian, uint32(j))
			}
		}
		putFloats(bw, u.Value)
		if h.UserCov {
			putFloats(bw, u.Cov)
		}
	}
	if m.Network != nil {
		for _, l := range m.Network.Layers {
			putFloats(bw, l)
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return binary.Write(w, binary.LittleEndian, crc.Sum32())
}

func putFloats(w *bufio.Writer, v []float64) {
	var b [8]byte
	for _, x := range v {
		binary.LittleEndian.PutUint64(b[:], math.Float64bits(x))
		w.Write(b[:])
	}
}

// userPayload returns the encoded size of u's parameters, without its ID.
func userPayload(m *Model, u *User) int {
	n := 8*len(u.W) + uvarintLen(uint64(len(u.Index))) + 8*len(u.Value)
	if len(u.Index) != m.Dim {
		n += 4 * len(u.Index)
	}
	return n
}

func uvarintLen(x uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], x)
}

// Decode parses a model file held in data. A file that is truncated,
// corrupted, of another format version, or inconsistent gives an error
// that says which.
func Decode(data []byte) (*Model, error) {
	if len(data) < len(Magic)+12 || string(data[:len(Magic)]) != Magic {
		if len(data) >= len(Magic) && string(data[:len(Magic)]) == Magic {
			return nil, errors.New("model: truncated model file")
		}
		return nil, errors.New("model: not an lrsp model file (bad magic)")
	}
	if v := binary.LittleEndian.Uint32(data[8:]); v != 1 && v != Version {
		return nil, fmt.Errorf("model: file format version %d, this lrsp reads versions 1 to %d", v, Version)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, ErrChecksum
	}
	hlen := int(binary.LittleEndian.Uint32(data[12:]))
	p := parser{b: body[16:]}
	if hlen > MaxHeader || hlen > len(p.b) {
		return nil, fmt.Errorf("model: header of %d bytes is too long", hlen)
	}
	var h header
	if err := json.Unmarshal(p.b[:hlen], &h); err != nil {
		return nil, fmt.Errorf("model: header: %w", err)
	}
	p.b = p.b[hlen:]
	if h.Dim <= 0 || h.Rank < 0 || h.Rank > h.Dim || h.Users < 0 || h.Sparsity < 0 || h.Sparsity > h.Dim {
		return nil, fmt.Errorf("model: header: bad sizes d=%d r=%d k=%d users=%d", h.Dim, h.Rank, h.Sparsity, h.Users)
	}
	// One name per feature bounds d by the header's size, so that the sizes
	// below cannot overflow.
	if len(h.Features) != h.Dim {
		return nil, fmt.Errorf("model: header: %d feature names for dimension %d", len(h.Features), h.Dim)
	}
	m := &Model{Method: h.Method, Dim: h.Dim, Rank: h.Rank, Sparsity: h.Sparsity, Features: h.Features,
		Privacy: h.Privacy, Loss: h.Loss, Prior: h.Prior}
	if h.Config != nil {
		m.Config = *h.Config
	}
	m.U = p.floats(h.Dim * h.Rank)
	if h.Theta0 {
		m.Theta0 = p.floats(h.Dim)
	}
	// Every user takes at least 2 bytes, which bounds the allocation.
	if h.Users > len(p.b)/2+1 {
		return nil, fmt.Errorf("model: header claims %d users, the file holds fewer", h.Users)
	}
	m.Users = make([]User, h.Users)
	for i := range m.Users {
		u := &m.Users[i]
		n := p.uvarint(maxID)
		u.ID = string(p.bytes(n))
		u.W = p.floats(h.Rank)
		nnz := p.uvarint(uint64(h.Dim))
		if nnz == h.Dim {
			// Dense: no indices. Read the values first, so that the
			// index is only built for values that are in the file.
			if u.Value = p.floats(nnz); p.err == nil {
				u.Index = make([]int32, nnz)
				for j := range u.Index {
					u.Index[j] = int32(j)
				}
			}
		} else {
			u.Index = p.indices(nnz)
			u.Value = p.floats(nnz)
		}
		if n := h.Rank + nnz; h.UserCov && p.err == nil {
			u.Cov = p.floats(n * (n + 1) / 2)
		}
		if p.err != nil {
			return nil, fmt.Errorf("model: user %d: %w", i, p.err)
		}
	}
	if h.Network != nil {
		if err := h.Network.check(h.Dim); err != nil {
			return nil, err
		}
		n := &Network{Inputs: h.Network.Inputs, Sizes: h.Network.Sizes, Activation: h.Network.Activation}
		for l := 1; l < len(n.Sizes); l++ {
			n.Layers = append(n.Layers, p.floats(n.LayerLen(l)))
		}
		if p.err != nil {
			return nil, fmt.Errorf("model: network: %w", p.err)
		}
		m.Network = n
	}
	if p.err != nil {
		return nil, fmt.Errorf("model: %w", p.err)
	}
	if len(p.b) != 0 {
		return nil, fmt.Errorf("model: the file has %d unexpected trailing bytes", len(p.b))
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// parser reads little-endian values from b, remembering the first error.
type parser struct {
	b   []byte
	err error
}

func (p *parser) need(n int) bool {
	if p.err != nil {
		return false
	}
	if n < 0 || n > len(p.b) {
		p.err = errors.New("truncated model file")
		return false
	}
	return true
}

func (p *parser) bytes(n int) []byte {
	if !p.need(n) {
		return nil
	}
	v := p.b[:n]
	p.b = p.b[n:]
	return v
}

func (p *parser) floats(n int) []float64 {
	if !p.need(8 * n) {
		return nil
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = math.Float64frombits(binary.LittleEndian.Uint64(p.b[8*i:]))
	}
	p.b = p.b[8*n:]
	return v
}

func (p *parser) indices(n int) []int32 {
	if !p.need(4 * n) {
		return nil
	}
	v := make([]int32, n)
	for i := range v {
		x := binary.LittleEndian.Uint32(p.b[4*i:])
		if x > math.MaxInt32 {
			p.err = fmt.Errorf("index %d out of range", x)
			return nil
		}
		v[i] = int32(x)
	}
	p.b = p.b[4*n:]
	return v
}

func (p *parser) uvarint(max uint64) int {
	if p.err != nil {
		return 0
	}
	x, n := binary.Uvarint(p.b)
	if n <= 0 {
		p.err = errors.New("truncated model file")
		return 0
	}
	if n != uvarintLen(x) {
		p.err = errors.New("over-long length encoding")
		return 0
	}
	if x > max {
		p.err = fmt.Errorf("length %d exceeds %d", x, max)
		return 0
	}
	p.b = p.b[n:]
	return int(x)
}

// Load reads the model file at path.
func Load(path string) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("model: load: %w", err)
	}
	m, err := Decode(data)
	if err != nil {
		return nil, &loadError{path: path, err: err}
	}
	return m, nil
}

// loadError is an error of Decode for the file at path; its message names
// the package once: "model: load path: ...".
type loadError struct {
	path string
	err  error
}

func (e *loadError) Error() string {
	return "model: load " + e.path + ": " + strings.TrimPrefix(e.err.Error(), "model: ")
}

func (e *loadError) Unwrap() error { return e.err }

// Save writes m to path atomically: it writes a temporary file in the same
// directory, syncs it, and renames it over path, so that a crash leaves
// either the old file or the new one, never a partial one.
// A symbolic link is followed and a special file (a FIFO, a device) is
// written through; see package internal/atomicfile.
func Save(path string, m *Model) error {
	return SaveContext(context.Background(), path, m)
}

// SaveContext is Save that gives up when ctx is done before the file is
// complete: the temporary file is removed and path keeps its old content.
func SaveContext(ctx context.Context, path string, m *Model) error {
	if err := atomicfile.WriteContext(ctx, path, func(w io.Writer) error { return Encode(w, m) }); err != nil {
		return fmt.Errorf("model: save: %w", err)
	}
	return nil
}

// FileVersion returns the format version of the model file at path, read
// from its first bytes without decoding the rest.
func FileVersion(path string) (uint32, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("model: %w", err)
	}
	defer f.Close()
	var b [len(Magic) + 4]byte
	if _, err := io.ReadFull(f, b[:]); err != nil || string(b[:len(Magic)]) != Magic {
		return 0, fmt.Errorf("model: %s is not an lrsp model file", path)
	}
	return binary.LittleEndian.Uint32(b[len(Magic):]), nil
}
