package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/internal/version"
	"github.com/lrsp/lrsp/model"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of lrsp (also: lrsp --version)",
		Long: `version prints the lrsp module version, the commit the binary was built from
(when built inside a checkout), and the Go toolchain. Model files record the
first line as config "software" (see lrsp inspect).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			v := version.Read()
			w := c.OutOrStdout()
			fmt.Fprintln(w, v)
			if v.Revision != "" {
				modified := ""
				if v.Modified {
					modified = " with uncommitted changes"
				}
				fmt.Fprintf(w, "commit  %s (%s)%s\n", v.Revision, v.Time, modified)
			}
			fmt.Fprintf(w, "go      %s\n", v.GoVersion)
			return nil
		},
	}
}

// saveModel records this lrsp's version in m (model.Config.Software) and
// writes m to path (see model.Save).
func saveModel(ctx context.Context, path string, m *model.Model) error {
	m.Config.Software = version.Read().String()
	return model.SaveContext(ctx, path, m)
}
