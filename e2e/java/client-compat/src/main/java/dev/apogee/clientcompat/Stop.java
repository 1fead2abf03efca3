package dev.apogee.clientcompat;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;

/**
 * When a consumer stops: after {@code --count} deliveries, after {@code --idle-ms} without one
 * (counted from the first delivery, so a slow start is not mistaken for the end), when the harness
 * closes stdin or writes "stop" ({@code --stop-on-stdin}), and in any case after
 * {@code --timeout-ms}. A timeout is not an error here; the harness judges what was received.
 */
final class Stop {
    private final int count;
    private final long idleMs;
    private final long deadline;
    private volatile boolean stdinClosed;
    private int delivered;
    private long lastDelivery;

    Stop(Args args) {
        count = args.intOf("count", 0);
        idleMs = args.longOf("idle-ms", 0);
        deadline = System.currentTimeMillis() + args.longOf("timeout-ms", 60_000);
        if (args.flag("stop-on-stdin")) {
            Thread watcher = new Thread(this::watchStdin, "stdin-watcher");
            watcher.setDaemon(true);
            watcher.start();
        }
    }

    private void watchStdin() {
        try (BufferedReader in =
                new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null && !line.trim().equals("stop")) {
                // Anything else on stdin is ignored.
            }
        } catch (Exception e) {
            // A broken stdin means the harness is gone: stop as if it had asked.
        }
        stdinClosed = true;
    }

    synchronized void delivered(int n) {
        delivered += n;
        lastDelivery = System.currentTimeMillis();
    }

    synchronized int deliveredSoFar() {
        return delivered;
    }

    /** Why to stop now, or null to go on. */
    synchronized String reason() {
        long now = System.currentTimeMillis();
        if (count > 0 && delivered >= count) {
            return "count";
        }
        if (idleMs > 0 && delivered > 0 && now - lastDelivery >= idleMs) {
            return "idle";
        }
        if (stdinClosed) {
            return "stdin";
        }
        return now >= deadline ? "timeout" : null;
    }

    /** Blocks until {@link #reason()} says stop; returns the reason. */
    String await() throws InterruptedException {
        String why;
        while ((why = reason()) == null) {
            Thread.sleep(20);
        }
        return why;
    }
}
