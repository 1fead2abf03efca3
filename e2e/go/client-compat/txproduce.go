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

// txListener answers by key, <prefix>-<outcome>-<round>: the local transaction of a commit,
// rollback or unknown message answers CommitMessageState, RollbackMessageState or UnknowState;
// a back-check answers CommitMessageState for an unknown one (its transaction has committed
// meanwhile) and the local answer for any other (a check the broker should not have sent).
type txListener struct{}

func outcomeOf(key string) string {
	parts := strings.Split(key, "-")
	if len(parts) < 3 {
		return ""
	}
	return parts[len(parts)-2]
}

func (txListener) ExecuteLocalTransaction(m *primitive.Message) primitive.LocalTransactionState {
	switch outcomeOf(m.GetKeys()) {
	case "commit":
		return primitive.CommitMessageState
	case "rollback":
		return primitive.RollbackMessageState
	default:
		return primitive.UnknowState
	}
}

func (l txListener) CheckLocalTransaction(m *primitive.MessageExt) primitive.LocalTransactionState {
	answer := primitive.CommitMessageState
	if outcomeOf(m.GetKeys()) != "unknown" {
		answer = l.ExecuteLocalTransaction(&m.Message)
	}
	event("CHECK", kv("key", m.GetKeys()), kv("answer", stateName(answer)), kv("at", micros()))
	return answer
}

// stateName is the Java client's name of a local transaction state.
func stateName(s primitive.LocalTransactionState) string {
	switch s {
	case primitive.CommitMessageState:
		return "COMMIT_MESSAGE"
	case primitive.RollbackMessageState:
		return "ROLLBACK_MESSAGE"
	case primitive.UnknowState:
		return "UNKNOW"
	default:
		return fmt.Sprintf("state-%d", s)
	}
}

// produceTx runs a transaction producer (producer.NewTransactionProducer with txListener). Round
// i sends one transactional message per outcome of -outcomes, key <key-prefix>-<outcome>-<i>,
// body body-<key>, tag TagA, and prints SENT with the send status and the local answer, then
// ALL_SENT; it keeps running, to answer the broker's back-checks (CHECK lines), until stdin
// closes or -timeout-ms passes, and prints DONE. A send that is not SEND_OK fails the run.
func produceTx(args []string) error {
	fs := flag.NewFlagSet("produce-tx", flag.ExitOnError)
	namesrv := fs.String("namesrv", "", "NameServer address host:port")
	topic := fs.String("topic", "", "topic")
	group := fs.String("group", "", "producer group (the broker checks back in it)")
	prefix := fs.String("key-prefix", "", "keys are <prefix>-<outcome>-<round>")
	outcomes := fs.String("outcomes", "commit,rollback,unknown", "local transaction outcomes")
	rounds := fs.Int("rounds", 1, "rounds of one message per outcome")
	timeoutMs := fs.Int("timeout-ms", 300000, "stop after this long")
	fs.Parse(args)
	if *topic == "" || *group == "" || *prefix == "" {
		return fmt.Errorf("-topic, -group and -key-prefix are required")
	}

	p, err := producer.NewTransactionProducer(txListener{},
		producer.WithNsResolver(resolver(*namesrv)),
		producer.WithGroupName(*group),
		producer.WithRetry(0),
		producer.WithSendMsgTimeout(10*time.Second),
	)
	if err != nil {
		return fmt.Errorf("new transaction producer: %w", err)
	}
	if err := p.Start(); err != nil {
		return fmt.Errorf("start transaction producer: %w", err)
	}
	for i := 0; i < *rounds; i++ {
		for _, outcome := range strings.Split(*outcomes, ",") {
			key := fmt.Sprintf("%s-%s-%d", *prefix, outcome, i)
			m := primitive.NewMessage(*topic, []byte("body-"+key))
			m.WithKeys([]string{key})
			m.WithTag("TagA")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			res, err := p.SendMessageInTransaction(ctx, m)
			cancel()
			if err != nil {
				p.Shutdown()
				return fmt.Errorf("send %s: %w", key, err)
			}
			if res.Status != primitive.SendOK {
				p.Shutdown()
				return fmt.Errorf("send %s: status %d (not SEND_OK): %s", key, res.Status, res.SendResult)
			}
			event("SENT",
				kv("key", key),
				kv("status", "SEND_OK"),
				kv("local", stateName(res.State)),
				kv("msgId", res.MsgID),
				kv("queue", queueName(res.MessageQueue)),
			)
		}
	}
	event("ALL_SENT")
	reason := waitForStop(*timeoutMs)
	p.Shutdown()
	event("DONE", kv("reason", reason))
	return nil
}
