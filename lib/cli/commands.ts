/**
 * The command table of `condis` (layer: the CLI, the top): every command and subcommand, its
 * summary, its options and the prose of its --help, in ONE place. main.ts dispatches from it,
 * parses each command's options from it, checks every FILE option from it before the command
 * runs, and help.ts renders every help text from it (`condis --help`, `condis <cmd> [<sub>]
 * --help`, `condis help <cmd> [<sub>]`): a command cannot exist without appearing in the help,
 * and an option cannot be parsed without being documented. The commands' behaviour lives in the
 * modules named by `run` (demo.ts, run.ts, bench-drain.ts, bench-pps.ts, bench-calls.ts, trace.ts, soak.ts,
 * cluster.ts, node.ts).
 */
import { benchCalls } from './bench-calls';
import { benchDrain } from './bench-drain';
import { benchPps } from './bench-pps';
import { benchTcp } from './bench-tcp';
import {
  clusterDownCommand,
  clusterLinkCommand,
  clusterRestartCommand,
  clusterStatusCommand,
  clusterUpCommand,
} from './cluster';
import { demo } from './demo';
import { nodeCommand } from './node';
import { run } from './run';
import { soakCommand } from './soak';
import { trace } from './trace';
import type { Values } from './usage';

/** One option of a command. */
export interface OptionDef {
  /** The name without the dashes: `--name`. */
  name: string;
  /**
   * flag: takes no value. int: a whole number (checked by the command). choice: one of `arg`'s
   * words. text: any value. file: a file the command writes, checked up front (its directory
   * exists and is writable) before the command starts anything.
   */
  kind: 'flag' | 'int' | 'choice' | 'text' | 'file';
  /** The value's name in the usage line: N, BYTES, LIST, tap|wire. FILE for kind file. */
  arg?: string;
  short?: string;
  /** Its lines in the --help (the first beside the option, the rest under it). */
  help: string;
  /** For tests only: parsed, not shown in the help. */
  hidden?: boolean;
}

/** A command (`run` set) or a group of subcommands (`subcommands` set). */
export interface CommandDef {
  name: string;
  /** One line, in the parent's list. */
  summary: string;
  /** Positional arguments in the usage line, e.g. `<flow>`. */
  positionals?: string;
  /** What a group calls its subcommands: `unknown benchmark "x"`, `benchmarks:`. */
  noun?: { one: string; many: string };
  /** The paragraph between the usage line and the options. */
  about?: string;
  options?: OptionDef[];
  /** The paragraph after the options. */
  notes?: string;
  examples: string[];
  run?: (values: Values, positionals: string[]) => Promise<number>;
  subcommands?: CommandDef[];
}

