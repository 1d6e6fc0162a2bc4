package store

import (
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/lrsp/lrsp/model"
)

// The user cache keeps decoded users in memory so that View's readers find
// them without a B+tree search, a checksum and a decoding per read: a bbolt
// lookup in a store of 100k users costs a few microseconds, which is most
// of the cost of a batch prediction.
//
// Consistency. Writes (Put, Delete) are bracketed by a sequence counter,
// seq, that is odd while a write is in progress: the writer makes it odd,
// commits, removes the user from the cache and makes it even again. A
// cached View starts only at an even seq g, reads users from the cache or
// (on a miss) from a bbolt transaction begun after it loaded g, and is
// valid if seq still equals g when it ends: then no write started, and
// every write before it had committed and invalidated, so everything it
// read is the store's state at g, one consistent snapshot as a single
// transaction gives. Otherwise View runs its function again in one bbolt
// transaction. A miss is added to the cache only while seq equals g (checked
// under the shard's lock, which the writer's removal also takes), so a value
// read before a write can never be added after the write's removal.
//
// Theta. Reader.Theta keeps each cached user's theta_i = theta_0 + U w_i +
// b_i on its entry, computed (by model.Model.Theta, so bit for bit what a
// prediction without the cache uses) the first time it is asked for, when
// the shard has room for its 8 d bytes: a theta_i never evicts a user, and
// adding a user drops other users' theta_i before it evicts any, so the
// cache holds as many users as it would without them. A theta_i is a
// function of the entry's parameters, which never change, and of the
// store's model, which never changes either, so it needs no invalidation
// of its own: a write removes the whole entry.

// DefaultCacheBytes is the bound on the user cache's memory for a zero
// Options.CacheBytes.
const DefaultCacheBytes = 128 << 20

// cacheShards is the number of independently locked parts of the cache.
const cacheShards = 64

// cacheEntryOverhead estimates the bytes of a cached user besides its ID
// and numbers: the entry, its slice headers and the map's slot.
const cacheEntryOverhead = 112

// userCache is a bounded map from user ID to decoded parameters, safe for
// concurrent use.
type userCache struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu    sync.RWMutex
	users map[string]*cachedUser
	bytes int64 // estimated bytes held
	max   int64 // bound on bytes
}

// cachedUser holds one user's parameters, which are never modified once in
// the cache, and, once Reader.Theta has asked for it and while the shard
// has room for it, the user's theta_i, a function of them and of the
// store's model; theta changes only under the shard's lock, and a theta
// once loaded stays valid (it is never modified).
type cachedUser struct {
	w, value []float64
	index    []int32
	theta    atomic.Pointer[[]float64]
}

func newUserCache(maxBytes int64) *userCache {
	c := &userCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].users = make(map[string]*cachedUser)
		c.shards[i].max = maxBytes / cacheShards
	}
	return c
}

func (c *userCache) shard(id string) *cacheShard {
	return &c.shards[maphash.String(c.seed, id)%cacheShards]
}

// entryBytes estimates the bytes that id's entry e holds, its theta
// included once set; the caller holds the shard's lock.
func entryBytes(id string, e *cachedUser) int64 {
	n := int64(cacheEntryOverhead + len(id) + 8*len(e.w) + 8*len(e.value) + 4*len(e.index))
	if t := e.theta.Load(); t != nil {
		n += int64(8 * len(*t))
	}
	return n
}

// lookup returns the entry of id, or nil.
func (c *userCache) lookup(id string) *cachedUser {
	sh := c.shard(id)
	sh.mu.RLock()
	e := sh.users[id]
	sh.mu.RUnlock()
	return e
}

// get copies the cached parameters of id into u, reusing its slices, and
// reports whether id was cached.
func (c *userCache) get(id string, u *model.User) bool {
	e := c.lookup(id)
	if e == nil {
		return false
	}
	u.W = append(u.W[:0], e.w...)
	u.Index = append(u.Index[:0], e.index...)
	u.Value = append(u.Value[:0], e.value...)
	return true
}

