package pack

// OpenReadAt is Open without the memory map: Scan reads with ReadAt.
func OpenReadAt(path string) (*File, error) { return openFile(path, false) }

// Mapped reports whether Scan reads p through a memory map.
func Mapped(p *File) bool { return p.mem != nil }

// Verified reports whether a Scan of the mapped p has verified user i's
// checksum and would not verify it again.
func Verified(p *File, i int) bool {
	return p.verified != nil && p.verified[i/32].Load()&(1<<(i%32)) != 0
}

// DataStart returns the file offset of p's data section.
func DataStart(p *File) int64 { return p.dataStart }
