package io.lingting.local;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.Node;
import org.elasticsearch.plugins.PluginsLoader;

/**
 * One Elasticsearch node for lingting's local stack, started from the jars Maven put in target/.
 *
 * <p>Usage: {@code java -Dlingting.es.modules=target/es-modules -cp 'target/lingting-local.jar:target/es-lib/*'
 * io.lingting.local.EsNode path.home=/dir http.port=9200 [key=value ...]}.
 *
 * <p>Every argument is an Elasticsearch setting (like {@code -E key=value} of the real distribution) and overrides
 * the defaults below. The server runs from the class path; its modules are loaded by Elasticsearch's own module
 * loader from {@code lingting.es.modules}, as the distribution loads {@code $ES_HOME/modules}: transport-netty4 (the
 * only module Elastic publishes to Maven Central; it provides HTTP) and lingting-local (ours: {@code GET /} and the
 * {@code whitespace} tokenizer). So this is a plain {@link Node}, no test framework, serving the real REST layer.
 * It stops cleanly on SIGTERM/SIGINT: the shutdown hook closes the node and waits for it.
 */
public final class EsNode {

    private static final long CLOSE_TIMEOUT_SECONDS = 30;

    private EsNode() {}

    public static void main(String[] args) throws Exception {
        Settings.Builder builder = Settings.builder()
            .put("cluster.name", "lingting-local")
            .put("node.name", "lingting-es")
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", "9200")
            // transport (node-to-node) is not used by clients: any free port on loopback
            .put("transport.port", "0")
            // a dev machine's disk is often fuller than production watermarks allow
            .put("cluster.routing.allocation.disk.threshold_enabled", "false")
            // let tests delete their own indices by wildcard (t123*)
            .put("action.destructive_requires_name", "false");
        for (String arg : args) {
            int eq = arg.indexOf('=');
            if (eq <= 0) {
                System.err.println("EsNode: expected key=value settings, got [" + arg + "]");
                System.exit(64);
            }
            builder.put(arg.substring(0, eq), arg.substring(eq + 1));
        }
        Settings settings = builder.build();
        String home = settings.get("path.home");
        if (home == null) {
            System.err.println("EsNode: path.home=<dir> is required");
            System.exit(64);
        }
        Path homeDir = Path.of(home);
        Files.createDirectories(homeDir.resolve("config"));
        Files.createDirectories(homeDir.resolve("plugins"));
        Files.createDirectories(homeDir.resolve("modules"));

        String modules = System.getProperty("lingting.es.modules");
        if (modules == null || Files.isDirectory(Path.of(modules)) == false) {
            System.err.println("EsNode: -Dlingting.es.modules=<dir> must name the modules directory (got " + modules + ")");
            System.exit(64);
        }

        // Elasticsearch's own logging facade must point at log4j before any node code runs; log4j itself is
        // configured by -Dlog4j2.configurationFile (the Python side writes it) and logs to stdout.
        LogConfigurator.configureESLogging();

        final Node node;
        try {
            node = newNode(settings, homeDir, Path.of(modules));
        } catch (Throwable t) {
            System.out.println("EsNode: could not create the node: " + t);
            t.printStackTrace(System.out);
            System.out.flush();
            Runtime.getRuntime().halt(1);
            return;
        }

        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("EsNode: shutting down");
            try {
                node.close();
                if (node.awaitClose(CLOSE_TIMEOUT_SECONDS, TimeUnit.SECONDS) == false) {
                    System.out.println("EsNode: node did not close within " + CLOSE_TIMEOUT_SECONDS + "s");
                }
            } catch (Exception e) {
                e.printStackTrace(System.out);
            } finally {
                System.out.println("EsNode: stopped");
                System.out.flush();
                closed.countDown();
            }
        }, "lingting-es-shutdown"));

        try {
            node.start();
        } catch (Throwable t) {
            System.out.println("EsNode: failed to start");
            t.printStackTrace(System.out);
            System.out.flush();
            Runtime.getRuntime().halt(1);
        }
        System.out.println("EsNode: started, http " + settings.get("http.host", settings.get("network.host")) + ":"
            + settings.get("http.port"));
        System.out.flush();
        closed.await();
    }

    /** A plain {@link Node} whose modules come from {@code modulesDir} (one sub-directory per module). */
    private static Node newNode(Settings settings, Path homeDir, Path modulesDir) {
        Environment environment = InternalSettingsPreparer.prepareEnvironment(
            settings,
            Map.of(),
            homeDir.resolve("config"),
            () -> settings.get("node.name")
        );
        PluginsLoader pluginsLoader = PluginsLoader.createPluginsLoader(
            PluginsLoader.loadModulesBundles(modulesDir),
            Set.of(),
            Map.of(),
            false // the server is on the class path (unnamed module): nothing to export to module layers
        );
        return new Node(environment, pluginsLoader);
    }
}
