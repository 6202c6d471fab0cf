package events

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// KafkaConfig is how a service reaches Kafka, read from the environment:
// the brokers and, for production clusters, TLS and SASL.
type KafkaConfig struct {
	// Brokers are the bootstrap addresses.
	Brokers []string `env:"KAFKA_BROKERS" envDefault:"127.0.0.1:9092" envSeparator:","`
	// TLSEnabled encrypts connections; with no CA file the system roots
	// verify the brokers.
	TLSEnabled bool `env:"KAFKA_TLS_ENABLED" envDefault:"false"`
	// TLSCAFile is a PEM bundle of the CAs that sign the brokers'
	// certificates (e.g. Strimzi's cluster CA).
	TLSCAFile string `env:"KAFKA_TLS_CA_FILE"`
	// TLSCertFile and TLSKeyFile are the client's certificate for mutual
	// TLS.
	TLSCertFile string `env:"KAFKA_TLS_CERT_FILE"`
	TLSKeyFile  string `env:"KAFKA_TLS_KEY_FILE"`
	// SASLMechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty means
	// no SASL.
	SASLMechanism string `env:"KAFKA_SASL_MECHANISM"`
	SASLUsername  string `env:"KAFKA_SASL_USERNAME"`
	SASLPassword  string `env:"KAFKA_SASL_PASSWORD" secret:"true"`
}

// Validate reports settings that cannot work together.
func (c KafkaConfig) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("KAFKA_BROKERS must name at least one broker"))
	}
	if !c.TLSEnabled && (c.TLSCAFile != "" || c.TLSCertFile != "" || c.TLSKeyFile != "") {
		errs = append(errs, errors.New("KAFKA_TLS_CA_FILE, KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE need KAFKA_TLS_ENABLED=true"))
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE go together"))
	}
	switch strings.ToUpper(c.SASLMechanism) {
	case "":
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if c.SASLUsername == "" || c.SASLPassword == "" {
			errs = append(errs, errors.New("KAFKA_SASL_MECHANISM needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"))
		}
	default:
		errs = append(errs, fmt.Errorf("KAFKA_SASL_MECHANISM must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, got %q", c.SASLMechanism))
	}
	return errors.Join(errs...)
}

// Security builds the TLS configuration and SASL mechanism c describes,
// reading the certificate files.
func (c KafkaConfig) Security() (Security, error) {
	var s Security
	if c.TLSEnabled {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.TLSCAFile != "" {
			pem, err := os.ReadFile(c.TLSCAFile)
			if err != nil {
				return Security{}, fmt.Errorf("KAFKA_TLS_CA_FILE: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return Security{}, fmt.Errorf("KAFKA_TLS_CA_FILE: %s holds no PEM certificate", c.TLSCAFile)
			}
			cfg.RootCAs = pool
		}
		if c.TLSCertFile != "" {
			cert, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
			if err != nil {
				return Security{}, fmt.Errorf("KAFKA_TLS_CERT_FILE/KAFKA_TLS_KEY_FILE: %w", err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		s.TLS = cfg
	}
	switch strings.ToUpper(c.SASLMechanism) {
	case "":
	case "PLAIN":
		s.SASL = plain.Mechanism{Username: c.SASLUsername, Password: c.SASLPassword}
	case "SCRAM-SHA-256", "SCRAM-SHA-512":
		algo := scram.SHA256
		if strings.EqualFold(c.SASLMechanism, "SCRAM-SHA-512") {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, c.SASLUsername, c.SASLPassword)
		if err != nil {
			return Security{}, fmt.Errorf("KAFKA_SASL_MECHANISM: %w", err)
		}
		s.SASL = m
	default:
		return Security{}, fmt.Errorf("KAFKA_SASL_MECHANISM: unknown mechanism %q", c.SASLMechanism)
	}
	return s, nil
}

// Security is the TLS and SASL every Kafka connection of a service uses;
// the zero value is plaintext without authentication (the local stack).
type Security struct {
	TLS  *tls.Config
	SASL sasl.Mechanism
}

// Transport is the kafka-go transport for writers and admin clients.
func (s Security) Transport() *kafka.Transport {
	return &kafka.Transport{TLS: s.TLS, SASL: s.SASL, DialTimeout: 10 * time.Second, IdleTimeout: 30 * time.Second, MetadataTTL: 6 * time.Second}
}

// Dialer is the kafka-go dialer for readers (consumer groups).
func (s Security) Dialer() *kafka.Dialer {
	return &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, TLS: s.TLS, SASLMechanism: s.SASL}
}

// Writer is NewWriter over connections secured by s.
func (s Security) Writer(brokers []string) *kafka.Writer {
	w := NewWriter(brokers)
	w.Transport = s.Transport()
	return w
}
