package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// group makes c, a command that only holds subcommands, refuse an unknown
// subcommand: "lrsp store imprt --model m" is an error naming "imprt" (with
// the subcommands it may have meant), not a complaint about --model or the
// help text with exit status 0. Without arguments c prints its help.
func group(c *cobra.Command) *cobra.Command {
	c.Args = cobra.ArbitraryArgs
	c.SuggestionsMinimumDistance = 2
	// The flags belong to the subcommand that was meant: let them through
	// so that the error is about the subcommand's name.
	c.FParseErrWhitelist = cobra.FParseErrWhitelist{UnknownFlags: true}
	c.RunE = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return c.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
		if s := c.SuggestionsFor(args[0]); len(s) > 0 {
			msg += fmt.Sprintf("; did you mean %s?", strings.Join(quoteAll(s), " or "))
		}
		var names []string
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				names = append(names, sub.Name())
			}
		}
		return fmt.Errorf("%s (the subcommands are %s)", msg, strings.Join(names, ", "))
	}
	return c
}

func quoteAll(s []string) []string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return q
}

// renamedKey is the annotation of a flag kept under its old name after a
// rename; its value is the new name.
const renamedKey = "lrsp-renamed-to"

// renamed marks the flag old of fs as the former name of the flag now
// called to: hidden from the help, and noted on standard error when used
// (see warnRenamed). pflag's own deprecation notice would go to the
// command's standard output, where it would spoil output such as
// lrsp compare --json.
func renamed(fs *pflag.FlagSet, old, to string) {
	fs.MarkHidden(old)
	fs.SetAnnotation(old, renamedKey, []string{to})
}

// warnRenamed writes a notice to c's standard error for every flag given
// by a name it was renamed from.
func warnRenamed(c *cobra.Command) {
	c.Flags().Visit(func(f *pflag.Flag) {
		if to := f.Annotations[renamedKey]; len(to) > 0 {
			fmt.Fprintf(c.ErrOrStderr(), "lrsp: --%s is now --%s; the old name will be removed\n", f.Name, to[0])
		}
	})
}
