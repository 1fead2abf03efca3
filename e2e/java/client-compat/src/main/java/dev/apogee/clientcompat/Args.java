package dev.apogee.clientcompat;

import java.util.HashMap;
import java.util.Map;

/**
 * The command line after the subcommand: {@code --name value} pairs and bare {@code --flag}s.
 * Unknown or missing options fail loudly, so a typo in the Rust harness cannot silently change
 * what a test measures.
 */
final class Args {
    private final Map<String, String> values = new HashMap<>();
    private final Map<String, Boolean> used = new HashMap<>();

    Args(String[] argv, int from) {
        for (int i = from; i < argv.length; i++) {
            String name = argv[i];
            if (!name.startsWith("--")) {
                throw new IllegalArgumentException("expected --option, got '" + name + "'");
            }
            boolean hasValue = i + 1 < argv.length && !argv[i + 1].startsWith("--");
            values.put(name.substring(2), hasValue ? argv[++i] : "true");
        }
    }

    String get(String name, String fallback) {
        used.put(name, true);
        return values.getOrDefault(name, fallback);
    }

    String require(String name) {
        String value = get(name, null);
        if (value == null) {
            throw new IllegalArgumentException("missing --" + name);
        }
        return value;
    }

    int intOf(String name, int fallback) {
        return Integer.parseInt(get(name, Integer.toString(fallback)));
    }

    long longOf(String name, long fallback) {
        return Long.parseLong(get(name, Long.toString(fallback)));
    }

    boolean flag(String name) {
        return Boolean.parseBoolean(get(name, "false"));
    }

    /** Fails on options no subcommand asked for; call after reading every option. */
    void rejectUnused() {
        for (String name : values.keySet()) {
            if (!used.containsKey(name)) {
                throw new IllegalArgumentException("unknown option --" + name);
            }
        }
    }
}
