package store

import (
	"context"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lrsp/lrsp/model"
)

// openCache imports m and opens it with the given cache bound.
func openCache(t *testing.T, m *model.Model, cacheBytes int64) *Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users.db")
	if err := Import(context.Background(), path, m, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{CacheBytes: cacheBytes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// viewGet reads one user in a View.
func viewGet(t *testing.T, s *Store, id string) (model.User, bool) {
	t.Helper()
	var u model.User
	var ok bool
	if err := s.View(func(r Reader) (err error) {
		ok, err = r.Get(id, &u)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return u, ok
}

// TestViewCacheSeesWrites checks that reads through the user cache see
// every Put and Delete: a cached user is replaced, deleted and re-created,
// and each View returns what was written last, for every cache setting.
func TestViewCacheSeesWrites(t *testing.T) {
	for _, tc := range []struct {
		name  string
		bytes int64
	}{{"default", 0}, {"tiny", 2 * cacheShards * 200}, {"off", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			m := randomModel(50, 8, 2, 2, true, 3)
			s := openCache(t, m, tc.bytes)
			if (s.cache == nil) != (tc.bytes < 0) {
				t.Fatalf("cache = %v with CacheBytes %d", s.cache, tc.bytes)
			}
			for round := range 3 {
				for _, want := range m.Users {
					got, ok := viewGet(t, s, want.ID)
					if !ok || !reflect.DeepEqual(norm(got), norm(want)) {
						t.Fatalf("round %d: %s = %+v, %v; want %+v", round, want.ID, got, ok, want)
					}
				}
			}
			id := m.Users[7].ID
			next := model.User{ID: id, W: []float64{42, -1}, Index: []int32{5}, Value: []float64{0.5}}
			if _, err := s.Put(next); err != nil {
				t.Fatal(err)
			}
			if got, ok := viewGet(t, s, id); !ok || !reflect.DeepEqual(norm(got), norm(next)) {
				t.Fatalf("after Put: %+v, %v; want %+v", got, ok, next)
			}
			if _, err := s.Delete(id); err != nil {
				t.Fatal(err)
			}
			if got, ok := viewGet(t, s, id); ok {
				t.Fatalf("after Delete: %+v still read", got)
			}
			if _, err := s.Put(m.Users[7]); err != nil {
				t.Fatal(err)
			}
			if got, ok := viewGet(t, s, id); !ok || !reflect.DeepEqual(norm(got), norm(m.Users[7])) {
				t.Fatalf("after re-creating: %+v, %v; want %+v", got, ok, m.Users[7])
			}
			if s.cache != nil {
				if n := s.cache.len(); tc.bytes > 0 && int64(n)*cacheEntryOverhead > tc.bytes {
					t.Fatalf("%d users cached within a bound of %d bytes", n, tc.bytes)
				}
			}
		})
	}
}

// TestViewCacheBound checks that the cache stays within its byte bound
// however many users are read, and that it counts the bytes of the
// theta_i that Reader.Theta adds to entries.
func TestViewCacheBound(t *testing.T) {
	m := randomModel(2000, 8, 2, 2, false, 4)
	const bound = 64 << 10
	s := openCache(t, m, bound)
	for i, u := range m.Users {
		viewGet(t, s, u.ID)
		if i%2 == 0 {
			viewTheta(t, s, u.ID)
		}
	}
	viewGet(t, s, m.Users[0].ID) // an add after the last theta
	var bytes int64
	for i := range s.cache.shards {
		sh := &s.cache.shards[i]
		if sh.bytes > sh.max {
			t.Fatalf("shard %d holds %d bytes, bound %d", i, sh.bytes, sh.max)
		}
		var sum int64
		for id, e := range sh.users {
			sum += entryBytes(id, e)
		}
		if sum != sh.bytes {
			t.Fatalf("shard %d counts %d bytes but holds %d", i, sh.bytes, sum)
		}
		bytes += sum
	}
	if bytes > bound || s.cache.len() == 0 || s.cache.len() == len(m.Users) {
		t.Fatalf("%d users, %d bytes cached within a bound of %d", s.cache.len(), bytes, bound)
	}
}

// TestViewSnapshotWithCache checks that a View reading through the cache
// still sees one snapshot while writes go on: a writer puts users a and b
// in turn with increasing versions (w[0]), so that in any snapshot b's
// version is a's or one less; readers read a, wait, then read b. Reading
// each user at its own time (a cache without the sequence check) would
// see b newer than a. After the writer stops, every user reads as last
// written (no stale entry was cached).
func TestViewSnapshotWithCache(t *testing.T) {
	m := randomModel(4, 4, 2, 1, false, 5)
	s := openCache(t, m, 0)
	a, b := m.Users[0].ID, m.Users[1].ID
	put := func(id string, v int) {
		if _, err := s.Put(model.User{ID: id, W: []float64{float64(v), 0}}); err != nil {
			t.Error(err)
		}
	}
	put(a, 0)
	put(b, 0)
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		for v := 1; !stop.Load(); v++ {
			put(a, v)
			put(b, v)
		}
	})
	var views atomic.Int64
	for range 2 {
		wg.Go(func() {
			var ua, ub model.User
			for !stop.Load() {
				err := s.View(func(r Reader) error {
					if _, err := r.Get(a, &ua); err != nil {
						return err
					}
					time.Sleep(5 * time.Millisecond)
					_, err := r.Get(b, &ub)
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
				if va, vb := ua.W[0], ub.W[0]; vb != va && vb != va-1 {
					t.Errorf("one View read a at version %v and b at %v", va, vb)
					return
				}
				views.Add(1)
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	ga, _ := viewGet(t, s, a)
	gb, _ := viewGet(t, s, b)
	var last model.User
	if err := s.view("read", func(tx *bolt.Tx) error {
		return decodeUser([]byte(a), tx.Bucket(bucketUsers).Get([]byte(a)), s.m, &last, true)
	}); err != nil {
		t.Fatal(err)
	}
	if ga.W[0] != last.W[0] || gb.W[0] != ga.W[0] {
		t.Fatalf("after the writes: a = %v, b = %v through the cache, a = %v in the file", ga.W[0], gb.W[0], last.W[0])
	}
	if views.Load() == 0 {
		t.Fatal("no View completed")
	}
}

// TestViewRerunsAfterWrite checks the contract that View's callers rely
// on (serve's predictAll resets its state for it): when a write commits
// while fn reads through the cache, View runs fn again, and the second run
// sees the write.
func TestViewRerunsAfterWrite(t *testing.T) {
	m := randomModel(3, 4, 2, 1, false, 6)
	s := openCache(t, m, 0)
	a := m.Users[0].ID
	viewGet(t, s, a) // cached: the first run opens no bbolt transaction
	runs := 0
	var sawB bool
	err := s.View(func(r Reader) error {
		runs++
		var u model.User
		if _, err := r.Get(a, &u); err != nil {
			return err
		}
		if runs == 1 {
			if _, err := s.Put(model.User{ID: "b", W: []float64{1, 2}}); err != nil {
				return err
			}
		}
		ok, err := r.Get("b", &u)
		sawB = ok
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if runs != 2 || !sawB {
		t.Fatalf("fn ran %d times, the last run saw the write: %v; want 2 runs, true", runs, sawB)
	}
}

// viewTheta reads one user's theta_i in a View, copying it.
func viewTheta(t *testing.T, s *Store, id string) ([]float64, bool) {
	t.Helper()
	var u model.User
	dst := make([]float64, s.m.Dim)
	var theta []float64
	var ok bool
	if err := s.View(func(r Reader) (err error) {
		var th []float64
		th, ok, err = r.Theta(id, &u, dst)
		theta = slices.Clone(th)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return theta, ok
}

// TestViewThetaSeesWrites checks that Reader.Theta, which keeps theta_i in
// the user cache, equals model.Model.Theta bit for bit for every user of
// an imported store, on the first read (computed) and later ones (cached),
// and after a Put replaces a user whose theta was cached, a Delete removes
// it and a Put re-creates it, for every cache setting.
func TestViewThetaSeesWrites(t *testing.T) {
	for _, tc := range []struct {
		name  string
		bytes int64
	}{{"default", 0}, {"tiny", 2 * cacheShards * 300}, {"off", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			m := randomModel(50, 12, 3, 2, true, 7)
			s := openCache(t, m, tc.bytes)
			want := func(u model.User) []float64 { return m.Theta(&u, make([]float64, m.Dim)) }
			for round := range 3 {
				for _, u := range m.Users {
					got, ok := viewTheta(t, s, u.ID)
					if !ok || !slices.Equal(got, want(u)) {
						t.Fatalf("round %d: theta of %s = %v, %v; want %v", round, u.ID, got, ok, want(u))
					}
				}
			}
			id := m.Users[7].ID
			next := model.User{ID: id, W: []float64{42, -1, 3}, Index: []int32{5}, Value: []float64{0.5}}
			if _, err := s.Put(next); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if got, ok := viewTheta(t, s, id); !ok || !slices.Equal(got, want(next)) {
					t.Fatalf("after Put: %v, %v; want %v", got, ok, want(next))
				}
			}
			if _, err := s.Delete(id); err != nil {
				t.Fatal(err)
			}
			if got, ok := viewTheta(t, s, id); ok {
				t.Fatalf("after Delete: %v still read", got)
			}
			if _, err := s.Put(m.Users[7]); err != nil {
				t.Fatal(err)
			}
			if got, ok := viewTheta(t, s, id); !ok || !slices.Equal(got, want(m.Users[7])) {
				t.Fatalf("after re-creating: %v, %v; want %v", got, ok, want(m.Users[7]))
			}
			if got, ok := viewTheta(t, s, "nobody"); ok {
				t.Fatalf("unknown user: %v read", got)
			}
		})
	}
}

// TestViewThetaRerunsAfterWrite checks that a View reading theta_i through
// the cache is run again when a Put commits during it, and that the second
// run reads the new theta_i, not the cached one.
func TestViewThetaRerunsAfterWrite(t *testing.T) {
	m := randomModel(3, 4, 2, 1, false, 8)
	s := openCache(t, m, 0)
	a := m.Users[0]
	viewTheta(t, s, a.ID) // theta_a cached
	next := model.User{ID: a.ID, W: []float64{7, -2}}
	want := m.Theta(&next, make([]float64, m.Dim))
	runs := 0
	var got []float64
	var u model.User
	dst := make([]float64, m.Dim)
	err := s.View(func(r Reader) error {
		runs++
		if runs == 1 {
			if _, err := s.Put(next); err != nil {
				return err
			}
		}
		th, _, err := r.Theta(a.ID, &u, dst)
		got = slices.Clone(th)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if runs != 2 || !slices.Equal(got, want) {
		t.Fatalf("fn ran %d times, read theta %v; want 2 runs and %v", runs, got, want)
	}
}

// TestViewThetaKeepsUsers checks that keeping theta_i never costs the cache
// a user: with a bound that holds every user's parameters but not every
// theta_i (d = 64), reading theta_i of 200 users keeps all 200 cached (and
// still equal to model.Model.Theta when there is no room to keep them),
// and reading 60 more users drops theta_i rather than users, within the
// bound and with the bytes counted exactly.
func TestViewThetaKeepsUsers(t *testing.T) {
	m := randomModel(260, 64, 2, 2, true, 9)
	s := openCache(t, m, cacheShards*2048)
	for _, u := range m.Users[:200] {
		viewGet(t, s, u.ID)
	}
	if n := s.cache.len(); n != 200 {
		t.Fatalf("%d users cached after reading 200; the bound should hold them all", n)
	}
	for round := range 2 {
		for _, u := range m.Users[:200] {
			got, ok := viewTheta(t, s, u.ID)
			if want := m.Theta(&u, make([]float64, m.Dim)); !ok || !slices.Equal(got, want) {
				t.Fatalf("round %d: theta of %s = %v, %v; want %v", round, u.ID, got, ok, want)
			}
		}
	}
	check := func(users int) (thetas int) {
		t.Helper()
		if n := s.cache.len(); n != users {
			t.Fatalf("%d users cached, want %d", n, users)
		}
		for i := range s.cache.shards {
			sh := &s.cache.shards[i]
			var sum int64
			for id, e := range sh.users {
				sum += entryBytes(id, e)
				if e.theta.Load() != nil {
					thetas++
				}
			}
			if sum != sh.bytes || sh.bytes > sh.max {
				t.Fatalf("shard %d counts %d bytes, holds %d, bound %d", i, sh.bytes, sum, sh.max)
			}
		}
		return thetas
	}
	before := check(200)
	if before == 0 || before == 200 {
		t.Fatalf("%d of 200 users keep theta_i; the bound should hold some but not all", before)
	}
	for _, u := range m.Users[200:] {
		viewGet(t, s, u.ID)
	}
	if after := check(260); after >= before {
		t.Fatalf("%d users keep theta_i after 60 more were added, %d before: adding should drop some", after, before)
	}
}
