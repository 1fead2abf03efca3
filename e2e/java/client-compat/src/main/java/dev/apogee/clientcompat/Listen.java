package dev.apogee.clientcompat;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.ConsumeOrderlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.consumer.listener.MessageListenerOrderly;
import org.apache.rocketmq.common.MixAll;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.remoting.protocol.heartbeat.MessageModel;

/**
 * {@code listen}: a DefaultMQPushConsumer for the messaging-semantics scenarios, with what
 * {@code consume} keeps fixed made choosable:
 *
 * <ul>
 *   <li>{@code --model clustering|broadcasting};
 *   <li>{@code --orderly}: a MessageListenerOrderly instead of a concurrent listener;
 *   <li>{@code --fail P=N@L,...} (concurrent only): a message whose key starts with P is answered
 *       RECONSUME_LATER the first N times this consumer sees it ({@code always}: every time),
 *       with the context's delayLevelWhenNextConsume set to L (0: the broker picks the level);
 *   <li>{@code --max-reconsume N}: setMaxReconsumeTimes;
 *   <li>{@code --consume-ms}: how long the listener takes per message.
 * </ul>
 *
 * <p>Prints {@code STARTED}, {@code ASSIGNED queues=... retry=... at=} when the queues it
 * consumes change (see {@link #watchAssignment}), one {@code RECV} line per delivery (the fields
 * of {@link #received}) and {@code DONE} after a clean shutdown, which waits for the listener
 * threads, so every delivery printed was answered before the final offsets are sent.
 */
final class Listen {
    private Listen() {}

    /** One {@code --fail} rule. */
    private static final class Rule {
        final String prefix;
        final int failures;
        final int delayLevel;

        Rule(String spec) {
            int eq = spec.indexOf('=');
            int at = spec.indexOf('@');
            if (eq <= 0 || at < eq) {
                throw new IllegalArgumentException("--fail wants PREFIX=N@LEVEL, not " + spec);
            }
            prefix = spec.substring(0, eq);
            String n = spec.substring(eq + 1, at);
            failures = n.equals("always") ? Integer.MAX_VALUE : Integer.parseInt(n);
            delayLevel = Integer.parseInt(spec.substring(at + 1));
        }
    }

    static int run(Args args) throws Exception {
        ConsumerOptions opts = new ConsumerOptions(args);
        Stop stop = new Stop(args);
        String model = args.get("model", "clustering");
        boolean orderly = args.flag("orderly");
        String failSpec = args.get("fail", "");
        int maxReconsume = args.intOf("max-reconsume", -1);
        long consumeMs = args.longOf("consume-ms", 0);
        args.rejectUnused();

        List<Rule> rules = new ArrayList<>();
        for (String spec : failSpec.isEmpty() ? new String[0] : failSpec.split(",")) {
            rules.add(new Rule(spec));
        }
        if (orderly && !rules.isEmpty()) {
            throw new IllegalArgumentException("--fail is for the concurrent listener");
        }

        DefaultMQPushConsumer consumer = new DefaultMQPushConsumer(opts.group);
        opts.apply(consumer);
        switch (model) {
            case "clustering":
                consumer.setMessageModel(MessageModel.CLUSTERING);
                break;
            case "broadcasting":
                consumer.setMessageModel(MessageModel.BROADCASTING);
                break;
            default:
                throw new IllegalArgumentException("--model is clustering or broadcasting, not " + model);
        }
        if (maxReconsume >= 0) {
            consumer.setMaxReconsumeTimes(maxReconsume);
        }
        consumer.setConsumeFromWhere(opts.from);
        consumer.setAwaitTerminationMillisWhenShutdown(10_000);
        consumer.subscribe(opts.topic, opts.expr);

        Map<String, Integer> seen = new ConcurrentHashMap<>();
        if (orderly) {
            consumer.registerMessageListener((MessageListenerOrderly) (msgs, context) -> {
                for (MessageExt msg : msgs) {
                    received(msg, seen.merge(msg.getKeys(), 1, Integer::sum) - 1, "ok");
                    pause(consumeMs);
                }
                stop.delivered(msgs.size());
                return ConsumeOrderlyStatus.SUCCESS;
            });
        } else {
            consumer.registerMessageListener((MessageListenerConcurrently) (msgs, context) -> {
                boolean later = false;
                for (MessageExt msg : msgs) {
                    int attempt = seen.merge(msg.getKeys(), 1, Integer::sum) - 1;
                    Rule rule = ruleFor(rules, msg.getKeys());
                    boolean fail = rule != null && attempt < rule.failures;
                    if (fail) {
                        context.setDelayLevelWhenNextConsume(rule.delayLevel);
                        later = true;
                    }
                    received(msg, attempt, fail ? "later" : "ok");
                    pause(consumeMs);
                }
                stop.delivered(msgs.size());
                return later ? ConsumeConcurrentlyStatus.RECONSUME_LATER
                        : ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
            });
        }
        consumer.start();
        Out.line("STARTED group=" + opts.group + " topic=" + opts.topic);

        Thread watcher = new Thread(() -> watchAssignment(consumer, opts.topic, orderly), "assignment-watcher");
        watcher.setDaemon(true);
        watcher.start();
        String reason = stop.await();
        watcher.interrupt();
        watcher.join(1000);
        consumer.shutdown();
        Out.line("DONE received=" + stop.deliveredSoFar() + " reason=" + reason);
        return 0;
    }

