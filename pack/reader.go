package pack

import (
	"context"
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
	"unsafe"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/internal/vec"
)

// File is an open packed data file. It implements dataset.Source: Scan
// reads users from the file and verifies each user's checksum. Only the
// index (IDs, sample counts, offsets, input row numbers) is held in memory.
//
// Where the system allows it (unix), Open maps the file into memory
// read-only and Scan reads the mapping: the file's pages in the page cache,
// without copying them. It then verifies a user's checksum the first time
// it reads the user, and again only after the file's size or modification
// time has changed (an in-place write), which every Scan checks; the pages
// it verified are the pages it reads again. Elsewhere, or when the file
// cannot be mapped, Scan reads with one sequential ReadAt per call into a
// buffer of its Scratch and verifies every user it reads.
// A mapped file that is truncated while open makes Scan return an error
// rather than crash the program. A file replaced by renaming another onto
// its path, as lrsp writes files, is unaffected: the File reads the file it
// opened. The mapped pages that Scan has read count in the process's
// resident set size while they stay in the page cache; they are the page
// cache's, shared and reclaimable, not memory of the process's own.
//
// A File is safe for concurrent Scans with distinct Scratch values. Close
// waits for Scans in progress; a Scan after Close returns an error.
type File struct {
	path string
	f    *os.File
	// mu is held shared by each Scan and exclusively by Close, so that the
	// mapping is never unmapped under a Scan.
	mu     sync.RWMutex
	closed bool
	mem    []byte // the whole file, mapped read-only; nil: read with ReadAt
	// With mem, verified has bit i%32 of word i/32 set once user i's
	// checksum has matched, and stamp is the file's size and modification
	// time when it last did (see checkStamp).
	verified  []atomic.Uint32
	stampMu   sync.Mutex
	stamp     fileStamp
	d         int
	prec      Precision
	target    bool
	features  []string
	samples   int
	dataStart int64
	ids       []string
	m         []int
	off       []int64 // data offset of each user, from dataStart
	crc       []uint32
	rowStart  []int // rows of user i are rows[rowStart[i]:rowStart[i+1]]
	rows      []int
}

// Open opens the packed file at path, reads and checks its index and, on
// unix, maps it into memory (see File). A truncated, corrupted or
// other-version file gives an error that says which.
func Open(path string) (*File, error) { return openFile(path, true) }

// openFile is Open; with mapped false, Scan reads with ReadAt even where
// the file could be mapped.
func openFile(path string, mapped bool) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pack: %w", err)
	}
	pf, size, err := open(f, path)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("pack: open %s: %w", path, err)
	}
	if mapped {
		// A file that cannot be mapped is read with ReadAt instead.
		if mem, err := mapFile(f, size); err == nil {
			pf.mem = mem
			pf.verified = make([]atomic.Uint32, (len(pf.ids)+31)/32)
			if st, err := f.Stat(); err == nil {
				pf.stamp = stampOf(st)
			}
		}
	}
	return pf, nil
}

var (
	errTruncated      = errors.New("truncated or not a packed data file")
	errMapUnsupported = errors.New("memory maps are not supported")
)

