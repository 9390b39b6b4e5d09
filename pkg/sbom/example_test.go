package sbom_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/custody-dev/custody/pkg/sbom"
)

func ExampleScan() {
	// A one-layer image holding an Alpine package database. A real caller pulls the
	// image by digest: remote.Image(name.MustParseReference("registry/repo@sha256:...")).
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	for name, body := range map[string]string{
		"etc/os-release":       "ID=alpine\nVERSION_ID=3.20.3\n",
		"lib/apk/db/installed": "P:musl\nV:1.2.5-r0\nA:x86_64\no:musl\n\nP:busybox\nV:1.36.1-r29\nA:x86_64\no:busybox\n",
	} {
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body))})
		_, _ = tw.Write([]byte(body))
	}
	_ = tw.Close()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layer.Bytes())), nil
	})
	if err != nil {
		log.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		log.Fatal(err)
	}

	res, err := sbom.Scan(context.Background(), img, sbom.WithReference("registry.example/team/app"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Status, res.OS, res.Packages, res.Scanner)
	// Output: SCAN_STATUS_COMPLETE alpine 3.20.3 2 syft@v1.54.1
}
