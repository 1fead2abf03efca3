package dev.apogee.compat;

import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

import org.apache.rocketmq.common.BrokerConfig;
import org.apache.rocketmq.common.TopicConfig;
import org.apache.rocketmq.common.message.MessageAccessor;
import org.apache.rocketmq.common.message.MessageClientIDSetter;
import org.apache.rocketmq.common.message.MessageConst;
import org.apache.rocketmq.common.message.MessageDecoder;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageExtBrokerInner;
import org.apache.rocketmq.store.DefaultMessageStore;
import org.apache.rocketmq.store.GetMessageResult;
import org.apache.rocketmq.store.GetMessageStatus;
import org.apache.rocketmq.store.PutMessageResult;
import org.apache.rocketmq.store.QueryMessageResult;
import org.apache.rocketmq.store.config.FlushDiskType;
import org.apache.rocketmq.store.config.MessageStoreConfig;
import org.apache.rocketmq.store.queue.ConsumeQueueInterface;
import org.apache.rocketmq.store.queue.CqUnit;
import org.apache.rocketmq.store.stats.BrokerStatsManager;

/**
 * Apache RocketMQ's own DefaultMessageStore, driven as a test oracle for Apogee's on-disk format.
 *
 * <pre>
 * read  DIR SEGMENT CQ_FILE HASH_SLOTS INDEX_NUM TOPIC QUEUES        (keys to look up on stdin)
 * write DIR SEGMENT CQ_FILE HASH_SLOTS INDEX_NUM TOPIC QUEUES COUNT
 * </pre>
 *
 * <p>stdout carries only the tab-separated result lines below; the store's logging goes to
 * stderr (rmq.logback.xml), and so does anything else that prints to System.out.
 *
 * <pre>
 * QUEUE  queueId minOffset maxOffset
 * MSG    topic queueId queueOffset recordQueueOffset commitLogOffset storeTimestamp bornTimestamp
 *        bornIp bornPort flag tagsCode properties body
 * KEY    key count commitLogOffset,...    (ascending; only records whose KEYS or UNIQ_KEY hold key)
 * DONE   messageCount
 * </pre>
 *
 * <p>{@code properties} are the record's properties sorted by name, in RocketMQ's own encoding
 * (name U+0001 value U+0002), so no value can collide with the separators. {@code queueOffset} and
 * {@code tagsCode} come from the consume queue, the rest from the CommitLog record. {@code write}
 * prints one MSG line per message it stored, with the offsets and timestamp the store assigned.
 */
public final class StoreCompat {
    private static final String GROUP = "apogee-compat";
    /** Largest result a key query asks for: the store caps it at maxMsgsNumBatch (64). */
    private static final int MAX_KEY_HITS = 64;

    private StoreCompat() {
    }

    public static void main(String[] args) throws Exception {
        // Claim stdout before the store loads: any stray System.out print would corrupt the
        // result lines the test parses.
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
        System.setOut(System.err);
        int status;
        try {
            status = run(args, out);
        } catch (Exception e) {
            e.printStackTrace();
            status = 1;
        }
        out.flush();
        // The store leaves non-daemon threads (allocator, stats) behind even after shutdown.
        System.exit(status);
    }

    private static int run(String[] args, PrintStream out) throws Exception {
        if (args.length < 8) {
            return usage();
        }
        String mode = args[0];
        String dir = args[1];
        MessageStoreConfig config = config(dir, Integer.parseInt(args[2]), Integer.parseInt(args[3]),
            Integer.parseInt(args[4]), Integer.parseInt(args[5]));
        String topic = args[6];
        int queues = Integer.parseInt(args[7]);
        switch (mode) {
            case "read":
                return read(config, topic, queues, readKeys(), out);
            case "write":
                if (args.length < 9) {
                    return usage();
                }
                return write(config, topic, queues, Integer.parseInt(args[8]), out);
            default:
                return usage();
        }
    }

    private static int usage() {
        System.err.println("usage: StoreCompat read|write DIR SEGMENT CQ_FILE HASH_SLOTS INDEX_NUM TOPIC QUEUES [COUNT]");
        return 2;
    }

