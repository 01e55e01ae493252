import com.amazonaws.services.dynamodbv2.local.main.ServerRunner;
import com.amazonaws.services.dynamodbv2.local.server.DynamoDBProxyServer;
import java.lang.reflect.Field;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

/**
 * DynamoDB Local listens on every interface and has no option to change that, nor accepts port 0. This launcher
 * builds the server from the usual command-line options, binds its connector to 127.0.0.1 on the requested port
 * (0: a free one, chosen by the OS without a race) before it starts, and prints the port it got. Run as a
 * single-file source program: `java -cp DynamoDBLocal.jar LoopbackDynamoDbLocal.java -inMemory -port 0`.
 */
public class LoopbackDynamoDbLocal {
  public static void main(String[] args) {
    try {
      start(args);
    } catch (Exception error) {
      // Jetty's threads would keep the JVM alive after a failed start (a port in use): exit instead.
      error.printStackTrace();
      System.exit(1);
    }
  }

  private static void start(String[] args) throws Exception {
    int port = 8000;
    for (int i = 0; i + 1 < args.length; i++) {
      if (args[i].equals("-port")) {
        port = Integer.parseInt(args[i + 1]);
        args[i + 1] = "8000"; // only to pass the option parser's range check; the connector gets `port`
      }
    }
    DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
    Field field = DynamoDBProxyServer.class.getDeclaredField("server");
    field.setAccessible(true);
    ServerConnector connector = (ServerConnector) ((Server) field.get(proxy)).getConnectors()[0];
    connector.setHost("127.0.0.1");
    connector.setPort(port);
    proxy.start();
    exitWhenParentGoes();
    System.out.println("LOOPBACK_DYNAMODB_LOCAL_PORT=" + connector.getLocalPort());
  }

  /**
   * The parent holds this process's stdin open. When the parent dies, even by SIGKILL with no chance to stop its
   * children, the pipe closes and this reads end-of-file: exit then, so no emulator is left orphaned.
   */
  private static void exitWhenParentGoes() {
    Thread watcher = new Thread(() -> {
      try {
        while (System.in.read() != -1) {
          // Nothing is sent on stdin; only its end matters.
        }
      } catch (java.io.IOException ignored) {
        // A broken pipe means the same as end-of-file.
      }
      System.exit(0);
    }, "parent-watcher");
    watcher.setDaemon(true);
    watcher.start();
  }
}
