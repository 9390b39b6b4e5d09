package httpsec

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// Server defaults: NewServer uses them unless an option says otherwise.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = time.Minute
	DefaultWriteTimeout      = 2 * time.Minute
	DefaultIdleTimeout       = 2 * time.Minute
	// DefaultMaxHeaderBytes leaves room for a large OIDC bearer token and nothing like
	// net/http's 1 MiB default.
	DefaultMaxHeaderBytes = 64 << 10
)

// ServerOption configures NewServer.
type ServerOption func(*http.Server) error

// WithTimeouts sets the read-header, read (whole request), write (whole answer) and
// idle (keep-alive) timeouts. Each must be positive: a server without them can be held
// open by a slow client.
func WithTimeouts(readHeader, read, write, idle time.Duration) ServerOption {
	return func(s *http.Server) error {
		if readHeader <= 0 || read <= 0 || write <= 0 || idle <= 0 {
			return fmt.Errorf("timeouts %v/%v/%v/%v: every timeout must be positive", readHeader, read, write, idle)
		}
		if readHeader > read {
			return fmt.Errorf("read-header timeout %v is longer than the read timeout %v", readHeader, read)
		}
		s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout = readHeader, read, write, idle
		return nil
	}
}

// WithMaxHeaderBytes bounds the request line and headers (1 KiB to 1 MiB).
func WithMaxHeaderBytes(n int) ServerOption {
	return func(s *http.Server) error {
		if n < 1<<10 || n > 1<<20 {
			return fmt.Errorf("max header bytes %d: must be between 1 KiB and 1 MiB", n)
		}
		s.MaxHeaderBytes = n
		return nil
	}
}

// WithTLSConfig sets the server's TLS configuration (for ListenAndServeTLS or a
// tls.Listener); start from TLSConfig or auth.ServerTLSConfig. Below TLS 1.2 is refused.
func WithTLSConfig(c *tls.Config) ServerOption {
	return func(s *http.Server) error {
		if c == nil {
			return errors.New("tls config is nil")
		}
		if c.MinVersion < tls.VersionTLS12 {
			return fmt.Errorf("tls config allows versions below TLS 1.2 (MinVersion %#x): start from httpsec.TLSConfig", c.MinVersion)
		}
		s.TLSConfig = c
		return nil
	}
}

// WithProtocols sets the protocols the server speaks (for example HTTP/2 in cleartext
// as well, which gRPC clients need without TLS).
func WithProtocols(p *http.Protocols) ServerOption {
	return func(s *http.Server) error {
		if p == nil {
			return errors.New("protocols are nil")
		}
		s.Protocols = p
		return nil
	}
}

// WithErrorLog sends net/http's own error messages (TLS handshake failures, panics it
// recovered itself) to log at warning level instead of the standard logger.
func WithErrorLog(log *slog.Logger) ServerOption {
	return func(s *http.Server) error {
		if log == nil {
			return errors.New("error logger is nil")
		}
		s.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
		return nil
	}
}

// NewServer returns an *http.Server for h on addr with every timeout and the header
// limit set (the Default* constants unless options say otherwise) and, when TLS is
// served, TLSConfig's settings.
func NewServer(addr string, h http.Handler, opts ...ServerOption) (*http.Server, error) {
	if h == nil {
		return nil, errors.New("http server: handler is nil")
	}
	s := &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: DefaultReadHeaderTimeout,
		ReadTimeout:       DefaultReadTimeout,
		WriteTimeout:      DefaultWriteTimeout,
		IdleTimeout:       DefaultIdleTimeout,
		MaxHeaderBytes:    DefaultMaxHeaderBytes,
		TLSConfig:         TLSConfig(),
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, fmt.Errorf("http server: %w", err)
		}
	}
	return s, nil
}

// TLSConfig returns a server TLS configuration: TLS 1.2 at least; for TLS 1.2 only
// ECDHE key exchange with AEAD ciphers (forward secrecy, no CBC, no RSA key transport);
// the hybrid post-quantum X25519MLKEM768 group first, then X25519, P-256 and P-384. TLS
// 1.3's suites are all modern and not configurable in Go. Add Certificates (or
// GetCertificate) before use.
func TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256, tls.CurveP384},
	}
}
