package amhtbeam

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"io"
	"math"
	"path"
	"regexp"
	"slices"
	"strconv"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
)

// sumMagic starts a file of combined statistics.
const sumMagic = "LRSPSUM1"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func nan() float64 { return math.NaN() }

// writeSumFn writes the combined vector to Path: the magic, the length as
// a uint64, the values as little-endian float64 and a CRC-32C of all that.
type writeSumFn struct {
	Path string
}

func (f *writeSumFn) ProcessElement(ctx context.Context, v []float64) error {
	b := make([]byte, 0, len(sumMagic)+8+8*len(v)+4)
	b = append(b, sumMagic...)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(v)))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	return writeFile(ctx, f.Path, b)
}

// readSum reads a file written by writeSumFn and checks its length.
func readSum(ctx context.Context, name string, want int) ([]float64, error) {
	b, err := readFile(ctx, name, int64(len(sumMagic)+8+8*want+4))
	if err != nil {
		return nil, err
	}
	if len(b) < len(sumMagic)+12 || string(b[:len(sumMagic)]) != sumMagic {
		return nil, fmt.Errorf("%s: not a combined-statistics file", name)
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("%s: checksum mismatch", name)
	}
	n := binary.LittleEndian.Uint64(body[len(sumMagic):])
	if n != uint64(want) || len(body) != len(sumMagic)+8+8*want {
		return nil, fmt.Errorf("%s: %d values, want %d", name, n, want)
	}
	v := make([]float64, want)
	for j := range v {
		v[j] = math.Float64frombits(binary.LittleEndian.Uint64(body[len(sumMagic)+8+8*j:]))
	}
	return v, nil
}

// shardKeyFn assigns each fit to a shard by a hash of its ID and encodes it
// as a JSON line.
type shardKeyFn struct {
	Shards int
}

func (f *shardKeyFn) ProcessElement(fit Fit, emit func(int, string)) error {
	b, err := json.Marshal(fit)
	if err != nil {
		return fmt.Errorf("user %q: %w", fit.ID, err)
	}
	h := fnv.New32a()
	h.Write([]byte(fit.ID))
	emit(int(h.Sum32()%uint32(f.Shards)), string(b))
	return nil
}

// writeShardFn writes one shard of users' fits, sorted by line (so by ID),
// to Prefix-SSSSS-of-NNNNN.jsonl.
type writeShardFn struct {
	Prefix string
	Shards int
}

func (f *writeShardFn) ProcessElement(ctx context.Context, shard int, lines func(*string) bool) error {
	var all []string
	var line string
	for lines(&line) {
		all = append(all, line)
	}
	slices.Sort(all)
	var buf bytes.Buffer
	for _, l := range all {
		buf.WriteString(l)
		buf.WriteByte('\n')
	}
	return writeFile(ctx, ShardName(f.Prefix, shard, f.Shards), buf.Bytes())
}

// ShardName returns the name of shard i of n of the per-user output.
func ShardName(prefix string, i, n int) string {
	return fmt.Sprintf("%s-%05d-of-%05d.jsonl", prefix, i, n)
}

var shardPattern = regexp.MustCompile(`-([0-9]{5})-of-([0-9]{5})\.jsonl$`)

// shardFiles lists the shard files of prefix.
func shardFiles(ctx context.Context, fs filesystem.Interface, prefix string) ([]string, error) {
	names, err := fs.List(ctx, prefix+"-*-of-*.jsonl")
	if err != nil {
		return nil, fmt.Errorf("list %s-*: %w", prefix, err)
	}
	var out []string
	for _, n := range names {
		if m := shardPattern.FindStringSubmatch(n); m != nil && path.Base(n) == path.Base(ShardName(prefix, atoi(m[1]), atoi(m[2]))) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// maxLine bounds one JSON line of the per-user output.
const maxLine = 64 << 20

// ReadUserShards reads every user's fit from the sharded output written
// under prefix (local paths, or any scheme registered with Beam's
// filesystem package). It rejects a line that is not a fit and a shard
// count that disagrees between files.
func ReadUserShards(ctx context.Context, prefix string) ([]Fit, error) {
	fs, err := filesystem.New(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", prefix, err)
	}
	defer fs.Close()
	names, err := shardFiles(ctx, fs, prefix)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("read %s: no shard files %s", prefix, ShardName(prefix, 0, 0)[len(prefix):])
	}
	total := ""
	var fits []Fit
	for _, name := range names {
		n := shardPattern.FindStringSubmatch(name)[2]
		if total != "" && n != total {
			return nil, fmt.Errorf("read %s: shards of %s and %s users' outputs are mixed", prefix, total, n)
		}
		total = n
		if err := readShard(ctx, fs, name, &fits); err != nil {
			return nil, err
		}
	}
	return fits, nil
}

func readShard(ctx context.Context, fs filesystem.Interface, name string, fits *[]Fit) error {
	rc, err := fs.OpenRead(ctx, name)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for line := 1; sc.Scan(); line++ {
		var f Fit
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if f.ID == "" || len(f.Index) != len(f.Value) {
			return fmt.Errorf("%s:%d: a fit needs an id and as many index as value entries", name, line)
		}
		*fits = append(*fits, f)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	return nil
}

// removeShards removes earlier shard files of prefix, so that a shorter
// run cannot leave stale shards behind.
func removeShards(ctx context.Context, prefix string) error {
	fs, err := filesystem.New(ctx, prefix)
	if err != nil {
		return fmt.Errorf("users output %s: %w", prefix, err)
	}
	defer fs.Close()
	names, err := shardFiles(ctx, fs, prefix)
	if err != nil {
		return err
	}
	rm, ok := fs.(filesystem.Remover)
	if !ok && len(names) > 0 {
		return fmt.Errorf("users output %s: old shards exist and the filesystem cannot remove them", prefix)
	}
	for _, n := range names {
		if err := rm.Remove(ctx, n); err != nil {
			return fmt.Errorf("remove %s: %w", n, err)
		}
	}
	return nil
}

// writeFile writes b to name through Beam's filesystem; where the
// filesystem can rename (local files), it writes a temporary file first so
// that a reader never sees a partial file.
func writeFile(ctx context.Context, name string, b []byte) error {
	fs, err := filesystem.New(ctx, name)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	defer fs.Close()
	target := name
	rn, rename := fs.(filesystem.Renamer)
	if rename {
		target = name + ".tmp"
	}
	w, err := fs.OpenWrite(ctx, target)
	if err != nil {
		return fmt.Errorf("write %s: %w", target, err)
	}
	if _, err := w.Write(b); err != nil {
		w.Close()
		return fmt.Errorf("write %s: %w", target, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write %s: %w", target, err)
	}
	if rename {
		if err := rn.Rename(ctx, target, name); err != nil {
			return fmt.Errorf("rename %s: %w", target, err)
		}
	}
	return nil
}

// readFile reads at most limit bytes of name.
func readFile(ctx context.Context, name string, limit int64) ([]byte, error) {
	fs, err := filesystem.New(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	defer fs.Close()
	rc, err := fs.OpenRead(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("read %s: larger than the expected %d bytes", name, limit)
	}
	return b, nil
}

// removeFile removes a temporary file where the filesystem can; a failure
// leaves only a small file behind.
func removeFile(ctx context.Context, name string) {
	fs, err := filesystem.New(ctx, name)
	if err != nil {
		return
	}
	defer fs.Close()
	if rm, ok := fs.(filesystem.Remover); ok {
		_ = rm.Remove(ctx, name)
	}
}
