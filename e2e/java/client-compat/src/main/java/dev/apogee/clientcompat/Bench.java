package dev.apogee.clientcompat;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.LocalTransactionState;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.client.producer.TransactionListener;
import org.apache.rocketmq.client.producer.TransactionMQProducer;
import org.apache.rocketmq.client.producer.TransactionSendResult;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.remoting.protocol.heartbeat.MessageModel;

/**
 * {@code bench}: the load generator of e2e/bench/broker.sh, messaging.sh and replication.sh.
 * {@code --threads} producer threads share one DefaultMQProducer and send synchronously, one
 * message at a time, bodies of {@code --size} bytes, for {@code --warmup-ms} (not recorded) and
 * then {@code --duration-ms} (recorded): the time of every send that started in the recorded
 * window, and the number that succeeded, give throughput and the send-latency percentiles.
 *
 * <p>With {@code --consume}, a push consumer (its own client instance, hence its own connection)
 * subscribes to the topic before any load and measures end-to-end latency: each body starts with
 * the {@link System#nanoTime()} taken just before its send and a phase byte, and the listener
 * takes the difference as it receives a recorded-window message. Producer and consumer share the
 * JVM, so the clocks are the same clock. After the load it waits up to {@code --drain-ms} for every
 * recorded message to arrive.
 *
 * <p>With {@code --transactional}, the producer is a TransactionMQProducer and each send is
 * {@code sendMessageInTransaction}: a half message sent synchronously, a local transaction that
 * answers COMMIT_MESSAGE at once, and the client's one-way END_TRANSACTION commit. Its time is the
 * send's latency, and a send counts as successful when it is SEND_OK and committed; with
 * {@code --consume} the consumer confirms that every committed message arrives.
 *
 * <p>The topic is created first with {@code --queues} queues (UPDATE_AND_CREATE_TOPIC through the
 * client's admin call, on the brokers serving TBW102), so both brokers see the same layout from the
 * first send. The client's retries are off: a failed send is counted, never retried.
 *
 * <p>Lines printed: {@code PHASE name=... at_ms=<epoch ms>} as each phase starts (warmup, measure,
 * drain, done), then one {@code RESULT key=value ...} line. Latencies are in microseconds.
 * Exit status 1 when a recorded send failed or the consumer missed a recorded message.
 */
final class Bench {
    private static final byte WARMUP = 1;
    private static final byte MEASURE = 2;

    private Bench() {}

    /** A growable array of longs: one per producer thread, so recording needs no lock. */
    static final class Longs {
        private long[] values = new long[1 << 16];
        private int size;

        void add(long v) {
            if (size == values.length) {
                values = Arrays.copyOf(values, size * 2);
            }
            values[size++] = v;
        }

        int size() {
            return size;
        }

        static long[] merged(List<Longs> parts) {
            int total = 0;
            for (Longs p : parts) {
                total += p.size;
            }
            long[] all = new long[total];
            int at = 0;
            for (Longs p : parts) {
                System.arraycopy(p.values, 0, all, at, p.size);
                at += p.size;
            }
            Arrays.sort(all);
            return all;
        }
    }

    /** The value at quantile q (nearest rank) of sorted nanos, in microseconds. */
    static String micros(long[] sorted, double q) {
        if (sorted.length == 0) {
            return "none";
        }
        int rank = (int) Math.ceil(q * sorted.length);
        long v = sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
        return String.format("%.1f", v / 1000.0);
    }

