package oci_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/custody-dev/custody/pkg/oci"
)

// A registry reached by a non-loopback name over plain HTTP works only when listed.
func TestInsecureTransport(t *testing.T) {
	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	_, port, _ := strings.Cut(addr, ":")
	host := "registry.internal.test:" + port
	// Resolve the made-up name to the test server.
	dial := &http.Transport{DialContext: (&dialer{to: addr}).DialContext}
	img, _ := random.Image(64, 1)
	ref, _ := name.NewTag(host + "/app:v1")

	if err := remote.Write(ref, img, remote.WithTransport(dial)); err == nil {
		t.Fatal("push over https to a plain-HTTP registry succeeded without the allow-list")
	}
	if err := remote.Write(ref, img, remote.WithTransport(oci.InsecureTransport([]string{host}, dial))); err != nil {
		t.Fatalf("push with the allow-list: %v", err)
	}
	if _, err := oci.ParseHostList("ok:5000, also.ok ,bad/path"); err == nil {
		t.Error("ParseHostList accepted a path")
	}
	if hs, err := oci.ParseHostList("a:5000, b"); err != nil || len(hs) != 2 {
		t.Errorf("ParseHostList = %v, %v", hs, err)
	}
}

type dialer struct{ to string }

func (d *dialer) DialContext(ctx context.Context, network, _ string) (net.Conn, error) {
	var nd net.Dialer
	return nd.DialContext(ctx, network, d.to)
}
