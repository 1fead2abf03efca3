package dev.apogee.clientcompat;

import java.nio.charset.StandardCharsets;
import org.apache.rocketmq.client.producer.LocalTransactionState;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.client.producer.TransactionListener;
import org.apache.rocketmq.client.producer.TransactionMQProducer;
import org.apache.rocketmq.client.producer.TransactionSendResult;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;

/**
 * {@code produce-tx}: a TransactionMQProducer. Round i sends one transactional message per
 * outcome of {@code --outcomes} (commit, rollback, unknown), key {@code <key-prefix>-<outcome>-<i>};
 * its local transaction answers COMMIT_MESSAGE, ROLLBACK_MESSAGE or UNKNOW as the key says, and a
 * back-check from the broker is answered COMMIT_MESSAGE for an unknown one (the transaction has
 * committed meanwhile) and with the first answer for any other (a check the broker should not
 * have sent).
 *
 * <p>Prints {@code SENT key= status= local= msgId= queue=} per message, then {@code ALL_SENT},
 * then a {@code CHECK key= answer= at=} line per back-check, for as long as it keeps running: the
 * producer must stay up to be checked, so it stops only as a consumer does ({@link Stop}: stdin
 * closed, or {@code --timeout-ms}) and prints {@code DONE}. A send that is not SEND_OK fails the
 * run (status 1).
 */
final class TxProduce {
    private TxProduce() {}

    static int run(Args args) throws Exception {
        String namesrv = args.require("namesrv");
        String topic = args.require("topic");
        String group = args.require("group");
        String prefix = args.require("key-prefix");
        String[] outcomes = args.get("outcomes", "commit,rollback,unknown").split(",");
        int rounds = args.intOf("rounds", 1);
        Stop stop = new Stop(args);
        args.rejectUnused();

        TransactionMQProducer producer = new TransactionMQProducer(group);
        producer.setNamesrvAddr(namesrv);
        Timeouts.apply(producer);
        producer.setRetryTimesWhenSendFailed(0);
        producer.setTransactionListener(new TransactionListener() {
            @Override
            public LocalTransactionState executeLocalTransaction(Message msg, Object arg) {
                return local(msg.getKeys());
            }

            @Override
            public LocalTransactionState checkLocalTransaction(MessageExt msg) {
                String key = msg.getKeys();
                LocalTransactionState answer = local(key);
                if (answer == LocalTransactionState.UNKNOW) {
                    answer = LocalTransactionState.COMMIT_MESSAGE;
                }
                Out.line("CHECK key=" + key
                        + " answer=" + answer
                        + " msgId=" + msg.getMsgId()
                        + " transactionId=" + msg.getTransactionId()
                        + " at=" + Wall.micros());
                return answer;
            }
        });
        producer.start();
        int failed = 0;
        try {
            for (int i = 0; i < rounds; i++) {
                for (String outcome : outcomes) {
                    String key = prefix + "-" + outcome + "-" + i;
                    Message m = new Message(topic, "TagA", key,
                            ("body-" + key).getBytes(StandardCharsets.UTF_8));
                    TransactionSendResult r = producer.sendMessageInTransaction(m, null);
                    Out.line("SENT key=" + key
                            + " status=" + r.getSendStatus()
                            + " local=" + r.getLocalTransactionState()
                            + " msgId=" + r.getMsgId()
                            + " queue=" + Out.queue(r.getMessageQueue()));
                    if (r.getSendStatus() != SendStatus.SEND_OK) {
                        failed++;
                    }
                }
            }
            Out.line("ALL_SENT failed=" + failed);
            if (failed == 0) {
                String reason = stop.await();
                Out.line("DONE reason=" + reason);
            }
        } finally {
            producer.shutdown();
        }
        return failed == 0 ? 0 : 1;
    }

    /** The local transaction's outcome, by the key's middle part. */
    private static LocalTransactionState local(String key) {
        if (key.contains("-commit-")) {
            return LocalTransactionState.COMMIT_MESSAGE;
        }
        if (key.contains("-rollback-")) {
            return LocalTransactionState.ROLLBACK_MESSAGE;
        }
        if (key.contains("-unknown-")) {
            return LocalTransactionState.UNKNOW;
        }
        throw new IllegalStateException("no outcome in key " + key);
    }
}
