import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.hdfs.protocol.HdfsConstants.SafeModeAction;
import org.apache.hadoop.hdfs.server.protocol.NamenodeProtocols;
import org.apache.log4j.Level;
import org.apache.log4j.LogManager;
import org.apache.log4j.Logger;
import sun.misc.Signal;

/**
 * Single-machine HDFS for tests: one namenode, one datanode, WebHDFS, all on
 * 127.0.0.1, permissions off.
 *
 * <p>Usage: {@code MiniHdfs HTTP_PORT RPC_PORT DATA_DIR} (port 0 = free port).
 * Prints {@code MINIHDFS READY http_port=N rpc_port=N} when up, then runs
 * commands read from stdin, one per line, each answered by one line:
 *
 * <ul>
 *   <li>{@code stop-namenode}, {@code start-namenode}, {@code restart-namenode}
 *       (same ports and data): {@code MINIHDFS NAMENODE STOPPED|STARTED|RESTARTED}
 *   <li>{@code enter-safemode}, {@code leave-safemode}:
 *       {@code MINIHDFS SAFEMODE ON|OFF}
 *   <li>on failure: {@code MINIHDFS ERROR <message>}
 * </ul>
 *
 * <p>Exits on EOF on stdin or SIGTERM/SIGINT/SIGHUP, shutting the cluster down
 * and deleting DATA_DIR.
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
    // Jersey logs harmless warnings through java.util.logging: errors only.
    java.util.logging.Logger.getLogger("").setLevel(java.util.logging.Level.SEVERE);
    Configuration conf = new Configuration();
    conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, new File(args[2]).getAbsolutePath());
    conf.setBoolean("dfs.webhdfs.enabled", true);
    conf.setBoolean("dfs.permissions.enabled", false);
    conf.setInt("dfs.replication", 1);
    conf.set("dfs.namenode.rpc-bind-host", HOST);
    conf.set("dfs.namenode.http-bind-host", HOST);
    // The datanode registers as 127.0.0.1, so WebHDFS redirects point there.
    conf.set("dfs.datanode.hostname", HOST);
    // Fast namenode restarts: no safe-mode extension, quick datanode reconnect;
    // in-JVM RPC clients (the datanode's WebHDFS) drop connections idle for 1 s,
    // so none is stale once a restart is over.
    conf.setInt("dfs.namenode.safemode.extension", 0);
    conf.setLong("dfs.heartbeat.interval", 1);
    conf.setInt("ipc.client.connect.max.retries", 0);
    conf.setInt("ipc.client.connection.maxidletime", 1000);
    // A WebHDFS write is closed by the datanode acting as a client; by
    // default that close polls the namenode starting at 400 ms until the
    // block report lands. Let it close on a committed block instead.
    conf.setInt("dfs.namenode.file.close.num-committed-allowed", 1);
    conf.setInt("dfs.client.block.write.locateFollowingBlock.initial.delay.ms", 10);

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
    int httpPort = started.getNameNode().getHttpAddress().getPort();
    say("READY http_port=" + httpPort + " rpc_port=" + started.getNameNodePort());

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
        case "enter-safemode":
          rpc(c).setSafeMode(SafeModeAction.SAFEMODE_ENTER, false);
          say("SAFEMODE ON");
          return;
        case "leave-safemode":
          rpc(c).setSafeMode(SafeModeAction.SAFEMODE_LEAVE, false);
          say("SAFEMODE OFF");
          return;
        default:
          say("ERROR unknown command: " + cmd);
      }
    } catch (IOException | RuntimeException e) {
      say("ERROR " + String.valueOf(e).replace('\n', ' '));
    }
  }

  private static NamenodeProtocols rpc(MiniDFSCluster c) throws IOException {
    if (c.getNameNode() == null) {
      throw new IOException("the namenode is stopped");
    }
    return c.getNameNodeRpc();
  }

  private static void say(String message) {
    System.out.println("MINIHDFS " + message);
    System.out.flush();
  }

  private static void exit(int status) {
    synchronized (MiniHdfs.class) {
      if (cluster != null) {
        Logger root = LogManager.getRootLogger();
        if (!root.isDebugEnabled()) {
          root.setLevel(Level.OFF); // Stopping services log expected warnings.
        }
        cluster.shutdown(true);
        cluster = null;
      }
    }
    System.exit(status);
  }
}
