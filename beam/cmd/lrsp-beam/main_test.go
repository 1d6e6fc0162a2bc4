package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
)

// TestSplitArgs checks that lrsp's flags are told apart from Beam's, so
// that Beam's --update does not take lrsp's (--update cg used to fail with
// "unexpected arguments"), and that --step-size is renamed --dp-step.
func TestSplitArgs(t *testing.T) {
	if flag.CommandLine.Lookup("update") == nil {
		t.Fatal("Beam defines no --update: the shadowing this guards against cannot happen")
	}
	isBool := func(name string) bool {
		f := flag.CommandLine.Lookup(name)
		return f != nil && isBoolValue(f.Value)
	}
	for _, tc := range []struct {
		args, lrsp, beam []string
		warn             string
	}{
		{args: []string{"--update", "cg", "--project", "p", "--rank", "5", "-update=gradient", "--dp-noiseless"},
			lrsp: []string{"--update", "cg", "--rank", "5", "-update=gradient", "--dp-noiseless"},
			beam: []string{"--project", "p"}},
		{args: []string{"--step-size", "0.5", "--step-size=2", "extra"},
			lrsp: []string{"--dp-step", "0.5", "--dp-step=2", "extra"},
			warn: strings.Repeat("lrsp-beam: --step-size is now --dp-step; the old name will be removed\n", 2)},
		{args: []string{"--environment_type", "LOOPBACK", "-h"}, lrsp: []string{"-h"},
			beam: []string{"--environment_type", "LOOPBACK"}},
	} {
		var f trainFlags
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		f.register(fs)
		var warn bytes.Buffer
		lrsp, beam := splitArgs(fs, tc.args, isBool, &warn)
		if !reflect.DeepEqual(lrsp, tc.lrsp) || !reflect.DeepEqual(beam, tc.beam) || warn.String() != tc.warn {
			t.Errorf("splitArgs(%q) = %q, %q, warning %q; want %q, %q, %q", tc.args, lrsp, beam, warn.String(), tc.lrsp, tc.beam, tc.warn)
		}
	}
}

// TestUsage checks that the help lists lrsp's flags, not Beam's.
func TestUsage(t *testing.T) {
	var f trainFlags
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	f.register(fs)
	var b bytes.Buffer
	printUsage(&b, fs)
	out := b.String()
	for _, want := range []string{"-data string", "-rank int", "-dp-step float", "-update string", "--help-beam"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q:\n%s", want, out)
		}
	}
	for _, avoid := range []string{"step-size float", "-environment_type string", "-staging_location string"} {
		if strings.Contains(out, avoid) {
			t.Errorf("help shows %q:\n%s", avoid, out)
		}
	}
}

// TestUpdateFlag checks that --update names what lrsp-beam runs.
func TestUpdateFlag(t *testing.T) {
	err := run(context.Background(), &trainFlags{update: "cg"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `--update "cg": lrsp-beam runs the gradient update of U only`) {
		t.Errorf("--update cg: %v", err)
	}
}
