package vuln

import "context"

// QueryFunc returns the records that name any of keys (it may return records that do
// not affect them; [Match] filters).
type QueryFunc func(ctx context.Context, keys []PackageKey) ([]*Record, error)

// FuncSource is a [Describer] and [BatchSource] over a query function: the ledger's
// database read in process, for example.
type FuncSource struct {
	query QueryFunc
	info  func(context.Context) (Info, error)
}

var (
	_ BatchSource = (*FuncSource)(nil)
	_ Describer   = (*FuncSource)(nil)
)

// NewFuncSource returns a source answering lookups with query and describing itself
// with info.
func NewFuncSource(query QueryFunc, info func(context.Context) (Info, error)) *FuncSource {
	return &FuncSource{query: query, info: info}
}

// Lookup implements [Source].
func (s *FuncSource) Lookup(ctx context.Context, ecosystem, name string) ([]*Record, error) {
	k := PackageKey{Ecosystem: ecosystem, Name: name}
	m, err := s.LookupBatch(ctx, []PackageKey{k})
	if err != nil {
		return nil, err
	}
	return m[k], nil
}

// LookupBatch implements [BatchSource].
func (s *FuncSource) LookupBatch(ctx context.Context, keys []PackageKey) (map[PackageKey][]*Record, error) {
	return lookupBatch(ctx, keys, s.query)
}

// Info implements [Describer].
func (s *FuncSource) Info(ctx context.Context) (Info, error) { return s.info(ctx) }

// lookupBatch asks query for keys, MaxQueryPackages at a time, and files each record
// under every key it names (ecosystems compared with [EcosystemMatches]).
func lookupBatch(ctx context.Context, keys []PackageKey, query QueryFunc) (map[PackageKey][]*Record, error) {
	out := make(map[PackageKey][]*Record, len(keys))
	for start := 0; start < len(keys); start += MaxQueryPackages {
		chunk := keys[start:min(start+MaxQueryPackages, len(keys))]
		recs, err := query(ctx, chunk)
		if err != nil {
			return nil, err
		}
		byName := map[string][]PackageKey{}
		for _, k := range chunk {
			byName[k.Name] = append(byName[k.Name], k)
		}
		for _, r := range recs {
			for _, rk := range IndexKeys(r) {
				for _, k := range byName[rk.Name] {
					if EcosystemMatches(k.Ecosystem, rk.Ecosystem) && !containsRecord(out[k], r) {
						out[k] = append(out[k], r)
					}
				}
			}
		}
	}
	return out, nil
}

func containsRecord(list []*Record, r *Record) bool {
	for _, x := range list {
		if x == r {
			return true
		}
	}
	return false
}
