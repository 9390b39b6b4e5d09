package verify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxJSONDepth bounds how deeply arrays and objects may nest in an envelope or in its
// statement. In-toto statements, SLSA provenance and CycloneDX SBOMs stay far below it.
const MaxJSONDepth = 64

// MaxSignatures bounds the signatures of one envelope, and so the work one envelope can
// cause: each signature is checked against every trusted key.
const MaxSignatures = 16

// keyRule refuses an object key at a path (the keys of the enclosing objects, "[]" for
// an array element; empty at the top level).
type keyRule func(path []string, key string) error

// checkJSON refuses, before anything decodes doc, what two JSON parsers could read
// differently: invalid UTF-8, escaped lone surrogates (encoding/json turns them into
// U+FFFD, others keep or refuse them), an object key given twice (some parsers keep the
// first, others the last), nesting deeper than MaxJSONDepth, and anything after the one
// value. rule, if not nil, sees every key with its path. what names the document in
// errors.
func checkJSON(what string, doc []byte, rule keyRule) error {
	if !utf8.Valid(doc) {
		return fmt.Errorf("%s is not valid UTF-8 (at byte %d)", what, invalidUTF8At(doc))
	}
	type frame struct {
		object bool
		keys   map[string]struct{}
		key    string // the object's current key, awaiting its value
		isKey  bool   // the next string token is a key
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber() // numbers are not converted, so none is refused for its range
	var stack []frame
	var path []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if len(stack) != 0 {
				return fmt.Errorf("%s ends inside an %s", what, kind(stack[len(stack)-1].object))
			}
			return fmt.Errorf("%s is empty", what)
		}
		if err != nil {
			return fmt.Errorf("%s is not JSON: %v", what, err)
		}
		top := len(stack) - 1
		if top >= 0 && stack[top].object && stack[top].isKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:top]
				if len(path) > 0 {
					path = path[:len(path)-1]
				}
				if len(stack) == 0 {
					break
				}
				continue
			}
			key, ok := tok.(string)
			if !ok { // the decoder allows only strings here
				return fmt.Errorf("%s has a non-string object key at %s", what, where(path))
			}
			if _, dup := stack[top].keys[key]; dup {
				return fmt.Errorf("%s has the key %q twice (at %s), and parsers disagree on which one counts",
					what, key, where(path))
			}
			if rule != nil {
				if err := rule(path, key); err != nil {
					return fmt.Errorf("%s: %w", what, err)
				}
			}
			stack[top].keys[key] = struct{}{}
			stack[top].key, stack[top].isKey = key, false
			continue
		}
		// A value: in an object, the next token is a key again.
		if top >= 0 && stack[top].object {
			stack[top].isKey = true
		}
		d, ok := tok.(json.Delim)
		if !ok {
			if len(stack) == 0 {
				break // a lone scalar
			}
			continue
		}
		switch d {
		case '{', '[':
			if len(stack) == MaxJSONDepth {
				return fmt.Errorf("%s nests deeper than %d levels (at %s)", what, MaxJSONDepth, where(path))
			}
			if top >= 0 {
				if stack[top].object {
					path = append(path, stack[top].key)
				} else {
					path = append(path, "[]")
				}
			}
			f := frame{object: d == '{'}
			if f.object {
				f.keys, f.isKey = map[string]struct{}{}, true
			}
			stack = append(stack, f)
		case ']':
			stack = stack[:top]
			if len(path) > 0 {
				path = path[:len(path)-1]
			}
		}
		if len(stack) == 0 {
			break
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%s has data after its value", what)
	}
	return checkSurrogates(what, doc)
}

// checkSurrogates refuses \u escapes that do not form a Unicode scalar value. doc is
// valid JSON.
func checkSurrogates(what string, doc []byte) error {
	in := false
	for i := 0; i < len(doc); i++ {
		c := doc[i]
		switch {
		case c == '"':
			in = !in
		case in && c == '\\':
			i++
			if doc[i] != 'u' {
				continue
			}
			r := hex4(doc[i+1 : i+5])
			i += 4
			if !utf16.IsSurrogate(r) {
				continue
			}
			if r < 0xdc00 && i+6 < len(doc) && doc[i+1] == '\\' && doc[i+2] == 'u' {
				if lo := hex4(doc[i+3 : i+7]); utf16.DecodeRune(r, lo) != utf8.RuneError {
					i += 6
					continue
				}
			}
			return fmt.Errorf("%s escapes a lone UTF-16 surrogate (\\u%04x at byte %d), which is not a character", what, r, i-5)
		}
	}
	return nil
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

func kind(object bool) string {
	if object {
		return "object"
	}
	return "array"
}

func where(path []string) string {
	if len(path) == 0 {
		return "the top level"
	}
	return strings.Join(path, ".")
}

// envelopeKeys refuses envelope keys that encoding/json would take for a DSSE field
// though they are spelled differently ("Payload", "ſig" with a long s): it matches
// field names case-insensitively, so {"payload":A,"Payload":B} is a duplicate to it and
// two different keys to a parser that matches exactly.
func envelopeKeys(path []string, key string) error {
	var fields []string
	switch {
	case len(path) == 0:
		fields = []string{"payload", "payloadType", "signatures"}
	case len(path) == 2 && path[0] == "signatures" && path[1] == "[]":
		fields = []string{"keyid", "sig"}
	}
	for _, f := range fields {
		if key != f && strings.EqualFold(key, f) {
			return fmt.Errorf("key %q at %s differs from the DSSE field %q only by case, which some parsers ignore", key, where(path), f)
		}
	}
	return nil
}

// statementKeys refuses protobuf's field names for statement fields whose JSON name
// differs: protojson accepts "predicate_type" for "predicateType", a consumer reading
// the JSON names sees no predicate type at all.
func statementKeys(path []string, key string) error {
	var aliases map[string]string
	switch {
	case len(path) == 0:
		aliases = map[string]string{"type": "_type", "predicate_type": "predicateType"}
	case len(path) == 2 && path[0] == "subject" && path[1] == "[]":
		aliases = map[string]string{"download_location": "downloadLocation", "media_type": "mediaType"}
	}
	if name, ok := aliases[key]; ok {
		return fmt.Errorf("key %q at %s is protobuf's name for %q; only the JSON name is accepted", key, where(path), name)
	}
	return nil
}