/** `condis` itself: the root of the table. */
export const CONDIS: CommandDef = {
  name: 'condis',
  summary: 'a CoNDIS runtime over a virtio-style device: demo, frames, benchmarks, traces, soak',
  noun: { one: 'command', many: 'commands' },
  examples: [
    'sudo condis demo   (as root: two node processes in namespaces; else both on the in-process wire)',
  ],
  subcommands: [
    {
      name: 'demo',
      summary: 'the main job: a SETUP/CONNECT call between two nodes, ping, RELEASE under traffic (report)',
      about: `The main job, end to end: two condis nodes (each the NDIS runtime, the reference miniport,
the signalling call manager and the node's client, as \`condis node\` runs them): as root, two
node processes in network namespaces whose TAPs are joined by the kernel's bridges and VXLAN
(\`condis cluster up 2\`); else both in this process on the in-process wire. Node A calls node B
(SETUP, CONNECT, CONNECT ACK: both call managers activate their VC) and pings B over the VC. Then
B's client holds its receives while A pings again, and A closes the call with RELEASE: B's call
manager deactivates B's VC under that traffic and it drains (the held receives come back);
RELEASE COMPLETE, A's VC drains, both VCs are deleted. The demo drives the nodes only with their
control requests (call, ping, hold, close, calls, trace, mark: \`condis node --help\`). Then a
report: frames each way, the drain of both deactivations and the NDIS sequence of both sides.
Everything the demo creates is removed at the end, also on Ctrl-C (exit status 130), SIGTERM
(143), SIGHUP (129) or a closed stdout (141); a demo killed with SIGKILL leaves its cluster, and
the next demo removes it first.`,
      options: [
        {
          name: 'backend',
          kind: 'choice',
          arg: 'auto|hosts|wire',
          help: `auto (default): hosts if this process may (root, /dev/net/tun), else wire
hosts: two \`condis node\` processes in namespaces, bridge + VXLAN over a veth underlay
       (needs root, iproute2)
wire:  both nodes in this process over the in-process wire (no privilege needed)`,
        },
        {
          name: 'pings',
          kind: 'int',
          arg: 'N',
          help: 'echo requests A sends over the call, one at a time (default 5; 1..1000)',
        },
        {
          name: 'mermaid',
          kind: 'file',
          help: "write both nodes' NDIS sequences to FILE as one Mermaid sequenceDiagram",
        },
        {
          name: 'pcap',
          kind: 'file',
          help: `write node A's frames, both ways as its NDIS saw them, to FILE (pcap; signalling
untagged, the call's frames with its VID's 802.1Q tag re-inserted); wire backend only`,
        },
        { name: 'json', kind: 'flag', help: 'print the report as JSON' },
        {
          name: 'cold',
          kind: 'flag',
          help: `skip warmUp() (by default it runs first, in this process for the wire, in each node
for hosts): the drains are then V8's first run of the path, compiled as it goes`,
        },
        {
          name: 'pause-at',
          kind: 'choice',
          arg: 'STEP',
          hidden: true,
          help: 'wait before STEP until interrupted (for the tests of the interruption)',
        },
      ],
      examples: ['condis demo --pings 10 --mermaid demo.mmd'],
      run: demo,
    },
    {
      name: 'run',
      summary: 'move frames through a device both ways and print its counters',
      about: `Moves N frames each way between two devices on queue pair 0 (untagged) and N/10 on
pair 1 (802.1Q VID 42), then prints what every counter saw.`,
      options: [
        {
          name: 'backend',
          kind: 'choice',
          arg: 'auto|tap|wire',
          help: `auto (default): two TAPs looped through the kernel if this process may create
TAPs (CAP_NET_ADMIN), else the in-process wire; tap or wire to insist`,
        },
        {
          name: 'frames',
          kind: 'int',
          arg: 'N',
          help: 'frames per direction on pair 0 (default 100000; 1..100000000)',
        },
        { name: 'size', kind: 'int', arg: 'BYTES', help: 'frame size in bytes, 60..1514 (default 64)' },
        { name: 'json', kind: 'flag', help: 'print the result as JSON instead of a table' },
        {
          name: 'pcap',
          kind: 'file',
          help: `write every frame delivered (both ways) to FILE in pcap format; frames of pair 1
carry their 802.1Q tag (VID 42) as on the wire`,
        },
      ],
      examples: ['sudo condis run --frames 1000000 --size 64'],
      run,
    },
    {
      name: 'bench',
      summary: 'benchmarks, one a subcommand:',
      noun: { one: 'benchmark', many: 'benchmarks' },
      examples: [
        'condis bench drain --depths 0,16,1024 --json drain.json',
        'sudo condis bench pps --backend tap --size 64 --json pps.json',
        'sudo condis bench tcp --paths veth,c-forwarder-offload,condis-port-offload',
        'sudo condis bench calls --calls 500',
      ],
      subcommands: [
        {
          name: 'drain',
          summary: 'VC deactivation latency with work in flight, vs the kernel',
          about: `Time from NdisCmDeactivateVc to the call manager's deactivation completion with DEPTH sends in
flight and DEPTH receives held by the client (returned during the drain), and the overhead above
the moment the last of them came back. Compared with the kernel's quiesce of a TAP (the interface
taken down with DEPTH frames queued), measured in the same run (needs root; else skipped).`,
          options: [
            {
              name: 'backend',
              kind: 'choice',
              arg: 'tap|wire',
              help: `wire (default): in-process, no privilege; tap: two TAPs looped by the kernel
(tc mirred), needs CAP_NET_ADMIN`,
            },
            {
              name: 'depths',
              kind: 'text',
              arg: 'LIST',
              help: 'comma-separated depths, 0..4096 (default 0,1,16,256,1024)',
            },
            {
              name: 'iterations',
              kind: 'int',
              arg: 'N',
              help: 'measured iterations per depth (default 200)',
            },
            {
              name: 'warmup',
              kind: 'int',
              arg: 'N',
              help: 'unmeasured iterations per depth first, so the JIT has optimized the path (default 500)',
            },
            {
              name: 'cold',
              kind: 'int',
              arg: 'N',
              help: `also N cold deactivations per depth up to 16: each the first of a fresh process
(no warm-up: nothing compiled, no cache warm), beside the warm rows (default 0)`,
            },
            {
              name: 'attribute',
              kind: 'flag',
              help: `attribute the slowest 1% of each depth: how long our threads waited for a CPU
and who had it (V8's threads, other processes, the hypervisor's steal); reads /proc
around every iteration, which costs the fast path a little (default off)`,
            },
            { name: 'no-kernel', kind: 'flag', help: 'skip the kernel comparison' },
            { name: 'json', kind: 'file', help: 'write the report as JSON' },
            { name: 'svg', kind: 'file', help: 'write a chart of latency against depth (log scales) as SVG' },
            {
              name: 'pcap',
              kind: 'file',
              help: 'write the frames moved on the VC (802.1Q tag re-inserted) as pcap',
            },
          ],
          notes: `Percentiles come from a log-linear histogram (under 1% error); max is exact.
Targets: overhead p50 <= 20 us and p99 <= 100 us at every depth; drain at depth 0 p50 <= 5 us
and at least 10x faster than the kernel's quiesce of an idle TAP.`,
          examples: [
            'condis bench drain --depths 0,16,1024 --iterations 500 --json drain.json --svg drain.svg',
          ],
          run: benchDrain,
        },
        {
          name: 'pps',
          summary: 'frames per second through our rings, vs the C reference on a TAP loop',
          about: `Frames per second through condis' rings. With --backend tap, over a one-way kernel loop of two
TAPs (tapA -> tc mirred -> tapB), with the C reference measured in the same run over the same
loop: c-per-frame (one write()/read() per frame) and c-io_uring (io_uring batches). Repetitions
are interleaved; each number is the median of --reps. A warning says when the reps spread over
20% or the load average was above the core count: numbers not to quote.`,
          options: [
            {
              name: 'backend',
              kind: 'choice',
              arg: 'tap|wire',
              help: `tap: condis, c-per-frame and c-io_uring over the TAP loop; needs root
(CAP_NET_ADMIN); the default as root. The C reference is built on first use
(scripts/bench/pps/build.sh: needs only gcc).
wire: condis alone on the in-process wire, no privilege; the default otherwise.
There is no C reference on the wire: results has condis only, ratios is {}.`,
            },
            { name: 'size', kind: 'int', arg: 'BYTES', help: 'frame size in bytes, 60..1514 (default 64)' },
            {
              name: 'frames',
              kind: 'int',
              arg: 'N',
              help: 'frames per measured run (default 1000000 on tap, 5000000 on the wire)',
            },
            {
              name: 'reps',
              kind: 'int',
              arg: 'R',
              help: 'repetitions per path; the median is reported (default 3)',
            },
            {
              name: 'warmup',
              kind: 'int',
              arg: 'N',
              help: 'frames moved and discarded before each run (default 20000)',
            },
            {
              name: 'cpus',
              kind: 'text',
              arg: 'JS,TX,RX',
              help: `tap: pin the JS thread, the sending device's thread and the receiving one's to
these CPUs, and the C reference's writer and reader to TX and RX (default: unpinned,
the scheduler decides; placement moves both sides' numbers, so the report says it)`,
            },
            {
              name: 'json',
              kind: 'file',
              help: `write { bench, backend, frameSize, results: [{ path, txPps, rxPps, lost, spread,
repsRxPps }], ratios: { "condis/c-per-frame", "condis/c-io_uring" }, cpus, loadAvg, warnings }
(ratios: condis rx pps / C rx pps, medians; {} on the wire; spread: (max - min) / median of
the reps' rx pps, a fraction (0.2 = 20%); repsRxPps: each rep's, in run order; loadAvg:
[start, end] 1-minute load)`,
            },
          ],
          examples: [
            'sudo condis bench pps --backend tap --size 64 --json pps.json',
            'condis bench pps --backend wire --frames 2000000',
          ],
          run: benchPps,
        },
        {
          name: 'tcp',
          summary: 'TCP and UDP through two namespaces: veth, a C forwarder, condis (iperf3)',
          about: `iperf3 between two network namespaces made for the run (cbt-a-<pid>, cbt-b-<pid>;
10.77.0.1 <-> 10.77.0.2) over each path, in one run: veth (the kernel's limit), c-forwarder
and c-forwarder-offload (scripts/bench/tcp/cfwd.c between two TAPs, per-frame read/write, with
-o vnet headers and TSO), condis-port and condis-port-offload (two condis devices in one shared
region, a FrameForwarder in a child process: no copy), condis-ndis and condis-ndis-offload (NDIS
and the reference bridge; skipped when the tree lacks it). Each path: 1-stream and 4-stream TCP, and UDP with
64-byte payloads (packets/s received). Reps interleaved; medians reported. Needs root and iperf3.
Everything made is removed at the end, also on Ctrl-C (130), SIGTERM (143), SIGHUP (129).`,
          options: [
            { name: 'seconds', kind: 'int', arg: 'N', help: 'seconds per iperf3 test (default 5; 1..3600)' },
            {
              name: 'reps',
              kind: 'int',
              arg: 'R',
              help: 'interleaved repetitions per path; the median is reported (default 3; 1..100)',
            },
            {
              name: 'paths',
              kind: 'text',
              arg: 'LIST',
              help: `comma-separated paths (default all): veth, c-forwarder, c-forwarder-offload,
condis-port, condis-port-offload, condis-ndis, condis-ndis-offload`,
            },
            {
              name: 'json',
              kind: 'file',
              help: `write { bench: "tcp", machine, load, results: [{ path, streams, gbps, gbpsReps,
udpPps, udpPpsReps }], ratios, skipped, errors }`,
            },
            { name: 'svg', kind: 'file', help: 'write a bar chart of Gbit/s per path as SVG' },
          ],
          examples: ['sudo condis bench tcp --seconds 5 --reps 3 --json tcp.json --svg tcp.svg'],
          run: benchTcp,
        },
        {
          name: 'calls',
          summary: 'call setup and close latency, calls/s and the most calls a node holds: hosts vs wire',
          about: `Signalling calls (SETUP/CONNECT, RELEASE) between two \`condis node\` stacks, on two paths in one
run: hosts (a cluster of 2 hosts made for the run as \`condis cluster up 2\` does: two node
processes in network namespaces, calls across bridge + VXLAN over a veth underlay; needs root,
else skipped) and wire (the same NDIS runtime, miniport, call manager and client twice in this
process over the in-process wire). Per path: setup latency (NdisClMakeCall to its completion, as
the node measures it) and close latency (NdisClCloseCall: RELEASE and the drain) over --calls
sequential make/close cycles after --warmup; calls/s back to back, and with --concurrency callers;
the most calls a node holds at once (opened until one fails) and the failure's cause (the device's
queue pairs: pair 0 carries signalling, each call one of the others). The phases alternate between
the paths. Everything made is removed at the end, also on Ctrl-C (130), SIGTERM (143), SIGHUP (129).`,
          options: [
            {
              name: 'calls',
              kind: 'int',
              arg: 'N',
              help: 'measured make/close cycles per path, sequential and concurrent (default 200)',
            },
            {
              name: 'warmup',
              kind: 'int',
              arg: 'N',
              help: 'unmeasured cycles per path first, so the JIT has optimized the path (default 50)',
            },
            {
              name: 'concurrency',
              kind: 'int',
              arg: 'K',
              help: 'callers cycling at once for the concurrent calls/s (default 4; 1..32, below --queue-pairs)',
            },
            {
              name: 'queue-pairs',
              kind: 'int',
              arg: 'N',
              help: "each node's queue pairs (default 64, the device's maximum; 2..64)",
            },
            { name: 'paths', kind: 'text', arg: 'LIST', help: 'comma-separated paths (default hosts,wire)' },
            {
              name: 'id',
              kind: 'text',
              arg: 'ID',
              help: "the hosts path's cluster id, its namespaces' prefix (default cb<pid>)",
            },
            {
              name: 'json',
              kind: 'file',
              help: `write { bench: "calls", machine, load, results: [{ path, setupMs: { p50, p99,
p999, max }, closeMs, cycleMs, callsPerSec, callsPerSecConcurrent, maxConcurrent, limitCause, ... }],
ratios: { setupP50HostsOverWire, ... }, skipped }`,
            },
          ],
          examples: ['sudo condis bench calls --calls 500 --json calls.json'],
          run: benchCalls,
        },
      ],
    },
    {
      name: 'cluster',
      summary: 'hosts on this machine: namespaces joined by a bridge and VXLAN, a node on each',
      noun: { one: 'subcommand', many: 'subcommands' },
      examples: ['sudo condis cluster up 3', 'sudo condis cluster link h2 down', 'sudo condis cluster down'],
      subcommands: [
        {
          name: 'up',
          summary: 'N hosts (network namespaces), each a bridge with a VXLAN port and a node on a TAP',
          positionals: '<N>',
          about: `Builds N hosts (N from 2 to 16) as network namespaces <id>-h1..<id>-hN on this machine and an
underlay namespace <id>-ul with a bridge; each host has a veth ul0 to it (192.168.77.<n>/24), a
bridge br0 and a VXLAN port vxlan0 (VNI 14, UDP 4789, local 192.168.77.<n>, dev ul0) that floods
to every peer by unicast (one all-zeros FDB entry per peer, as between real machines: no
multicast needed). Then starts one node per host, \`ip netns exec <id>-h<n> <node-command> node
--tap tap0 --mac 02:cc:00:00:00:<n> --ip 10.14.0.<n>/24 --control <run-dir>/cluster-<id>/h<n>.sock\`,
waits for each node's ready line and enslaves its TAP to the host's bridge. The nodes keep running
(detached; stdout in h<n>.events, stderr in h<n>.log) until \`condis cluster down\`.
MTU: VXLAN adds 50 bytes; the underlay (veths of our own) runs at 1600, so the overlay (bridge,
vxlan0, TAP) keeps 1500 and a 1500-byte VC frame with its 802.1Q tag crosses unfragmented (it needs
an underlay of 1554). State: <run-dir>/cluster-<id>.json (namespaces, interfaces, pids, control
sockets, MACs). A failure or Ctrl-C (130), SIGTERM (143), SIGHUP (129) removes everything made.
On two real machines, see docs/cluster.md (the same ip commands, the other machine as remote).`,
          options: [
            {
              name: 'id',
              kind: 'text',
              arg: 'ID',
              help: `the cluster id, the prefix of its namespaces (default condis): a-z and 0-9,
a letter first, at most 12 characters`,
            },
            {
              name: 'vni',
              kind: 'int',
              arg: 'N',
              help: 'the VXLAN network identifier (default 14; 1..16777215)',
            },
            {
              name: 'node-command',
              kind: 'text',
              arg: 'CMD',
              help: `the command each node runs as, split on blanks; \`node --tap ...\` is appended
(default: $CONDIS_CLUSTER_NODE, else this package's own condis under this Node.js)`,
            },
            {
              name: 'node-args',
              kind: 'text',
              arg: 'ARGS',
              help: `more options for every node, split on blanks, after the contract's; kept in
the state file for \`cluster restart\` (with =, as the value starts with --:
--node-args='--keepalive-ms 300 --queue-pairs 64')`,
            },
            { name: 'no-nodes', kind: 'flag', help: 'no nodes: the hosts, bridges and VXLANs only' },
            {
              name: 'ready-timeout',
              kind: 'int',
              arg: 'S',
              help: 'seconds a node may take to print its ready line (default 30; 1..3600)',
            },
            {
              name: 'run-dir',
              kind: 'text',
              arg: 'DIR',
              help: "where the state file and the nodes' sockets go (default $CONDIS_RUN_DIR, else /run/condis)",
            },
            { name: 'json', kind: 'flag', help: 'print the state (as in the state file) as JSON' },
          ],
          examples: ['sudo condis cluster up 3 --id lab'],
          run: clusterUpCommand,
        },
        {
          name: 'down',
          summary: 'stop the nodes, remove every namespace, bridge, VXLAN, veth, TAP and the state',
          about: `Stops the nodes (SIGTERM, then SIGKILL after --timeout) and any other process in the cluster's
namespaces, deletes its links and namespaces and removes the state file and the cluster's
directory. Idempotent: with nothing left it says so and exits 0. Without --id: the one cluster
that is up (an error if several are).`,
          options: [
            { name: 'id', kind: 'text', arg: 'ID', help: 'the cluster id (default: the one that is up)' },
            {
              name: 'timeout',
              kind: 'int',
              arg: 'S',
              help: 'seconds from SIGTERM to SIGKILL (default 5; 0..600)',
            },
            { name: 'run-dir', kind: 'text', arg: 'DIR', help: 'as for up' },
            { name: 'json', kind: 'flag', help: 'print what was removed as JSON' },
          ],
          examples: ['sudo condis cluster down --id lab'],
          run: clusterDownCommand,
        },
        {
          name: 'status',
          summary: 'the hosts of a cluster now: namespaces, nodes, TAPs, underlay links, VXLAN counters',
          options: [
            { name: 'id', kind: 'text', arg: 'ID', help: 'the cluster id (default: the one that is up)' },
            { name: 'run-dir', kind: 'text', arg: 'DIR', help: 'as for up' },
            { name: 'json', kind: 'flag', help: 'print the status as JSON' },
          ],
          examples: ['sudo condis cluster status --json'],
          run: clusterStatusCommand,
        },
        {
          name: 'link',
          summary: "cut or restore a host's underlay link (its veth ul0 down or up)",
          positionals: '<host> down|up',
          about: `Sets the host's underlay veth (ul0 in <id>-h<n>) down or up: VXLAN traffic to and from that
host stops, as with a pulled cable, and resumes on up. <host> is h1..hN (or its namespace).`,
          options: [
            { name: 'id', kind: 'text', arg: 'ID', help: 'the cluster id (default: the one that is up)' },
            { name: 'run-dir', kind: 'text', arg: 'DIR', help: 'as for up' },
          ],
          examples: ['sudo condis cluster link h2 down'],
          run: clusterLinkCommand,
        },
        {
          name: 'restart',
          summary: "start a host's node again (after it was killed): same TAP, MAC, address, socket",
          positionals: '<host>',
          about: `Starts the node of <host> (h1..hN or its namespace) again with the command and options
\`up\` gave it, waits for its ready line and puts its new TAP on the host's bridge, as a rebooted
machine would come back. Refused (ERR_CONDIS_CLUSTER_FAILED) while the old node still runs: stop it
first (kill <pid>, from \`cluster status\`). Its peers refuse the stale calls of its old life.`,
          options: [
            { name: 'id', kind: 'text', arg: 'ID', help: 'the cluster id (default: the one that is up)' },
            { name: 'ready-timeout', kind: 'int', arg: 'S', help: 'as for up (default 30)' },
            { name: 'run-dir', kind: 'text', arg: 'DIR', help: 'as for up' },
          ],
          examples: ['sudo condis cluster restart h2'],
          run: clusterRestartCommand,
        },
      ],
    },
    {
      name: 'trace',
      summary: 'run a VC flow on the wire and print its NDIS sequence (Mermaid/JSON)',
      positionals: '<flow>',
      about: `Runs a VC flow on the in-process wire backend (no privilege needed) and prints the NDIS calls,
handler invocations, completions and state changes it recorded.
  flows:  client-close    spec §3.2  NdisClCloseCall, the drain pends on a held receive
          incoming-close  spec §3.3  the call manager dispatches an incoming close
          mcm-deactivate  spec §3.4  an MCM deactivates the VC and tears the call down
          reactivate      spec §3.5a NdisClModifyCallQoS re-activates without deactivating`,
      options: [
        { name: 'mermaid', kind: 'flag', help: 'a Mermaid sequenceDiagram (default)' },
        { name: 'json', kind: 'flag', help: 'the trace events as JSON' },
      ],
      examples: ['condis trace --mermaid client-close > close.mmd'],
      run: trace,
    },
    {
      name: 'node',
      summary: 'a long-running host: TAP, NDIS, miniport, signalling call manager, a client; JSON control',
      positionals: '[call|ping|close|hold|calls|trace|mark|status|shutdown]',
      about: `Without a request word: runs a node until SIGINT, SIGTERM or a shutdown request. It creates the
TAP --tap (brought up, IPv6 off), runs the NDIS runtime, the reference miniport and the signalling
call manager (SETUP/CONNECT/RELEASE on untagged frames, ethertype 0x88B5) on it, registers SAP
--sap and accepts every call to it: on each call's VC (802.1Q VID = VC id) it answers ARP and ICMP
echo for --ip and echoes frames of ethertype 0x88B6. Enslave the TAP to a bridge (and a VXLAN
port) to reach other nodes. stdout: one JSON event a line, first
  {"event":"ready","tap","mac","sap","ip","control","pid"}
then incomingCall, callConnected, callFailed, callClosed {"cause"}, and last {"event":"stopped"};
errors go to stderr. On SIGINT/SIGTERM every call is released (RELEASE) and drained, every VC
deleted, the TAP closed, the socket removed; exit 0.
Liveness: on a connected call the caller's node sends STATUS ENQUIRY every --keepalive-ms (the
callee's only after 1.5 x keepalive-ms without a word from the caller); after --keepalive-misses
unanswered in a row the call is cleared at the next tick (callClosed, by "peer", cause
"DEST_OUT_OF_ORDER"), so a peer killed or cut off is noticed within (misses + 1.5) x keepalive-ms. A restarted peer answers its old calls' enquiries with RELEASE
COMPLETE (cause 81), which clears them the same way.
The control socket (--control) speaks JSON lines, each request with an "id" echoed in its reply:
  {"id":1,"cmd":"call","peer":MAC,"sap":N[,"vid":V]} -> {"id":1,"ok":true,"call":C,"vid":V,"setupMs":x}
  {"cmd":"ping","call":C,"count":n[,"ip":A]}  -> {"ok":true,"sent","received","rttUs":[..],"target"}
  {"cmd":"close","call":C}   -> {"ok":true,"drainMs":x}
  {"cmd":"hold","call":C}    -> {"ok":true,"call":C,"held":n}: keep the call's receives (still
     answered) until it closes, so the peer's RELEASE finds them held and the drain waits for them
  {"cmd":"calls"} -> {"ok":true,"calls":[{call,vid,peer,state,dir,peerIp,foreignFrames,held,slot}],
     "ended":[{call,vid,peer,dir,by,cause,slot,frames:{sent,received},
               deactivation:{sends,receives,drainUs,status}|null}]}   (the last 32 ended calls)
  {"cmd":"trace","since":N[,"max":M]} -> {"ok":true,"enabled":true,"events":[..],"next":S,"dropped":D}
     (needs --trace; events seq >= N, oldest first, time = the node's performance.now() in ms;
     ask again with "since":S; time + "monotonicOffsetMs" is CLOCK_MONOTONIC, one clock for all nodes)
  {"cmd":"mark","text":T} -> {"ok":true,"seq":N}: T as a note in the trace (a script's step header)
  {"cmd":"status"} -> counters                             {"cmd":"shutdown"} -> {"ok":true}, then stop
  a failure: {"id","ok":false,"code":"ERR_CONDIS_...","message"[,"status":NDIS_STATUS]}
With a request word: sends it to the node at --control (or /run/condis/<--tap>.sock) and prints
the reply JSON (exit 0 if ok, 1 if not).`,
      options: [
        {
          name: 'tap',
          kind: 'text',
          arg: 'NAME',
          help: 'the TAP to create (required to run a node; 1..15 bytes)',
        },
        {
          name: 'mac',
          kind: 'text',
          arg: 'MAC',
          help: "the node's MAC (default 02:cd: and a hash of the TAP name: stable across restarts)",
        },
        {
          name: 'sap',
          kind: 'int',
          arg: 'N',
          help: 'the SAP to listen on; with call: the SAP called (default 1)',
        },
        {
          name: 'ip',
          kind: 'text',
          arg: 'A.B.C.D/24',
          help: `the node's address inside its calls, for ARP, ICMP and ping (default
10.<mac[3]>.<mac[4]>.<1 + mac[5] % 254>/24)`,
        },
        {
          name: 'control',
          kind: 'text',
          arg: 'PATH',
          help: 'the control socket (default /run/condis/<tap>.sock)',
        },
        {
          name: 'queue-pairs',
          kind: 'int',
          arg: 'N',
          help: `the device's queue pairs (default 16; 2..64): pair 0 carries signalling, each call
one of the others, so a node holds at most N-1 calls at once`,
        },
        {
          name: 'keepalive-ms',
          kind: 'int',
          arg: 'MS',
          help: 'STATUS ENQUIRY interval on a connected call (default 1000; 0 = no liveness check)',
        },
        {
          name: 'keepalive-misses',
          kind: 'int',
          arg: 'N',
          help: 'unanswered enquiries after which the call is cleared (default 3; 1..100)',
        },
        {
          name: 'trace',
          kind: 'flag',
          help: `record the NDIS trace (the last 50,000 events) for the trace request (default off:
a record per send and receive)`,
        },
        {
          name: 'warm-up',
          kind: 'flag',
          help: `run warmUp() before opening the TAP, so the node's first drains are not V8's first
run of the deactivation path (condis demo's nodes do)`,
        },
        { name: 'peer', kind: 'text', arg: 'MAC', help: 'call: the node to call' },
        { name: 'text', kind: 'text', arg: 'TEXT', help: "mark: the note written into the node's trace" },
        { name: 'vid', kind: 'int', arg: 'V', help: 'call: the VID (default: picked, see the README)' },
        {
          name: 'call',
          kind: 'int',
          arg: 'C',
          help: 'ping, close, hold: the call (its number in the call reply)',
        },
        { name: 'count', kind: 'int', arg: 'N', help: 'ping: echo requests (default 3; 1..10000)' },
        {
          name: 'peer-ip',
          kind: 'text',
          arg: 'A.B.C.D',
          help: 'ping: the address to ping (default: the one the peer announced on the VC)',
        },
        {
          name: 'since',
          kind: 'int',
          arg: 'N',
          help: 'trace: the events from sequence number N on (default 0; the reply\'s "next")',
        },
      ],
      notes: 'Exit status: 0 stopped cleanly / request ok, 1 failure, 2 usage.',
      examples: [
        'sudo condis node --tap cn0 --control /run/condis/cn0.sock',
        'condis node call --control /run/condis/cn0.sock --peer 02:cd:11:22:33:44 --sap 1',
        'condis node ping --control /run/condis/cn0.sock --call 1 --count 5',
        'condis node trace --control /run/condis/cn0.sock --since 0',
      ],
      run: nodeCommand,
    },
    {
      name: 'soak',
      summary: 'random churn on several VCs for a given time, every invariant checked as it runs',
      about: `Random churn on several VCs at once over the real stack (a device, NDIS with the verifier on,
the reference miniport, the PVC call manager, a client): make and close calls, activate,
re-activate, deactivate, tear down and delete VCs, send at full rate, hold and return receives,
stop the peer. Checked as it runs: every send completes exactly once with a status that fits,
every receive is returned once and only arrives on a ready VC, every deactivation completes (or
is aborted with a coded error something outside the miniport explains) within its deadline,
the client's, NDIS's and the miniport's counts agree, no verifier violation; at the end every
NBL, buffer, VC, descriptor and thread is back. Prints operations per second, the deactivation
times and the process's memory, descriptors and threads at start and end.`,
      options: [
        {
          name: 'backend',
          kind: 'choice',
          arg: 'wire|tap',
          help: `wire (default): in-process, no privilege; tap: endpoint A on a TAP looped to the
peer's TAP through the kernel (tc mirred), needs CAP_NET_ADMIN`,
        },
        { name: 'seconds', kind: 'int', arg: 'N', help: 'how long the churn runs (default 30; 1..86400)' },
        { name: 'vcs', kind: 'int', arg: 'N', help: 'VCs churned at once (default 4; 1..16)' },
        {
          name: 'seed',
          kind: 'int',
          arg: 'N',
          help: 'seed of the random decisions (default: a fresh one); a failing run names it',
        },
        {
          name: 'queue-size',
          kind: 'int',
          arg: 'N',
          help: 'descriptors per queue, a power of two (default 256; 16..4096)',
        },
        {
          name: 'deadline-ms',
          kind: 'int',
          arg: 'N',
          help: "NDIS's deactivation deadline (default 2000; 100..60000)",
        },
        {
          name: 'progress',
          kind: 'int',
          arg: 'S',
          help: 'seconds between progress lines (default 10; 0: none)',
        },
        { name: 'json', kind: 'file', help: 'write the report as JSON' },
      ],
      notes: 'Exit status: 0 no violation, 1 violations (or a failure), 2 usage, 130 interrupted.',
      examples: ['sudo condis soak --backend tap --seconds 600 --vcs 4 --json soak-tap.json'],
      run: soakCommand,
    },
  ],
};

/**
 * The command at `names` under the root (`['bench', 'drain']`), with the path of names that
 * reached it; the first name that matches nothing ends the walk (`rest` starts there).
 */
export function lookup(names: readonly string[]): { def: CommandDef; path: string[]; rest: string[] } {
  let def = CONDIS;
  const path: string[] = [];
  let i = 0;
  for (; i < names.length && def.subcommands; i++) {
    const sub = def.subcommands.find((c) => c.name === names[i]);
    if (!sub) break;
    def = sub;
    path.push(sub.name);
  }
  return { def, path, rest: names.slice(i) };
}
