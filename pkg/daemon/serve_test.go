package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOK   bool
		wantOut  string // in the flag set's output
	}{
		{"flags", []string{"-nats", "nats://n:4222"}, 0, true, ""},
		{"help", []string{"-h"}, 0, false, "Usage: svc [flags]"},
		{"unknown flag", []string{"-bogus"}, ExitUsage, false, "flag provided but not defined: -bogus"},
		{"bad value", []string{"-replicas", "many"}, ExitUsage, false, `invalid value "many" for flag -replicas`},
		{"argument", []string{"-nats", "nats://n:4222", "extra"}, ExitUsage, false, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			c := Common{Name: "svc", Uses: UsesReplicas}
			fs := NewFlagSet("svc", &out)
			c.RegisterFlags(fs)
			code, ok := ParseFlags(fs, tt.args)
			if code != tt.wantCode || ok != tt.wantOK {
				t.Errorf("ParseFlags = %d, %v; want %d, %v (output %q)", code, ok, tt.wantCode, tt.wantOK, out.String())
			}
			if tt.wantOut == "" && out.Len() != 0 {
				t.Errorf("output %q, want none", out.String())
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("output %q does not contain %q", out.String(), tt.wantOut)
			}
			if tt.wantOK && c.NATSURL != "nats://n:4222" {
				t.Errorf("NATSURL = %q after parsing", c.NATSURL)
			}
		})
	}
}

func TestRunLogsToStderrAndReturnsCode(t *testing.T) {
	var stderr bytes.Buffer
	code := Run(context.Background(), &stderr, "svc", func() error { return nil },
		func(ctx context.Context, log *slog.Logger) error {
			log.InfoContext(ctx, "started")
			return errors.New("boom")
		})
	if code != ExitRunError {
		t.Errorf("code %d, want %d", code, ExitRunError)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("stderr = %q, want two JSON records", stderr.String())
	}
	var started, stopped map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &started); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &stopped); err != nil {
		t.Fatal(err)
	}
	if started["msg"] != "started" || started["service"] != "svc" {
		t.Errorf("first record = %v", started)
	}
	if stopped["msg"] != "svc stopped" || stopped["error"] != "boom" {
		t.Errorf("second record = %v", stopped)
	}
}
