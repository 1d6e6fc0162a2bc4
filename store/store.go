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
//	meta   "format"   uint32 little-endian store format version (below)
//	       "header"   JSON: method, d, r, k, features, theta0, config, privacy,
//	                  loss (absent for squared error), network (absent for a
//	                  model without one: the network's input names, layer
//	                  sizes and activation)
//	       "U"        d*r float64, row-major
//	       "theta0"   d float64 (absent when the model has no offset)
//	       "network"  the network's layers one after the other, each its
//	                  weights (row-major) then its biases, float64, as in
//	                  model.Network.Layers (absent without a network)
//	       "count"    uint64, the number of users
//	       "wsumx"    r exact sums of every user's w (package exactsum), for
//	                  Fallback; add and delete keep them exact
//	       "complete" one byte 1, written by Import after every user: a
//	                  store without it is a half-written import and does
//	                  not open
//	users  user ID -> uvarint nnz, r float64 (w), nnz uint32 (indices of b),
//	       nnz float64 (values of b), then the CRC-32C (Castagnoli) of the
//	       user ID followed by those bytes; all little-endian
//
// Every read of a user verifies its checksum, so a corrupt record is an
// error naming the user, never wrong parameters; Check verifies a whole
// store. This is format version 3. Versions 1 (models without a network)
// and 2 (with one), written by earlier releases, have records without
// checksums, a float64 running sum "wsum" in place of "wsumx", and no
// completeness mark: Open reads them with Options.ReadOnly only (so that
// "lrsp store export" can convert them back into a model file) and refuses
// to open them for writing, with an error saying to re-import the store.
//
// Store operations recover from a panic in bbolt (which a corrupt page can
// cause) and return it as an error, so that one bad page fails the request
// that read it rather than the process.
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
	"hash/crc32"
	"math"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/lrsp/lrsp/internal/exactsum"
	"github.com/lrsp/lrsp/model"
)

// FormatVersion is the store layout version that this package writes:
// records carry checksums, the fallback's sums are exact, and Import marks
// a store complete only after its last user. Versions 1 and 2 are the
// layouts of earlier releases (see the package documentation).
const FormatVersion = 3

// Legacy store layout versions, read with Options.ReadOnly only.
const (
	formatLinear  = 1 // no network
	formatNetwork = 2 // with a network
)

// MaxIDLen bounds the length in bytes of a user ID in a store.
const MaxIDLen = 4096

var (
	bucketMeta  = []byte("meta")
	bucketUsers = []byte("users")

	keyFormat   = []byte("format")
	keyHeader   = []byte("header")
	keyU        = []byte("U")
	keyTheta0   = []byte("theta0")
	keyCount    = []byte("count")
	keyWSum     = []byte("wsum")  // legacy float64 sums
	keyWSumX    = []byte("wsumx") // exact sums
	keyNetwork  = []byte("network")
	keyComplete = []byte("complete")
)

// castagnoli is the CRC-32C table of the records' checksums.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrNotFound reports a user that the store does not hold.
var ErrNotFound = errors.New("user not found")

// ErrLocked reports a store file that another process holds open: a
// running server, or another writer.
var ErrLocked = errors.New("the store file is locked by another process (a running lrsp serve, or another writer); stop it first")

// ErrCorrupt reports a record or page of a store file that fails its
// checks; errors wrapping it name the user or the part of the file.
var ErrCorrupt = errors.New("corrupt store")

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
	// Prior is a mixed model's fitted distribution of the personal
	// parameters, which personalizing a user needs (absent otherwise).
	Prior *model.Prior `json:"prior,omitempty"`
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
	// CacheBytes bounds the memory of the cache of decoded users that View
	// reads through (an estimate: about 300 bytes a user at r = k = 10,
	// and 8 d bytes more for the theta_i of users read with Reader.Theta);
	// 0 means DefaultCacheBytes and a negative value disables the cache.
	// When the cache is full, users are evicted at random.
	CacheBytes int64
}

