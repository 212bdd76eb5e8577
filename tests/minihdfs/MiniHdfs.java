import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import sun.misc.Signal;

/**
 * Single-machine HDFS for tests: one namenode, one datanode, WebHDFS, all on
 * 127.0.0.1, permissions off.
 *
 * <p>Usage: {@code MiniHdfs HTTP_PORT RPC_PORT DATA_DIR} (port 0 = free port).
 * Prints {@code MINIHDFS READY http_port=N rpc_port=N} when up, then reads
 * commands from stdin, one per line: {@code stop-namenode},
 * {@code start-namenode}, {@code restart-namenode}. Each prints
 * {@code MINIHDFS NAMENODE STOPPED|STARTED|RESTARTED} or
 * {@code MINIHDFS ERROR <message>}. Exits on stdin EOF or SIGTERM/SIGINT,
 * shutting the cluster down and deleting DATA_DIR.
 */
public final class MiniHdfs {
  private static final String HOST = "127.0.0.1";
  private static MiniDFSCluster cluster;

  private MiniHdfs() {}

  public static void main(String[] args) throws Exception {
    if (args.length != 3) {
      System.err.println("usage: MiniHdfs HTTP_PORT RPC_PORT DATA_DIR");
      System.exit(2);
    }
    Configuration conf = new Configuration();
    conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, new File(args[2]).getAbsolutePath());
    conf.setBoolean("dfs.webhdfs.enabled", true);
    conf.setBoolean("dfs.permissions.enabled", false);
    conf.setInt("dfs.replication", 1);
    // The datanode registers as 127.0.0.1, so WebHDFS redirects point there.
    conf.set("dfs.datanode.hostname", HOST);
    conf.set("dfs.namenode.http-bind-host", HOST);
    conf.set("dfs.namenode.rpc-bind-host", HOST);
    // Fast namenode restarts: no safe-mode extension, quick datanode reconnect.
    conf.setInt("dfs.namenode.safemode.extension", 0);
    conf.setLong("dfs.heartbeat.interval", 1);
    conf.setInt("ipc.client.connect.max.retries", 0);
    conf.setInt("ipc.client.connect.retry.interval", 100);

    // Shut down from a signal handler, not a JVM shutdown hook: Hadoop
    // services fail to stop cleanly once JVM shutdown is in progress.
    for (String name : new String[] {"TERM", "INT", "HUP"}) {
      Signal.handle(new Signal(name), sig -> exit(128 + sig.getNumber()));
    }
    MiniDFSCluster started = new MiniDFSCluster.Builder(conf)
        .nameNodeHttpPort(Integer.parseInt(args[0]))
        .nameNodePort(Integer.parseInt(args[1]))
        .numDataNodes(1)
        .build();
    synchronized (MiniHdfs.class) {
      cluster = started;
    }
    started.waitActive();
    String http = started.getNameNode().getHttpAddress().getPort() + "";
    say("READY http_port=" + http + " rpc_port=" + started.getNameNodePort());

    BufferedReader in = new BufferedReader(
        new InputStreamReader(System.in, StandardCharsets.UTF_8));
    for (String line = in.readLine(); line != null; line = in.readLine()) {
      command(started, line.trim());
    }
    exit(0);
  }

  private static void command(MiniDFSCluster c, String cmd) {
    try {
      switch (cmd) {
        case "":
          return;
        case "stop-namenode":
          c.shutdownNameNode(0);
          say("NAMENODE STOPPED");
          return;
        case "start-namenode":
          c.restartNameNode(0, true);
          say("NAMENODE STARTED");
          return;
        case "restart-namenode":
          c.restartNameNode(0, true);
          say("NAMENODE RESTARTED");
          return;
        default:
          say("ERROR unknown command: " + cmd);
      }
    } catch (IOException | RuntimeException e) {
      say("ERROR " + (e + "").replace('\n', ' '));
    }
  }

  private static void say(String message) {
    System.out.println("MINIHDFS " + message);
    System.out.flush();
  }

  private static void exit(int status) {
    synchronized (MiniHdfs.class) {
      if (cluster != null) {
        cluster.shutdown(true);
        cluster = null;
      }
    }
    System.exit(status);
  }
}
