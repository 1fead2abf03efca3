package dev.apogee.clientcompat;

/**
 * The upstream Java client (org.apache.rocketmq:rocketmq-client, unmodified) driven from the
 * command line for the compatibility suite (e2e/tests/suite/java_client.rs). One subcommand per
 * run: {@code produce}, {@code consume} (push consumer), {@code lite-pull}, {@code bench} (the
 * load generator of the e2e/bench scripts, see {@link Bench}) or {@code delay-bench} (delayed
 * messages, {@link DelayBench}), and for the messaging-semantics
 * scenarios {@code send} ({@link Send}), {@code listen} ({@link Listen}) and {@code produce-tx}
 * ({@link TxProduce}); each prints
 * machine-readable lines on stdout (see {@link Out}) and logs to stderr.
 *
 * <p>Exit status: 0 when the run did what it was asked, 1 when a send failed, 2 for a usage
 * error, 3 for anything thrown. The JVM is ended explicitly: client threads that outlive
 * shutdown must not keep a finished run alive.
 */
public final class Main {
    private Main() {}

    public static void main(String[] argv) {
        int status;
        try {
            if (argv.length == 0) {
                throw new IllegalArgumentException("usage: produce|consume|lite-pull|bench|delay-bench|send|listen|produce-tx --option value ...");
            }
            Args args = new Args(argv, 1);
            switch (argv[0]) {
                case "produce":
                    status = Produce.run(args);
                    break;
                case "consume":
                    status = PushConsume.run(args);
                    break;
                case "lite-pull":
                    status = LitePull.run(args);
                    break;
                case "bench":
                    status = Bench.run(args);
                    break;
                case "delay-bench":
                    status = DelayBench.run(args);
                    break;
                case "send":
                    status = Send.run(args);
                    break;
                case "listen":
                    status = Listen.run(args);
                    break;
                case "produce-tx":
                    status = TxProduce.run(args);
                    break;
                default:
                    throw new IllegalArgumentException("unknown subcommand " + argv[0]);
            }
        } catch (IllegalArgumentException e) {
            System.err.println("client-compat: " + e.getMessage());
            status = 2;
        } catch (Throwable e) {
            System.err.println("client-compat: " + argv[0] + " failed:");
            e.printStackTrace();
            status = 3;
        }
        System.out.flush();
        System.exit(status);
    }
}
