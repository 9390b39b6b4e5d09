package verify

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
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
// first, others the last; escaped spellings of one key count as the same key), nesting
// deeper than MaxJSONDepth, and anything after the one value. rule, if not nil, sees
// every key with its path down to ruleDepth levels. what names the document in errors.
//
// The walk is jsontext's (github.com/go-json-experiment/json, the implementation of Go's
// encoding/json/v2), strict by default about UTF-8, surrogates and duplicate names; the
// UTF-8 and surrogate checks run first only so that their errors say where.
func checkJSON(what string, doc []byte, rule keyRule) error {
	if !utf8.Valid(doc) {
		return fmt.Errorf("%s is not valid UTF-8 (at byte %d)", what, invalidUTF8At(doc))
	}
	if err := checkSurrogates(what, doc); err != nil {
		return err
	}
	if len(bytes.TrimLeft(doc, " \t\r\n")) == 0 {
		return fmt.Errorf("%s is empty", what)
	}
	dec := jsontext.NewDecoder(bytes.NewBuffer(doc)) // a bytes.Buffer is read in place
	// names[d] is the last key read in the object at depth d (for rules and errors).
	var names [ruleDepth + 1]string
	for {
		tok, err := dec.ReadToken()
		if err != nil {
			return jsonError(what, dec, err)
		}
		depth := dec.StackDepth()
		switch tok.Kind() {
		case '{', '[':
			if depth > MaxJSONDepth {
				return fmt.Errorf("%s nests deeper than %d levels (at %s)", what, MaxJSONDepth, where(keyPath(dec, names[:], depth)))
			}
		case '"':
			if depth > ruleDepth {
				break
			}
			if k, n := dec.StackIndex(depth); k == '{' && n%2 == 1 {
				key := tok.String()
				if rule != nil {
					if err := rule(keyPath(dec, names[:], depth), key); err != nil {
						return fmt.Errorf("%s: %w", what, err)
					}
				}
				names[depth] = key
			}
		}
		if depth == 0 {
			break
		}
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return fmt.Errorf("%s has data after its value", what)
	}
	return nil
}

// ruleDepth is how deep key rules look: the statement's subjects and the envelope's
// signatures are at depth 2.
const ruleDepth = 3

// keyPath is the path of the object at depth: for each enclosing level, the key it is
// under, or "[]" for an array element. Levels deeper than ruleDepth are named "...".
func keyPath(dec *jsontext.Decoder, names []string, depth int) []string {
	path := make([]string, 0, depth)
	for d := 1; d < depth; d++ {
		switch {
		case d >= len(names):
			path = append(path, "...")
		case func() bool { k, _ := dec.StackIndex(d); return k == '[' }():
			path = append(path, "[]")
		default:
			path = append(path, names[d])
		}
	}
	return path
}

// jsonError says what is wrong with the document jsontext refused.
func jsonError(what string, dec *jsontext.Decoder, err error) error {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		if d := dec.StackDepth(); d > 0 {
			k, _ := dec.StackIndex(d)
			return fmt.Errorf("%s ends inside an %s", what, kind(k == '{'))
		}
		return fmt.Errorf("%s is empty", what)
	}
	var serr *jsontext.SyntacticError
	if errors.As(err, &serr) && errors.Is(serr.Err, jsontext.ErrDuplicateName) {
		tokens := slices.Collect(serr.JSONPointer.Tokens())
		if len(tokens) > 0 {
			// The pointer names the duplicate key; the levels above it say whether each
			// token is a key or an array index.
			path := make([]string, 0, len(tokens)-1)
			for i, t := range tokens[:len(tokens)-1] {
				if k, _ := dec.StackIndex(i + 1); k == '[' {
					t = "[]"
				}
				path = append(path, t)
			}
			return fmt.Errorf("%s has the key %q twice (at %s), and parsers disagree on which one counts",
				what, tokens[len(tokens)-1], where(path))
		}
	}
	return fmt.Errorf("%s is not JSON: %v", what, err)
}

// checkSurrogates refuses \u escapes that do not form a Unicode scalar value. It reads
// doc as JSON text only so far as to tell strings from the rest; the caller parses it.
func checkSurrogates(what string, doc []byte) error {
	in := false
	for i := 0; i < len(doc); i++ {
		c := doc[i]
		switch {
		case c == '"':
			in = !in
		case in && c == '\\':
			i++
			if i+5 > len(doc) {
				return nil // truncated: the parser refuses it
			}
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
