package platform_test

import "github.com/affinity-platform/affinity/pkg/consumer"

func consumerOptions() consumer.Options {
	return consumer.Options{Topics: []string{topic}, BatchWait: 10 * 1e6}
}
