package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

// produce sends -count messages with SendSync: one call per message, or with -batch a single
// call carrying all of them (the client encodes a batch, SEND_BATCH_MESSAGE).
func produce(args []string) error {
	fs := flag.NewFlagSet("produce", flag.ExitOnError)
	namesrv := fs.String("namesrv", "", "NameServer address host:port")
	topic := fs.String("topic", "", "topic")
	count := fs.Int("count", 1, "number of messages")
	tag := fs.String("tag", "", "tag of every message")
	keyPrefix := fs.String("key-prefix", "key", "message keys are <prefix>-<i>")
	batch := fs.Bool("batch", false, "send all messages in one batch")
	group := fs.String("group", "go_compat_producer", "producer group")
	retries := fs.Int("retries", 0, "client retries per send (0: a broker error is the test's error)")
	timeoutMs := fs.Int("timeout-ms", 10000, "timeout of each send")
	fs.Parse(args)
	if *topic == "" || *count < 1 {
		return fmt.Errorf("-topic and -count >= 1 are required")
	}

	p, err := producer.NewDefaultProducer(
		producer.WithNsResolver(resolver(*namesrv)),
		producer.WithGroupName(*group),
		producer.WithRetry(*retries),
		producer.WithSendMsgTimeout(time.Duration(*timeoutMs)*time.Millisecond),
	)
	if err != nil {
		return fmt.Errorf("new producer: %w", err)
	}
	if err := p.Start(); err != nil {
		return fmt.Errorf("start producer: %w", err)
	}
	defer p.Shutdown()

	msgs := make([]*primitive.Message, *count)
	keys := make([]string, *count)
	for i := range msgs {
		keys[i] = fmt.Sprintf("%s-%d", *keyPrefix, i)
		msgs[i] = primitive.NewMessage(*topic, []byte("body-"+keys[i]))
		msgs[i].WithKeys([]string{keys[i]})
		if *tag != "" {
			msgs[i].WithTag(*tag)
		}
	}

	send := func(batch []*primitive.Message) (*primitive.SendResult, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(*timeoutMs)*time.Millisecond)
		defer cancel()
		res, err := p.SendSync(ctx, batch...)
		if err != nil {
			return nil, err
		}
		if res.Status != primitive.SendOK {
			return nil, fmt.Errorf("status %d (not SEND_OK): %s", res.Status, res)
		}
		return res, nil
	}

	if !*batch {
		for i, m := range msgs {
			res, err := send([]*primitive.Message{m})
			if err != nil {
				return fmt.Errorf("send %s: %w", keys[i], err)
			}
			sent(keys[i], res.MsgID, res.OffsetMsgID, res, res.QueueOffset)
		}
		return nil
	}

	res, err := send(msgs)
	if err != nil {
		return fmt.Errorf("send batch of %d: %w", len(msgs), err)
	}
	// One result for the batch: the broker's offset message ids comma-separated in message
	// order, the queue offset of the first message; the others follow it in the same queue.
	msgIDs := strings.Split(res.MsgID, ",")
	offsetIDs := strings.Split(res.OffsetMsgID, ",")
	if len(offsetIDs) != len(msgs) {
		return fmt.Errorf("batch of %d got %d offset message ids: %q", len(msgs), len(offsetIDs), res.OffsetMsgID)
	}
	for i := range msgs {
		msgID := ""
		if len(msgIDs) == len(msgs) {
			msgID = msgIDs[i]
		}
		sent(keys[i], msgID, offsetIDs[i], res, res.QueueOffset+int64(i))
	}
	return nil
}

func sent(key, msgID, offsetMsgID string, res *primitive.SendResult, queueOffset int64) {
	event("SENT",
		kv("key", key),
		kv("msgId", msgID),
		kv("offsetMsgId", offsetMsgID),
		kv("queue", queueName(res.MessageQueue)),
		kv("queueOffset", queueOffset),
		kv("status", "SEND_OK"),
	)
}
