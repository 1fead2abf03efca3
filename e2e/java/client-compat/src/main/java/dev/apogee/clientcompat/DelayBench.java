package dev.apogee.clientcompat;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;

/**
 * {@code delay-bench}: delayed-message load for e2e/bench/messaging.sh. {@code --threads} threads
 * share one DefaultMQProducer and send synchronously, bodies of {@code --size} bytes, each with
 * delay level {@code --level}, for {@code --warmup-ms} (not recorded) and then
 * {@code --duration-ms} (recorded). With {@code --rate} (messages per second over all threads)
 * each thread sends on a fixed schedule, so the load offered is known; without it, as fast as
 * the sends return.
 *
 * <p>A push consumer in the same JVM subscribes first. Each body starts with the
 * {@link System#nanoTime()} taken just before its send, a phase byte and a sequence number; for
 * every recorded message, at its first arrival, lateness = arrival − (send time +
 * {@code --level-ms}), the delay the broker is configured with for that level (the client cannot
 * ask). After the load it waits up to {@code --level-ms} + {@code --drain-ms} for every recorded
 * message that was sent successfully, and names how many never came.
 *
 * <p>Prints {@code PHASE} lines as {@link Bench} does and one {@code RESULT} line; latencies in
 * microseconds. Exit status 1 when a recorded send failed or a recorded message did not arrive.
 */
final class DelayBench {
    private static final byte WARMUP = 1;
    private static final byte MEASURE = 2;

    private DelayBench() {}

    /** Recorded messages: which were sent, which arrived, and each one's lateness. */
    static final class Tally {
        private final BitSet sent = new BitSet();
        private final BitSet arrived = new BitSet();
        private final Bench.Longs lateness = new Bench.Longs();
        private long duplicates;

        synchronized void sent(int seq) {
            sent.set(seq);
        }

        synchronized void arrived(int seq, long lateNanos) {
            if (arrived.get(seq)) {
                duplicates++;
                return;
            }
            arrived.set(seq);
            lateness.add(lateNanos);
        }

        synchronized long missing() {
            BitSet m = (BitSet) sent.clone();
            m.andNot(arrived);
            return m.cardinality();
        }

        synchronized long duplicates() {
            return duplicates;
        }

        synchronized long[] sortedLateness() {
            return Bench.Longs.merged(List.of(lateness));
        }
    }

