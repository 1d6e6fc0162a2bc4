package pack

// OpenReadAt is Open without the memory map: Scan reads with ReadAt.
func OpenReadAt(path string) (*File, error) { return openFile(path, false) }

// Mapped reports whether Scan reads p through a memory map.
func Mapped(p *File) bool { return p.mem != nil }
