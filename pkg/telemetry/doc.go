// Package telemetry sets up what every Custody process shares for observability: a
// tracer provider whose spans carry W3C trace context across NATS headers, and a slog
// handler that adds the current trace and span ids to every log record.
//
// It is not an exporter configuration library: exporting spans over OTLP is wired by the
// process that owns the provider.
package telemetry
