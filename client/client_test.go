package client

import (
	"strings"
	"testing"
)

func TestNewRefusesBadURL(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"127.0.0.1:8080", "server URL"},
		{"localhost:8080", "want http://HOST:PORT"},
		{"ftp://host/", "want http://HOST:PORT"},
		{"http://", "want http://HOST:PORT"},
		{"http://[::1", "server URL"},
	} {
		if _, err := New(tc.url, Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%q): %v, want an error containing %q", tc.url, err, tc.want)
		}
	}
	if _, err := New("http://127.0.0.1:8080", Options{Protocol: GRPC}); err != nil {
		t.Fatal(err)
	}
}
