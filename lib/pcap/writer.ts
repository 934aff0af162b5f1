/**
 * A pcap (libpcap classic, microsecond stamps, LINKTYPE_ETHERNET) writer for the frames a device
 * moved. Frames of a bound queue pair travel on the wire with an 802.1Q tag that the device adds
 * on transmit and strips on receive; `capture(..., vid)` re-inserts it so that the file shows the
 * frame as it was on the wire (tshark's vlan.id is the VC id).
 *
 * Hot path: `capture` copies the frame into one preallocated buffer and stamps the record header
 * through a preallocated DataView: no allocation per frame. The buffer goes to the file with one
 * write when it cannot take the next record, at `flush()`, and at `close()`. A benchmark calls
 * `flushIfAbove()` between measured spans so that file I/O never lands inside one.
 */
import * as fs from 'node:fs';

const LINKTYPE_ETHERNET = 1;
const SNAPLEN = 65535;
const GLOBAL_HEADER = 24;
const RECORD_HEADER = 16;
const TPID_8021Q = 0x8100;

/** Writes frames to a pcap file (see the top of this file): `capture()` per frame, `close()` at the end. */
export class PcapWriter {
  /** Frames recorded (written or still buffered). */
  frames = 0;
  private readonly buf: Uint8Array;
  private readonly view: DataView;
  private used = 0;
  private fd: number;

  /** Creates (truncates) `file` and writes the global header. `bufferBytes` >= 128 KiB. */
  constructor(
    readonly file: string,
    bufferBytes = 4 << 20,
  ) {
    const size = Math.max(128 << 10, bufferBytes);
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
    this.fd = fs.openSync(file, 'w');
    const v = this.view;
    v.setUint32(0, 0xa1b2c3d4, true); // magic: microsecond timestamps, little-endian file
    v.setUint16(4, 2, true);
    v.setUint16(6, 4, true);
    v.setInt32(8, 0, true); // thiszone
    v.setUint32(12, 0, true); // sigfigs
    v.setUint32(16, SNAPLEN, true);
    v.setUint32(20, LINKTYPE_ETHERNET, true);
    this.used = GLOBAL_HEADER;
  }

  /**
   * Records bytes[offset, offset + length) as one frame; with `vid` (1..4094) an 802.1Q tag
   * (TPID 0x8100, priority 0) is inserted after the MAC addresses. Frames shorter than the two
   * MAC addresses are recorded as they are.
   */
  capture(bytes: Uint8Array, offset: number, length: number, vid = 0): void {
    const tag = vid > 0 && length >= 12 ? 4 : 0;
    const caplen = Math.min(length + tag, SNAPLEN);
    if (this.used + RECORD_HEADER + caplen > this.buf.length) this.flush();
    if (this.fd < 0) return;
    const ms = performance.timeOrigin + performance.now();
    const sec = Math.floor(ms / 1000);
    const v = this.view;
    let at = this.used;
    v.setUint32(at, sec, true);
    v.setUint32(at + 4, Math.floor((ms - sec * 1000) * 1000), true);
    v.setUint32(at + 8, caplen, true);
    v.setUint32(at + 12, length + tag, true);
    at += RECORD_HEADER;
    const b = this.buf;
    const end = offset + caplen - tag;
    let i = offset;
    if (tag) {
      for (; i < offset + 12; i++) b[at++] = bytes[i]!;
      b[at++] = TPID_8021Q >>> 8;
      b[at++] = TPID_8021Q & 0xff;
      b[at++] = (vid >>> 8) & 0x0f;
      b[at++] = vid & 0xff;
    }
    for (; i < end; i++) b[at++] = bytes[i]!;
    this.used = at;
    this.frames++;
  }

  /** Writes what is buffered if it exceeds `bytes` (call between measured spans). */
  flushIfAbove(bytes: number): void {
    if (this.used > bytes) this.flush();
  }

  /** Writes everything buffered to the file. */
  flush(): void {
    if (this.fd < 0 || this.used === 0) return;
    let off = 0;
    while (off < this.used) off += fs.writeSync(this.fd, this.buf, off, this.used - off);
    this.used = 0;
  }

  /** Flushes and closes the file. Idempotent. */
  close(): void {
    if (this.fd < 0) return;
    this.flush();
    fs.closeSync(this.fd);
    this.fd = -1;
  }
}
