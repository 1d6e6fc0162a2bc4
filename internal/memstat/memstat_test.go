package memstat

import (
	"runtime"
	"strings"
	"testing"
)

func TestParseVmHWM(t *testing.T) {
	for _, tc := range []struct {
		name, status string
		want         uint64
	}{
		{"linux status", "Name:\tlrsp\nVmPeak:\t  20000 kB\nVmHWM:\t    1234 kB\nVmRSS:\t 1000 kB\n", 1234 * 1024},
		{"no line", "Name:\tlrsp\n", 0},
		{"not a number", "VmHWM:\t lots kB\n", 0},
		{"empty", "", 0},
	} {
		if got := parseKB(strings.NewReader(tc.status), "VmHWM:"); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	status := "VmHWM:\t    1234 kB\nRssAnon:\t  500 kB\nRssFile:\t  700 kB\n"
	if got := parseKB(strings.NewReader(status), "RssFile:"); got != 700*1024 {
		t.Errorf("RssFile: %d, want %d", got, 700*1024)
	}
}

func TestReadings(t *testing.T) {
	if Heap() == 0 {
		t.Error("Heap() = 0")
	}
	if rss := PeakRSS(); runtime.GOOS == "linux" && rss == 0 {
		t.Error("PeakRSS() = 0 on Linux")
	}
}
