package dev.apogee.clientcompat;

import org.apache.rocketmq.client.ClientConfig;
import org.apache.rocketmq.client.producer.DefaultMQProducer;

/**
 * Client timeouts for test machines. The client's defaults (3 s per request and per send,
 * route lookups included) are meant for warmed-up processes; a freshly started JVM on a shared
 * 2-core machine can spend most of that loading classes before its first request leaves, and
 * then fails a lookup the server answered in a millisecond. The harness bounds every run itself.
 */
final class Timeouts {
    static final int REQUEST_MS = 15_000;

    private Timeouts() {}

    static void apply(ClientConfig client) {
        client.setMqClientApiTimeout(REQUEST_MS);
    }

    static void apply(DefaultMQProducer producer) {
        apply((ClientConfig) producer);
        producer.setSendMsgTimeout(REQUEST_MS);
    }
}
