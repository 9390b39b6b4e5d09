package cli

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"
)

// syncBuffer is a bytes.Buffer safe for the meter's goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestProgressMeterCountsLayerBytes(t *testing.T) {
	img, err := random.Image(50_000, 3)
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	m := newProgressMeter(&out)
	metered := m.image(img)
	layers, err := metered.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var want int64
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, rc)
		if err != nil {
			t.Fatal(err)
		}
		rc.Close()
		want += n
	}
	if got := m.read.Load(); got != want || m.total.Load() != want || m.layers.Load() != 3 {
		t.Errorf("read %d of %d in %d layers, want %d of %d in 3", got, m.total.Load(), m.layers.Load(), want, want)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "3 layers") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	m.stop()
	m.stop()
	if s := out.String(); !strings.Contains(s, "scanning: ") || !strings.Contains(s, "3 layers") || !strings.HasSuffix(s, "\r\033[K") {
		t.Errorf("meter wrote %q", s)
	}
	var nilMeter *progressMeter
	if nilMeter.image(img) != img {
		t.Error("a nil meter changed the image")
	}
	nilMeter.stop()
}
