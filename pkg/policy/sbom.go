package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/go-json-experiment/json/jsontext"
)

// sbomLicenses checks a CycloneDX document's format and returns its components'
// distinct license ids, names or expressions, in the order a walk of the components
// (each component's licenses, then its own components) first meets them.
//
// It reads the document as a stream of tokens and skips what it does not need, rather
// than decoding it (an SBOM is mostly names, versions, purls and properties): a 20 KB
// SBOM costs about a third of decoding it with encoding/json/v2. It accepts and
// refuses exactly what that decoding into the CycloneDX fields it reads would
// (names matched exactly, duplicate names refused, wrong types refused, null as
// absent); FuzzSBOMLicenses checks it against the decoding.
func sbomLicenses(predicate []byte) ([]string, error) {
	// A bytes.Buffer, which the decoder reads in place.
	s := sbomScan{dec: jsontext.NewDecoder(bytes.NewBuffer(predicate))}
	format, spec, err := s.document()
	if err != nil {
		return nil, fmt.Errorf("not a CycloneDX JSON document: %s", truncate(err.Error()))
	}
	switch {
	case format == nil || *format != "CycloneDX":
		return nil, errors.New(`bomFormat: want "CycloneDX"`)
	case spec == nil || *spec == "":
		return nil, errors.New("specVersion: missing")
	case s.tooDeep:
		return nil, fmt.Errorf("components nested deeper than %d", maxSBOMDepth)
	case s.components > maxSBOMComponents:
		return nil, fmt.Errorf("more than %d components", maxSBOMComponents)
	}
	out := make([]string, 0, 8)
	seen := make(map[string]bool, 8)
	for _, v := range s.licenses {
		if v == "" || seen[v] {
			continue
		}
		if len(out) >= maxLicenses {
			return nil, fmt.Errorf("more than %d distinct licenses", maxLicenses)
		}
		seen[v] = true
		out = append(out, v)
	}
	return out, nil
}

// sbomScan walks a CycloneDX document's tokens.
type sbomScan struct {
	dec *jsontext.Decoder
	// licenses are every component's license values in walk order, repeats included.
	licenses   []string
	components int
	tooDeep    bool
	// strings holds one copy of each license value read.
	strings map[string]string
	// stop is set once a bound is passed: the rest is still read, for its syntax and
	// types, but no longer collected.
	stop bool
}

// document reads the top-level object: bomFormat, specVersion and components.
func (s *sbomScan) document() (format, spec *string, err error) {
	tok, err := s.dec.ReadToken()
	if err != nil {
		return nil, nil, err
	}
	switch tok.Kind() {
	case 'n':
		return nil, nil, s.end()
	case '{':
	default:
		return nil, nil, fmt.Errorf("a %s, not an object", tok.Kind())
	}
	for s.dec.PeekKind() != '}' {
		name, err := s.name()
		if err != nil {
			return nil, nil, err
		}
		switch string(name) {
		case "bomFormat":
			if format, err = s.optString("bomFormat"); err != nil {
				return nil, nil, err
			}
		case "specVersion":
			if spec, err = s.optString("specVersion"); err != nil {
				return nil, nil, err
			}
		case "components":
			if err := s.componentList(0); err != nil {
				return nil, nil, err
			}
		default:
			if err := s.dec.SkipValue(); err != nil {
				return nil, nil, err
			}
		}
	}
	if _, err := s.dec.ReadToken(); err != nil {
		return nil, nil, err
	}
	return format, spec, s.end()
}