    private static Rule ruleFor(List<Rule> rules, String key) {
        for (Rule r : rules) {
            if (key != null && key.startsWith(r.prefix)) {
                return r;
            }
        }
        return null;
    }

    private static void pause(long ms) {
        if (ms <= 0) {
            return;
        }
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * {@code RECV}: the message as delivered ({@code topic} after the client put a retried
     * message's original topic back), {@code attempt} (how many times this consumer had seen the
     * key before), {@code verdict} (ok or later), {@code at} (microseconds, see {@link Wall}),
     * and the properties the retry path sets ({@code -} when absent).
     */
    private static void received(MessageExt msg, int attempt, String verdict) {
        Out.line("RECV key=" + msg.getKeys()
                + " body=" + new String(msg.getBody(), StandardCharsets.UTF_8)
                + " topic=" + msg.getTopic()
                + " queue=" + msg.getBrokerName() + ":" + msg.getQueueId()
                + " queueOffset=" + msg.getQueueOffset()
                + " reconsume=" + msg.getReconsumeTimes()
                + " msgId=" + msg.getMsgId()
                + " originMsgId=" + property(msg, "ORIGIN_MESSAGE_ID")
                + " retryTopic=" + property(msg, "RETRY_TOPIC")
                + " attempt=" + attempt
                + " verdict=" + verdict
                + " at=" + Wall.micros());
    }

    private static String property(MessageExt msg, String name) {
        String value = msg.getProperty(name);
        return value == null || value.isEmpty() ? "-" : value.replace(' ', '_');
    }

    /**
     * Prints the queues of {@code topic} ({@code queues=}) and of the group's retry topic
     * ({@code retry=}) this member consumes whenever they change: those in the rebalance's
     * process-queue table, not dropped, and for an orderly consumer also locked.
     */
    private static void watchAssignment(DefaultMQPushConsumer consumer, String topic, boolean orderly) {
        String retryTopic = MixAll.getRetryTopic(consumer.getConsumerGroup());
        String last = null;
        while (!Thread.currentThread().isInterrupted()) {
            Set<String> queues = new TreeSet<>();
            Set<String> retry = new TreeSet<>();
            consumer.getDefaultMQPushConsumerImpl().getRebalanceImpl().getProcessQueueTable()
                    .forEach((mq, pq) -> {
                        if (pq.isDropped() || (orderly && !pq.isLocked())) {
                            return;
                        }
                        if (mq.getTopic().equals(topic)) {
                            queues.add(Out.queue(mq));
                        } else if (mq.getTopic().equals(retryTopic)) {
                            retry.add(Out.queue(mq));
                        }
                    });
            String now = "queues=" + (queues.isEmpty() ? "none" : String.join(",", queues))
                    + " retry=" + (retry.isEmpty() ? "none" : String.join(",", retry));
            if (!now.equals(last)) {
                Out.line("ASSIGNED " + now + " at=" + Wall.micros());
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
