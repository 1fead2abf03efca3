package dev.apogee.clientcompat;

import org.apache.rocketmq.client.ClientConfig;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;

/** What {@code consume} and {@code lite-pull} share: where to connect, what, and from where. */
final class ConsumerOptions {
    final String namesrv;
    final String group;
    final String topic;
    final String expr;
    final ConsumeFromWhere from;

    ConsumerOptions(Args args) {
        namesrv = args.require("namesrv");
        group = args.require("group");
        topic = args.require("topic");
        expr = args.get("expr", "*");
        String where = args.get("from", "first");
        switch (where) {
            case "first":
                from = ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET;
                break;
            case "last":
                from = ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET;
                break;
            default:
                throw new IllegalArgumentException("--from is first or last, not " + where);
        }
    }

    /**
     * Client settings every consumer gets. The route poll is shortened from 30 s to 1 s: a consumer
     * started right after the producer auto-created its topic must not wait half a minute for the
     * route (the NameServer learns of the topic when the broker re-registers). Request timeouts
     * are raised for slow test machines ({@link Timeouts}). Everything else keeps the client's
     * defaults, so the protocol the tests see is the one real users see.
     */
    void apply(ClientConfig client) {
        client.setNamesrvAddr(namesrv);
        client.setPollNameServerInterval(1000);
        Timeouts.apply(client);
    }
}
