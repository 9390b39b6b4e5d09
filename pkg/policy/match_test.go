package policy

import "testing"

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern, dest string
		want          bool
	}{
		{"**", "registry.example.com/prod/app", true},
		{"**", "a", true},
		{"**", "", false},
		{"registry.example.com/prod/*", "registry.example.com/prod/app", true},
		{"registry.example.com/prod/*", "registry.example.com/prod/team/app", false},
		{"registry.example.com/prod/*", "registry.example.com/production/app", false},
		{"registry.example.com/prod/**", "registry.example.com/prod/team/app", true},
		{"registry.example.com/prod/**", "registry.example.com/prod", true},
		{"registry.example.com/**/app", "registry.example.com/app", true},
		{"registry.example.com/**/app", "registry.example.com/a/b/c/app", true},
		{"registry.example.com/**/app", "registry.example.com/a/b/c/app2", false},
		{"*/prod/*", "127.0.0.1:5000/prod/app", true},
		{"127.0.0.1:*/prod/ap?", "127.0.0.1:5000/prod/app", true},
		{"registry.example.com/prod/app", "registry.example.com/prod/app", true},
		{"registry.example.com/prod/app", "registry.example.com/prod/app/x", false},
		{"**/**/**/x", "x", true},
		{"**/**/**/x", "a/b/c/d/e/f/g/h/y", false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.dest, func(t *testing.T) {
			if err := validatePattern(tt.pattern); err != nil {
				t.Fatalf("validatePattern: %v", err)
			}
			if got := parsePattern(tt.pattern).match(tt.dest); got != tt.want {
				t.Errorf("match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPatternSpecificity(t *testing.T) {
	// Each pattern is more specific than the one before it.
	order := []string{"**", "registry.example.com/**", "*/prod/*", "registry.example.com/prod/*", "registry.example.com/prod/app"}
	for i := 1; i < len(order); i++ {
		a, b := parsePattern(order[i-1]).score, parsePattern(order[i]).score
		if !a.less(b) || b.less(a) {
			t.Errorf("%q (%v) should be less specific than %q (%v)", order[i-1], a, order[i], b)
		}
	}
}
