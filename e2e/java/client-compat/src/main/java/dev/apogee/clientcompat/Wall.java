package dev.apogee.clientcompat;

import java.time.Instant;

/**
 * The wall clock in microseconds since the epoch, the one time base of every {@code start=} and
 * {@code at=} field: runs on one machine share it, so the harness can subtract one JVM's
 * timestamps from another's (a send's return from a delivery).
 */
final class Wall {
    private Wall() {}

    static long micros() {
        Instant now = Instant.now();
        return now.getEpochSecond() * 1_000_000L + now.getNano() / 1_000;
    }
}