// open reads and checks the header and index of f and returns them with
// the size of the file.
func open(f *os.File, path string) (*File, int64, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	size := st.Size()
	if size < fixedHeader+trailerSize {
		return nil, 0, errTruncated
	}
	fixed := make([]byte, fixedHeader)
	if _, err := f.ReadAt(fixed, 0); err != nil {
		return nil, 0, err
	}
	if string(fixed[:8]) != magic {
		return nil, 0, errors.New("not a packed data file (bad magic)")
	}
	if v := binary.LittleEndian.Uint32(fixed[8:]); v != Version {
		return nil, 0, fmt.Errorf("packed format version %d, this lrsp reads version %d", v, Version)
	}
	p := &File{path: path, f: f}
	p.prec = Precision(binary.LittleEndian.Uint32(fixed[12:]))
	p.d = int(binary.LittleEndian.Uint32(fixed[16:]))
	p.target = binary.LittleEndian.Uint32(fixed[20:])&flagTarget != 0
	users := binary.LittleEndian.Uint64(fixed[24:])
	p.samples = int(min(binary.LittleEndian.Uint64(fixed[32:]), math.MaxInt32*64))
	jl := int64(binary.LittleEndian.Uint32(fixed[40:]))
	if !p.prec.valid() || p.d <= 0 || p.d > 1<<24 || jl > maxJSON || fixedHeader+jl > size-trailerSize {
		return nil, 0, fmt.Errorf("bad header: precision %d, d %d", p.prec, p.d)
	}
	p.dataStart = (fixedHeader + jl + 63) &^ 63
	hdr := make([]byte, p.dataStart)
	if _, err := f.ReadAt(hdr, 0); err != nil {
		return nil, 0, errTruncated
	}
	tr := make([]byte, trailerSize)
	if _, err := f.ReadAt(tr, size-trailerSize); err != nil {
		return nil, 0, err
	}
	if string(tr[24:]) != endMagic {
		return nil, 0, errTruncated
	}
	if crc32.Checksum(hdr, castagnoli) != binary.LittleEndian.Uint32(tr[20:]) {
		return nil, 0, errors.New("header checksum mismatch: the file is corrupted")
	}
	var js struct {
		Features []string `json:"features"`
	}
	if err := json.Unmarshal(hdr[fixedHeader:fixedHeader+jl], &js); err != nil {
		return nil, 0, fmt.Errorf("header: %w", err)
	}
	if len(js.Features) != p.d {
		return nil, 0, fmt.Errorf("header names %d features for d = %d", len(js.Features), p.d)
	}
	p.features = js.Features
	indexOff := int64(binary.LittleEndian.Uint64(tr[0:]))
	indexLen := int64(binary.LittleEndian.Uint64(tr[8:]))
	if indexOff < p.dataStart || indexLen < 0 || indexOff > size-trailerSize || indexLen != size-trailerSize-indexOff {
		return nil, 0, errTruncated
	}
	index := make([]byte, indexLen)
	if _, err := f.ReadAt(index, indexOff); err != nil {
		return nil, 0, err
	}
	if crc32.Checksum(index, castagnoli) != binary.LittleEndian.Uint32(tr[16:]) {
		return nil, 0, errors.New("index checksum mismatch: the file is corrupted")
	}
	// Every user takes at least 9 bytes of index, which bounds allocations.
	if users > uint64(indexLen)/9+1 {
		return nil, 0, fmt.Errorf("header claims %d users, the index holds fewer", users)
	}
	if err := p.parseIndex(index, int(users), indexOff-p.dataStart); err != nil {
		return nil, 0, fmt.Errorf("index: %w", err)
	}
	return p, size, nil
}

func (p *File) parseIndex(b []byte, users int, dataLen int64) error {
	p.ids = make([]string, users)
	p.m = make([]int, users)
	p.off = make([]int64, users)
	p.crc = make([]uint32, users)
	p.rowStart = make([]int, users+1)
	p.rows = make([]int, 0, min(p.samples, len(b)))
	next := int64(0)
	uv := func(max uint64) (int, bool) {
		x, n := binary.Uvarint(b)
		if n <= 0 || x > max {
			return 0, false
		}
		b = b[n:]
		return int(x), true
	}
	for i := 0; i < users; i++ {
		n, ok := uv(maxID)
		if !ok || n == 0 || n > len(b) {
			return fmt.Errorf("user %d: bad ID", i)
		}
		p.ids[i] = string(b[:n])
		b = b[n:]
		m, ok := uv(uint64(dataLen))
		if !ok || m == 0 {
			return fmt.Errorf("user %q: bad sample count", p.ids[i])
		}
		o, ok := uv(uint64(dataLen / 8))
		if !ok || int64(o)*8 != next || len(b) < 4 {
			return fmt.Errorf("user %q: bad data offset", p.ids[i])
		}
		p.m[i] = m
		p.off[i] = next
		next += p.size(m)
		if next > dataLen {
			return fmt.Errorf("user %q: data beyond the data section", p.ids[i])
		}
		p.crc[i] = binary.LittleEndian.Uint32(b)
		b = b[4:]
		for s := 0; s < m; s++ {
			r, ok := uv(math.MaxInt32 * 64)
			if !ok {
				return fmt.Errorf("user %q: bad row number", p.ids[i])
			}
			p.rows = append(p.rows, r)
		}
		p.rowStart[i+1] = len(p.rows)
	}
	if len(b) != 0 || next != dataLen {
		return errors.New("index does not match the data section")
	}
	p.samples = len(p.rows)
	// The input row numbers must be 0..samples-1, each once: predictions
	// are written in input row order.
	seen := make([]uint64, (p.samples+63)/64)
	for _, r := range p.rows {
		if r >= p.samples || seen[r/64]&(1<<(r%64)) != 0 {
			return fmt.Errorf("input row number %d repeated or not below the %d samples", r, p.samples)
		}
		seen[r/64] |= 1 << (r % 64)
	}
	return nil
}