// Store is an open user store. Its methods are safe for concurrent use.
type Store struct {
	db      *bolt.DB
	path    string
	m       *model.Model // shared parts only; Users is nil
	version uint32       // the file's format version

	warnings []string // what Open found questionable; see Warnings

	mu    sync.Mutex // serializes updates of count and sums with their commits
	count atomic.Int64
	fb    atomic.Pointer[[]float64] // fallback w: the mean of every user's w
	sums  []exactsum.Sum            // guarded by mu; nil for a legacy store

	// cache holds decoded users for View (nil when disabled); seq is odd
	// while Put or Delete is writing. See cache.go.
	cache *userCache
	seq   atomic.Uint64
}

func boltOptions(readOnly bool, timeout time.Duration) *bolt.Options {
	if timeout <= 0 {
		timeout = time.Second
	}
	return &bolt.Options{Timeout: timeout, ReadOnly: readOnly, FreelistType: bolt.FreelistMapType}
}

// openBolt opens the bbolt file at path, turning a lock timeout into an
// error that says why, and a panic of bbolt on a corrupt file into an
// error.
func openBolt(path string, opt *bolt.Options) (db *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer recoverCorrupt(&err, "open")
	db, err = bolt.Open(path, 0o600, opt)
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, ErrLocked
	}
	return db, err
}

// recoverCorrupt turns a panic (bbolt panics on some corrupt pages) into
// an error wrapping ErrCorrupt; defer it.
func recoverCorrupt(err *error, what string) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: %s: bbolt failed on the file: %v (run lrsp store check)", ErrCorrupt, what, r)
	}
}

// Open opens the store file at path, which Import made. It refuses a store
// that Import did not finish, and opens a store of an earlier format
// version (1 or 2) only with opt.ReadOnly.
func Open(path string, opt Options) (*Store, error) {
	// bbolt would create a missing file.
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	db, err := openBolt(path, boltOptions(opt.ReadOnly, opt.LockTimeout))
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &Store{db: db, path: path}
	switch {
	case opt.CacheBytes == 0:
		s.cache = newUserCache(DefaultCacheBytes)
	case opt.CacheBytes > 0:
		s.cache = newUserCache(opt.CacheBytes)
	}
	var rep CheckReport
	checkMetaPages(path, &rep)
	s.warnings = rep.Problems
	if err := s.view("open", s.load); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if s.legacy() && !opt.ReadOnly {
		db.Close()
		return nil, fmt.Errorf("open store %s: format version %d, written by an earlier lrsp, has no record checksums and opens read-only only; "+
			"convert it with \"lrsp store export --store %[1]s --out FILE\" and \"lrsp store import --model FILE --store NEW\"", path, s.version)
	}
	return s, nil
}

// Warnings returns what Open found questionable without refusing the
// store: a damaged bbolt meta page, from which bbolt opens the store at the
// transaction before the last (after a crash during a commit, that is the
// last acknowledged one; otherwise the last commit is lost).
func (s *Store) Warnings() []string { return s.warnings }

// legacy reports whether the store has a format before FormatVersion.
func (s *Store) legacy() bool { return s.version != FormatVersion }

