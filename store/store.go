// Package store keeps a personalization model in an embedded, transactional
// key/value file (bbolt): the shared parts (U, theta_0, the model's metadata
// and privacy ledger) and every user's personal parameters (w_i, b_i) under
// the user's ID. A store opens in constant time, whatever the number of
// users, because bbolt memory-maps the file and reads pages on demand; a
// user is read, written or deleted in its own transaction, so a crash never
// leaves a user half-written.
//
// The file holds two buckets:
//
//	meta   "format"  uint32 little-endian store format version: 1 for
//	                 models without a network, 2 for models with one
//	       "header"  JSON: method, d, r, k, features, theta0, config, privacy,
//	                 loss (absent for squared error), network (version 2
//	                 only: the network's input names, layer sizes and
//	                 activation)
//	       "U"       d*r float64, row-major
//	       "theta0"  d float64 (absent when the model has no offset)
//	       "network" version 2 only: the network's layers one after the
//	                 other, each its weights (row-major) then its biases,
//	                 float64, as in model.Network.Layers
//	       "count"   uint64, the number of users
//	       "wsum"    r float64, the sum of every user's w (for Fallback)
//	users  user ID -> uvarint nnz, r float64 (w), nnz uint32 (indices of b),
//	       nnz float64 (values of b); all little-endian
//
// Deleting a user removes its key in a committed transaction. bbolt returns
// the freed pages to its free list and reuses them for later writes, but it
// neither zeroes them nor shrinks the file, so a deleted user's bytes can
// remain in the file until the page is reused. Compact rewrites the store
// into a new file holding only live data and renames it over the old one,
// after which the deleted parameters are no longer in the store's file.
package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/lrsp/lrsp/model"
)

// FormatVersion is the newest store layout version, which this package
// writes for models with a network (model.Model.Network). Version 2 adds the
// network to version 1; Import still writes version 1 for models without a
// network, so that earlier lrsp releases keep reading those stores, while
// they refuse (rather than mis-serve) a store with a network. Open reads
// both versions.
const FormatVersion = 2

// formatLinear is the store layout version of models without a network.
const formatLinear = 1

// MaxIDLen bounds the length in bytes of a user ID in a store.
const MaxIDLen = 4096

var (
	bucketMeta  = []byte("meta")
	bucketUsers = []byte("users")

	keyFormat  = []byte("format")
	keyHeader  = []byte("header")
	keyU       = []byte("U")
	keyTheta0  = []byte("theta0")
	keyCount   = []byte("count")
	keyWSum    = []byte("wsum")
	keyNetwork = []byte("network")
)

// ErrNotFound reports a user that the store does not hold.
var ErrNotFound = errors.New("user not found")

// header is the JSON metadata of a store.
type header struct {
	Method   string         `json:"method"`
	Dim      int            `json:"d"`
	Rank     int            `json:"r"`
	Sparsity int            `json:"k"`
	Features []string       `json:"features"`
	Theta0   bool           `json:"theta0"`
	Config   *model.Config  `json:"config,omitempty"`
	Privacy  *model.Ledger  `json:"privacy,omitempty"`
	Loss     string         `json:"loss,omitempty"`
	Network  *networkHeader `json:"network,omitempty"`
}

// networkHeader describes a model.Network in the header; its weights are
// under keyNetwork.
type networkHeader struct {
	Inputs     []string `json:"inputs"`
	Sizes      []int    `json:"sizes"`
	Activation string   `json:"activation"`
}

// Options configures Open. The zero value opens the store for reading and
// writing and waits up to one second for the file lock.
type Options struct {
	// ReadOnly opens the store with a shared lock; writes then fail.
	ReadOnly bool
	// LockTimeout bounds the wait for the file lock, which another process
	// holding the store open prevents; 0 means one second.
	LockTimeout time.Duration
}

// Store is an open user store. Its methods are safe for concurrent use.
type Store struct {
	db   *bolt.DB
	path string
	m    *model.Model // shared parts only; Users is nil

	mu    sync.Mutex // serializes updates of count and wsum with their commits
	count atomic.Int64
	fb    atomic.Pointer[[]float64] // fallback w: wsum / count
	wsum  []float64                 // guarded by mu
}

func boltOptions(readOnly bool, timeout time.Duration) *bolt.Options {
	if timeout <= 0 {
		timeout = time.Second
	}
	return &bolt.Options{Timeout: timeout, ReadOnly: readOnly, FreelistType: bolt.FreelistMapType}
}

