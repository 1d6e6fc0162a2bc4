package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/datafile"
	"github.com/lrsp/lrsp/model"
)

// inspectDump is the JSON of lrsp inspect --json: the layout of truth.json
// plus the model's metadata.
type inspectDump struct {
	Method   string                     `json:"method"`
	D        int                        `json:"d"`
	R        int                        `json:"r"`
	K        int                        `json:"k"`
	Features []string                   `json:"features"`
	U        [][]float64                `json:"U"`
	Theta0   []float64                  `json:"theta0,omitempty"`
	Users    map[string]inspectUserDump `json:"users"`
	Config   *model.Config              `json:"config,omitempty"`
	Privacy  *model.Ledger              `json:"privacy,omitempty"`
}

type inspectUserDump struct {
	W []float64          `json:"w"`
	B map[string]float64 `json:"b"`
}

func newInspectCmd() *cobra.Command {
	var in string
	var asJSON bool
	c := &cobra.Command{
		Use:     "inspect",
		Short:   "Summarise a model file, or dump it as JSON",
		Example: "  lrsp inspect --model model.lrsp\n  lrsp inspect --model model.lrsp --json > params.json",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			m, err := model.Load(in)
			if err != nil {
				return err
			}
			w := c.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				return enc.Encode(dump(m))
			}
			st, err := os.Stat(in)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "file        %s (%d bytes, format version %d)\n", in, st.Size(), model.Version)
			fmt.Fprintf(w, "method      %s\n", m.Method)
			fmt.Fprintf(w, "d, r, k     %d, %d, %d\n", m.Dim, m.Rank, m.Sparsity)
			fmt.Fprintf(w, "users       %d\n", len(m.Users))
			fmt.Fprintf(w, "bytes/user  %.1f (r + k numbers and k indices; a dense theta_i would be %d)\n", m.BytesPerUser(), 8*m.Dim)
			fmt.Fprintf(w, "features    %s\n", datafile.Short(m.Features))
			if !m.Config.IsZero() {
				cfg, err := configFields(m.Config)
				if err != nil {
					return err
				}
				for _, k := range slices.Sorted(maps.Keys(cfg)) {
					fmt.Fprintf(w, "config      %s = %s\n", k, cfg[k])
				}
			}
			if p := m.Privacy; p != nil {
				fmt.Fprintf(w, "privacy     (%.4g, %.3g)-DP, user level: %s, clip %g, noise multiplier %.4g, %d rounds, sample rate %g, accountant %s, init %s\n",
					p.Epsilon, p.Delta, p.Mechanism, p.Clip, p.NoiseMultiplier, p.Rounds, p.SampleRate, p.Accountant, p.Init)
			} else {
				fmt.Fprintf(w, "privacy     none (not trained with differential privacy)\n")
			}
			return nil
		},
	}
	c.Flags().StringVar(&in, "model", "", "model file (required)")
	c.Flags().BoolVar(&asJSON, "json", false, "dump U and every user's w and b as JSON, in the layout of truth.json")
	c.MarkFlagRequired("model")
	return c
}

func dump(m *model.Model) inspectDump {
	d := inspectDump{Method: m.Method, D: m.Dim, R: m.Rank, K: m.Sparsity, Features: m.Features, Theta0: m.Theta0,
		U: make([][]float64, m.Dim), Users: make(map[string]inspectUserDump, len(m.Users)), Privacy: m.Privacy}
	if !m.Config.IsZero() {
		d.Config = &m.Config
	}
	for j := range d.U {
		d.U[j] = m.U[j*m.Rank : (j+1)*m.Rank]
	}
	for _, u := range m.Users {
		b := make(map[string]float64, len(u.Index))
		for p, j := range u.Index {
			b[strconv.Itoa(int(j))] = u.Value[p]
		}
		d.Users[u.ID] = inspectUserDump{W: u.W, B: b}
	}
	return d
}

// configFields returns the fields of a configuration as their JSON texts,
// by JSON name.
func configFields(c model.Config) (map[string]string, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		out[k] = string(v)
	}
	return out, nil
}
