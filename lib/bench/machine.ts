/**
 * What a benchmark ran on, for its JSON report: CPU, cores, kernel, Node/V8, memory, and how busy
 * the machine was when the run started (a loaded machine makes every number suspect).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';

export interface MachineInfo {
  cpuModel: string;
  /** CPUs this process may run on (os.availableParallelism: honours the affinity mask). */
  cores: number;
  /** Logical CPUs the kernel reports. */
  logicalCpus: number;
  arch: string;
  platform: string;
  /** uname -r */
  kernel: string;
  /** uname -v */
  kernelVersion: string;
  node: string;
  v8: string;
  totalMemoryBytes: number;
  /** 1, 5 and 15 minute load averages when the description was taken. */
  loadAvg: [number, number, number];
  /** Running under a hypervisor (the CPU's "hypervisor" flag), when /proc/cpuinfo says. */
  virtualized: boolean | null;
}

export function describeMachine(): MachineInfo {
  const cpus = os.cpus();
  const la = os.loadavg();
  return {
    cpuModel: (cpus[0]?.model ?? 'unknown').trim(),
    cores: typeof os.availableParallelism === 'function' ? os.availableParallelism() : cpus.length,
    logicalCpus: cpus.length,
    arch: os.arch(),
    platform: os.platform(),
    kernel: os.release(),
    kernelVersion: os.version(),
    node: process.version,
    v8: process.versions.v8,
    totalMemoryBytes: os.totalmem(),
    loadAvg: [round2(la[0]!), round2(la[1]!), round2(la[2]!)],
    virtualized: hypervisorFlag(),
  };
}

/** One line for a report header: "2 cores AMD EPYC, Linux 6.1.0 x64, node v20.11.0". */
export function machineLine(m: MachineInfo): string {
  const virt = m.virtualized ? ' (VM)' : '';
  return `${m.cores} cores ${m.cpuModel}${virt}, ${m.platform === 'linux' ? 'Linux' : m.platform} ${m.kernel} ${m.arch}, node ${m.node}`;
}

/**
 * A warning when the machine already looked busy (1-minute load average at or above half the
 * cores) before the benchmark started, else null.
 */
export function busyWarning(m: MachineInfo): string | null {
  const load = m.loadAvg[0];
  if (load < m.cores / 2) return null;
  return `the machine was busy before the run (load average ${load} on ${m.cores} cores): other work competes for the CPUs, so expect noisy numbers`;
}

function hypervisorFlag(): boolean | null {
  try {
    const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
    const flags = /^flags\s*:(.*)$/m.exec(info);
    return flags ? / hypervisor( |$)/.test(flags[1]!) : null;
  } catch {
    return null;
  }
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}
