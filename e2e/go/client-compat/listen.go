package main

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
)

// How long an orderly listen waits, once asked to stop, for its listener to have been idle for
// quietFor (see quiesce), at most.
const (
	quietFor     = 300 * time.Millisecond
	quietTimeout = 15 * time.Second
)

// failRule is one -fail rule: a message whose key starts with prefix is answered
// ConsumeRetryLater the first failures times this consumer sees it (always: every time), with
// the context's DelayLevelWhenNextConsume set to level (0: the broker picks it).
type failRule struct {
	prefix   string
	failures int
	level    int
}

func parseRules(spec string) ([]failRule, error) {
	var rules []failRule
	for _, s := range strings.Split(spec, ",") {
		if s == "" {
			continue
		}
		eq, at := strings.Index(s, "="), strings.Index(s, "@")
		if eq <= 0 || at < eq {
			return nil, fmt.Errorf("-fail wants PREFIX=N@LEVEL, not %q", s)
		}
		r := failRule{prefix: s[:eq], failures: int(^uint(0) >> 1)}
		if n := s[eq+1 : at]; n != "always" {
			v, err := strconv.Atoi(n)
			if err != nil {
				return nil, fmt.Errorf("-fail %q: %w", s, err)
			}
			r.failures = v
		}
		level, err := strconv.Atoi(s[at+1:])
		if err != nil {
			return nil, fmt.Errorf("-fail %q: %w", s, err)
		}
		r.level = level
		rules = append(rules, r)
	}
	return rules, nil
}

// listen runs a push consumer for the messaging-semantics scenarios, with what consume keeps
// fixed made choosable:
//
//   - -model clustering|broadcasting;
//   - -orderly: consumer.WithConsumerOrder(true), the client's orderly consumption;
//   - -fail P=N@L,... (concurrent only): see failRule;
//   - -max-reconsume N: consumer.WithMaxReconsumeTimes;
//   - -consume-ms: how long the listener takes per message;
//   - -members N (clustering): allocate no queue until the group has had N members at once,
//     then as AllocateByAveragely. An orderly member of this client keeps the broker's lock of
//     a queue the rebalance takes from it (it unlocks only at shutdown), so the new owner
//     cannot lock it for the broker's lock lifetime (60 s); members that start together use
//     this so that none takes every queue before the others are there.
//
// It runs until stdin closes (or -timeout-ms), printing OWNED whenever the queues it consumes
// change (those in the client's running info not dropped, and for an orderly consumer also
// locked) and a RECV line per delivery; then it shuts the consumer down and prints DONE.
func listen(args []string) error {
	fs := flag.NewFlagSet("listen", flag.ExitOnError)
	namesrv := fs.String("namesrv", "", "NameServer address host:port")
	group := fs.String("group", "", "consumer group")
	topic := fs.String("topic", "", "topic")
	expr := fs.String("expr", "*", "TAG subscription expression")
	from := fs.String("from", "first", "where a new group starts: first or last")
	model := fs.String("model", "clustering", "clustering or broadcasting")
	orderly := fs.Bool("orderly", false, "orderly consumption")
	failSpec := fs.String("fail", "", "PREFIX=N@LEVEL,... (N: a count or always)")
	maxReconsume := fs.Int("max-reconsume", -1, "WithMaxReconsumeTimes (-1: the client's default)")
	consumeMs := fs.Int("consume-ms", 0, "time the listener takes per message")
	members := fs.Int("members", 0, "allocate nothing until the group has had this many members")
	timeoutMs := fs.Int("timeout-ms", 300000, "stop after this long")
	fs.Parse(args)
	if *group == "" || *topic == "" {
		return fmt.Errorf("-group and -topic are required")
	}
	rules, err := parseRules(*failSpec)
	if err != nil {
		return err
	}
	if *orderly && len(rules) > 0 {
		return fmt.Errorf("-fail is for the concurrent listener")
	}
	opts := []consumer.Option{
		consumer.WithNsResolver(resolver(*namesrv)),
		consumer.WithGroupName(*group),
		consumer.WithConsumerOrder(*orderly),
	}
	switch *model {
	case "clustering":
		opts = append(opts,
			consumer.WithConsumerModel(consumer.Clustering),
			consumer.WithStrategy(reportingAllocation(waitForMembers(*members, consumer.AllocateByAveragely))))
	case "broadcasting":
		opts = append(opts, consumer.WithConsumerModel(consumer.BroadCasting))
	default:
		return fmt.Errorf("-model is clustering or broadcasting, not %q", *model)
	}
	switch *from {
	case "first":
		opts = append(opts, consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset))
	case "last":
		opts = append(opts, consumer.WithConsumeFromWhere(consumer.ConsumeFromLastOffset))
	default:
		return fmt.Errorf("-from must be first or last, not %q", *from)
	}
	if *maxReconsume >= 0 {
		opts = append(opts, consumer.WithMaxReconsumeTimes(int32(*maxReconsume)))
	}
	c, err := consumer.NewPushConsumer(opts...)
	if err != nil {
		return fmt.Errorf("new push consumer: %w", err)
	}

	var mu sync.Mutex
	seen := map[string]int{}
	var received, inFlight atomic.Int64
	var lastReturn atomic.Int64
	handler := func(ctx context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		inFlight.Add(1)
		defer func() {
			lastReturn.Store(micros())
			inFlight.Add(-1)
		}()
		later := false
		for _, m := range msgs {
			key := m.GetKeys()
			mu.Lock()
			attempt := seen[key]
			seen[key]++
			mu.Unlock()
			fail := false
			for _, r := range rules {
				if strings.HasPrefix(key, r.prefix) {
					fail = attempt < r.failures
					if cc, ok := primitive.GetConcurrentlyCtx(ctx); fail && ok {
						cc.DelayLevelWhenNextConsume = r.level
					}
					break
				}
			}
			verdict := "ok"
			if fail {
				verdict, later = "later", true
			}
			delivered(m, attempt, verdict)
			received.Add(1)
			if *consumeMs > 0 {
				time.Sleep(time.Duration(*consumeMs) * time.Millisecond)
			}
		}
		if later {
			return consumer.ConsumeRetryLater, nil
		}
		return consumer.ConsumeSuccess, nil
	}
	selector := consumer.MessageSelector{Type: consumer.TAG, Expression: *expr}
	if err := c.Subscribe(*topic, selector, handler); err != nil {
		return fmt.Errorf("subscribe %s %q: %w", *topic, *expr, err)
	}
	if err := c.Start(); err != nil {
		return fmt.Errorf("start push consumer: %w", err)
	}
	event("STARTED", kv("group", *group), kv("topic", *topic))

	watching := make(chan struct{})
	watched := make(chan struct{})
	needLock := *orderly && *model == "clustering"
	owned := func() string {
		table := map[primitive.MessageQueue]bool{}
		for mq, pq := range c.GetConsumerRunningInfo(false).MQTable {
			table[mq] = !pq.Dropped && (pq.Locked || !needLock)
		}
		return ownedQueues(table, *topic, "%RETRY%"+*group)
	}
	go func() {
		defer close(watched)
		watchOwnership(owned, watching)
	}()
	reason := waitForStop(*timeoutMs)
	close(watching)
	<-watched
	if *orderly {
		quiesce(&inFlight, &lastReturn)
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
	event("DONE", kv("received", received.Load()), kv("reason", reason))
	return nil
}