// view runs fn in a read transaction, recovering a bbolt panic or a fault
// reading the memory-mapped file (a corrupt length can point past its
// end; debug.SetPanicOnFault turns that fault into a panic).
func (s *Store) view(what string, fn func(*bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer recoverCorrupt(&err, what)
	return s.db.View(fn)
}

// update runs fn in a write transaction, recovering as view does.
func (s *Store) update(what string, fn func(*bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer recoverCorrupt(&err, what)
	return s.db.Update(fn)
}

// load reads the shared parts and counters into s.
func (s *Store) load(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil || tx.Bucket(bucketUsers) == nil {
		return errors.New("not an lrsp user store (missing buckets)")
	}
	m, version, err := decodeShared(meta.Get)
	if err != nil {
		return err
	}
	c := meta.Get(keyCount)
	if len(c) != 8 {
		return fmt.Errorf("%w: bad user count", ErrCorrupt)
	}
	count := binary.LittleEndian.Uint64(c)
	if count > math.MaxInt64 {
		return fmt.Errorf("%w: user count %d", ErrCorrupt, count)
	}
	s.m, s.version = m, version
	s.count.Store(int64(count))
	if s.legacy() {
		wsum, err := getFloats(meta.Get(keyWSum), m.Rank, "wsum")
		if err != nil {
			return err
		}
		w := make([]float64, len(wsum))
		if count > 0 {
			for c, v := range wsum {
				w[c] = v / float64(count)
			}
		}
		s.fb.Store(&w)
		return nil
	}
	if v := meta.Get(keyComplete); len(v) != 1 || v[0] != 1 {
		return errors.New("the store is incomplete: its import did not finish (an interrupted lrsp store import leaves such a file); import it again")
	}
	if s.sums, err = decodeSums(meta.Get(keyWSumX), m.Rank); err != nil {
		return err
	}
	s.publishFallback()
	return nil
}

// decodeSums decodes r exact sums.
func decodeSums(b []byte, r int) ([]exactsum.Sum, error) {
	sums := make([]exactsum.Sum, r)
	for c := range sums {
		var err error
		if b, err = sums[c].Decode(b); err != nil {
			return nil, fmt.Errorf("%w: wsumx %d: %v", ErrCorrupt, c, err)
		}
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: wsumx has %d trailing bytes", ErrCorrupt, len(b))
	}
	return sums, nil
}

func encodeSums(sums []exactsum.Sum) []byte {
	var b []byte
	for c := range sums {
		b = sums[c].AppendBinary(b)
	}
	return b
}

// decodeShared reads the format version, header, U, theta_0 and network
// from the meta values that get returns (nil for a missing key) into a
// validated model without users, and returns it with the format version.
// It checks every size read from the file before allocating for it.
func decodeShared(get func(key []byte) []byte) (*model.Model, uint32, error) {
	v := get(keyFormat)
	if len(v) != 4 {
		return nil, 0, fmt.Errorf("store format key of %d bytes, want 4", len(v))
	}
	version := binary.LittleEndian.Uint32(v)
	if version != formatLinear && version != formatNetwork && version != FormatVersion {
		return nil, 0, fmt.Errorf("store format version %d, this lrsp reads versions %d to %d", version, formatLinear, FormatVersion)
	}
	var h header
	if err := json.Unmarshal(get(keyHeader), &h); err != nil {
		return nil, 0, fmt.Errorf("store header: %w", err)
	}
	switch {
	case version == formatLinear && (h.Network != nil || get(keyNetwork) != nil):
		return nil, 0, fmt.Errorf("store format version %d holds a network, which only versions %d and %d can", version, formatNetwork, FormatVersion)
	case version == formatNetwork && h.Network == nil:
		return nil, 0, fmt.Errorf("store format version %d without a network", version)
	case version == FormatVersion && h.Network == nil && get(keyNetwork) != nil:
		return nil, 0, errors.New("store holds network weights but its header has no network")
	case h.Dim <= 0 || h.Dim > model.MaxNetworkWeights || h.Rank < 0 || h.Rank > h.Dim:
		return nil, 0, fmt.Errorf("store header: sizes d=%d r=%d out of range", h.Dim, h.Rank)
	}
	m := &model.Model{Method: h.Method, Dim: h.Dim, Rank: h.Rank, Sparsity: h.Sparsity, Features: h.Features,
		Privacy: h.Privacy, Loss: h.Loss, Prior: h.Prior}
	if h.Config != nil {
		m.Config = *h.Config
	}
	var err error
	if m.U, err = getFloats(get(keyU), h.Dim*h.Rank, "U"); err != nil {
		return nil, 0, err
	}
	if h.Theta0 {
		if m.Theta0, err = getFloats(get(keyTheta0), h.Dim, "theta0"); err != nil {
			return nil, 0, err
		}
	}
	if h.Network != nil {
		if m.Network, err = decodeNetwork(h.Network, get(keyNetwork), h.Dim); err != nil {
			return nil, 0, err
		}
	}
	if err := m.Validate(); err != nil {
		return nil, 0, err
	}
	return m, version, nil
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

// publishFallback recomputes the fallback w from the exact sums and the
// count; the caller holds mu or is the only user of s.
func (s *Store) publishFallback() {
	w := make([]float64, len(s.sums))
	n := s.count.Load()
	for c := range s.sums {
		w[c] = s.sums[c].Mean(n)
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
// as model.Model.Fallback computes it for the same users, bit for bit. Put
// and Delete keep the sums behind the mean exact, so that adding a user and
// deleting it again leaves the fallback as it was.
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

// Reader reads users from one consistent snapshot of the store; see
// Store.View.
type Reader struct{ v *snapshot }

// snapshot is the state of one View: a bbolt bucket (opened on the first
// cache miss when reading through the cache) and the sequence number the
// View started at.
type snapshot struct {
	s      *Store
	tx     *bolt.Tx     // the transaction that b belongs to, if View opened it
	b      *bolt.Bucket // nil until needed when cached
	cached bool         // read through s.cache; valid while s.seq == seq
	seq    uint64
}

// bucket returns the users bucket of the snapshot, beginning its read
// transaction if it has none yet.
func (v *snapshot) bucket() (*bolt.Bucket, error) {
	if v.b == nil {
		tx, err := v.s.db.Begin(false)
		if err != nil {
			return nil, err
		}
		v.tx, v.b = tx, tx.Bucket(bucketUsers)
	}
	return v.b, nil
}

// Get decodes the user id into u, reusing u's slices when they are large
// enough, and reports whether the user exists. The decoded values are
// copies and stay valid after the transaction ends. A record that fails
// its checksum is an error wrapping ErrCorrupt that names the user.
func (r Reader) Get(id string, u *model.User) (bool, error) {
	v := r.v
	if v.cached && v.s.cache.get(id, u) {
		u.ID = id
		return true, nil
	}
	b, err := v.bucket()
	if err != nil {
		return false, err
	}
	rec := b.Get([]byte(id))
	if rec == nil {
		return false, nil
	}
	if err := decodeUser([]byte(id), rec, v.s.m, u, !v.s.legacy()); err != nil {
		return false, fmt.Errorf("user %q: %w", id, err)
	}
	u.ID = id
	if v.cached {
		v.s.cache.add(id, u, func() bool { return v.s.seq.Load() == v.seq })
	}
	return true, nil
}

// Theta returns theta_i = theta_0 + U w_i + b_i of the user id, equal bit
// for bit to what model.Model.Theta computes from the store's model and the
// user's parameters, and reports whether the user exists. Reading through
// the user cache, it returns the cache's copy, computed once per cached
// user while the cache has room for it, which the caller must not modify
// and which stays valid after fn returns; otherwise it computes theta_i
// into dst, which must hold the model's dimension, and returns dst (so a
// result that is not dst may be kept), decoding the user into u (reusing
// its slices, as Get does) when it is not cached. Errors are those of Get.
func (r Reader) Theta(id string, u *model.User, dst []float64) ([]float64, bool, error) {
	v := r.v
	if v.cached {
		if e := v.s.cache.lookup(id); e != nil {
			return v.s.cache.theta(id, e, v.s.m, dst[:v.s.m.Dim]), true, nil
		}
	}
	b, err := v.bucket()
	if err != nil {
		return nil, false, err
	}
	rec := b.Get([]byte(id))
	if rec == nil {
		return nil, false, nil
	}
	if err := decodeUser([]byte(id), rec, v.s.m, u, !v.s.legacy()); err != nil {
		return nil, false, fmt.Errorf("user %q: %w", id, err)
	}
	u.ID = id
	if v.cached {
		if e := v.s.cache.add(id, u, func() bool { return v.s.seq.Load() == v.seq }); e != nil {
			return v.s.cache.theta(id, e, v.s.m, dst[:v.s.m.Dim]), true, nil
		}
	}
	return v.s.m.Theta(u, dst[:v.s.m.Dim]), true, nil
}

// View runs fn with a Reader over one consistent snapshot of the store. A
// panic of bbolt on a corrupt page is returned as an error wrapping
// ErrCorrupt.
//
// With the user cache (Options.CacheBytes), fn reads users from memory
// where it can; if Put or Delete wrote during fn, View runs fn a second
// time, in one bbolt read transaction, so that fn sees one snapshot all
// the same. fn must therefore be safe to run twice.
func (s *Store) View(fn func(Reader) error) error {
	if s.cache != nil {
		if g := s.seq.Load(); g%2 == 0 {
			err := s.viewCached(g, fn)
			if s.seq.Load() == g {
				return err
			}
		}
	}
	return s.view("read", func(tx *bolt.Tx) error {
		return fn(Reader{&snapshot{s: s, b: tx.Bucket(bucketUsers)}})
	})
}

// viewCached runs fn reading through the cache at sequence number g,
// recovering as view does.
func (s *Store) viewCached(g uint64, fn func(Reader) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	v := &snapshot{s: s, cached: true, seq: g}
	defer func() {
		if v.tx != nil {
			v.tx.Rollback()
		}
	}()
	defer recoverCorrupt(&err, "read")
	return fn(Reader{v})
}

// beginWrite and endWrite bracket the commit of a write and the removal of
// its user from the cache (see cache.go); the caller holds mu.
func (s *Store) beginWrite() { s.seq.Add(1) }

func (s *Store) endWrite(id string) {
	if s.cache != nil {
		s.cache.remove(id)
	}
	s.seq.Add(1)
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

// encodeUser appends the store encoding of user id's parameters u to dst,
// with its checksum.
func encodeUser(dst []byte, id []byte, u *model.User) []byte {
	start := len(dst)
	dst = binary.AppendUvarint(dst, uint64(len(u.Index)))
	dst = putFloats(dst, u.W)
	for _, j := range u.Index {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(j))
	}
	dst = putFloats(dst, u.Value)
	return binary.LittleEndian.AppendUint32(dst, recordCRC(id, dst[start:]))
}

// recordCRC is the checksum of the record of user id with payload v.
func recordCRC(id, v []byte) uint32 {
	return crc32.Update(crc32.Checksum(id, castagnoli), castagnoli, v)
}

// decodeUser parses the stored value v of user id into u, reusing its
// slices. With sum set, v ends with the record's checksum, which it
// verifies first.
func decodeUser(id, v []byte, m *model.Model, u *model.User, sum bool) error {
	if sum {
		if len(v) < 4 {
			return fmt.Errorf("%w: user record of %d bytes", ErrCorrupt, len(v))
		}
		n := len(v) - 4
		if got, want := recordCRC(id, v[:n]), binary.LittleEndian.Uint32(v[n:]); got != want {
			return fmt.Errorf("%w: user record fails its checksum (CRC-32C %08x, stored %08x)", ErrCorrupt, got, want)
		}
		v = v[:n]
	}
	nnz, n := binary.Uvarint(v)
	if n <= 0 || nnz > uint64(m.Dim) {
		return fmt.Errorf("%w: user record has a bad non-zero count", ErrCorrupt)
	}
	k, r := int(nnz), m.Rank
	v = v[n:]
	if len(v) != 8*r+12*k {
		return fmt.Errorf("%w: user record of %d bytes for r=%d, nnz=%d", ErrCorrupt, len(v), r, k)
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
			return fmt.Errorf("%w: user record has index %d >= d=%d", ErrCorrupt, j, m.Dim)
		}
		u.Index[p] = int32(j)
	}
	v = v[4*k:]
	u.Value = resize(u.Value, k)
	for p := range u.Value {
		u.Value[p] = math.Float64frombits(binary.LittleEndian.Uint64(v[8*p:]))
	}
	for _, vals := range [][]float64{u.W, u.Value} {
		for _, x := range vals {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return fmt.Errorf("%w: user record holds a non-finite value", ErrCorrupt)
			}
		}
	}
	return nil
}

func resize(v []float64, n int) []float64 {
	if cap(v) < n {
		return make([]float64, n)
	}
	return v[:n]
}

// addW adds sign times w to the sums.
func addW(sums []exactsum.Sum, w []float64, sign int) {
	for c, x := range w {
		if sign > 0 {
			sums[c].Add(x)
		} else {
			sums[c].Sub(x)
		}
	}
}

// checkWritable refuses a write to a legacy store, which Open allows only
// read-only.
func (s *Store) checkWritable() error {
	if s.legacy() {
		return fmt.Errorf("store format version %d is read-only", s.version)
	}
	return nil
}

// Put stores u's parameters under u.ID in one transaction, replacing any
// previous parameters of that user, and reports whether the user is new.
// u must fit the model: len(W) == r, at most k increasing indices in
// [0, d), finite values. Replacing a record that fails its checksum is
// allowed (it repairs the user); the fallback's sums are then recomputed
// from every record in the same transaction.
func (s *Store) Put(u model.User) (created bool, err error) {
	if err := checkUser(s.m, &u); err != nil {
		return false, fmt.Errorf("put: %w", err)
	}
	if err := s.checkWritable(); err != nil {
		return false, fmt.Errorf("put user %q: %w", u.ID, err)
	}
	key := []byte(u.ID)
	val := encodeUser(nil, key, &u)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beginWrite()
	defer s.endWrite(u.ID)
	var sums []exactsum.Sum
	var count int64
	err = s.update("put", func(tx *bolt.Tx) error {
		users := tx.Bucket(bucketUsers)
		sums, count = cloneSums(s.sums), s.count.Load()
		var old model.User
		corrupt := false
		if v := users.Get(key); v == nil {
			created = true
			count++
		} else if err := decodeUser(key, v, s.m, &old, true); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				return fmt.Errorf("user %q: %w", u.ID, err)
			}
			corrupt = true
		} else {
			addW(sums, old.W, -1)
		}
		addW(sums, u.W, +1)
		if err := users.Put(key, val); err != nil {
			return err
		}
		if corrupt {
			var err error
			if sums, count, err = scanSums(users, s.m); err != nil {
				return fmt.Errorf("user %q replaced a corrupt record, but recomputing the sums failed: %w", u.ID, err)
			}
		}
		return putCounters(tx.Bucket(bucketMeta), count, sums)
	})
	if err != nil {
		return false, fmt.Errorf("put user %q: %w", u.ID, err)
	}
	s.sums = sums
	s.count.Store(count)
	s.publishFallback()
	return created, nil
}

// Delete removes the user id in one transaction and reports whether it
// existed. See the package documentation for when its bytes leave the file.
// Deleting a record that fails its checksum is allowed; the fallback's sums
// are then recomputed from every other record in the same transaction.
func (s *Store) Delete(id string) (existed bool, err error) {
	if err := s.checkWritable(); err != nil {
		return false, fmt.Errorf("delete user %q: %w", id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beginWrite()
	defer s.endWrite(id)
	var sums []exactsum.Sum
	var count int64
	err = s.update("delete", func(tx *bolt.Tx) error {
		users := tx.Bucket(bucketUsers)
		key := []byte(id)
		v := users.Get(key)
		if v == nil {
			return nil
		}
		existed = true
		sums, count = cloneSums(s.sums), s.count.Load()-1
		var old model.User
		derr := decodeUser(key, v, s.m, &old, true)
		if derr != nil && !errors.Is(derr, ErrCorrupt) {
			return fmt.Errorf("user %q: %w", id, derr)
		}
		if derr == nil {
			addW(sums, old.W, -1)
		}
		if err := users.Delete(key); err != nil {
			return err
		}
		if derr != nil { // the record was corrupt
			var serr error
			if sums, count, serr = scanSums(users, s.m); serr != nil {
				return fmt.Errorf("user %q: deleted a corrupt record, but recomputing the sums failed: %w", id, serr)
			}
		}
		return putCounters(tx.Bucket(bucketMeta), count, sums)
	})
	if err != nil {
		return false, fmt.Errorf("delete user %q: %w", id, err)
	}
	if !existed {
		return false, nil
	}
	s.sums = sums
	s.count.Store(count)
	s.publishFallback()
	return true, nil
}

// cloneSums returns a deep copy of sums.
func cloneSums(sums []exactsum.Sum) []exactsum.Sum {
	c := make([]exactsum.Sum, len(sums))
	for i := range sums {
		c[i].Set(&sums[i])
	}
	return c
}

// scanSums recomputes the user count and the exact sums of w from every
// record of users, failing on the first corrupt one.
func scanSums(users *bolt.Bucket, m *model.Model) ([]exactsum.Sum, int64, error) {
	sums := make([]exactsum.Sum, m.Rank)
	var n int64
	var u model.User
	err := users.ForEach(func(k, v []byte) error {
		if err := decodeUser(k, v, m, &u, true); err != nil {
			return fmt.Errorf("user %q: %w", k, err)
		}
		addW(sums, u.W, +1)
		n++
		return nil
	})
	return sums, n, err
}

func putCounters(meta *bolt.Bucket, count int64, sums []exactsum.Sum) error {
	if err := meta.Put(keyCount, binary.LittleEndian.AppendUint64(nil, uint64(count))); err != nil {
		return err
	}
	return meta.Put(keyWSumX, encodeSums(sums))
}