    static int run(Args args) throws Exception {
        String namesrv = args.require("namesrv");
        String topic = args.require("topic");
        int threads = args.intOf("threads", 1);
        int size = args.intOf("size", 1024);
        int queues = args.intOf("queues", 8);
        long warmupMs = args.longOf("warmup-ms", 10_000);
        long durationMs = args.longOf("duration-ms", 30_000);
        long drainMs = args.longOf("drain-ms", 30_000);
        long sendTimeoutMs = args.longOf("send-timeout-ms", 3_000);
        boolean consume = args.flag("consume");
        boolean transactional = args.flag("transactional");
        String group = args.get("group", "BenchGroup_" + topic);
        String label = args.get("label", "run");
        args.rejectUnused();
        if (size < 9) {
            throw new IllegalArgumentException("--size must be at least 9 (timestamp + phase byte)");
        }

        DefaultMQProducer producer = transactional
                ? committing("BenchTxProducer_" + topic)
                : new DefaultMQProducer("BenchProducer_" + topic);
        producer.setNamesrvAddr(namesrv);
        producer.setInstanceName("bench-producer");
        producer.setRetryTimesWhenSendFailed(0);
        producer.setSendMsgTimeout((int) sendTimeoutMs);
        producer.setDefaultTopicQueueNums(queues);
        producer.start();

        DefaultMQPushConsumer consumer = null;
        final Longs e2e = new Longs();
        final AtomicLong receivedMeasured = new AtomicLong();
        final AtomicLong receivedTotal = new AtomicLong();
        try {
            createTopic(producer, topic, queues);
            if (consume) {
                consumer = new DefaultMQPushConsumer(group);
                consumer.setNamesrvAddr(namesrv);
                consumer.setInstanceName("bench-consumer");
                consumer.setPollNameServerInterval(1000);
                consumer.setMessageModel(MessageModel.CLUSTERING);
                consumer.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
                consumer.subscribe(topic, "*");
                consumer.registerMessageListener((MessageListenerConcurrently) (msgs, context) -> {
                    long now = System.nanoTime();
                    for (MessageExt msg : msgs) {
                        ByteBuffer b = ByteBuffer.wrap(msg.getBody());
                        long stamp = b.getLong();
                        byte phase = b.get();
                        receivedTotal.incrementAndGet();
                        if (phase == MEASURE) {
                            synchronized (e2e) {
                                e2e.add(now - stamp);
                            }
                            receivedMeasured.incrementAndGet();
                        }
                    }
                    return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
                });
                consumer.start();
                awaitAssignment(consumer, topic, queues, 60_000);
            }

            // Phases by the clock: every thread sends until the recorded window closes.
            long start = System.nanoTime();
            long measureStart = start + warmupMs * 1_000_000L;
            long measureEnd = measureStart + durationMs * 1_000_000L;
            List<Longs> latencies = new ArrayList<>();
            AtomicLong warmupSent = new AtomicLong();
            AtomicLong failed = new AtomicLong();
            AtomicLong warmupFailed = new AtomicLong();
            AtomicLong errorsShown = new AtomicLong();
            List<Thread> workers = new ArrayList<>();
            Out.line("PHASE name=warmup at_ms=" + System.currentTimeMillis());
            Thread phaseMarker = new Thread(() -> {
                try {
                    sleepUntil(measureStart);
                    Out.line("PHASE name=measure at_ms=" + System.currentTimeMillis());
                    sleepUntil(measureEnd);
                    Out.line("PHASE name=drain at_ms=" + System.currentTimeMillis());
                } catch (InterruptedException e) {
                    // The run is over.
                }
            }, "phase-marker");
            phaseMarker.setDaemon(true);
            phaseMarker.start();
            for (int t = 0; t < threads; t++) {
                Longs mine = new Longs();
                latencies.add(mine);
                Thread w = new Thread(() -> {
                    byte[] filler = new byte[size];
                    Arrays.fill(filler, (byte) 'x');
                    while (true) {
                        long t0 = System.nanoTime();
                        if (t0 >= measureEnd) {
                            return;
                        }
                        byte phase = t0 >= measureStart ? MEASURE : WARMUP;
                        byte[] body = filler.clone();
                        ByteBuffer.wrap(body).putLong(t0).put(phase);
                        Message m = new Message(topic, "bench", body);
                        boolean ok;
                        try {
                            SendResult r = transactional
                                    ? producer.sendMessageInTransaction(m, null)
                                    : producer.send(m);
                            ok = r.getSendStatus() == SendStatus.SEND_OK
                                    && (!transactional || ((TransactionSendResult) r)
                                            .getLocalTransactionState()
                                            == LocalTransactionState.COMMIT_MESSAGE);
                            if (!ok && errorsShown.incrementAndGet() <= 10) {
                                System.err.println("bench: send status " + r.getSendStatus());
                            }
                        } catch (Exception e) {
                            ok = false;
                            if (errorsShown.incrementAndGet() <= 10) {
                                System.err.println("bench: send failed: " + e);
                            }
                        }
                        long took = System.nanoTime() - t0;
                        if (phase == MEASURE) {
                            if (ok) {
                                mine.add(took);
                            } else {
                                failed.incrementAndGet();
                            }
                        } else if (ok) {
                            warmupSent.incrementAndGet();
                        } else {
                            warmupFailed.incrementAndGet();
                        }
                    }
                }, "bench-producer-" + t);
                workers.add(w);
                w.start();
            }
            for (Thread w : workers) {
                w.join();
            }
            long loadEnd = System.nanoTime();
            long[] sends = Longs.merged(latencies);
            long sent = sends.length;

            String reason = "none";
            if (consume) {
                long deadline = System.nanoTime() + drainMs * 1_000_000L;
                while (receivedMeasured.get() < sent && System.nanoTime() < deadline) {
                    Thread.sleep(10);
                }
                reason = receivedMeasured.get() >= sent ? "all" : "timeout";
            }
            Out.line("PHASE name=done at_ms=" + System.currentTimeMillis());
            long[] ends;
            synchronized (e2e) {
                ends = Longs.merged(List.of(e2e));
            }
            double seconds = durationMs / 1000.0;
            Out.line("RESULT label=" + label
                    + " threads=" + threads
                    + " transactional=" + transactional
                    + " size=" + size
                    + " queues=" + queues
                    + " duration_s=" + seconds
                    + " warmup_sent=" + warmupSent.get()
                    + " warmup_failed=" + warmupFailed.get()
                    + " sent=" + sent
                    + " failed=" + failed.get()
                    + " tps=" + String.format("%.0f", sent / seconds)
                    + " p50_us=" + micros(sends, 0.50)
                    + " p90_us=" + micros(sends, 0.90)
                    + " p99_us=" + micros(sends, 0.99)
                    + " p999_us=" + micros(sends, 0.999)
                    + " max_us=" + micros(sends, 1.0)
                    + " overrun_ms=" + (loadEnd - measureEnd) / 1_000_000L
                    + " consume=" + consume
                    + " e2e_received=" + ends.length
                    + " e2e_total_received=" + receivedTotal.get()
                    + " e2e_drain=" + reason
                    + " e2e_p50_us=" + micros(ends, 0.50)
                    + " e2e_p99_us=" + micros(ends, 0.99)
                    + " e2e_p999_us=" + micros(ends, 0.999)
                    + " e2e_max_us=" + micros(ends, 1.0));
            boolean complete = !consume || ends.length >= sent;
            return failed.get() == 0 && complete ? 0 : 1;
        } finally {
            if (consumer != null) {
                consumer.shutdown();
            }
            producer.shutdown();
        }
    }

