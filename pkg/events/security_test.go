package events_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/affinity-platform/affinity/pkg/events"
)

// selfSigned writes a certificate for 127.0.0.1 to dir and returns the
// server's TLS config and the CA file a client trusts.
func selfSigned(t *testing.T, dir string) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kafka-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}, caFile
}

// A service configured for TLS and SCRAM, as the production values do,
// publishes to and reads from a broker that requires both.
func TestTLSAndSCRAMReachABrokerThatRequiresThem(t *testing.T) {
	t.Parallel()
	serverTLS, caFile := selfSigned(t, t.TempDir())
	const topic = "secure.v1"
	cluster, err := kfake.NewCluster(
		kfake.NumBrokers(1), kfake.Ports(0), kfake.TLS(serverTLS),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "alice", "s3cret"),
		kfake.SeedTopics(1, topic),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cfg := events.KafkaConfig{
		Brokers: cluster.ListenAddrs(), TLSEnabled: true, TLSCAFile: caFile,
		SASLMechanism: "SCRAM-SHA-512", SASLUsername: "alice", SASLPassword: "s3cret",
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	sec, err := cfg.Security()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := sec.Writer(cfg.Brokers)
	defer w.Close()
	msg, err := events.Encode(ctx, events.Event{Topic: topic, Source: "test", Subject: "c1", Payload: wrapperspb.String("hello")})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteMessages(ctx, msg); err != nil {
		t.Fatalf("write over TLS+SCRAM: %v", err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: cfg.Brokers, Topic: topic, Dialer: sec.Dialer(), MaxWait: 100 * time.Millisecond})
	defer r.Close()
	km, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("read over TLS+SCRAM: %v", err)
	}
	got, err := events.Parse(km)
	if err != nil {
		t.Fatal(err)
	}
	var v wrapperspb.StringValue
	if err := got.Decode(&v); err != nil || v.GetValue() != "hello" {
		t.Fatalf("read %q, %v; want hello", v.GetValue(), err)
	}

	// The wrong password is refused: the settings are really in use.
	bad := cfg
	bad.SASLPassword = "wrong"
	badSec, err := bad.Security()
	if err != nil {
		t.Fatal(err)
	}
	bw := badSec.Writer(cfg.Brokers)
	bw.MaxAttempts = 1
	defer bw.Close()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := bw.WriteMessages(wctx, msg); err == nil {
		t.Error("a write with the wrong SASL password succeeded")
	}
}

func TestKafkaSettingsThatCannotWorkAreRefusedNamingTheVariable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cfg  events.KafkaConfig
		want string
	}{
		{"no brokers", events.KafkaConfig{}, "KAFKA_BROKERS"},
		{"a CA without TLS", events.KafkaConfig{Brokers: []string{"b:1"}, TLSCAFile: "ca.pem"}, "KAFKA_TLS_ENABLED"},
		{"a certificate without its key", events.KafkaConfig{Brokers: []string{"b:1"}, TLSEnabled: true, TLSCertFile: "c.pem"}, "KAFKA_TLS_KEY_FILE"},
		{"an unknown mechanism", events.KafkaConfig{Brokers: []string{"b:1"}, SASLMechanism: "GSSAPI"}, "KAFKA_SASL_MECHANISM"},
		{"SCRAM without a password", events.KafkaConfig{Brokers: []string{"b:1"}, SASLMechanism: "SCRAM-SHA-256", SASLUsername: "u"}, "KAFKA_SASL_PASSWORD"},
	}
	for _, c := range cases {
		if err := c.cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate() = %v, want an error naming %s", c.name, err, c.want)
		}
	}
	if _, err := (events.KafkaConfig{Brokers: []string{"b:1"}, TLSEnabled: true, TLSCAFile: "/nonexistent/ca.pem"}).Security(); err == nil || !strings.Contains(err.Error(), "KAFKA_TLS_CA_FILE") {
		t.Errorf("a missing CA file: Security() = %v, want an error naming KAFKA_TLS_CA_FILE", err)
	}
}