func (s *sbomScan) end() error {
	if _, err := s.dec.ReadToken(); err == nil {
		return errors.New("data after the document")
	} else if !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// name reads an object member's name, without copying it unless it has escapes. The
// bytes are valid until the next read.
func (s *sbomScan) name() ([]byte, error) {
	raw, err := s.dec.ReadValue()
	if err != nil {
		return nil, err
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw[1 : len(raw)-1], nil
	}
	return jsontext.AppendUnquote(nil, raw)
}

// open reads the start of a value that must be an array or an object (kind), or null:
// it reports whether the value is there (false for null).
func (s *sbomScan) open(what string, kind jsontext.Kind) (bool, error) {
	tok, err := s.dec.ReadToken()
	if err != nil {
		return false, err
	}
	switch tok.Kind() {
	case 'n':
		return false, nil
	case kind:
		return true, nil
	}
	return false, fmt.Errorf("%s: a JSON %s, not %s", what, tok.Kind(), kindName(kind))
}

func kindName(k jsontext.Kind) string {
	if k == '[' {
		return "an array"
	}
	return "an object"
}

// optString reads a string or null (nil).
func (s *sbomScan) optString(what string) (*string, error) {
	b, ok, err := s.rawString(what)
	if !ok || err != nil {
		return nil, err
	}
	v := string(b)
	return &v, nil
}

// rawString reads a string, unquoted (valid until the next read), or null (ok false).
func (s *sbomScan) rawString(what string) (b []byte, ok bool, err error) {
	raw, err := s.dec.ReadValue()
	if err != nil {
		return nil, false, err
	}
	switch raw.Kind() {
	case 'n':
		return nil, false, nil
	case '"':
		if bytes.IndexByte(raw, '\\') < 0 {
			return raw[1 : len(raw)-1], true, nil
		}
		b, err := jsontext.AppendUnquote(nil, raw)
		return b, err == nil, err
	}
	return nil, false, fmt.Errorf("%s: a JSON %s, not a string", what, raw.Kind())
}

// str reads a string member whose null means "", as one string per distinct value (an
// SBOM names few licenses many times).
func (s *sbomScan) str(what string) (string, error) {
	b, ok, err := s.rawString(what)
	if !ok || err != nil || len(b) == 0 {
		return "", err
	}
	if v, ok := s.strings[string(b)]; ok {
		return v, nil
	}
	v := string(b)
	if s.strings == nil {
		s.strings = map[string]string{}
	}
	if len(s.strings) < maxLicenses {
		s.strings[v] = v
	}
	return v, nil
}

// componentList reads a components array at depth (0 for the document's own).
func (s *sbomScan) componentList(depth int) error {
	ok, err := s.open("components", '[')
	if !ok || err != nil {
		return err
	}
	if depth >= maxSBOMDepth && s.dec.PeekKind() != ']' {
		s.tooDeep, s.stop = true, true
	}
	for s.dec.PeekKind() != ']' {
		if s.components++; s.components > maxSBOMComponents {
			s.stop = true
		}
		if err := s.component(depth); err != nil {
			return err
		}
	}
	_, err = s.dec.ReadToken()
	return err
}

// component reads one component: its licenses, then (wherever they stand in the object)
// its own components, so that its licenses come before theirs.
func (s *sbomScan) component(depth int) error {
	ok, err := s.open("component", '{')
	if !ok || err != nil {
		return err
	}
	// children is where the licenses of this component's own components begin, when
	// they came first in the object; -1 until then.
	children := -1
	for s.dec.PeekKind() != '}' {
		name, err := s.name()
		if err != nil {
			return err
		}
		switch string(name) {
		case "licenses":
			if children < 0 {
				if err := s.licenseList(); err != nil {
					return err
				}
				continue
			}
			// Move this component's licenses in front of its components'.
			mark := len(s.licenses)
			if err := s.licenseList(); err != nil {
				return err
			}
			own := slices.Clone(s.licenses[mark:])
			s.licenses = slices.Insert(s.licenses[:mark], children, own...)
		case "components":
			if children < 0 {
				children = len(s.licenses)
			}
			if err := s.componentList(depth + 1); err != nil {
				return err
			}
		default:
			if err := s.dec.SkipValue(); err != nil {
				return err
			}
		}
	}
	_, err = s.dec.ReadToken()
	return err
}

// licenseList reads a component's licenses: each {"license": {"id"|"name"}} (the id,
// else the name) or {"expression"}.
func (s *sbomScan) licenseList() error {
	ok, err := s.open("licenses", '[')
	if !ok || err != nil {
		return err
	}
	for s.dec.PeekKind() != ']' {
		v, err := s.license()
		if err != nil {
			return err
		}
		if v != "" && !s.stop {
			s.licenses = append(s.licenses, v)
		}
	}
	_, err = s.dec.ReadToken()
	return err
}

func (s *sbomScan) license() (string, error) {
	ok, err := s.open("license choice", '{')
	if !ok || err != nil {
		return "", err
	}
	var (
		expression, id, name string
		hasLicense           bool
	)
	for s.dec.PeekKind() != '}' {
		member, err := s.name()
		if err != nil {
			return "", err
		}
		switch string(member) {
		case "expression":
			if expression, err = s.str("expression"); err != nil {
				return "", err
			}
		case "license":
			if hasLicense, err = s.open("license", '{'); err != nil {
				return "", err
			}
			if !hasLicense {
				id, name = "", ""
				continue
			}
			id, name = "", ""
			for s.dec.PeekKind() != '}' {
				field, err := s.name()
				if err != nil {
					return "", err
				}
				switch string(field) {
				case "id":
					id, err = s.str("id")
				case "name":
					name, err = s.str("name")
				default:
					err = s.dec.SkipValue()
				}
				if err != nil {
					return "", err
				}
			}
			if _, err := s.dec.ReadToken(); err != nil {
				return "", err
			}
		default:
			if err := s.dec.SkipValue(); err != nil {
				return "", err
			}
		}
	}
	if _, err := s.dec.ReadToken(); err != nil {
		return "", err
	}
	if hasLicense {
		if id != "" {
			return id, nil
		}
		return name, nil
	}
	return expression, nil
}
