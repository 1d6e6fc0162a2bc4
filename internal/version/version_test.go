package version

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	vcs := []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"},
		{Key: "vcs.time", Value: "2026-12-01T17:00:00Z"}, {Key: "vcs.modified", Value: "true"}}
	for _, tc := range []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"release", debug.BuildInfo{Main: debug.Module{Path: Module, Version: "v1.2.0"}}, "lrsp v1.2.0"},
		{"checkout", debug.BuildInfo{Main: debug.Module{Path: Module, Version: "(devel)"}, Settings: vcs},
			"lrsp (devel) rev 0123456789ab, modified"},
		{"beam trainer", debug.BuildInfo{Main: debug.Module{Path: Module + "/beam", Version: "v0.3.0"}}, "lrsp v0.3.0"},
		{"library user", debug.BuildInfo{Main: debug.Module{Path: "example.com/app", Version: "v9.9.9"},
			Deps: []*debug.Module{{Path: "other", Version: "v1"}, {Path: Module, Version: "v1.4.0"}}}, "lrsp v1.4.0"},
		{"replaced", debug.BuildInfo{Main: debug.Module{Path: "example.com/app"},
			Deps: []*debug.Module{{Path: Module, Version: "v1.4.0", Replace: &debug.Module{Path: "../lrsp"}}}}, "lrsp v1.4.0"},
		{"nothing recorded", debug.BuildInfo{Main: debug.Module{Path: "example.com/app"}}, "lrsp unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := FromBuildInfo(&tc.bi).String(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	if got := FromBuildInfo(&debug.BuildInfo{Main: debug.Module{Path: Module}, Settings: vcs}); got.Time != "2026-12-01T17:00:00Z" || !got.Modified {
		t.Errorf("settings: %+v", got)
	}
}

func TestRead(t *testing.T) {
	// A test binary has build information; its main module is lrsp.
	if got := Read(); got.Version == "" || got.GoVersion == "" {
		t.Errorf("Read() = %+v", got)
	}
}
