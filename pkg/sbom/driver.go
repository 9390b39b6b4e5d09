package sbom

// syft's RPM cataloguer reads rpmdb.sqlite (RHEL 9, Fedora, Amazon Linux 2023) through
// database/sql and fails every scan when no driver named "sqlite" is registered. This is
// the driver syft's own command links: pure Go, no cgo.
import _ "modernc.org/sqlite"
