package pack

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/internal/atomicfile"
)

// Writer writes a packed data file user by user, holding only the index in
// memory. Close finishes the file; until then it lives under a temporary
// name, so that a crash never leaves a partial file at the final path.
type Writer struct {
	path      string
	f         *atomicfile.Temp
	bw        *bufio.Writer
	crc       hash.Hash32
	d         int
	prec      Precision
	target    bool
	dataStart int64
	off       int64 // bytes written to the data section
	users     int
	samples   int
	index     []byte
	ids       map[string]bool
	buf       []byte
	err       error
}

// Create starts a packed file at path for samples over the named features
// with the given precision; target says whether samples carry targets.
func Create(path string, features []string, target bool, prec Precision) (*Writer, error) {
	if !prec.valid() {
		return nil, fmt.Errorf("pack: precision %d bytes, want 4 or 8", prec)
	}
	if len(features) == 0 {
		return nil, errors.New("pack: no features")
	}
	// The temporary file follows a symbolic link at path; a FIFO or device
	// is refused, since the header is rewritten at the end.
	f, err := atomicfile.CreateTemp(path)
	if err != nil {
		return nil, fmt.Errorf("pack: %w", err)
	}
	w := &Writer{path: path, f: f, bw: bufio.NewWriterSize(f, 1<<20), crc: crc32.New(castagnoli),
		d: len(features), prec: prec, target: target, ids: map[string]bool{}}
	js, err := json.Marshal(struct {
		Features []string `json:"features"`
	}{features})
	if err != nil {
		f.Abort()
		return nil, err
	}
	// The fixed header is rewritten with the final counts by Close.
	hdr := w.header(js, 0, 0)
	w.dataStart = int64(len(hdr))
	w.bw.Write(hdr)
	return w, nil
}

func (w *Writer) header(js []byte, users, samples int) []byte {
	h := make([]byte, 0, 64+len(js))
	h = append(h, magic...)
	h = binary.LittleEndian.AppendUint32(h, Version)
	h = binary.LittleEndian.AppendUint32(h, uint32(w.prec))
	h = binary.LittleEndian.AppendUint32(h, uint32(w.d))
	flags := uint32(0)
	if w.target {
		flags |= flagTarget
	}
	h = binary.LittleEndian.AppendUint32(h, flags)
	h = binary.LittleEndian.AppendUint64(h, uint64(users))
	h = binary.LittleEndian.AppendUint64(h, uint64(samples))
	h = binary.LittleEndian.AppendUint32(h, uint32(len(js)))
	h = append(h, js...)
	for len(h)%64 != 0 {
		h = append(h, 0)
	}
	return h
}

// Add appends one user's samples: x row-major (len(rows) x d), y (nil when
// the file has no targets) and the input row number of each sample. Every
// user must be added once.
func (w *Writer) Add(id string, x, y []float64, rows []int) error {
	if w.err != nil {
		return w.err
	}
	m := len(rows)
	switch {
	case id == "" || len(id) > maxID:
		return fmt.Errorf("pack: user ID of %d bytes, want 1..%d", len(id), maxID)
	case w.ids[id]:
		return fmt.Errorf("pack: user %q added twice", id)
	case m == 0:
		return fmt.Errorf("pack: user %q has no samples", id)
	case len(x) != m*w.d:
		return fmt.Errorf("pack: user %q: %d feature values for %d samples of dimension %d", id, len(x), m, w.d)
	case w.target && len(y) != m:
		return fmt.Errorf("pack: user %q: %d targets for %d samples", id, len(y), m)
	}
	w.ids[id] = true
	n := int64(m * w.d * int(w.prec))
	if w.target {
		n += int64(8 * m)
	}
	size := pad8(n)
	if cap(w.buf) < int(size) {
		w.buf = make([]byte, size)
	}
	b := w.buf[:size]
	p := 0
	if w.target {
		for _, v := range y {
			binary.LittleEndian.PutUint64(b[p:], math.Float64bits(v))
			p += 8
		}
	}
	if w.prec == Float32 {
		for _, v := range x {
			binary.LittleEndian.PutUint32(b[p:], math.Float32bits(float32(v)))
			p += 4
		}
	} else {
		for _, v := range x {
			binary.LittleEndian.PutUint64(b[p:], math.Float64bits(v))
			p += 8
		}
	}
	clear(b[p:])
	if _, err := w.bw.Write(b); err != nil {
		w.err = err
		return err
	}
	w.index = binary.AppendUvarint(w.index, uint64(len(id)))
	w.index = append(w.index, id...)
	w.index = binary.AppendUvarint(w.index, uint64(m))
	w.index = binary.AppendUvarint(w.index, uint64(w.off/8))
	w.index = binary.LittleEndian.AppendUint32(w.index, crc32.Checksum(b, castagnoli))
	for _, r := range rows {
		w.index = binary.AppendUvarint(w.index, uint64(r))
	}
	w.off += size
	w.users++
	w.samples += m
	return nil
}

// Close writes the index and trailer, syncs the file and renames it to its
// final path. After an error from Add, Close removes the temporary file and
// returns that error.
func (w *Writer) Close() (err error) {
	defer func() {
		if err != nil {
			w.f.Abort()
		}
	}()
	if w.err != nil {
		return w.err
	}
	indexOff := w.dataStart + w.off
	if _, err := w.bw.Write(w.index); err != nil {
		return err
	}
	if err := w.bw.Flush(); err != nil {
		return err
	}
	// Rewrite the header with the final counts.
	js := make([]byte, 0)
	hb := make([]byte, w.dataStart)
	if _, err := w.f.ReadAt(hb, 0); err != nil {
		return err
	}
	jl := binary.LittleEndian.Uint32(hb[fixedHeader-4:])
	js = append(js, hb[fixedHeader:fixedHeader+int(jl)]...)
	hdr := w.header(js, w.users, w.samples)
	if _, err := w.f.WriteAt(hdr, 0); err != nil {
		return err
	}
	t := make([]byte, 0, trailerSize)
	t = binary.LittleEndian.AppendUint64(t, uint64(indexOff))
	t = binary.LittleEndian.AppendUint64(t, uint64(len(w.index)))
	t = binary.LittleEndian.AppendUint32(t, crc32.Checksum(w.index, castagnoli))
	t = binary.LittleEndian.AppendUint32(t, crc32.Checksum(hdr, castagnoli))
	t = append(t, endMagic...)
	if _, err := w.f.WriteAt(t, indexOff+int64(len(w.index))); err != nil {
		return err
	}
	if err := w.f.Commit(); err != nil {
		return fmt.Errorf("pack: %w", err)
	}
	return nil
}

// Abort discards the file being written.
func (w *Writer) Abort() {
	w.f.Abort()
}

// WriteDataset packs ds into path.
func WriteDataset(path string, ds *dataset.Dataset, prec Precision) error {
	w, err := Create(path, ds.Features, ds.HasTarget, prec)
	if err != nil {
		return err
	}
	for i := range ds.Users {
		u := &ds.Users[i]
		if err := w.Add(u.ID, u.X, u.Y, u.Rows); err != nil {
			w.Abort()
			return err
		}
	}
	return w.Close()
}

var _ io.Closer = (*Writer)(nil)
