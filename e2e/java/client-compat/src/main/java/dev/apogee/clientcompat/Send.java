package dev.apogee.clientcompat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.MessageQueueSelector;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageQueue;

/**
 * {@code send}: synchronous sends in rounds, for the messaging-semantics scenarios. Round i sends
 * one message per shard of {@code --shards} (in that order), so the shards' sequences interleave;
 * the message of shard s in round i has key {@code <key-prefix>-<s>-<i>} and body
 * {@code body-<key>}.
 *
 * <ul>
 *   <li>{@code --ordered}: a MessageQueueSelector sends every message of shard number j (its
 *       position in {@code --shards}) to queue {@code j % queues}, so one shard's sequence lives
 *       in one queue, in send order;
 *   <li>{@code --delay-levels l0,l1,...}: shard number j's messages carry delay level
 *       {@code l[j]} (0: none);
 *   <li>{@code --interval-ms}: a pause after each message;
 *   <li>{@code --pause-after R --go-file F}: after R rounds, print {@code PAUSED} and wait (at
 *       most {@code --timeout-ms}) until the file F exists, then send the remaining rounds.
 * </ul>
 *
 * <p>Prints {@code SENT key= shard= seq= delayLevel= queue= queueOffset= msgId= offsetMsgId= status=
 * start=
 * at=}, where {@code start} and {@code at} are the wall clock (microseconds since the epoch) just
 * before the send and just after it returned, then {@code SUMMARY}. The client's retries are
 * off; a send that is not SEND_OK fails the run (status 1).
 */
final class Send {
    private Send() {}

    static int run(Args args) throws Exception {
        String namesrv = args.require("namesrv");
        String topic = args.require("topic");
        String group = args.get("group", "PG_" + topic);
        String prefix = args.require("key-prefix");
        String[] shards = args.require("shards").split(",");
        int rounds = args.intOf("rounds", 1);
        boolean ordered = args.flag("ordered");
        String levelsArg = args.get("delay-levels", "");
        long intervalMs = args.longOf("interval-ms", 0);
        int pauseAfter = args.intOf("pause-after", -1);
        String goFile = args.get("go-file", null);
        long timeoutMs = args.longOf("timeout-ms", 120_000);
        args.rejectUnused();

        int[] levels = new int[shards.length];
        if (!levelsArg.isEmpty()) {
            String[] parts = levelsArg.split(",");
            if (parts.length != shards.length) {
                throw new IllegalArgumentException("--delay-levels needs one level per shard");
            }
            for (int j = 0; j < parts.length; j++) {
                levels[j] = Integer.parseInt(parts[j]);
            }
        }
        if (pauseAfter >= 0 && goFile == null) {
            throw new IllegalArgumentException("--pause-after needs --go-file");
        }
        long deadline = System.currentTimeMillis() + timeoutMs;

        DefaultMQProducer producer = new DefaultMQProducer(group);
        producer.setNamesrvAddr(namesrv);
        Timeouts.apply(producer);
        producer.setRetryTimesWhenSendFailed(0);
        producer.start();
        MessageQueueSelector byShard = (List<MessageQueue> mqs, Message msg, Object arg) ->
                mqs.get((Integer) arg % mqs.size());
        int sent = 0;
        int failed = 0;
        try {
            for (int i = 0; i < rounds && failed == 0; i++) {
                if (i == pauseAfter) {
                    Out.line("PAUSED rounds=" + i);
                    awaitFile(Paths.get(goFile), deadline);
                    Out.line("RESUMED");
                }
                for (int j = 0; j < shards.length && failed == 0; j++) {
                    String key = prefix + "-" + shards[j] + "-" + i;
                    Message m = new Message(topic, "TagA", key,
                            ("body-" + key).getBytes(StandardCharsets.UTF_8));
                    if (levels[j] > 0) {
                        m.setDelayTimeLevel(levels[j]);
                    }
                    long start = Wall.micros();
                    SendResult r = ordered ? producer.send(m, byShard, j) : producer.send(m);
                    long at = Wall.micros();
                    Out.line("SENT key=" + key
                            + " shard=" + shards[j]
                            + " seq=" + i
                            + " delayLevel=" + levels[j]
                            + " queue=" + Out.queue(r.getMessageQueue())
                            + " queueOffset=" + r.getQueueOffset()
                            + " msgId=" + r.getMsgId()
                            + " offsetMsgId=" + r.getOffsetMsgId()
                            + " status=" + r.getSendStatus()
                            + " start=" + start
                            + " at=" + at);
                    if (r.getSendStatus() == SendStatus.SEND_OK) {
                        sent++;
                    } else {
                        failed++;
                    }
                    if (intervalMs > 0) {
                        Thread.sleep(intervalMs);
                    }
                }
            }
        } finally {
            producer.shutdown();
        }
        Out.line("SUMMARY sent=" + sent + " failed=" + failed);
        return failed == 0 ? 0 : 1;
    }

    private static void awaitFile(Path file, long deadline) throws InterruptedException {
        while (!Files.exists(file)) {
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("no " + file + " before the deadline");
            }
            Thread.sleep(20);
        }
    }
}
