package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	jsonv2 "github.com/go-json-experiment/json"
)

// decodedSBOMLicenses is the reference sbomLicenses is checked against: the CycloneDX
// fields decoded with encoding/json/v2, then walked (as sbomLicenses was written before
// it scanned tokens).
func decodedSBOMLicenses(predicate []byte) ([]string, error) {
	type cdxLicense struct {
		License *struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"license"`
		Expression string `json:"expression"`
	}
	type cdxComponent struct {
		Licenses   []cdxLicense   `json:"licenses"`
		Components []cdxComponent `json:"components"`
	}
	var bom struct {
		BOMFormat   *string        `json:"bomFormat"`
		SpecVersion *string        `json:"specVersion"`
		Components  []cdxComponent `json:"components"`
	}
	if err := jsonv2.Unmarshal(predicate, &bom); err != nil {
		return nil, fmt.Errorf("not a CycloneDX JSON document: %s", err)
	}
	switch {
	case bom.BOMFormat == nil || *bom.BOMFormat != "CycloneDX":
		return nil, errors.New(`bomFormat: want "CycloneDX"`)
	case bom.SpecVersion == nil || *bom.SpecVersion == "":
		return nil, errors.New("specVersion: missing")
	}
	out := []string{}
	seen := map[string]bool{}
	components := 0
	var walk func([]cdxComponent, int) error
	walk = func(cs []cdxComponent, depth int) error {
		if depth > maxSBOMDepth {
			return fmt.Errorf("components nested deeper than %d", maxSBOMDepth)
		}
		for _, c := range cs {
			if components++; components > maxSBOMComponents {
				return fmt.Errorf("more than %d components", maxSBOMComponents)
			}
			for _, l := range c.Licenses {
				v := l.Expression
				if l.License != nil {
					v = l.License.ID
					if v == "" {
						v = l.License.Name
					}
				}
				if v == "" || seen[v] {
					continue
				}
				if len(out) >= maxLicenses {
					return fmt.Errorf("more than %d distinct licenses", maxLicenses)
				}
				seen[v] = true
				out = append(out, v)
			}
			if err := walk(c.Components, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(bom.Components, 0); err != nil {
		return nil, err
	}
	return out, nil
}

// nestedSBOM is a CycloneDX document whose components nest depth lists deep, each
// component with one license.
func nestedSBOM(depth int) []byte {
	inner := `[]`
	for i := depth; i > 0; i-- {
		inner = fmt.Sprintf(`[{"licenses":[{"license":{"id":"L%d"}}],"components":%s}]`, i, inner)
	}
	return []byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":` + inner + `}`)
}

