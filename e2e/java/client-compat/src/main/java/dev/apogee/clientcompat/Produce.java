package dev.apogee.clientcompat;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendCallback;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.common.message.Message;

/**
 * {@code produce}: sends {@code --count} messages with DefaultMQProducer in one of its four ways
 * and prints one {@code SENT} line per message, then {@code SUMMARY}. Message i has key
 * {@code <key-prefix>-<i>}, body {@code body-<key>} and tag {@code tags[i % tags.length]}.
 *
 * <p>The client's own retries are off: a broker answer the client does not accept must fail the
 * run instead of being papered over by a second attempt. Any failure exits with status 1.
 */
final class Produce {
    private Produce() {}

    static int run(Args args) throws Exception {
        String namesrv = args.require("namesrv");
        String topic = args.require("topic");
        int count = args.intOf("count", 10);
        String mode = args.get("mode", "sync");
        String[] tags = args.get("tags", args.get("tag", "TagA")).split(",");
        String prefix = args.get("key-prefix", "k");
        int batchSize = args.intOf("batch-size", 10);
        String group = args.get("group", "PG_" + topic);
        long timeoutMs = args.longOf("timeout-ms", 60_000);
        args.rejectUnused();

        List<Message> messages = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            String key = prefix + "-" + i;
            String body = "body-" + key;
            messages.add(new Message(topic, tags[i % tags.length], key,
                    body.getBytes(StandardCharsets.UTF_8)));
        }

        DefaultMQProducer producer = new DefaultMQProducer(group);
        producer.setNamesrvAddr(namesrv);
        Timeouts.apply(producer);
        producer.setRetryTimesWhenSendFailed(0);
        producer.setRetryTimesWhenSendAsyncFailed(0);
        producer.start();
        int failed;
        try {
            switch (mode) {
                case "sync":
                    for (Message m : messages) {
                        sent(m.getKeys(), producer.send(m));
                    }
                    failed = 0;
                    break;
                case "async":
                    failed = sendAsync(producer, messages, timeoutMs);
                    break;
                case "oneway":
                    for (Message m : messages) {
                        producer.sendOneway(m);
                        Out.line("SENT key=" + m.getKeys() + " status=ONEWAY");
                    }
                    // Oneway requests are only written to the socket; shutting down at once could
                    // close the connection before the last writes leave. A short linger lets the
                    // broker read them all, so "sent" means "the broker received it".
                    Thread.sleep(1000);
                    failed = 0;
                    break;
                case "batch":
                    for (int from = 0; from < count; from += batchSize) {
                        List<Message> batch = messages.subList(from, Math.min(count, from + batchSize));
                        sentBatch(batch, producer.send(batch));
                    }
                    failed = 0;
                    break;
                default:
                    throw new IllegalArgumentException("unknown --mode " + mode);
            }
        } finally {
            producer.shutdown();
        }
        Out.line("SUMMARY mode=" + mode + " sent=" + (count - failed) + " failed=" + failed);
        return failed == 0 ? 0 : 1;
    }

    private static void sent(String key, SendResult r) {
        Out.line("SENT key=" + key
                + " msgId=" + r.getMsgId()
                + " offsetMsgId=" + r.getOffsetMsgId()
                + " queue=" + Out.queue(r.getMessageQueue())
                + " queueOffset=" + r.getQueueOffset()
                + " status=" + r.getSendStatus());
    }

    /**
     * One batch is one request and one SendResult: its msgId and offsetMsgId are the messages' ids
     * joined with commas, in batch order, and queueOffset is the first message's offset; the rest
     * follow it in the same queue.
     */
    private static void sentBatch(List<Message> batch, SendResult r) {
        String[] ids = r.getMsgId().split(",");
        String[] offsetIds = r.getOffsetMsgId() == null ? new String[0] : r.getOffsetMsgId().split(",");
        if (ids.length != batch.size()) {
            throw new IllegalStateException("batch of " + batch.size() + " returned " + ids.length
                    + " message ids: " + r);
        }
        for (int i = 0; i < batch.size(); i++) {
            Out.line("SENT key=" + batch.get(i).getKeys()
                    + " msgId=" + ids[i]
                    + " offsetMsgId=" + (i < offsetIds.length ? offsetIds[i] : "none")
                    + " queue=" + Out.queue(r.getMessageQueue())
                    + " queueOffset=" + (r.getQueueOffset() + i)
                    + " status=" + r.getSendStatus());
        }
    }

    /** Sends everything at once and waits for every callback; returns how many failed. */
    private static int sendAsync(DefaultMQProducer producer, List<Message> messages, long timeoutMs)
            throws Exception {
        CountDownLatch done = new CountDownLatch(messages.size());
        AtomicInteger failed = new AtomicInteger();
        for (Message m : messages) {
            producer.send(m, new SendCallback() {
                @Override
                public void onSuccess(SendResult r) {
                    sent(m.getKeys(), r);
                    done.countDown();
                }

                @Override
                public void onException(Throwable e) {
                    Out.line("FAILED key=" + m.getKeys() + " error=" + e.toString().replace(' ', '_'));
                    e.printStackTrace();
                    failed.incrementAndGet();
                    done.countDown();
                }
            });
        }
        if (!done.await(timeoutMs, TimeUnit.MILLISECONDS)) {
            throw new IllegalStateException(done.getCount() + " async sends had no callback within "
                    + timeoutMs + " ms");
        }
        return failed.get();
    }
}