// InputRows returns the input row numbers of the samples of user i, in
// the order of its samples. The caller must not modify them.
func (p *File) InputRows(i int) []int { return p.rows[p.rowStart[i]:p.rowStart[i+1]] }

// size returns the padded bytes of a user with m samples.
func (p *File) size(m int) int64 {
	n := int64(m) * int64(p.d) * int64(p.prec)
	if p.target {
		n += 8 * int64(m)
	}
	return pad8(n)
}

// Close unmaps and closes the file. It waits for Scans in progress.
func (p *File) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	var err error
	if p.mem != nil {
		if uerr := unmapFile(p.mem); uerr != nil {
			err = fmt.Errorf("pack: unmap %s: %w", p.path, uerr)
		}
		p.mem = nil
	}
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Dim returns the number of features.
func (p *File) Dim() int { return p.d }

// FeatureNames returns the feature names.
func (p *File) FeatureNames() []string { return p.features }

// HasTargets reports whether the samples have targets.
func (p *File) HasTargets() bool { return p.target }

// NumUsers returns the number of users.
func (p *File) NumUsers() int { return len(p.ids) }

// UserID returns the ID of user i.
func (p *File) UserID(i int) string { return p.ids[i] }

// UserLen returns the number of samples of user i.
func (p *File) UserLen(i int) int { return p.m[i] }

// Samples returns the total number of samples.
func (p *File) Samples() int { return p.samples }

// Precision returns the storage precision of the features.
func (p *File) Precision() Precision { return p.prec }

// DataBytes returns the size of the data section: the bytes one pass over
// every user's samples reads.
func (p *File) DataBytes() int64 {
	if len(p.ids) == 0 {
		return 0
	}
	last := len(p.ids) - 1
	return p.off[last] + p.size(p.m[last])
}

// Scan implements dataset.Source: it reads users lo..hi-1, verifies their
// checksums (see File), widens float32 features to float64 (one user at a time, into
// a buffer of sc that stays in cache) and calls fn. Float64 features are
// passed in place, without a copy, on little-endian machines.
//
// A mapped file (see File) is read in place. If it shrinks during the
// Scan, reading it faults; Scan then returns an error naming the file, also
// when the fault is fn's, reading its x in place. Other panics of fn pass
// through.
func (p *File) Scan(lo, hi int, sc *dataset.Scratch, fn func(i int, x, y []float64) error) (err error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return fmt.Errorf("pack: read %s: %w", p.path, os.ErrClosed)
	}
	if lo >= hi {
		return nil
	}
	start, end := p.off[lo], p.off[hi-1]+p.size(p.m[hi-1])
	if p.mem != nil {
		// A read of the mapping beyond the end of the file, which has
		// been truncated since Open, raises SIGBUS: make it a panic of
		// this goroutine, and that panic an error.
		old := debug.SetPanicOnFault(true)
		defer func() {
			debug.SetPanicOnFault(old)
			if r := recover(); r != nil {
				err = p.fault(r)
			}
		}()
		if err := p.checkStamp(); err != nil {
			return err
		}
		return p.scan(lo, hi, p.mem[p.dataStart+start:p.dataStart+end:p.dataStart+end], start, sc, fn)
	}
	n := int(end - start)
	if cap(sc.Bytes) < n {
		sc.Bytes = make([]byte, n)
	}
	buf := sc.Bytes[:n]
	if _, err := p.f.ReadAt(buf, p.dataStart+start); err != nil {
		return fmt.Errorf("pack: read %s: %w", p.path, err)
	}
	return p.scan(lo, hi, buf, start, sc, fn)
}

// fileStamp is what says that a file was written in place: its size and
// modification time.
type fileStamp struct {
	size  int64
	mtime time.Time
}

func stampOf(st os.FileInfo) fileStamp { return fileStamp{st.Size(), st.ModTime()} }