func manySBOM(components, distinct int) []byte {
	var b strings.Builder
	b.WriteString(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[`)
	for i := range components {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"name":"c%d","licenses":[{"license":{"id":"L%d"}}]}`, i, i%max(distinct, 1))
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

var sbomLicenseCases = []struct {
	name, doc string
	want      []string // nil: refused
}{
	{"licenses before components", `{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"licenses":[{"license":{"id":"MIT"}},{"expression":"MIT OR GPL-2.0-only"}],"components":[{"licenses":[{"license":{"name":"x"}}]}]}]}`,
		[]string{"MIT", "MIT OR GPL-2.0-only", "x"}},
	{"components before licenses", `{"components":[{"components":[{"licenses":[{"license":{"id":"B"}}]}],"licenses":[{"license":{"id":"A"}}]},{"licenses":[{"expression":"C"}]}],"specVersion":"1.5","bomFormat":"CycloneDX"}`,
		[]string{"A", "B", "C"}},
	{"id over name over expression", `{"bomFormat":"CycloneDX","specVersion":"1","components":[{"licenses":[{"expression":"E","license":{"name":"N"}},{"license":{"name":"N2","id":"I"}},{"license":null,"expression":"E2"},{"license":{},"expression":"E3"}]}]}`,
		[]string{"N", "I", "E2"}},
	{"repeats once", `{"bomFormat":"CycloneDX","specVersion":"1","components":[{"licenses":[{"license":{"id":"A"}},{"license":{"id":"A"}}]},{"licenses":[{"license":{"id":"A"}}]}]}`, []string{"A"}},
	{"nulls as absent", `{"bomFormat":"CycloneDX","specVersion":"1","components":[null,{"licenses":null,"components":null},{"licenses":[null,{"license":{"id":null,"name":"n"}}]}]}`, []string{"n"}},
	{"no components", `{"bomFormat":"CycloneDX","specVersion":"1"}`, []string{}},
	{"unknown members skipped", `{"bomFormat":"CycloneDX","specVersion":"1","metadata":{"component":{"licenses":[{"license":{"id":"X"}}]}},"components":[{"name":"c","properties":[{"name":"p","value":"v"}],"licenses":[{"license":{"id":"A","text":{"content":"..."}},"acknowledgement":"declared"}]}]}`, []string{"A"}},
	{"bomFormat SPDX", `{"bomFormat":"SPDX","specVersion":"1"}`, nil},
	{"bomFormat missing", `{"specVersion":"1"}`, nil},
	{"bomFormat null", `{"bomFormat":null,"specVersion":"1"}`, nil},
	{"bomFormat a number", `{"bomFormat":1,"specVersion":"1"}`, nil},
	{"specVersion empty", `{"bomFormat":"CycloneDX","specVersion":""}`, nil},
	{"names are exact", `{"BOMFormat":"CycloneDX","specVersion":"1"}`, nil},
	{"licenses a string", `{"bomFormat":"CycloneDX","specVersion":"1","components":[{"licenses":"MIT"}]}`, nil},
	{"components an object", `{"bomFormat":"CycloneDX","specVersion":"1","components":{}}`, nil},
	{"component a string", `{"bomFormat":"CycloneDX","specVersion":"1","components":["c"]}`, nil},
	{"license a string", `{"bomFormat":"CycloneDX","specVersion":"1","components":[{"licenses":[{"license":"MIT"}]}]}`, nil},
	{"id a number", `{"bomFormat":"CycloneDX","specVersion":"1","components":[{"licenses":[{"license":{"id":1}}]}]}`, nil},
	{"expression an array", `{"bomFormat":"CycloneDX","specVersion":"1","components":[{"licenses":[{"expression":[]}]}]}`, nil},
	{"duplicate member", `{"bomFormat":"CycloneDX","specVersion":"1","components":[{"licenses":[],"licenses":[]}]}`, nil},
	{"duplicate in a skipped member", `{"bomFormat":"CycloneDX","specVersion":"1","metadata":{"a":1,"a":2}}`, nil},
	{"not an object", `[]`, nil},
	{"null", `null`, nil},
	{"trailing data", `{"bomFormat":"CycloneDX","specVersion":"1"} {}`, nil},
	{"truncated", `{"bomFormat":"CycloneDX","specVersion":"1","components":[{"licenses":[{"license":{"id":"A"}}]}`, nil},
	{"nested to the limit", string(nestedSBOM(maxSBOMDepth)), nil /* filled below */},
	{"nested past the limit", string(nestedSBOM(maxSBOMDepth + 1)), nil},
	{"too many distinct licenses", string(manySBOM(maxLicenses+1, maxLicenses+1)), nil},
	{"many components, few licenses", string(manySBOM(maxLicenses+1, 3)), []string{"L0", "L1", "L2"}},
}

func TestSBOMLicenses(t *testing.T) {
	for _, c := range sbomLicenseCases {
		t.Run(c.name, func(t *testing.T) {
			want := c.want
			if c.name == "nested to the limit" {
				for i := 1; i <= maxSBOMDepth; i++ {
					want = append(want, fmt.Sprintf("L%d", i))
				}
			}
			got, err := sbomLicenses([]byte(c.doc))
			switch {
			case want == nil && err == nil:
				t.Fatalf("accepted, licenses %q; want refused", got)
			case want != nil && err != nil:
				t.Fatalf("refused: %v; want %q", err, want)
			case !slices.Equal(got, want):
				t.Fatalf("licenses %q, want %q", got, want)
			}
			checkAgainstDecoding(t, []byte(c.doc))
		})
	}
	if _, err := sbomLicenses(manySBOM(maxSBOMComponents+1, 1)); err == nil || !strings.Contains(err.Error(), "components") {
		t.Fatalf("%d components: %v, want refused", maxSBOMComponents+1, err)
	}
}

// checkAgainstDecoding fails when sbomLicenses and the decoding disagree about doc.
func checkAgainstDecoding(t *testing.T, doc []byte) {
	t.Helper()
	got, err := sbomLicenses(doc)
	want, werr := decodedSBOMLicenses(doc)
	switch {
	case (err == nil) != (werr == nil):
		t.Fatalf("token scan: %q, %v; decoding: %q, %v\ndocument: %.300s", got, err, want, werr, doc)
	case !slices.Equal(got, want):
		t.Fatalf("token scan: %q; decoding: %q\ndocument: %.300s", got, want, doc)
	}
}

// FuzzSBOMLicenses checks that the token scan accepts, refuses and lists exactly as
// decoding the document does.
func FuzzSBOMLicenses(f *testing.F) {
	for _, c := range sbomLicenseCases {
		if len(c.doc) < 4096 {
			f.Add([]byte(c.doc))
		}
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if !json.Valid(doc) {
			// Verification refuses what is not JSON before any policy reads it; both
			// still must not panic.
			_, _ = sbomLicenses(doc)
			return
		}
		checkAgainstDecoding(t, doc)
	})
}

func BenchmarkSBOMLicenses(b *testing.B) {
	doc := manySBOM(88, 12)
	for _, bench := range []struct {
		name string
		fn   func([]byte) ([]string, error)
	}{{"scan", sbomLicenses}, {"decode", decodedSBOMLicenses}} {
		b.Run(bench.name, func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				if _, err := bench.fn(doc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