    /** Keys come on stdin, UTF-8, one a line: argv would depend on the platform's locale. */
    private static List<String> readKeys() throws Exception {
        List<String> keys = new ArrayList<>();
        try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
            for (String line = in.readLine(); line != null; line = in.readLine()) {
                if (!line.isEmpty()) {
                    keys.add(line);
                }
            }
        }
        return keys;
    }

    /** The store settings that must match the writer's, everything else off or out of the way. */
    private static MessageStoreConfig config(String dir, int segment, int cqFile, int slots, int indexNum) {
        MessageStoreConfig c = new MessageStoreConfig();
        c.setStorePathRootDir(dir);
        c.setStorePathCommitLog(Paths.get(dir, "commitlog").toString());
        c.setMappedFileSizeCommitLog(segment);
        c.setMappedFileSizeConsumeQueue(cqFile);
        c.setMaxHashSlotNum(slots);
        c.setMaxIndexNum(indexNum);
        c.setMessageIndexEnable(true);
        c.setCheckCRCOnRecover(true);
        c.setFlushDiskType(FlushDiskType.ASYNC_FLUSH);
        // Plain CommitLog + file consume queues: no DLedger, RocksDB, compaction, timer wheel or
        // off-heap write buffer.
        c.setEnableDLegerCommitLog(false);
        c.setStoreType("default");
        c.setEnableCompaction(false);
        c.setTimerWheelEnable(false);
        c.setTransientStorePoolEnable(false);
        // The HA service always listens; let the OS pick a free port so runs can overlap.
        c.setHaListenPort(0);
        // Stats for the broker's pull handler; there is no broker here.
        c.setDiskFallRecorded(false);
        // Retention must not touch the files under test, however full the disk gets.
        c.setDiskMaxUsedSpaceRatio(99);
        c.setDiskSpaceCleanForciblyRatio(99);
        c.setDiskSpaceWarningLevelRatio(99);
        c.setCleanFileForciblyEnable(false);
        return c;
    }

    private static DefaultMessageStore open(MessageStoreConfig config) throws Exception {
        DefaultMessageStore store = new DefaultMessageStore(config, new BrokerStatsManager("apogee-compat", false),
            null, new BrokerConfig(), new ConcurrentHashMap<String, TopicConfig>());
        if (!store.load()) {
            throw new IllegalStateException("DefaultMessageStore.load() failed for " + config.getStorePathRootDir()
                + " (see the store log above)");
        }
        store.start();
        waitDispatched(store);
        return store;
    }

    /** Waits until the reput service has built consume queues and index up to the log end. */
    private static void waitDispatched(DefaultMessageStore store) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 60_000;
        while (store.dispatchBehindBytes() > 0) {
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("dispatch still " + store.dispatchBehindBytes() + " bytes behind after 60 s");
            }
            Thread.sleep(5);
        }
    }

    private static int read(MessageStoreConfig config, String topic, int queues, List<String> keys,
        PrintStream out) throws Exception {
        DefaultMessageStore store = open(config);
        try {
            long total = 0;
            for (int queueId = 0; queueId < queues; queueId++) {
                total += readQueue(store, topic, queueId, out);
            }
            for (String key : keys) {
                out.println(String.join("\t", "KEY", key, lookUp(store, topic, key)));
            }
            out.println("DONE\t" + total);
        } finally {
            store.shutdown();
        }
        return 0;
    }

    private static long readQueue(DefaultMessageStore store, String topic, int queueId, PrintStream out)
        throws Exception {
        ConsumeQueueInterface queue = store.getConsumeQueue(topic, queueId);
        long min = store.getMinOffsetInQueue(topic, queueId);
        long max = store.getMaxOffsetInQueue(topic, queueId);
        out.println(String.join("\t", "QUEUE", Integer.toString(queueId), Long.toString(min), Long.toString(max)));
        long count = 0;
        long offset = min;
        while (offset < max) {
            GetMessageResult got = store.getMessage(GROUP, topic, queueId, offset, 32, null);
            if (got == null || got.getStatus() != GetMessageStatus.FOUND) {
                throw new IllegalStateException("queue " + topic + "/" + queueId + " offset " + offset + " of [" + min
                    + ", " + max + "): " + (got == null ? "no result" : got.getStatus()));
            }
            try {
                List<ByteBuffer> buffers = got.getMessageBufferList();
                List<Long> offsets = got.getMessageQueueOffset();
                for (int i = 0; i < buffers.size(); i++) {
                    CqUnit unit = queue.get(offsets.get(i));
                    out.println(line(decode(buffers.get(i)), offsets.get(i), unit.getTagsCode()));
                    count++;
                }
            } finally {
                got.release();
            }
            offset = got.getNextBeginOffset();
        }
        return count;
    }

    /** Decodes a whole record, verifying its body CRC. */
    private static MessageExt decode(ByteBuffer buffer) {
        MessageExt msg = MessageDecoder.decode(buffer, true, false, false, false, true);
        if (msg == null) {
            throw new IllegalStateException("MessageDecoder rejected a record (bad layout or body CRC)");
        }
        return msg;
    }

    private static String lookUp(DefaultMessageStore store, String topic, String key) {
        QueryMessageResult result = store.queryMessage(topic, key, MAX_KEY_HITS, 0, Long.MAX_VALUE);
        List<Long> hits = new ArrayList<>();
        try {
            for (ByteBuffer buffer : result.getMessageBufferList()) {
                MessageExt msg = decode(buffer);
                // The index is a hash table: a client keeps only records that really carry the key.
                boolean carries = key.equals(msg.getProperty(MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX))
                    || (msg.getKeys() != null && Arrays.asList(msg.getKeys().split(MessageConst.KEY_SEPARATOR)).contains(key));
                if (carries) {
                    hits.add(msg.getCommitLogOffset());
                }
            }
        } finally {
            result.release();
        }
        hits.sort(null);
        List<String> text = new ArrayList<>();
        for (Long hit : hits) {
            text.add(Long.toString(hit));
        }
        return hits.size() + "\t" + String.join(",", text);
    }

    private static int write(MessageStoreConfig config, String topic, int queues, int count, PrintStream out)
        throws Exception {
        DefaultMessageStore store = open(config);
        try {
            SocketAddress storeHost = new InetSocketAddress("127.0.0.1", 10911);
            for (int seq = 0; seq < count; seq++) {
                MessageExtBrokerInner msg = message(topic, seq % queues, seq, storeHost);
                PutMessageResult result = store.putMessage(msg);
                if (result == null || !result.isOk()) {
                    throw new IllegalStateException("put " + seq + ": " + result);
                }
                msg.setQueueOffset(result.getAppendMessageResult().getLogicsOffset());
                msg.setCommitLogOffset(result.getAppendMessageResult().getWroteOffset());
                msg.setStoreTimestamp(result.getAppendMessageResult().getStoreTimestamp());
                out.println(line(msg, msg.getQueueOffset(), msg.getTagsCode()));
            }
            waitDispatched(store);
            out.println("DONE\t" + count);
        } finally {
            store.shutdown();
        }
        return 0;
    }

    /**
     * Message {@code seq}: body {@code java/<queueId>/<seq>/} padded with 'j' to 100..2099 bytes, tag
     * {@code T<seq%3>}, keys {@code jk-<seq>} and a group key {@code jg-<seq%10>}, a client-style
     * UNIQ_KEY, and every seventh one born on an IPv6 address (which moves the store timestamp).
     */
    private static MessageExtBrokerInner message(String topic, int queueId, int seq, SocketAddress storeHost) {
        StringBuilder body = new StringBuilder("java/" + queueId + "/" + seq + "/");
        int length = 100 + seq * 37 % 2000;
        while (body.length() < length) {
            body.append('j');
        }
        MessageExtBrokerInner msg = new MessageExtBrokerInner();
        msg.setTopic(topic);
        msg.setQueueId(queueId);
        msg.setBody(body.toString().getBytes(StandardCharsets.UTF_8));
        msg.setFlag(seq % 4);
        String tags = "T" + seq % 3;
        msg.setTags(tags);
        msg.setKeys(Arrays.asList("jk-" + seq, "jg-" + seq % 10));
        MessageClientIDSetter.setUniqID(msg);
        MessageAccessor.putProperty(msg, "origin", "java");
        msg.setPropertiesString(MessageDecoder.messageProperties2String(msg.getProperties()));
        msg.setTagsCode(MessageExtBrokerInner.tagsString2tagsCode(tags));
        msg.setBornTimestamp(System.currentTimeMillis());
        msg.setBornHost(seq % 7 == 0 ? new InetSocketAddress("::1", 40000 + queueId)
            : new InetSocketAddress("127.0.0.1", 40000 + queueId));
        msg.setStoreHost(storeHost);
        return msg;
    }

    private static String line(MessageExt msg, long queueOffset, long tagsCode) {
        InetSocketAddress born = (InetSocketAddress) msg.getBornHost();
        return String.join("\t", "MSG", msg.getTopic(), Integer.toString(msg.getQueueId()),
            Long.toString(queueOffset), Long.toString(msg.getQueueOffset()), Long.toString(msg.getCommitLogOffset()),
            Long.toString(msg.getStoreTimestamp()), Long.toString(msg.getBornTimestamp()),
            born.getAddress().getHostAddress(), Integer.toString(born.getPort()), Integer.toString(msg.getFlag()),
            Long.toString(tagsCode), properties(msg.getProperties()), new String(msg.getBody(), StandardCharsets.UTF_8));
    }

    private static String properties(Map<String, String> properties) {
        StringBuilder text = new StringBuilder();
        for (Map.Entry<String, String> e : new TreeMap<>(properties).entrySet()) {
            text.append(e.getKey()).append('\u0001').append(e.getValue()).append('\u0002');
        }
        return text.toString();
    }
}
