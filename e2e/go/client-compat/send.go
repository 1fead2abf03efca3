package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

// send sends -rounds rounds of messages with SendSync, one message per shard of -shards in each
// round (in that order), so the shards' sequences interleave. The message of shard s in round i
// has key <key-prefix>-<s>-<i>, body body-<key> and tag TagA.
//
//   - -ordered: each message carries its shard as sharding key and the producer picks queues
//     with the client's hash selector (producer.NewHashQueueSelector: FNV-1a of the sharding key
//     modulo the number of queues), so one shard's sequence lives in one queue, in send order;
//   - -delay-levels l0,l1,..: shard number j's messages carry delay level l[j] (0: none);
//   - -interval-ms: a pause after each message;
//   - -pause-at r,.. -go-dir D: before round r, print PAUSED rounds=r and wait (at most
//     -timeout-ms in all) until the file D/go-r exists, then print RESUMED and go on.
//
// The client's retries are off; a send that is not SEND_OK fails the run.
func send(args []string) error {
	fs := flag.NewFlagSet("send", flag.ExitOnError)
	namesrv := fs.String("namesrv", "", "NameServer address host:port")
	topic := fs.String("topic", "", "topic")
	group := fs.String("group", "", "producer group (default PG_<topic>)")
	prefix := fs.String("key-prefix", "", "keys are <prefix>-<shard>-<round>")
	shardList := fs.String("shards", "", "comma-separated shard names, without '-'")
	rounds := fs.Int("rounds", 1, "rounds of one message per shard")
	ordered := fs.Bool("ordered", false, "sharding key = shard, hash queue selector")
	levelList := fs.String("delay-levels", "", "one delay level per shard (0: none)")
	intervalMs := fs.Int("interval-ms", 0, "pause after each message")
	pauseList := fs.String("pause-at", "", "rounds before which to wait for <go-dir>/go-<round>")
	goDir := fs.String("go-dir", "", "where the go-<round> files appear")
	timeoutMs := fs.Int("timeout-ms", 120000, "bound on the whole run, pauses included")
	fs.Parse(args)
	if *topic == "" || *prefix == "" || *shardList == "" {
		return fmt.Errorf("-topic, -key-prefix and -shards are required")
	}
	shards := strings.Split(*shardList, ",")
	levels, err := ints(*levelList, len(shards))
	if err != nil {
		return fmt.Errorf("-delay-levels: %w", err)
	}
	pauses := map[int]bool{}
	if *pauseList != "" {
		if *goDir == "" {
			return fmt.Errorf("-pause-at needs -go-dir")
		}
		for _, p := range strings.Split(*pauseList, ",") {
			r, err := strconv.Atoi(p)
			if err != nil {
				return fmt.Errorf("-pause-at: %w", err)
			}
			pauses[r] = true
		}
	}
	if *group == "" {
		*group = "PG_" + *topic
	}
	deadline := time.Now().Add(time.Duration(*timeoutMs) * time.Millisecond)

	opts := []producer.Option{
		producer.WithNsResolver(resolver(*namesrv)),
		producer.WithGroupName(*group),
		producer.WithRetry(0),
		producer.WithSendMsgTimeout(10 * time.Second),
	}
	if *ordered {
		opts = append(opts, producer.WithQueueSelector(producer.NewHashQueueSelector()))
	}
	p, err := producer.NewDefaultProducer(opts...)
	if err != nil {
		return fmt.Errorf("new producer: %w", err)
	}
	if err := p.Start(); err != nil {
		return fmt.Errorf("start producer: %w", err)
	}
	defer p.Shutdown()

	sent := 0
	for i := 0; i < *rounds; i++ {
		if pauses[i] {
			event("PAUSED", kv("rounds", i))
			if err := awaitFile(filepath.Join(*goDir, fmt.Sprintf("go-%d", i)), deadline); err != nil {
				return err
			}
			event("RESUMED", kv("rounds", i))
		}
		for j, shard := range shards {
			key := fmt.Sprintf("%s-%s-%d", *prefix, shard, i)
			m := primitive.NewMessage(*topic, []byte("body-"+key))
			m.WithKeys([]string{key})
			m.WithTag("TagA")
			if *ordered {
				m.WithShardingKey(shard)
			}
			if levels[j] > 0 {
				m.WithDelayTimeLevel(levels[j])
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			start := micros()
			res, err := p.SendSync(ctx, m)
			at := micros()
			cancel()
			if err != nil {
				return fmt.Errorf("send %s: %w", key, err)
			}
			if res.Status != primitive.SendOK {
				return fmt.Errorf("send %s: status %d (not SEND_OK): %s", key, res.Status, res)
			}
			event("SENT",
				kv("key", key),
				kv("shard", shard),
				kv("seq", i),
				kv("delayLevel", levels[j]),
				kv("queue", queueName(res.MessageQueue)),
				kv("queueOffset", res.QueueOffset),
				kv("msgId", res.MsgID),
				kv("offsetMsgId", res.OffsetMsgID),
				kv("status", "SEND_OK"),
				kv("start", start),
				kv("at", at),
			)
			sent++
			if *intervalMs > 0 {
				time.Sleep(time.Duration(*intervalMs) * time.Millisecond)
			}
		}
	}
	event("SUMMARY", kv("sent", sent))
	return nil
}

// ints parses a comma-separated list of n integers; an empty list is n zeros.
func ints(list string, n int) ([]int, error) {
	out := make([]int, n)
	if list == "" {
		return out, nil
	}
	parts := strings.Split(list, ",")
	if len(parts) != n {
		return nil, fmt.Errorf("%q has %d values, not %d", list, len(parts), n)
	}
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// awaitFile polls for file every 20 ms until deadline.
func awaitFile(file string, deadline time.Time) error {
	for {
		if _, err := os.Stat(file); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no %s before the deadline", file)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
