module github.com/custody-dev/custody/services/gate

go 1.26.0

require (
	github.com/custody-dev/custody/pkg v0.0.0
	github.com/custody-dev/custody/proto v0.0.0
)

replace (
	github.com/custody-dev/custody/pkg => ../../pkg
	github.com/custody-dev/custody/proto => ../../proto
)