// Open opens the store file at path, which Import or Create made.
func Open(path string, opt Options) (*Store, error) {
	db, err := bolt.Open(path, 0o600, boltOptions(opt.ReadOnly, opt.LockTimeout))
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("open store %s: the file is locked by another process (a running server?)", path)
		}
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &Store{db: db, path: path}
	if err := db.View(s.load); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return s, nil
}

// load reads the shared parts and counters into s.
func (s *Store) load(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil || tx.Bucket(bucketUsers) == nil {
		return errors.New("not an lrsp user store (missing buckets)")
	}
	m, err := decodeShared(meta.Get)
	if err != nil {
		return err
	}
	c := meta.Get(keyCount)
	if len(c) != 8 {
		return errors.New("store: bad user count")
	}
	if s.wsum, err = getFloats(meta.Get(keyWSum), m.Rank, "wsum"); err != nil {
		return err
	}
	s.m = m
	s.count.Store(int64(binary.LittleEndian.Uint64(c)))
	s.publishFallback()
	return nil
}

// decodeShared reads the format version, header, U, theta_0 and network
// from the meta values that get returns (nil for a missing key) into a
// validated model without users. It checks every size read from the file
// before allocating for it.
func decodeShared(get func(key []byte) []byte) (*model.Model, error) {
	v := get(keyFormat)
	if len(v) != 4 {
		return nil, fmt.Errorf("store format key of %d bytes, want 4", len(v))
	}
	version := binary.LittleEndian.Uint32(v)
	if version != formatLinear && version != FormatVersion {
		return nil, fmt.Errorf("store format version %d, this lrsp reads versions %d and %d", version, formatLinear, FormatVersion)
	}
	var h header
	if err := json.Unmarshal(get(keyHeader), &h); err != nil {
		return nil, fmt.Errorf("store header: %w", err)
	}
	switch {
	case version == formatLinear && (h.Network != nil || get(keyNetwork) != nil):
		return nil, fmt.Errorf("store format version %d holds a network, which only version %d can", version, FormatVersion)
	case version == FormatVersion && h.Network == nil:
		return nil, fmt.Errorf("store format version %d without a network", version)
	case h.Dim <= 0 || h.Dim > model.MaxNetworkWeights || h.Rank < 0 || h.Rank > h.Dim:
		return nil, fmt.Errorf("store header: sizes d=%d r=%d out of range", h.Dim, h.Rank)
	}
	m := &model.Model{Method: h.Method, Dim: h.Dim, Rank: h.Rank, Sparsity: h.Sparsity, Features: h.Features,
		Privacy: h.Privacy, Loss: h.Loss}
	if h.Config != nil {
		m.Config = *h.Config
	}
	var err error
	if m.U, err = getFloats(get(keyU), h.Dim*h.Rank, "U"); err != nil {
		return nil, err
	}
	if h.Theta0 {
		if m.Theta0, err = getFloats(get(keyTheta0), h.Dim, "theta0"); err != nil {
			return nil, err
		}
	}
	if h.Network != nil {
		if m.Network, err = decodeNetwork(h.Network, get(keyNetwork), h.Dim); err != nil {
			return nil, err
		}
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// MaxNetworkWeights bounds the number of weights and biases of a network
// in a store; it equals model.MaxNetworkWeights, the bound of model files.
const MaxNetworkWeights = model.MaxNetworkWeights

// decodeNetwork checks the network description h against the model
// dimension d and the length of its weights b, then decodes them.
func decodeNetwork(h *networkHeader, b []byte, d int) (*model.Network, error) {
	if len(h.Sizes) < 2 {
		return nil, fmt.Errorf("store header: network with %d layer sizes, want at least 2", len(h.Sizes))
	}
	total := 0
	for l, w := range h.Sizes {
		if w <= 0 || w > MaxNetworkWeights {
			return nil, fmt.Errorf("store header: network layer %d has width %d, want 1..%d", l, w, MaxNetworkWeights)
		}
		if l > 0 {
			// Both factors are at most 2^26, so the product cannot overflow.
			if total += w*h.Sizes[l-1] + w; total > MaxNetworkWeights {
				return nil, fmt.Errorf("store header: network has more than %d weights", MaxNetworkWeights)
			}
		}
	}
	if h.Sizes[len(h.Sizes)-1] != d || len(h.Inputs) != h.Sizes[0] {
		return nil, fmt.Errorf("store header: network sizes %v do not fit %d input names and dimension %d", h.Sizes, len(h.Inputs), d)
	}
	all, err := getFloats(b, total, "network")
	if err != nil {
		return nil, err
	}
	n := &model.Network{Inputs: h.Inputs, Sizes: h.Sizes, Activation: h.Activation, Layers: make([][]float64, len(h.Sizes)-1)}
	for l := range n.Layers {
		k := n.LayerLen(l + 1)
		n.Layers[l], all = all[:k:k], all[k:]
	}
	return n, nil
}

// encodeNetwork appends n's layers to dst.
func encodeNetwork(dst []byte, n *model.Network) []byte {
	for _, l := range n.Layers {
		dst = putFloats(dst, l)
	}
	return dst
}

// publishFallback recomputes the fallback w from wsum and count; the caller
// holds mu or is the only user of s.
func (s *Store) publishFallback() {
	w := make([]float64, len(s.wsum))
	if n := s.count.Load(); n > 0 {
		for c, v := range s.wsum {
			w[c] = v / float64(n)
		}
	}
	s.fb.Store(&w)
}

func getFloats(b []byte, n int, name string) ([]float64, error) {
	if len(b) != 8*n {
		return nil, fmt.Errorf("store: %s has %d bytes, want %d", name, len(b), 8*n)
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return v, nil
}

func putFloats(dst []byte, v []float64) []byte {
	for _, x := range v {
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(x))
	}
	return dst
}

// Path returns the file the store was opened from.
func (s *Store) Path() string { return s.path }

// Model returns the store's shared parts as a model without users: method,
// sizes, feature names, U, theta_0, configuration and privacy ledger. The
// result is shared; callers must not modify it.
func (s *Store) Model() *model.Model { return s.m }

// Len returns the number of users in the store.
func (s *Store) Len() int { return int(s.count.Load()) }

// Fallback returns the parameters for users the store does not hold:
// theta_0 plus U times the mean of the stored users' w, with no sparse part,
// as model.Model.Fallback does for the same users. The mean is kept up to
// date by Put and Delete.
func (s *Store) Fallback() model.User {
	return model.User{W: *s.fb.Load()}
}

// Close closes the store file.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store %s: %w", s.path, err)
	}
	return nil
}

