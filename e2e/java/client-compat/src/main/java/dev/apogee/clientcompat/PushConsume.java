package dev.apogee.clientcompat;

import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;
import org.apache.rocketmq.remoting.protocol.heartbeat.MessageModel;

/**
 * {@code consume}: a DefaultMQPushConsumer in clustering mode. Prints {@code STARTED}, then
 * {@code ASSIGNED queues=...} whenever the rebalance changes its queues of the topic, a
 * {@code RECV} line per delivery, and after it stops (see {@link Stop}) the offsets it committed
 * ({@code COMMITTED queue=... offset=...}) and {@code DONE}.
 *
 * <p>Shutdown waits for the listener threads to finish (awaitTerminationMillisWhenShutdown), so
 * every delivery printed has been acknowledged before the client sends its final offsets. That
 * makes the committed offsets exact, which the restart test relies on.
 */
final class PushConsume {
    private PushConsume() {}

    static int run(Args args) throws Exception {
        ConsumerOptions opts = new ConsumerOptions(args);
        Stop stop = new Stop(args);
        args.rejectUnused();

        DefaultMQPushConsumer consumer = new DefaultMQPushConsumer(opts.group);
        opts.apply(consumer);
        consumer.setMessageModel(MessageModel.CLUSTERING);
        consumer.setConsumeFromWhere(opts.from);
        consumer.setAwaitTerminationMillisWhenShutdown(10_000);
        consumer.subscribe(opts.topic, opts.expr);
        consumer.registerMessageListener((MessageListenerConcurrently) (msgs, context) -> {
            for (MessageExt msg : msgs) {
                Out.received("RECV", msg);
            }
            stop.delivered(msgs.size());
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        consumer.start();
        Out.line("STARTED group=" + opts.group + " topic=" + opts.topic);

        Thread watcher = new Thread(() -> watchAssignment(consumer, opts.topic), "assignment-watcher");
        watcher.setDaemon(true);
        watcher.start();
        String reason = stop.await();
        watcher.interrupt();
        watcher.join(1000);

        consumer.shutdown();
        // After shutdown the offset store still holds what the client sent to the broker last.
        Map<MessageQueue, Long> committed =
                consumer.getDefaultMQPushConsumerImpl().getOffsetStore().cloneOffsetTable(opts.topic);
        for (Map.Entry<MessageQueue, Long> e : committed.entrySet()) {
            Out.line("COMMITTED queue=" + Out.queue(e.getKey()) + " offset=" + e.getValue());
        }
        Out.line("DONE received=" + stop.deliveredSoFar() + " reason=" + reason);
        return 0;
    }

    /**
     * Polls the rebalance's process-queue table (the queues this member pulls from) and prints it
     * when it changes, so the harness can wait for a group to settle before it produces. The retry
     * topic every clustering consumer also subscribes to is left out.
     */
    private static void watchAssignment(DefaultMQPushConsumer consumer, String topic) {
        String last = null;
        while (!Thread.currentThread().isInterrupted()) {
            Set<String> queues = new TreeSet<>();
            consumer.getDefaultMQPushConsumerImpl().getRebalanceImpl().getProcessQueueTable()
                    .forEach((mq, pq) -> {
                        if (mq.getTopic().equals(topic) && !pq.isDropped()) {
                            queues.add(Out.queue(mq));
                        }
                    });
            String now = String.join(",", queues);
            if (!now.equals(last)) {
                Out.line("ASSIGNED queues=" + (now.isEmpty() ? "none" : now));
                last = now;
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                return;
            }
        }
    }
}
