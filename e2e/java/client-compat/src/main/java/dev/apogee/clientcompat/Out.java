package dev.apogee.clientcompat;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;

/**
 * Every machine-readable line the program prints. Lines are {@code WORD key=value ...} with no
 * spaces inside values (keys, tags and bodies are chosen without spaces), and each is printed and
 * flushed as one call, so lines from concurrent callback threads never interleave and the harness
 * sees them as they happen.
 */
final class Out {
    private static final PrintStream OUT = System.out;

    private Out() {}

    static synchronized void line(String text) {
        OUT.println(text);
        OUT.flush();
    }

    /** {@code brokerName:queueId}, the one spelling of a queue in every line. */
    static String queue(MessageQueue mq) {
        return mq.getBrokerName() + ":" + mq.getQueueId();
    }

    /** What a consumer reports for each delivered message. */
    static void received(String how, MessageExt msg) {
        line(how
                + " key=" + msg.getKeys()
                + " body=" + new String(msg.getBody(), StandardCharsets.UTF_8)
                + " tag=" + msg.getTags()
                + " queue=" + msg.getBrokerName() + ":" + msg.getQueueId()
                + " queueOffset=" + msg.getQueueOffset()
                + " reconsume=" + msg.getReconsumeTimes()
                + " msgId=" + msg.getMsgId());
    }
}
