package events

import (
	"fmt"
	"strings"
)

// CloudEvents types of Custody's events. The NATS subject of each is the configured
// prefix followed by the part after "custody" (custody.build.completed is published on
// <prefix>.build.completed).
const (
	TypeBuildCompleted      = "custody.build.completed"
	TypeScanCompleted       = "custody.scan.completed"
	TypeAttestationSigned   = "custody.attestation.signed"
	TypeAttestationRecorded = "custody.attestation.recorded"
	TypePromotionRequested  = "custody.promotion.requested"
	TypePromotionDecided    = "custody.promotion.decided"
	TypePromotionCompleted  = "custody.promotion.completed"
	TypePromotionFailed     = "custody.promotion.failed"
	// TypeDeadLetter is the type of dead-letter records (<prefix>.dlq.<consumer>).
	TypeDeadLetter = "custody.dlq"
)

const typeRoot = "custody"

// Types lists every event type a service may publish.
var Types = []string{
	TypeBuildCompleted, TypeScanCompleted, TypeAttestationSigned, TypeAttestationRecorded,
	TypePromotionRequested, TypePromotionDecided, TypePromotionCompleted, TypePromotionFailed,
}

// subjectFor maps an event type to its subject under prefix.
func subjectFor(prefix, eventType string) (string, error) {
	if eventType != typeRoot && !strings.HasPrefix(eventType, typeRoot+".") {
		return "", fmt.Errorf("event type %q is not a custody.* type", eventType)
	}
	return prefix + strings.TrimPrefix(eventType, typeRoot), nil
}

// typeFor maps a subject under prefix back to its event type.
func typeFor(prefix, subject string) (string, bool) {
	rest, ok := strings.CutPrefix(subject, prefix)
	if !ok || (rest != "" && rest[0] != '.') {
		return "", false
	}
	return typeRoot + rest, true
}