// Reader reads users inside one read transaction; see Store.View.
type Reader struct {
	b *bolt.Bucket
	m *model.Model
}

// Get decodes the user id into u, reusing u's slices when they are large
// enough, and reports whether the user exists. The decoded values are
// copies and stay valid after the transaction ends.
func (r Reader) Get(id string, u *model.User) (bool, error) {
	v := r.b.Get([]byte(id))
	if v == nil {
		return false, nil
	}
	if err := decodeUser(v, r.m, u); err != nil {
		return false, fmt.Errorf("user %q: %w", id, err)
	}
	u.ID = id
	return true, nil
}

// View runs fn with a Reader over one consistent snapshot of the store.
func (s *Store) View(fn func(Reader) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		return fn(Reader{b: tx.Bucket(bucketUsers), m: s.m})
	})
}

// Get returns the user id, or an error wrapping ErrNotFound.
func (s *Store) Get(id string) (model.User, error) {
	var u model.User
	var ok bool
	err := s.View(func(r Reader) (err error) {
		ok, err = r.Get(id, &u)
		return err
	})
	if err != nil {
		return model.User{}, err
	}
	if !ok {
		return model.User{}, fmt.Errorf("user %q: %w", id, ErrNotFound)
	}
	return u, nil
}

// checkUser validates u against the model's sizes.
func checkUser(m *model.Model, u *model.User) error {
	if len(u.ID) == 0 || len(u.ID) > MaxIDLen {
		return fmt.Errorf("user ID of %d bytes, want 1..%d", len(u.ID), MaxIDLen)
	}
	one := *m
	one.Users = []model.User{*u}
	return one.Validate()
}

// encodeUser appends the store encoding of u's parameters to dst.
func encodeUser(dst []byte, u *model.User) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(u.Index)))
	dst = putFloats(dst, u.W)
	for _, j := range u.Index {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(j))
	}
	return putFloats(dst, u.Value)
}

