package sqlite

import (
	"context"
	"path/filepath"
	"testing"
)

// TestConnectionSettings checks the per-connection settings on several pooled
// connections at once: temporary storage in memory, and the page cache WithCacheSize
// asks for (SQLite's default without it).
func TestConnectionSettings(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      []Option
		wantCache int
	}{
		{"default", nil, -2000},
		{"WithCacheSize(48)", []Option{WithCacheSize(48)}, -48 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s, err := Open(ctx, filepath.Join(t.TempDir(), "ledger.db"), tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for i := range 3 {
				conn, err := s.db.Conn(ctx) // held, so that the next is another connection
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				var cache, temp int
				if err := conn.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&cache); err != nil || cache != tc.wantCache {
					t.Errorf("connection %d: cache_size = %d, %v; want %d", i, cache, err, tc.wantCache)
				}
				if err := conn.QueryRowContext(ctx, "PRAGMA temp_store").Scan(&temp); err != nil || temp != 2 {
					t.Errorf("connection %d: temp_store = %d, %v; want 2 (memory)", i, temp, err)
				}
			}
		})
	}
	if _, err := Open(context.Background(), filepath.Join(t.TempDir(), "x.db"), WithCacheSize(0)); err == nil {
		t.Error("Open(WithCacheSize(0)) succeeded; want an error")
	}
}