    /** A transactional producer whose local transaction (and any back-check) commits at once. */
    private static TransactionMQProducer committing(String group) {
        TransactionMQProducer producer = new TransactionMQProducer(group);
        producer.setTransactionListener(new TransactionListener() {
            @Override
            public LocalTransactionState executeLocalTransaction(Message msg, Object arg) {
                return LocalTransactionState.COMMIT_MESSAGE;
            }

            @Override
            public LocalTransactionState checkLocalTransaction(MessageExt msg) {
                return LocalTransactionState.COMMIT_MESSAGE;
            }
        });
        return producer;
    }

    static void sleepUntil(long nanoDeadline) throws InterruptedException {
        long left;
        while ((left = nanoDeadline - System.nanoTime()) > 0) {
            Thread.sleep(Math.max(1, Math.min(left / 1_000_000L, 100)));
        }
    }

    /** UPDATE_AND_CREATE_TOPIC on the master(s) serving TBW102, retried briefly (bounded). */
    @SuppressWarnings("deprecation")
    static void createTopic(DefaultMQProducer producer, String topic, int queues)
            throws Exception {
        Exception last = null;
        for (int attempt = 0; attempt < 20; attempt++) {
            try {
                producer.createTopic("TBW102", topic, queues, null);
                return;
            } catch (Exception e) {
                last = e;
                Thread.sleep(500);
            }
        }
        throw last;
    }

    /** Waits until the rebalance gave this (only) consumer every queue of the topic. */
    static void awaitAssignment(DefaultMQPushConsumer consumer, String topic, int queues,
            long timeoutMs) throws InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMs;
        while (System.currentTimeMillis() < deadline) {
            long assigned = consumer.getDefaultMQPushConsumerImpl().getRebalanceImpl()
                    .getProcessQueueTable().keySet().stream()
                    .filter(mq -> mq.getTopic().equals(topic))
                    .count();
            if (assigned >= queues) {
                Out.line("ASSIGNED queues=" + assigned);
                return;
            }
            Thread.sleep(20);
        }
        throw new IllegalStateException("the consumer was not assigned " + queues + " queues of "
                + topic + " within " + timeoutMs + " ms");
    }
}
