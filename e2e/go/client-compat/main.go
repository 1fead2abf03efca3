// Command client-compat drives the upstream Go client for Apache RocketMQ
// (github.com/apache/rocketmq-client-go/v2, the version pinned in go.mod, unmodified) for
// Apogee's end-to-end suite (e2e/tests/suite/go_client.rs).
//
// Every event is one line on stdout, "WORD key=value ...", values without spaces:
//
//	produce: SENT key=.. msgId=.. offsetMsgId=.. queue=broker:qid queueOffset=.. status=SEND_OK
//	consume: STARTED group=.. topic=..
//	         ASSIGNED topic=.. cids=.. queues=broker:qid,...   (each change of the allocation)
//	         RECV key=.. tag=.. queue=broker:qid queueOffset=.. msgId=.. body=.. reconsumeTimes=..
//	         PERSISTED ok=.. error=..   (after a "persist" line on stdin)
//	         SUMMARY received=.. distinctKeys=.. reason=count|stdin|timeout
//
// and for the messaging-semantics scenarios (orderly, retries and dead letters, delays,
// broadcasting, transactions), where keys are <prefix>-<shard>-<seq> and at=/start= are the
// wall clock in microseconds since the epoch (every process on the machine shares it):
//
//	send:       SENT key=.. shard=.. seq=.. delayLevel=.. queue=.. queueOffset=.. msgId=..
//	                 offsetMsgId=.. status=SEND_OK start=.. at=..
//	            PAUSED rounds=..  RESUMED  SUMMARY sent=..
//	listen:     STARTED, ASSIGNED (as consume), OWNED queues=.. retry=.. at=.. (what it consumes),
//	            RECV key=.. body=.. topic=.. queue=.. queueOffset=.. reconsume=.. msgId=..
//	                 originMsgId=.. retryTopic=.. attempt=.. verdict=ok|later stored=.. at=..
//	            DONE received=.. reason=stdin|timeout
//	produce-tx: SENT key=.. status=.. local=.. msgId=.. queue=..  ALL_SENT
//	            CHECK key=.. answer=.. at=..  DONE
//
// The client's own logging (logrus) stays on stderr, at ROCKETMQ_GO_LOG_LEVEL (warn if unset).
// Any error is an "ERROR ..." line on stderr and a non-zero exit.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/rlog"
)

const usage = `usage:
  client-compat produce -namesrv ADDR -topic T -count N [-tag TAG] [-key-prefix K] [-batch]
  client-compat consume -namesrv ADDR -group G -topic T [-expr 'TagA'] [-count N]
                        [-timeout-ms X] [-settle-ms Y] [-from first|last]
  client-compat send -namesrv ADDR -topic T -key-prefix K -shards a,b,.. [-rounds N] [-ordered]
                     [-delay-levels l,..] [-interval-ms X] [-pause-at r,.. -go-dir D]
  client-compat listen -namesrv ADDR -group G -topic T [-model clustering|broadcasting]
                       [-orderly] [-fail P=N@L,..] [-max-reconsume N] [-consume-ms X]
                       [-members N] [-from first|last] [-timeout-ms X]
  client-compat produce-tx -namesrv ADDR -topic T -group G -key-prefix K
                           [-outcomes commit,rollback,unknown] [-rounds N] [-timeout-ms X]`

func main() {
	if os.Getenv("ROCKETMQ_GO_LOG_LEVEL") == "" {
		rlog.SetLogLevel("warn")
	}
	if len(os.Args) < 2 {
		fail(usage)
	}
	var err error
	switch os.Args[1] {
	case "produce":
		err = produce(os.Args[2:])
	case "consume":
		err = consume(os.Args[2:])
	case "send":
		err = send(os.Args[2:])
	case "listen":
		err = listen(os.Args[2:])
	case "produce-tx":
		err = produceTx(os.Args[2:])
	default:
		fail("unknown subcommand %q\n%s", os.Args[1], usage)
	}
	if err != nil {
		fail("%s: %v", os.Args[1], err)
	}
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "ERROR "+format+"\n", args...)
	os.Exit(1)
}

// out serialises event lines: the client calls back from several goroutines.
var out sync.Mutex

func event(word string, fields ...string) {
	out.Lock()
	defer out.Unlock()
	fmt.Fprintln(os.Stdout, word+" "+strings.Join(fields, " "))
}

// kv renders one field; empty values become "-" so that every line splits on spaces.
func kv(key string, value interface{}) string {
	s := strings.ReplaceAll(fmt.Sprint(value), " ", "_")
	if s == "" {
		s = "-"
	}
	return key + "=" + s
}

func queueName(mq *primitive.MessageQueue) string {
	if mq == nil {
		return "-"
	}
	return fmt.Sprintf("%s:%d", mq.BrokerName, mq.QueueId)
}

// resolver points the client at exactly the given NameServer(s) (";"-separated).
func resolver(namesrv string) primitive.NsResolver {
	if namesrv == "" {
		fail("-namesrv is required\n%s", usage)
	}
	return primitive.NewPassthroughResolver(strings.Split(namesrv, ";"))
}

// micros is the wall clock in microseconds since the epoch, what at= and start= print.
func micros() int64 {
	return time.Now().UnixMicro()
}

// untilStdinCloses returns a channel closed when stdin reaches EOF: the harness's cue to stop.
func untilStdinCloses() <-chan struct{} {
	closed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(closed)
	}()
	return closed
}

// waitForStop blocks until stdin closes ("stdin") or timeoutMs passes ("timeout").
func waitForStop(timeoutMs int) string {
	select {
	case <-untilStdinCloses():
		return "stdin"
	case <-time.After(time.Duration(timeoutMs) * time.Millisecond):
		return "timeout"
	}
}
