package policy

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"
)

// CEL variable names available to conditions. The package documentation describes each.
const (
	VarPredicate     = "predicate"
	VarStatement     = "statement"
	VarSubject       = "subject"
	VarPredicateType = "predicateType"
	VarKeyIDs        = "keyIds"
	VarNow           = "now"
	VarSignedAt      = "signedAt"
	VarVulns         = "vulns"
	VarWaivedVulns   = "waivedVulns"
	VarLicenses      = "licenses"
	VarSecrets       = "secrets"
)

// FuncSeverityRank is the CEL function severityRank(string) int.
const FuncSeverityRank = "severityRank"

// Vuln is one active vulnerability finding of a vulns predicate, as conditions see it
// in the CEL list vulns (CEL type policy.Vuln; field names are those of the cel tags).
type Vuln struct {
	ID      string   `cel:"id" json:"id"`
	Aliases []string `cel:"aliases" json:"aliases"`
	// Severity is none, low, medium, high, critical or unknown.
	Severity string `cel:"severity" json:"severity"`
	// Score is the CVSS base score (v3, else v4, else v2), 0 when there is none.
	Score float64 `cel:"score" json:"score"`
	// Package is the package URL with version.
	Package       string   `cel:"package" json:"package"`
	Name          string   `cel:"name" json:"name"`
	Version       string   `cel:"version" json:"version"`
	FixedVersions []string `cel:"fixedVersions" json:"fixedVersions"`
	// Status is affected or under_investigation (not_affected and fixed findings are
	// not active).
	Status string `cel:"status" json:"status"`
}

// WaivedVuln is a finding a waiver or VEX document of the policy set aside, in the CEL
// list waivedVulns (CEL type policy.WaivedVuln).
// It has every field of Vuln, and says who set it aside until when.
type WaivedVuln struct {
	Vuln
	// By is "waiver" (spec.waivers) or "vex" (spec.vex).
	By      string    `cel:"by" json:"by"`
	Owner   string    `cel:"owner" json:"owner"`
	Expires time.Time `cel:"expires" json:"expires"`
	Reason  string    `cel:"reason" json:"reason"`
}

// SecretFinding is one finding of a secrets predicate, in the CEL list secrets (CEL
// type policy.SecretFinding).
type SecretFinding struct {
	Rule string `cel:"rule" json:"rule"`
	Path string `cel:"path" json:"path"`
	// Layer is the digest of the layer the file is in.
	Layer string `cel:"layer" json:"layer"`
	// Deleted: a later layer deletes the file, yet it ships in the image.
	Deleted bool `cel:"deleted" json:"deleted"`
	// Severity is the rule's severity (low, medium, high, critical).
	Severity string `cel:"severity" json:"severity"`
}

// Severity ranks for severityRank: unknown ranks above critical, so that a threshold
// such as severityRank(v.severity) < severityRank("high") fails closed on findings
// nobody rated.
var severityRanks = map[string]int64{
	"none": 0, "low": 1, "medium": 2, "high": 3, "critical": 4, "unknown": 5,
}

func severityRank(v ref.Val) ref.Val {
	s, ok := v.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(v)
	}
	r, ok := severityRanks[strings.ToLower(string(s))]
	if !ok {
		return types.NewErr("%s(%q): want none, low, medium, high, critical or unknown", FuncSeverityRank, clip(string(s)))
	}
	return types.Int(r)
}

var (
	vulnType   = cel.ObjectType("policy.Vuln")
	waivedType = cel.ObjectType("policy.WaivedVuln")
	secretType = cel.ObjectType("policy.SecretFinding")
)

func newEnv() (*cel.Env, error) {
	return cel.NewEnv(
		ext.NativeTypes(ext.ParseStructTags(true),
			reflect.TypeFor[Vuln](), reflect.TypeFor[WaivedVuln](), reflect.TypeFor[SecretFinding]()),
		cel.Variable(VarPredicate, cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable(VarStatement, cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable(VarSubject, cel.StringType),
		cel.Variable(VarPredicateType, cel.StringType),
		cel.Variable(VarKeyIDs, cel.ListType(cel.StringType)),
		cel.Variable(VarNow, cel.TimestampType),
		cel.Variable(VarSignedAt, cel.TimestampType),
		cel.Variable(VarVulns, cel.ListType(vulnType)),
		cel.Variable(VarWaivedVulns, cel.ListType(waivedType)),
		cel.Variable(VarLicenses, cel.ListType(cel.StringType)),
		cel.Variable(VarSecrets, cel.ListType(secretType)),
		cel.Function(FuncSeverityRank,
			cel.Overload("severityRank_string", []*cel.Type{cel.StringType}, cel.IntType,
				cel.UnaryBinding(severityRank))),
		cel.CrossTypeNumericComparisons(true),
		ext.Strings(),
	)
}

// compiled is a condition ready to run.
type compiled struct {
	program cel.Program
	// refs are the variables the condition reads.
	refs map[string]bool
}

// predicateVars are the variables that carry the statement's content.
var predicateVars = []string{VarPredicate, VarStatement, VarVulns, VarWaivedVulns, VarLicenses, VarSecrets}

func (c *compiled) readsContent() bool {
	return slices.ContainsFunc(predicateVars, func(v string) bool { return c.refs[v] })
}

func compile(env *cel.Env, expr string, costLimit uint64) (*compiled, error) {
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return nil, iss.Err()
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, fmt.Errorf("has type %s, want bool (compare the value, for example `predicate.x == \"y\"`)", ast.OutputType())
	}
	native := ast.NativeRep()
	if err := checkConstantArgs(native); err != nil {
		return nil, err
	}
	refs := map[string]bool{}
	for _, r := range native.ReferenceMap() {
		if r.Name != "" && len(r.OverloadIDs) == 0 {
			refs[r.Name] = true
		}
	}
	prg, err := env.Program(ast,
		cel.CostLimit(costLimit),
		cel.InterruptCheckFrequency(100),
		cel.EvalOptions(cel.OptOptimize),
	)
	if err != nil {
		return nil, err
	}
	return &compiled{program: prg, refs: refs}, nil
}

// checkConstantArgs rejects severityRank("hgih") when the policy is parsed instead of
// denying every promotion at run time.
func checkConstantArgs(a *celast.AST) error {
	var err error
	celast.PostOrderVisit(a.Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if err != nil || e.Kind() != celast.CallKind || e.AsCall().FunctionName() != FuncSeverityRank {
			return
		}
		for _, arg := range e.AsCall().Args() {
			if arg.Kind() != celast.LiteralKind {
				continue
			}
			if s, ok := arg.AsLiteral().(types.String); ok {
				if _, known := severityRanks[strings.ToLower(string(s))]; !known {
					err = fmt.Errorf("%s(%q): want none, low, medium, high, critical or unknown", FuncSeverityRank, clip(string(s)))
				}
			}
		}
	}))
	return err
}
