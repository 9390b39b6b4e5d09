package imagefs_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/custody-dev/custody/pkg/imagefs"
)

func ExampleRead() {
	// A one-layer image; a real caller pulls one with remote.Image.
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	_ = tw.WriteHeader(&tar.Header{Name: "usr/lib/os-release", Mode: 0o644, Size: 8})
	_, _ = tw.Write([]byte("ID=demo\n"))
	_ = tw.WriteHeader(&tar.Header{Name: "etc/os-release", Typeflag: tar.TypeSymlink, Linkname: "../usr/lib/os-release"})
	_ = tw.Close()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layer.Bytes())), nil })
	if err != nil {
		log.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		log.Fatal(err)
	}

	fsys, err := imagefs.Read(context.Background(), img,
		imagefs.WithKeep(func(path string, size int64, head []byte) bool { return path == "/usr/lib/os-release" }))
	if err != nil {
		log.Fatal(err)
	}
	defer fsys.Close()
	e, _ := fsys.Resolve("/etc/os-release")
	rc, err := fsys.Open(e)
	if err != nil {
		log.Fatal(err)
	}
	_, _ = io.Copy(os.Stdout, rc)
	fmt.Println(e.Path, fsys.Stats().KeptFiles)
	// Output:
	// ID=demo
	// /usr/lib/os-release 1
}