// delivered prints one RECV line: the message as the listener got it (topic after the client
// put a retried message's original topic back), attempt (how many times this consumer had seen
// the key before), verdict, the properties the retry path sets, the broker's store timestamp
// (ms) and the time.
func delivered(m *primitive.MessageExt, attempt int, verdict string) {
	event("RECV",
		kv("key", m.GetKeys()),
		kv("body", string(m.Body)),
		kv("topic", m.Topic),
		kv("queue", queueName(m.Queue)),
		kv("queueOffset", m.QueueOffset),
		kv("reconsume", m.ReconsumeTimes),
		kv("msgId", m.MsgId),
		kv("originMsgId", m.GetProperty("ORIGIN_MESSAGE_ID")),
		kv("retryTopic", m.GetProperty("RETRY_TOPIC")),
		kv("attempt", attempt),
		kv("verdict", verdict),
		kv("stored", m.StoreTimestamp),
		kv("at", micros()),
	)
}

// quiesce waits until no listener call is running and none has returned for quietFor, at most
// quietTimeout. The client's orderly consumption loop checks its queue lock between messages
// and, finding it released, locks the queue again; its Shutdown releases the locks before it
// marks the queues dropped, so a loop between two messages at that moment would lock a queue
// for a member about to leave, keeping it from the others for the broker's lock lifetime. The
// harness stops an orderly member only once it has everything sent so far; this lets its last
// message's loop iteration finish before Shutdown.
func quiesce(inFlight, lastReturn *atomic.Int64) {
	deadline := time.Now().Add(quietTimeout)
	for time.Now().Before(deadline) {
		idle := inFlight.Load() == 0 && micros()-lastReturn.Load() >= quietFor.Microseconds()
		if idle {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// watchOwnership prints OWNED with what owned returns whenever that changes, every 50 ms until
// stop closes.
func watchOwnership(owned func() string, stop <-chan struct{}) {
	last := ""
	for {
		if now := owned(); now != last {
			event("OWNED", now, kv("at", micros()))
			last = now
		}
		select {
		case <-stop:
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ownedQueues renders the queues of topic and retryTopic in the running info's process-queue
// table as "queues=.. retry=..": those not dropped, and with locked only those whose lock the
// consumer holds.
func ownedQueues(table map[primitive.MessageQueue]bool, topic, retryTopic string) string {
	var queues, retry []string
	for mq, ok := range table {
		if !ok {
			continue
		}
		switch mq.Topic {
		case topic:
			queues = append(queues, queueName(&mq))
		case retryTopic:
			retry = append(retry, queueName(&mq))
		}
	}
	sort.Strings(queues)
	sort.Strings(retry)
	return kv("queues", strings.Join(queues, ",")) + " " + kv("retry", strings.Join(retry, ","))
}

// waitForMembers allocates nothing until the group has had n members at once, and from then on
// what inner allocates (see listen's -members).
func waitForMembers(n int, inner consumer.AllocateStrategy) consumer.AllocateStrategy {
	var open atomic.Bool
	return func(group, currentCID string, mqAll []*primitive.MessageQueue, cidAll []string) []*primitive.MessageQueue {
		if len(cidAll) >= n {
			open.Store(true)
		}
		if !open.Load() {
			return nil
		}
		return inner(group, currentCID, mqAll, cidAll)
	}
}
