// Package version reports which lrsp is running: the module version and
// the version-control revision that the Go toolchain embeds in every
// binary it builds (runtime/debug.ReadBuildInfo).
package version

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Module is the module path of lrsp.
const Module = "github.com/lrsp/lrsp"

// Info describes a build of lrsp. Fields that the build did not record are
// empty.
type Info struct {
	// Version is the module version: a tag such as "v1.2.0" or a
	// pseudo-version for a binary built by "go install module@version",
	// "(devel)" for one built inside a checkout.
	Version string
	// Revision is the version-control commit the binary was built from,
	// and Time its commit time (RFC 3339); both are recorded when building
	// inside a checkout with VCS stamping (the default).
	Revision, Time string
	// Modified says the checkout had uncommitted changes.
	Modified bool
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string
}

// Read returns the Info of the running binary, from its build information
// (see FromBuildInfo). A binary without build information gives an Info
// whose Version is "unknown".
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "unknown"}
	}
	return FromBuildInfo(bi)
}

// FromBuildInfo returns the Info that bi records for lrsp: the main
// module's when it is lrsp (or a module inside lrsp's tree, such as the
// Beam trainer's), else the version of the lrsp module that the main
// module depends on. The VCS settings describe the main module's checkout.
func FromBuildInfo(bi *debug.BuildInfo) Info {
	info := Info{GoVersion: bi.GoVersion}
	switch {
	case bi.Main.Path == Module || strings.HasPrefix(bi.Main.Path, Module+"/"):
		info.Version = bi.Main.Version
	default:
		for _, d := range bi.Deps {
			if d.Path == Module {
				if d.Replace != nil && d.Replace.Version != "" {
					d = d.Replace
				}
				info.Version = d.Version
			}
		}
	}
	if info.Version == "" {
		info.Version = "unknown"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// String returns the version in one line, as lrsp version prints it and
// model files record it: "lrsp v1.2.0", or for a development build
// "lrsp (devel) rev 0123456789ab" with ", modified" when the checkout had
// uncommitted changes.
func (i Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "lrsp %s", i.Version)
	if i.Revision != "" {
		fmt.Fprintf(&b, " rev %.12s", i.Revision)
		if i.Modified {
			b.WriteString(", modified")
		}
	}
	return b.String()
}
