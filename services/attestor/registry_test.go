package attestor_test

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/oci/ocitest"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
)

// The attestor keeps one registry client: attaching to several images of a repository
// pings the registry (GET /v2/, where the client learns how to authenticate) once per
// client, not once per attachment.
func TestRegistryClientIsReused(t *testing.T) {
	f := newFixture(t)
	var pings atomic.Int64
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			pings.Add(1)
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")

	const images = 4
	var digests []string
	for range images {
		digests = append(digests, ocitest.PushRandomImage(t, host+"/team/app").DigestStr())
	}
	pings.Store(0)
	for i, d := range digests {
		f.publish(events.Event{Type: events.TypeBuildCompleted, Subject: d, Data: &eventsv1.BuildCompleted{
			Image: host + "/team/app@" + d, Digest: d, SourceRepository: "https://git.example.com/team/app",
			Commit: strings.Repeat("0", 39) + string(rune('1'+i)), BuilderId: "https://ci.example.com/runner",
		}})
	}
	for range images {
		f.nextSigned()
	}
	// One ping for the pulling client and one for the pushing one; a client made per
	// attachment would ping at least twice per image.
	if n := pings.Load(); n > 2 {
		t.Errorf("%d registry pings for %d attachments, want at most 2", n, images)
	}
}
