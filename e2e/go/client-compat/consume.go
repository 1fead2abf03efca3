package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
)

// consume runs a push consumer in clustering mode until it has seen -count distinct keys (and
// then -settle-ms more, so that late or unwanted deliveries are seen too), stdin closes, or
// -timeout-ms passes; then it shuts the consumer down (committing offsets, unregistering) and
// prints a SUMMARY. Only a timeout short of -count is an error. A "persist" line on stdin
// sends the offsets consumed so far to the broker at once (PersistConsumerOffset).
func consume(args []string) error {
	fs := flag.NewFlagSet("consume", flag.ExitOnError)
	namesrv := fs.String("namesrv", "", "NameServer address host:port")
	group := fs.String("group", "", "consumer group")
	topic := fs.String("topic", "", "topic")
	expr := fs.String("expr", "*", "TAG subscription expression, e.g. 'TagA || TagB'")
	count := fs.Int("count", 0, "stop after this many distinct keys (0: run until stdin closes)")
	timeoutMs := fs.Int("timeout-ms", 60000, "stop after this long whatever was received")
	settleMs := fs.Int("settle-ms", 0, "keep consuming this long after -count is reached")
	from := fs.String("from", "first", "where a new group starts: first or last")
	fs.Parse(args)
	if *group == "" || *topic == "" {
		return fmt.Errorf("-group and -topic are required")
	}
	var where consumer.ConsumeFromWhere
	switch *from {
	case "first":
		where = consumer.ConsumeFromFirstOffset
	case "last":
		where = consumer.ConsumeFromLastOffset
	default:
		return fmt.Errorf("-from must be first or last, not %q", *from)
	}

	stop := make(chan string, 3)
	signal := func(reason string) {
		select {
		case stop <- reason:
		default:
		}
	}
	var mu sync.Mutex
	received := 0
	keys := map[string]bool{}

	c, err := consumer.NewPushConsumer(
		consumer.WithNsResolver(resolver(*namesrv)),
		consumer.WithGroupName(*group),
		consumer.WithConsumerModel(consumer.Clustering),
		consumer.WithConsumeFromWhere(where),
		consumer.WithStrategy(reportingAllocation(consumer.AllocateByAveragely)),
	)
	if err != nil {
		return fmt.Errorf("new push consumer: %w", err)
	}
	selector := consumer.MessageSelector{Type: consumer.TAG, Expression: *expr}
	err = c.Subscribe(*topic, selector, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		for _, m := range msgs {
			event("RECV",
				kv("key", m.GetKeys()),
				kv("tag", m.GetTags()),
				kv("queue", queueName(m.Queue)),
				kv("queueOffset", m.QueueOffset),
				kv("msgId", m.MsgId),
				kv("body", string(m.Body)),
				kv("reconsumeTimes", m.ReconsumeTimes),
			)
			mu.Lock()
			received++
			keys[m.GetKeys()] = true
			reached := *count > 0 && len(keys) >= *count
			mu.Unlock()
			if reached {
				signal("count")
			}
		}
		return consumer.ConsumeSuccess, nil
	})
	if err != nil {
		return fmt.Errorf("subscribe %s %q: %w", *topic, *expr, err)
	}
	if err := c.Start(); err != nil {
		return fmt.Errorf("start push consumer: %w", err)
	}
	event("STARTED", kv("group", *group), kv("topic", *topic), kv("expr", *expr))
	go func() {
		// A "persist" line: send the offsets consumed so far to the broker now, while the
		// connection is up (the client also sends them at shutdown, oneway, just before it
		// closes the connection: a broker may not get to read them).
		lines := bufio.NewScanner(os.Stdin)
		for lines.Scan() {
			if lines.Text() == "persist" {
				err := c.PersistConsumerOffset()
				event("PERSISTED", kv("ok", err == nil), kv("error", err))
			}
		}
		signal("stdin")
	}()

	var reason string
	select {
	case reason = <-stop:
	case <-time.After(time.Duration(*timeoutMs) * time.Millisecond):
		reason = "timeout"
	}
	if reason == "count" && *settleMs > 0 {
		select {
		case <-stop:
		case <-time.After(time.Duration(*settleMs) * time.Millisecond):
		}
	}

	shutdown := make(chan error, 1)
	go func() { shutdown <- c.Shutdown() }()
	select {
	case err := <-shutdown:
		if err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
	case <-time.After(20 * time.Second):
		return fmt.Errorf("shutdown did not finish within 20s")
	}

	mu.Lock()
	defer mu.Unlock()
	event("SUMMARY", kv("received", received), kv("distinctKeys", len(keys)), kv("reason", reason))
	if reason == "timeout" && *count > 0 {
		return fmt.Errorf("timed out after %dms with %d of %d keys", *timeoutMs, len(keys), *count)
	}
	return nil
}

// reportingAllocation wraps the client's own strategy and prints each new allocation, so the
// harness can tell when a group has settled.
func reportingAllocation(inner consumer.AllocateStrategy) consumer.AllocateStrategy {
	var mu sync.Mutex
	last := map[string]string{}
	return func(group, currentCID string, mqAll []*primitive.MessageQueue, cidAll []string) []*primitive.MessageQueue {
		mine := inner(group, currentCID, mqAll, cidAll)
		names := make([]string, 0, len(mine))
		topic := ""
		for _, mq := range mine {
			names = append(names, queueName(mq))
		}
		if len(mqAll) > 0 {
			topic = mqAll[0].Topic
		}
		sort.Strings(names)
		line := fmt.Sprintf("cids=%d queues=%s", len(cidAll), strings.Join(names, ","))
		mu.Lock()
		changed := last[topic] != line
		last[topic] = line
		mu.Unlock()
		if changed {
			event("ASSIGNED", kv("topic", topic), kv("cids", len(cidAll)), kv("queues", strings.Join(names, ",")))
		}
		return mine
	}
}
