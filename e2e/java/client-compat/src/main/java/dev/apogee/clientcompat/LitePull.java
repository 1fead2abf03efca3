package dev.apogee.clientcompat;

import java.util.List;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.common.message.MessageExt;

/**
 * {@code lite-pull}: a DefaultLitePullConsumer in subscribe mode (the client rebalances queues
 * and pulls in the background; {@code poll} hands out what arrived), with its default auto
 * commit. Prints {@code STARTED}, a {@code RECV} line per message and {@code DONE}.
 */
final class LitePull {
    private LitePull() {}

    static int run(Args args) throws Exception {
        ConsumerOptions opts = new ConsumerOptions(args);
        Stop stop = new Stop(args);
        long pollMs = args.longOf("poll-ms", 200);
        args.rejectUnused();

        DefaultLitePullConsumer consumer = new DefaultLitePullConsumer(opts.group);
        opts.apply(consumer);
        consumer.setConsumeFromWhere(opts.from);
        consumer.subscribe(opts.topic, opts.expr);
        consumer.start();
        Out.line("STARTED group=" + opts.group + " topic=" + opts.topic);

        String reason;
        while ((reason = stop.reason()) == null) {
            List<MessageExt> msgs = consumer.poll(pollMs);
            for (MessageExt msg : msgs) {
                Out.received("RECV", msg);
            }
            if (!msgs.isEmpty()) {
                stop.delivered(msgs.size());
            }
        }
        consumer.shutdown();
        Out.line("DONE received=" + stop.deliveredSoFar() + " reason=" + reason);
        return 0;
    }
}