// add caches a copy of u's parameters under id if valid() holds under the
// shard's lock, evicting other users of the shard as needed to stay within
// its bound, and returns the new entry, or nil if it added none.
func (c *userCache) add(id string, u *model.User, valid func() bool) *cachedUser {
	n := len(u.W) + len(u.Value)
	buf := make([]float64, n)
	copy(buf, u.W)
	copy(buf[len(u.W):], u.Value)
	e := &cachedUser{w: buf[:len(u.W):len(u.W)], value: buf[len(u.W):], index: append([]int32(nil), u.Index...)}
	// The key must not keep a larger string alive (such as all the user
	// IDs of the request that read it).
	id = strings.Clone(id)
	size := entryBytes(id, e)
	sh := c.shard(id)
	if size > sh.max {
		return nil
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if !valid() {
		return nil
	}
	sh.drop(id)
	// Room is made first by dropping the theta_i of other users, so that
	// keeping theta_i never costs the cache a user; then by evicting
	// users. Map iteration starts at a random place: this drops and evicts
	// at random, which for any access pattern keeps the cache no worse
	// than a random subset of the store.
	for _, v := range sh.users {
		if sh.bytes+size <= sh.max {
			break
		}
		if t := v.theta.Load(); t != nil {
			v.theta.Store(nil)
			sh.bytes -= int64(8 * len(*t))
		}
	}
	for k, v := range sh.users {
		if sh.bytes+size <= sh.max {
			break
		}
		sh.bytes -= entryBytes(k, v)
		delete(sh.users, k)
	}
	sh.users[id] = e
	sh.bytes += size
	return e
}

// thetaFits reports whether the shard of id has room for a theta of d
// values without dropping anything.
func (c *userCache) thetaFits(id string, d int) bool {
	sh := c.shard(id)
	sh.mu.RLock()
	fits := sh.bytes+int64(8*d) <= sh.max
	sh.mu.RUnlock()
	return fits
}

// setTheta sets the theta of id's entry e to t unless it has one or the
// shard has no room for t: a theta never evicts a user (see add). An entry
// that is no longer in the cache may take t, uncounted.
func (c *userCache) setTheta(id string, e *cachedUser, t []float64) {
	sh := c.shard(id)
	size := int64(8 * len(t))
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e.theta.Load() != nil {
		return
	}
	if sh.users[id] != e {
		e.theta.Store(&t)
		return
	}
	if sh.bytes+size > sh.max {
		return
	}
	e.theta.Store(&t)
	sh.bytes += size
}

// theta returns the theta of e: its cached one, or one computed with m and
// cached if the shard has room, or else one computed into dst (length
// m.Dim), which the caller must not keep.
func (c *userCache) theta(id string, e *cachedUser, m *model.Model, dst []float64) []float64 {
	if t := e.theta.Load(); t != nil {
		return *t
	}
	u := model.User{ID: id, W: e.w, Index: e.index, Value: e.value}
	if !c.thetaFits(id, m.Dim) {
		return m.Theta(&u, dst)
	}
	t := m.Theta(&u, make([]float64, m.Dim))
	c.setTheta(id, e, t)
	return t
}

// remove drops id from the cache.
func (c *userCache) remove(id string) {
	sh := c.shard(id)
	sh.mu.Lock()
	sh.drop(id)
	sh.mu.Unlock()
}

// drop removes id's entry, if any, from the shard, whose lock the caller
// holds.
func (sh *cacheShard) drop(id string) {
	if old := sh.users[id]; old != nil {
		sh.bytes -= entryBytes(id, old)
		delete(sh.users, id)
	}
}

// len returns the number of cached users.
func (c *userCache) len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		n += len(sh.users)
		sh.mu.RUnlock()
	}
	return n
}