// checkStamp forgets which users' checksums have matched when the mapped
// file's size or modification time is not what it was when they did, so
// that Scan verifies them again.
func (p *File) checkStamp() error {
	st, err := p.f.Stat()
	if err != nil {
		return fmt.Errorf("pack: read %s: %w", p.path, err)
	}
	now := stampOf(st)
	p.stampMu.Lock()
	defer p.stampMu.Unlock()
	if now != p.stamp {
		for q := range p.verified {
			p.verified[q].Store(0)
		}
		p.stamp = now
	}
	return nil
}

// fault returns the error for the panic value r of a Scan of the mapping:
// a memory fault at an address inside the mapping means that the file has
// changed. Fault re-panics with any other value.
func (p *File) fault(r any) error {
	if f, ok := r.(interface{ Addr() uintptr }); ok {
		base := uintptr(unsafe.Pointer(unsafe.SliceData(p.mem)))
		if a := f.Addr(); a >= base && a-base < uintptr(len(p.mem)) {
			return fmt.Errorf("pack: read %s: the file changed while it was being read (fault at byte %d of %d)", p.path, a-base, len(p.mem))
		}
	}
	panic(r)
}

// scan verifies and decodes users lo..hi-1, whose data are buf, read from
// offset start of the data section, and calls fn with each.
func (p *File) scan(lo, hi int, buf []byte, start int64, sc *dataset.Scratch, fn func(i int, x, y []float64) error) error {
	d := p.d
	for i := lo; i < hi; i++ {
		m := p.m[i]
		b := buf[p.off[i]-start : p.off[i]-start+p.size(m)]
		if p.verified == nil || p.verified[i/32].Load()&(1<<(i%32)) == 0 {
			if crc32.Checksum(b, castagnoli) != p.crc[i] {
				return fmt.Errorf("pack: read %s: user %q: checksum mismatch: the file is corrupted", p.path, p.ids[i])
			}
			if p.verified != nil {
				p.verified[i/32].Or(1 << (i % 32))
			}
		}
		var y []float64
		if p.target {
			if cap(sc.Y) < m {
				sc.Y = make([]float64, m)
			}
			y = sc.Y[:m]
			for s := range y {
				y[s] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*s:]))
			}
			b = b[8*m:]
		}
		x := decode(sc, b[:m*d*int(p.prec)], p.prec)
		if err := fn(i, x, y); err != nil {
			return err
		}
	}
	return nil
}

// nativeLittle says that this machine stores floats little-endian, as a
// packed file does, so that the file's bytes can be read as floats in place.
var nativeLittle = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// decode returns the little-endian float32 or float64 values of b as
// float64s. float32 values are widened into sc.X, sized for one user so
// that it stays in cache, with vec.Widen's SIMD kernel when b can be read
// as float32s in place; float64 values are returned in place, without a
// copy, when they can be.
func decode(sc *dataset.Scratch, b []byte, prec Precision) []float64 {
	n := len(b) / int(prec)
	inPlace := n > 0 && nativeLittle && uintptr(unsafe.Pointer(&b[0]))%uintptr(prec) == 0
	if prec == Float64 && inPlace {
		return unsafe.Slice((*float64)(unsafe.Pointer(&b[0])), n)
	}
	if cap(sc.X) < n {
		sc.X = make([]float64, n)
	}
	x := sc.X[:n]
	switch {
	case prec == Float32 && inPlace:
		vec.Widen(x, unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), n))
	case prec == Float32:
		for j := range x {
			x[j] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*j:])))
		}
	default:
		for j := range x {
			x[j] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*j:]))
		}
	}
	return x
}

// ReadAll loads the whole file into memory as a Dataset.
func (p *File) ReadAll(ctx context.Context) (*dataset.Dataset, error) {
	b := dataset.NewBuilder(p.features, p.target)
	var sc dataset.Scratch
	d := p.d
	const batch = 4096
	for lo := 0; lo < len(p.ids); lo += batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		err := p.Scan(lo, min(lo+batch, len(p.ids)), &sc, func(i int, x, y []float64) error {
			rows := p.rows[p.rowStart[i]:p.rowStart[i+1]]
			for s, r := range rows {
				yv := 0.0
				if y != nil {
					yv = y[s]
				}
				b.Add(p.ids[i], x[s*d:(s+1)*d], yv, r)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return b.Dataset(), nil
}

var _ dataset.Source = (*File)(nil)