// decodeUser parses a stored value into u, reusing its slices.
func decodeUser(v []byte, m *model.Model, u *model.User) error {
	nnz, n := binary.Uvarint(v)
	if n <= 0 || nnz > uint64(m.Dim) {
		return errors.New("corrupt user record (bad non-zero count)")
	}
	k, r := int(nnz), m.Rank
	v = v[n:]
	if len(v) != 8*r+12*k {
		return fmt.Errorf("corrupt user record (%d bytes for r=%d, nnz=%d)", len(v), r, k)
	}
	u.W = resize(u.W, r)
	for c := range u.W {
		u.W[c] = math.Float64frombits(binary.LittleEndian.Uint64(v[8*c:]))
	}
	v = v[8*r:]
	if cap(u.Index) < k {
		u.Index = make([]int32, k)
	}
	u.Index = u.Index[:k]
	for p := range u.Index {
		j := binary.LittleEndian.Uint32(v[4*p:])
		if j >= uint32(m.Dim) {
			return fmt.Errorf("corrupt user record (index %d >= d=%d)", j, m.Dim)
		}
		u.Index[p] = int32(j)
	}
	v = v[4*k:]
	u.Value = resize(u.Value, k)
	for p := range u.Value {
		u.Value[p] = math.Float64frombits(binary.LittleEndian.Uint64(v[8*p:]))
	}
	return nil
}

func resize(v []float64, n int) []float64 {
	if cap(v) < n {
		return make([]float64, n)
	}
	return v[:n]
}

// Put stores u's parameters under u.ID in one transaction, replacing any
// previous parameters of that user, and reports whether the user is new.
// u must fit the model: len(W) == r, at most k increasing indices in
// [0, d), finite values.
func (s *Store) Put(u model.User) (created bool, err error) {
	if err := checkUser(s.m, &u); err != nil {
		return false, fmt.Errorf("put: %w", err)
	}
	val := encodeUser(nil, &u)
	s.mu.Lock()
	defer s.mu.Unlock()
	wsum := append([]float64(nil), s.wsum...)
	count := s.count.Load()
	err = s.db.Update(func(tx *bolt.Tx) error {
		users := tx.Bucket(bucketUsers)
		key := []byte(u.ID)
		if old := users.Get(key); old != nil {
			var ou model.User
			if err := decodeUser(old, s.m, &ou); err != nil {
				return fmt.Errorf("user %q: %w", u.ID, err)
			}
			for c, w := range ou.W {
				wsum[c] -= w
			}
		} else {
			created = true
			count++
		}
		for c, w := range u.W {
			wsum[c] += w
		}
		if err := users.Put(key, val); err != nil {
			return err
		}
		return putCounters(tx.Bucket(bucketMeta), count, wsum)
	})
	if err != nil {
		return false, fmt.Errorf("put user %q: %w", u.ID, err)
	}
	s.wsum = wsum
	s.count.Store(count)
	s.publishFallback()
	return created, nil
}

// Delete removes the user id in one transaction and reports whether it
// existed. See the package documentation for when its bytes leave the file.
func (s *Store) Delete(id string) (existed bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	wsum := append([]float64(nil), s.wsum...)
	count := s.count.Load()
	err = s.db.Update(func(tx *bolt.Tx) error {
		users := tx.Bucket(bucketUsers)
		key := []byte(id)
		old := users.Get(key)
		if old == nil {
			return nil
		}
		var ou model.User
		if err := decodeUser(old, s.m, &ou); err != nil {
			return fmt.Errorf("user %q: %w", id, err)
		}
		for c, w := range ou.W {
			wsum[c] -= w
		}
		existed = true
		count--
		if err := users.Delete(key); err != nil {
			return err
		}
		return putCounters(tx.Bucket(bucketMeta), count, wsum)
	})
	if err != nil || !existed {
		if err != nil {
			err = fmt.Errorf("delete user %q: %w", id, err)
		}
		return false, err
	}
	s.wsum = wsum
	s.count.Store(count)
	s.publishFallback()
	return true, nil
}

func putCounters(meta *bolt.Bucket, count int64, wsum []float64) error {
	if err := meta.Put(keyCount, binary.LittleEndian.AppendUint64(nil, uint64(count))); err != nil {
		return err
	}
	return meta.Put(keyWSum, putFloats(nil, wsum))
}