    static int run(Args args) throws Exception {
        String namesrv = args.require("namesrv");
        String topic = args.require("topic");
        int threads = args.intOf("threads", 1);
        int size = args.intOf("size", 1024);
        int queues = args.intOf("queues", 8);
        int level = args.intOf("level", 2);
        long levelMs = args.longOf("level-ms", 5_000);
        long rate = args.longOf("rate", 0);
        long warmupMs = args.longOf("warmup-ms", 10_000);
        long durationMs = args.longOf("duration-ms", 30_000);
        long drainMs = args.longOf("drain-ms", 30_000);
        long sendTimeoutMs = args.longOf("send-timeout-ms", 3_000);
        String group = args.get("group", "DelayBenchGroup_" + topic);
        String label = args.get("label", "run");
        args.rejectUnused();
        if (size < 13) {
            throw new IllegalArgumentException("--size must be at least 13 (stamp, phase, sequence)");
        }

        DefaultMQProducer producer = new DefaultMQProducer("DelayBenchProducer_" + topic);
        producer.setNamesrvAddr(namesrv);
        producer.setInstanceName("delay-bench-producer");
        producer.setRetryTimesWhenSendFailed(0);
        producer.setSendMsgTimeout((int) sendTimeoutMs);
        producer.setDefaultTopicQueueNums(queues);
        producer.start();
        DefaultMQPushConsumer consumer = new DefaultMQPushConsumer(group);
        Tally tally = new Tally();
        long levelNanos = levelMs * 1_000_000L;
        try {
            Bench.createTopic(producer, topic, queues);
            consumer.setNamesrvAddr(namesrv);
            consumer.setInstanceName("delay-bench-consumer");
            consumer.setPollNameServerInterval(1000);
            consumer.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
            consumer.subscribe(topic, "*");
            consumer.registerMessageListener((MessageListenerConcurrently) (msgs, context) -> {
                long now = System.nanoTime();
                for (MessageExt msg : msgs) {
                    ByteBuffer b = ByteBuffer.wrap(msg.getBody());
                    long stamp = b.getLong();
                    if (b.get() == MEASURE) {
                        tally.arrived(b.getInt(), now - (stamp + levelNanos));
                    }
                }
                return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
            });
            consumer.start();
            Bench.awaitAssignment(consumer, topic, queues, 60_000);

            long start = System.nanoTime();
            long measureStart = start + warmupMs * 1_000_000L;
            long measureEnd = measureStart + durationMs * 1_000_000L;
            // Each thread's sends are this far apart with --rate, thread t offset by t/threads.
            long interval = rate > 0 ? threads * 1_000_000_000L / rate : 0;
            AtomicLong seqs = new AtomicLong();
            AtomicLong failed = new AtomicLong();
            AtomicLong errorsShown = new AtomicLong();
            List<Bench.Longs> latencies = new ArrayList<>();
            List<Thread> workers = new ArrayList<>();
            Out.line("PHASE name=warmup at_ms=" + System.currentTimeMillis());
            Thread marker = new Thread(() -> {
                try {
                    Bench.sleepUntil(measureStart);
                    Out.line("PHASE name=measure at_ms=" + System.currentTimeMillis());
                    Bench.sleepUntil(measureEnd);
                    Out.line("PHASE name=drain at_ms=" + System.currentTimeMillis());
                } catch (InterruptedException e) {
                    // The run is over.
                }
            }, "phase-marker");
            marker.setDaemon(true);
            marker.start();
            for (int t = 0; t < threads; t++) {
                Bench.Longs mine = new Bench.Longs();
                latencies.add(mine);
                long first = start + (interval * t) / threads;
                Thread w = new Thread(() -> {
                    byte[] filler = new byte[size];
                    Arrays.fill(filler, (byte) 'x');
                    for (long k = 0; ; k++) {
                        if (interval > 0) {
                            long due = first + k * interval;
                            while (System.nanoTime() < due) {
                                LockSupport.parkNanos(due - System.nanoTime());
                            }
                        }
                        long t0 = System.nanoTime();
                        if (t0 >= measureEnd) {
                            return;
                        }
                        byte phase = t0 >= measureStart ? MEASURE : WARMUP;
                        int seq = phase == MEASURE ? (int) seqs.getAndIncrement() : -1;
                        byte[] body = filler.clone();
                        ByteBuffer.wrap(body).putLong(t0).put(phase).putInt(seq);
                        Message m = new Message(topic, "delay", body);
                        m.setDelayTimeLevel(level);
                        boolean ok;
                        try {
                            ok = producer.send(m).getSendStatus() == SendStatus.SEND_OK;
                        } catch (Exception e) {
                            ok = false;
                            if (errorsShown.incrementAndGet() <= 10) {
                                System.err.println("delay-bench: send failed: " + e);
                            }
                        }
                        long took = System.nanoTime() - t0;
                        if (phase == MEASURE && ok) {
                            tally.sent(seq);
                            mine.add(took);
                        } else if (phase == MEASURE) {
                            failed.incrementAndGet();
                        }
                    }
                }, "delay-bench-producer-" + t);
                workers.add(w);
                w.start();
            }
            for (Thread w : workers) {
                w.join();
            }
            long[] sends = Bench.Longs.merged(latencies);
            long sent = sends.length;
            long deadline = System.nanoTime() + levelNanos + drainMs * 1_000_000L;
            while (tally.missing() > 0 && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            Out.line("PHASE name=done at_ms=" + System.currentTimeMillis());
            long missing = tally.missing();
            long[] late = tally.sortedLateness();
            double seconds = durationMs / 1000.0;
            Out.line("RESULT label=" + label
                    + " threads=" + threads
                    + " size=" + size
                    + " level=" + level
                    + " level_ms=" + levelMs
                    + " rate=" + rate
                    + " sent=" + sent
                    + " failed=" + failed.get()
                    + " tps=" + String.format("%.0f", sent / seconds)
                    + " p50_us=" + Bench.micros(sends, 0.50)
                    + " p99_us=" + Bench.micros(sends, 0.99)
                    + " p999_us=" + Bench.micros(sends, 0.999)
                    + " max_us=" + Bench.micros(sends, 1.0)
                    + " received=" + late.length
                    + " missing=" + missing
                    + " duplicates=" + tally.duplicates()
                    + " late_min_us=" + Bench.micros(late, 0.0)
                    + " late_p50_us=" + Bench.micros(late, 0.50)
                    + " late_p99_us=" + Bench.micros(late, 0.99)
                    + " late_max_us=" + Bench.micros(late, 1.0));
            return failed.get() == 0 && missing == 0 ? 0 : 1;
        } finally {
            consumer.shutdown();
            producer.shutdown();
        }
    }
}
