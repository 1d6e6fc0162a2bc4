package main

import (
	"fmt"
	"runtime/pprof"

	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/internal/atomicfile"
)

// addCPUProfileFlag adds the hidden --cpu-profile flag to c, for profiling
// training, the server and the load generator (loadtest/bench.sh uses it).
func addCPUProfileFlag(c *cobra.Command, path *string) {
	c.Flags().StringVar(path, "cpu-profile", "", "write a CPU profile (pprof) of the whole run to this file")
	c.Flags().MarkHidden("cpu-profile")
}

// startCPUProfile starts a CPU profile to be written to path when the
// returned stop is called; with an empty path it does nothing. The profile
// goes to a temporary file that stop renames to path, so that an
// interrupted run leaves no partial profile. Calls of stop after the first
// do nothing.
func startCPUProfile(path string) (stop func() error, err error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	t, err := atomicfile.CreateTemp(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(t); err != nil {
		t.Abort()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	stopped := false
	return func() error {
		if stopped {
			return nil
		}
		stopped = true
		pprof.StopCPUProfile()
		if err := t.Commit(); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		return nil
	}, nil
}
