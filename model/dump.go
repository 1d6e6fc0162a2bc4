package model

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Dump is a model's parameters in the JSON layout of the truth file of
// synthetic data (U as d rows of r numbers, every user's w and the
// non-zeros of b by feature position), with the model's method, features,
// configuration and privacy ledger. It is what lrsp inspect --json prints.
type Dump struct {
	Method   string              `json:"method"`
	D        int                 `json:"d"`
	R        int                 `json:"r"`
	K        int                 `json:"k"`
	Features []string            `json:"features"`
	U        [][]float64         `json:"U"`
	Theta0   []float64           `json:"theta0,omitempty"`
	Users    map[string]UserDump `json:"users"`
	Config   *Config             `json:"config,omitempty"`
	Privacy  *Ledger             `json:"privacy,omitempty"`
}

// UserDump is one user's parameters in a Dump: W, and the non-zeros of
// b_i keyed by the decimal position of their feature.
type UserDump struct {
	W []float64          `json:"w"`
	B map[string]float64 `json:"b"`
}

// Dump returns the parameters of m in the layout of Dump. The rows of
// Dump.U, every W and Features share memory with m; Config is nil when m
// records no configuration.
func (m *Model) Dump() Dump {
	d := Dump{Method: m.Method, D: m.Dim, R: m.Rank, K: m.Sparsity, Features: m.Features, Theta0: m.Theta0,
		U: make([][]float64, m.Dim), Users: make(map[string]UserDump, len(m.Users)), Privacy: m.Privacy}
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
		d.Users[u.ID] = UserDump{W: u.W, B: b}
	}
	return d
}

// Fields returns the fields of c that its JSON encoding holds, by JSON
// name, each as its JSON text (a string field keeps its quotes). The
// version is c.Version as read (1 for a configuration read from a file of
// an earlier release) rather than the version the encoding would write,
// unless c.Version is 0.
func (c Config) Fields() (map[string]string, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("model: config fields: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("model: config fields: %w", err)
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		out[k] = string(v)
	}
	if c.Version != 0 {
		out["version"] = strconv.Itoa(c.Version)
	}
	return out, nil
}
