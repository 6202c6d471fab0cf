// Package localkafka runs an in-process broker that speaks the Kafka protocol
// (github.com/twmb/franz-go/pkg/kfake) on a TCP address, for tests and for the
// local stack. Clients reach it with kafka-go exactly as they reach a real
// Kafka cluster.
//
// The broker is a single node. Topics are never created implicitly: a
// producer writing to an unknown topic gets an error, as on a production
// cluster with auto creation off. Topics come from Start or CreateTopics.
//
// By default everything lives in memory and is gone after Close; with
// Options.DataDir, records, topics and committed group offsets are kept on
// disk and survive Close and Reopen (and a new Start on the same directory).
package localkafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// DefaultPartitions is the number of partitions of topics created without
// an explicit count: more than one, so that code relying on key ordering
// within one partition is exercised across several.
const DefaultPartitions = 3

// Options configures StartOptions.
type Options struct {
	// Addr is the TCP address to listen on; "127.0.0.1:0" picks a free port.
	Addr string
	// Topics are created at start (with Partitions partitions) unless they
	// exist.
	Topics []string
	// Partitions is the partition count of Topics and of topics created
	// with a count of 0; 0 means DefaultPartitions.
	Partitions int
	// DataDir, when set, keeps the broker's state on disk there, so that it
	// survives Close and Reopen. Empty keeps everything in memory.
	DataDir string
	// Log receives the broker's warnings and errors; nil discards them.
	Log io.Writer
}

// Broker is a running (or closed and reopenable) in-process broker.
type Broker struct {
	mu      sync.Mutex
	o       Options
	addr    string // the bound address, fixed after the first start
	cluster *kfake.Cluster
}

// Start starts a broker on addr ("127.0.0.1:0" for any free port) with
// topics created, each with DefaultPartitions partitions, and state kept in
// memory.
func Start(addr string, topics ...string) (*Broker, error) {
	return StartOptions(Options{Addr: addr, Topics: topics})
}

// StartOptions starts a broker configured by o.
func StartOptions(o Options) (*Broker, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.Partitions <= 0 {
		o.Partitions = DefaultPartitions
	}
	b := &Broker{o: o, addr: o.Addr}
	if err := b.start(); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *Broker) start() error {
	ln, err := net.Listen("tcp", b.addr)
	if err != nil {
		return fmt.Errorf("localkafka: listen on %s: %w", b.addr, err)
	}
	// kfake binds 127.0.0.1 itself; handing it our listener lets the
	// broker listen on exactly the requested address, and fixes the port
	// chosen for ":0" so that Reopen comes back on the same one. The
	// address kfake advertises in metadata is the listener's.
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ListenFn(func(string, string) (net.Listener, error) { return ln, nil }),
		kfake.DefaultNumPartitions(b.o.Partitions),
		kfake.ClusterID("localkafka"),
	}
	if len(b.o.Topics) > 0 {
		opts = append(opts, kfake.SeedTopics(int32(b.o.Partitions), b.o.Topics...)) //nolint:gosec // small count
	}
	if b.o.DataDir != "" {
		opts = append(opts, kfake.DataDir(b.o.DataDir))
	}
	if b.o.Log != nil {
		opts = append(opts, kfake.WithLogger(kfake.BasicLogger(b.o.Log, kfake.LogLevelWarn)))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("localkafka: start broker on %s: %w", b.addr, err)
	}
	b.cluster = c
	b.addr = ln.Addr().String()
	if b.o.DataDir != "" && len(b.o.Topics) > 0 {
		// State loaded from disk replaces the seed topics; make sure
		// topics added to Options since the data was written exist too.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := b.createTopics(ctx, b.o.Partitions, b.o.Topics...); err != nil {
			c.Close()
			b.cluster = nil
			return err
		}
	}
	return nil
}

// Addrs returns the broker's bootstrap addresses (one, host:port).
func (b *Broker) Addrs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return []string{b.addr}
}

// Close stops the broker: its listener and every client connection are
// closed, and clients see a broker outage. Without DataDir all records,
// topics and offsets are lost. Close is idempotent.
func (b *Broker) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cluster != nil {
		b.cluster.Close()
		b.cluster = nil
	}
}

// Reopen starts a closed broker again on the same address with the same
// options, for tests of a broker outage. With DataDir the broker comes back
// with its records, topics and committed offsets; without it, it comes back
// empty except for Options.Topics.
func (b *Broker) Reopen() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cluster != nil {
		return errors.New("localkafka: Reopen of a running broker")
	}
	return b.start()
}

// CreateTopics creates the named topics with partitions partitions each
// (0 means Options.Partitions); topics that exist already are left as they
// are.
func (b *Broker) CreateTopics(ctx context.Context, partitions int, names ...string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cluster == nil {
		return errors.New("localkafka: CreateTopics on a closed broker")
	}
	if partitions <= 0 {
		partitions = b.o.Partitions
	}
	return b.createTopics(ctx, partitions, names...)
}

// createTopics goes through the Kafka protocol with kafka-go, as any client
// would, rather than reaching into kfake's state.
func (b *Broker) createTopics(ctx context.Context, partitions int, names ...string) error {
	if len(names) == 0 {
		return nil
	}
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(b.addr), Transport: transport}
	req := &kafka.CreateTopicsRequest{}
	for _, n := range names {
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: n, NumPartitions: partitions, ReplicationFactor: 1})
	}
	resp, err := client.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("localkafka: create topics %v: %w", names, err)
	}
	var errs []error
	for _, n := range names {
		if err := resp.Errors[n]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("topic %s: %w", n, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("localkafka: create topics: %w", err)
	}
	return nil
}
